"""The GitOps bundle and its signatures: every file valid, sign -> verify, tampering caught, openssl agrees.

The signature format follows sigstore/k8s-manifest-sigstore pkg/k8smanifest/sign.go and pkg/cosign/sign.go
(message = base64(gzip(tar.gz of the manifest)), signature = base64(DER ECDSA over SHA-256 of the tar.gz)) and
pkg/cosign/verify.go (the verifier gunzips the message and checks the signature over what comes out).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from editor.policy.bundle import BundleError, BundleOptions, build_bundle, zip_bundle
from editor.policy.cli import main
from editor.policy.document import Document, DocumentError
from editor.policy.document_schema import OWNER_PATTERN
from editor.policy.signing import MESSAGE_ANNOTATION, SIGNATURE_ANNOTATION, blob_of, untar_gz
from editor.policy.validate import validate_object

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CRDS = FIXTURES / "crds"
OPENSSL = shutil.which("openssl")
# The PEM armour `cosign generate-key-pair` writes around its scrypt + secretbox JSON (body shortened).
COSIGN_KEY = (
    "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\neyJrZGYiOnt9fQ==\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"
)


def _document() -> Document:
    document = Document.loads((FIXTURES / "documents" / "talk-app.json").read_text())
    document.platform_owners = ["@acme/platform"]
    document.namespace("frontend").owners = ["@acme/web", "web-team@acme.example"]  # type: ignore[union-attr]
    return document


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if OPENSSL is None:
        pytest.fail("openssl is needed to make keys the way users do")
    folder = tmp_path_factory.mktemp("keys")
    private, public = folder / "key.pem", folder / "key.pub"
    subprocess.run([OPENSSL, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", private], check=True)
    subprocess.run([OPENSSL, "ec", "-in", private, "-pubout", "-out", public], check=True, capture_output=True)
    return private, public


def _schema(name: str) -> dict:
    return json.loads((CRDS / name).read_text())


# Derived from the projects' CRDs (crds/README.md says how); strict like `kubectl apply --validate=strict`.
KYVERNO_SCHEMA = jsonschema.Draft202012Validator(_schema("kyverno.io_clusterpolicy_v1.json"))
ARGOCD_SCHEMA = jsonschema.Draft202012Validator(_schema("argoproj.io_application_v1alpha1.json"))
# SchemaStore's kustomization.json, draft-04, strict at the top level.
KUSTOMIZATION_SCHEMA = jsonschema.Draft4Validator(_schema("schemastore_kustomization.json"))
SCHEMAS = {
    "platform/kyverno-clusterpolicy.yaml": KYVERNO_SCHEMA,
    "platform/argocd-application.yaml": ARGOCD_SCHEMA,
    "kustomization.yaml": KUSTOMIZATION_SCHEMA,
}


def test_every_file_of_the_bundle_is_valid(keys: tuple[Path, Path]) -> None:
    options = BundleOptions(public_key=keys[1].read_text().strip(), repo_path="clusters/prod/policies")
    files = build_bundle(_document(), options)
    assert set(files) == {
        "backend/api.yaml",
        "frontend/web.yaml",
        "kustomization.yaml",
        "CODEOWNERS",
        "platform/kyverno-clusterpolicy.yaml",
        "platform/argocd-application.yaml",
        "README.md",
    }
    for path in ("backend/api.yaml", "frontend/web.yaml"):
        (policy,) = list(yaml.safe_load_all(files[path]))
        assert validate_object(policy, path) == []  # the upstream NetworkPolicy schema and the semantic rules
        assert path.startswith(policy["metadata"]["namespace"] + "/")
    kustomization = yaml.safe_load(files["kustomization.yaml"])
    KUSTOMIZATION_SCHEMA.validate(kustomization)
    assert kustomization["resources"] == ["backend/api.yaml", "frontend/web.yaml"]
    (kyverno,) = list(yaml.safe_load_all(files["platform/kyverno-clusterpolicy.yaml"]))
    KYVERNO_SCHEMA.validate(kyverno)
    manifests = kyverno["spec"]["rules"][0]["validate"]["manifests"]
    assert manifests["attestors"][0]["entries"][0]["keys"]["publicKeys"] == keys[1].read_text().strip()
    assert kyverno["spec"]["rules"][0]["match"]["any"][0]["resources"]["namespaces"] == ["backend", "frontend"]
    (application,) = list(yaml.safe_load_all(files["platform/argocd-application.yaml"]))
    ARGOCD_SCHEMA.validate(application)
    assert application["spec"]["source"]["path"] == "clusters/prod/policies"
    owners = [line for line in files["CODEOWNERS"].splitlines() if line and not line.startswith("#")]
    assert owners == [
        "/clusters/prod/policies/ @acme/platform",
        "/clusters/prod/policies/frontend/ @acme/web web-team@acme.example",
        "/clusters/prod/policies/platform/ @acme/platform",
        "/clusters/prod/policies/kustomization.yaml @acme/platform",
        "/clusters/prod/policies/CODEOWNERS @acme/platform",
    ]
    for line in owners:
        pattern, *names = line.split(" ")
        assert pattern.startswith("/") and names and all(re.match(OWNER_PATTERN, name) for name in names)
    assert "kubectl apply -f platform/" in files["README.md"]


def _parent(data: dict, dotted: str) -> tuple[dict, str]:
    *parents, last = dotted.split(".")
    for key in parents:
        data = data[int(key)] if isinstance(data, list) else data[key]
    return data, last


@pytest.mark.parametrize(
    ("file", "dotted", "new_name", "value", "message"),
    [
        ("platform/kyverno-clusterpolicy.yaml", "spec.rules.0.validate.manifests.ignoreFields", "ignoreField", None,
         "'ignoreField' was unexpected"),
        ("platform/kyverno-clusterpolicy.yaml", "spec.rules.0.validate.manifests.attestors.0.entries.0.keys.publicKeys",
         "publicKey", None, "'publicKey' was unexpected"),
        ("platform/kyverno-clusterpolicy.yaml", "spec.validationFailureAction", None, "Block", "'Block' is not one of"),
        ("platform/argocd-application.yaml", "spec.destination", None, None, "'destination' is a required property"),
        ("platform/argocd-application.yaml", "spec.syncPolicy.automated.selfHeal", "selfHeel", None,
         "'selfHeel' was unexpected"),
        ("kustomization.yaml", "resources", "resource", None, "'resource' was unexpected"),
    ],
)  # fmt: skip
def test_the_crd_schemas_refuse_what_the_cluster_would(
    file: str, dotted: str, new_name: str | None, value: str | None, message: str
) -> None:
    """The schemas bite: a misspelt field, a wrong enum value or a missing required field fails."""
    data = yaml.safe_load(build_bundle(_document())[file])
    schema = SCHEMAS[file]
    assert list(schema.iter_errors(data)) == []
    parent, key = _parent(data, dotted)
    old = parent.pop(key)
    if new_name is not None:
        parent[new_name] = old
    elif value is not None:
        parent[key] = value
    errors = list(schema.iter_errors(data))
    assert errors
    assert message in _messages(errors)  # `anyOf [object, null]` keeps the precise error in its context


def _messages(errors: list[jsonschema.ValidationError]) -> str:
    return "\n".join(error.message + "\n" + _messages(error.context or []) for error in errors)


def test_the_zip_holds_the_same_files() -> None:
    import io
    import zipfile

    files = build_bundle(_document())
    archive = zipfile.ZipFile(io.BytesIO(zip_bundle(files)))
    assert {name.removeprefix("network-policies/"): archive.read(name).decode() for name in archive.namelist()} == files


def test_owners_that_would_break_a_codeowners_line_are_refused() -> None:
    data = _document().to_json()
    data["namespaces"][0]["owners"] = ["@acme/web # everyone"]
    with pytest.raises(DocumentError, match=r"namespaces\[0\]\.owners\[0\]"):
        Document.from_json(data)
    data = _document().to_json()
    data["platformOwners"] = ["root"]
    with pytest.raises(DocumentError, match="platformOwners"):
        Document.from_json(data)


def test_bad_bundle_options_are_refused() -> None:
    with pytest.raises(BundleError, match="repository path"):
        BundleOptions(repo_path="../elsewhere")
    with pytest.raises(BundleError, match="PEM public key"):
        BundleOptions(public_key="ssh-ed25519 AAAA")


def _bundle_dir(tmp_path: Path, keys: tuple[Path, Path]) -> Path:
    source = tmp_path / "talk.json"
    source.write_text(_document().dumps())
    out = tmp_path / "bundle"
    assert main(["bundle", str(source), "-o", str(out), "--public-key", str(keys[1])]) == 0
    return out


def test_sign_then_verify_round_trip_and_a_changed_port_fails(
    tmp_path: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = _bundle_dir(tmp_path, keys)
    assert main(["verify", str(out), "--key", str(keys[1])]) == 1  # nothing signed yet
    assert main(["sign", str(out), "--key", str(keys[0])]) == 0
    capsys.readouterr()
    assert main(["verify", str(out), "--key", str(keys[1])]) == 0
    assert "backend/api.yaml: NetworkPolicy backend/api: verified" in capsys.readouterr().out
    signed = (out / "backend" / "api.yaml").read_text()
    assert "port: 9090" in signed
    (out / "backend" / "api.yaml").write_text(signed.replace("port: 9090", "port: 9091"))
    assert main(["verify", str(out), "--key", str(keys[1])]) == 1
    assert "spec.ingress[0].ports[0].port: signed 9090, found 9091" in capsys.readouterr().out


def test_fields_the_cluster_adds_do_not_break_the_signature(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    out = _bundle_dir(tmp_path, keys)
    main(["sign", str(out), "--key", str(keys[0])])
    path = out / "frontend" / "web.yaml"
    (obj,) = list(yaml.safe_load_all(path.read_text()))
    obj["metadata"].update(uid="0b7c", resourceVersion="42", generation=3, managedFields=[{"manager": "argocd"}])
    obj["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] = "policies:networking.k8s.io/NetworkPolicy:x"
    obj["metadata"].setdefault("labels", {})["app.kubernetes.io/instance"] = "policies"
    path.write_text(yaml.safe_dump(obj))
    assert main(["verify", str(out), "--key", str(keys[1])]) == 0
    obj["metadata"]["labels"]["team"] = "other"  # not an ignored field
    path.write_text(yaml.safe_dump(obj))
    assert main(["verify", str(out), "--key", str(keys[1])]) == 1


def test_a_signature_made_by_openssl_over_the_same_message_verifies(
    tmp_path: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """An independent signer: `openssl dgst -sha256 -sign` over the blob the message carries (what cosign
    sign-blob signs in pkg/cosign/sign.go) gives a signature our verifier accepts."""
    out = _bundle_dir(tmp_path, keys)
    main(["sign", str(out), "--key", str(keys[0])])
    path = out / "backend" / "api.yaml"
    (obj,) = list(yaml.safe_load_all(path.read_text()))
    blob = blob_of(obj["metadata"]["annotations"][MESSAGE_ANNOTATION])
    assert list(untar_gz(blob)) == ["api.yaml"]
    (tmp_path / "blob").write_bytes(blob)
    assert OPENSSL is not None
    subprocess.run(
        [OPENSSL, "dgst", "-sha256", "-sign", keys[0], "-out", tmp_path / "sig", tmp_path / "blob"], check=True
    )
    openssl_signature = base64.b64encode((tmp_path / "sig").read_bytes()).decode()
    assert openssl_signature != obj["metadata"]["annotations"][SIGNATURE_ANNOTATION]  # ECDSA signatures differ
    obj["metadata"]["annotations"][SIGNATURE_ANNOTATION] = openssl_signature
    path.write_text(yaml.safe_dump(obj))
    capsys.readouterr()
    assert main(["verify", str(out), "--key", str(keys[1])]) == 0
    # and the other way round: openssl verifies our signature
    main(["sign", str(out), "--key", str(keys[0])])
    (obj,) = list(yaml.safe_load_all(path.read_text()))
    (tmp_path / "ours").write_bytes(base64.b64decode(obj["metadata"]["annotations"][SIGNATURE_ANNOTATION]))
    (tmp_path / "blob").write_bytes(blob_of(obj["metadata"]["annotations"][MESSAGE_ANNOTATION]))
    checked = subprocess.run(
        [OPENSSL, "dgst", "-sha256", "-verify", keys[1], "-signature", tmp_path / "ours", tmp_path / "blob"],
        capture_output=True,
        text=True,
    )
    assert checked.stdout.strip() == "Verified OK"


def test_another_key_and_a_damaged_message_fail_verify(
    tmp_path: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = _bundle_dir(tmp_path, keys)
    main(["sign", str(out), "--key", str(keys[0])])
    other = tmp_path / "other.pem"
    assert OPENSSL is not None
    subprocess.run([OPENSSL, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", other], check=True)
    subprocess.run(
        [OPENSSL, "ec", "-in", other, "-pubout", "-out", tmp_path / "other.pub"], check=True, capture_output=True
    )
    capsys.readouterr()
    assert main(["verify", str(out), "--key", str(tmp_path / "other.pub")]) == 1
    assert "the signature does not match" in capsys.readouterr().out
    path = out / "backend" / "api.yaml"
    (obj,) = list(yaml.safe_load_all(path.read_text()))
    obj["metadata"]["annotations"][MESSAGE_ANNOTATION] = "not base64!"
    path.write_text(yaml.safe_dump(obj))
    assert main(["verify", str(out), "--key", str(keys[1])]) == 1
    assert "is not base64 of gzip data" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("key_text", "message"),
    [
        (COSIGN_KEY, "an encrypted cosign key (scrypt + NaCl secretbox) is not supported"),
        ("not a key", "not an unencrypted PEM private key"),
    ],
)  # fmt: skip
def test_keys_it_cannot_use_are_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key_text: str, message: str
) -> None:
    key = tmp_path / "cosign.key"
    key.write_text(key_text)
    (tmp_path / "b").mkdir()
    assert main(["sign", str(tmp_path / "b"), "--key", str(key)]) == 2
    assert message in capsys.readouterr().err


def test_an_rsa_key_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert OPENSSL is not None
    subprocess.run([OPENSSL, "genrsa", "-out", tmp_path / "rsa.pem", "2048"], check=True, capture_output=True)
    (tmp_path / "b").mkdir()
    assert main(["sign", str(tmp_path / "b"), "--key", str(tmp_path / "rsa.pem")]) == 2
    assert "must be ECDSA on P-256" in capsys.readouterr().err


def test_malformed_yaml_in_the_bundle_is_a_clear_error(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    out = _bundle_dir(tmp_path, keys)
    (out / "backend" / "broken.yaml").write_text("kind: NetworkPolicy\nmetadata: {name: [\n")
    original = (out / "backend" / "api.yaml").read_text()
    assert main(["sign", str(out), "--key", str(keys[0])]) == 2
    assert (out / "backend" / "api.yaml").read_text() == original  # nothing half-signed


def test_a_cluster_wide_policy_goes_to_the_cluster_folder_and_only_its_kind_is_matched() -> None:
    document = Document.from_json({
        "schema": "fenceline/v1",
        "settings": {"dialect": "cilium"},
        "nodes": [
            {"id": "all", "kind": "selector", "namespaceSelector": {}, "podSelector": {}, "isolate": {"egress": True}},
            {"id": "world", "kind": "entity", "entity": "world"},
        ],
        "edges": [{"id": "e1", "source": "all", "target": "world", "ports": [{"protocol": "TCP", "port": 443}]}],
    })  # fmt: skip
    files = build_bundle(document)
    (path,) = [p for p in files if p.endswith(".yaml") and "/" in p and not p.startswith("platform/")]
    assert path.startswith("_cluster/")
    (policy,) = list(yaml.safe_load_all(files[path]))
    assert policy["kind"] == "CiliumClusterwideNetworkPolicy" and validate_object(policy, path) == []
    (kyverno,) = list(yaml.safe_load_all(files["platform/kyverno-clusterpolicy.yaml"]))
    KYVERNO_SCHEMA.validate(kyverno)
    # no namespaced filter: an empty `namespaces` list would match every namespace
    assert kyverno["spec"]["rules"][0]["match"]["any"] == [{"resources": {"kinds": ["CiliumClusterwideNetworkPolicy"]}}]
