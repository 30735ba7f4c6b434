"""Manifest signatures in the annotations kubectl-sigstore writes and Kyverno's `validate.manifests` verifies.

The format follows sigstore/k8s-manifest-sigstore (https://github.com/sigstore/k8s-manifest-sigstore):
- pkg/k8smanifest/sign.go, `AnnotationSigner.Sign`: the manifest file(s) are packed by `TarGzCompress` into a
  gzipped tar (the "blob"); the blob is signed; `generateSignedYAMLManifest` / `embedAnnotation` merge the
  annotations `cosign.sigstore.dev/message` and `cosign.sigstore.dev/signature` into every object of the file;
- pkg/cosign/sign.go, `SignBlob`: message = base64(GzipCompress(blob)) (so the blob is gzipped once more), and
  signature = base64 of what `cosign sign-blob` returns: an ASN.1 DER ECDSA signature over SHA-256(blob);
- pkg/cosign/verify.go, `VerifyBlob`: base64-decode and gunzip the message to get the blob back, base64-decode
  the signature, and verify it over the blob with the public key (`cosign verify-blob`);
- pkg/k8smanifest/resources/default-config.yaml: the fields ignored when the object is compared with the
  manifest inside the message (the signature annotations themselves and what the API server adds).

Keys: ECDSA P-256 in PEM, as `openssl ecparam -name prime256v1 -genkey` (SEC1) or `openssl genpkey` (PKCS#8)
write them, and public keys as SubjectPublicKeyInfo PEM (which is also what `cosign.pub` holds). The private key
`cosign generate-key-pair` writes is encrypted with scrypt + NaCl secretbox ("ENCRYPTED SIGSTORE PRIVATE KEY"),
which needs a cipher the `cryptography` package does not offer; such a key is refused with a message saying how
to export one. No network access and no keyless (Fulcio/Rekor) signing.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import gzip
import io
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .shapes import mapping
from .yamlio import InputError, dump_yaml_documents, load_documents

MESSAGE_ANNOTATION = "cosign.sigstore.dev/message"
SIGNATURE_ANNOTATION = "cosign.sigstore.dev/signature"
SIGNATURE_ANNOTATIONS = (
    "cosign.sigstore.dev/resourceBundleRef",
    SIGNATURE_ANNOTATION,
    MESSAGE_ANNOTATION,
    "cosign.sigstore.dev/certificate",
    "cosign.sigstore.dev/bundle",
)
# default-config.yaml's ignoreFields for every kind, as (path, key): metadata fields, and single keys of the
# annotations and labels maps (whose keys contain dots, so they are not split like the rest of the path).
IGNORED_METADATA = (
    "managedFields",
    "resourceVersion",
    "selfLink",
    "creationTimestamp",
    "generation",
    "uid",
    "finalizers",
)
IGNORED_ANNOTATIONS = (*SIGNATURE_ANNOTATIONS, "kubectl.kubernetes.io/last-applied-configuration", "namespace")
IGNORED_LABELS = ("app.kubernetes.io/instance",)
# What Argo CD adds to what it syncs: the bundle's Kyverno policy lists the same fields as ignoreFields.
ARGOCD_ANNOTATIONS = ("argocd.argoproj.io/tracking-id",)
SIGNED_SUFFIXES = (".yaml", ".yml")


class SigningError(ValueError):
    """A key or manifest that cannot be signed or verified; the message says what to do."""


def load_private_key(data: bytes, source: str = "key") -> ec.EllipticCurvePrivateKey:
    if b"ENCRYPTED SIGSTORE PRIVATE KEY" in data or b"ENCRYPTED COSIGN PRIVATE KEY" in data:
        raise SigningError(
            f"{source}: an encrypted cosign key (scrypt + NaCl secretbox) is not supported; use an ECDSA P-256 "
            "PEM key (`openssl ecparam -name prime256v1 -genkey -noout -out key.pem`) and give its public half "
            "(`openssl ec -in key.pem -pubout`) to Kyverno"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"{source}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SigningError(f"{source}: the key must be ECDSA on P-256 (prime256v1), as cosign's keys are")
    return key


def load_public_key(data: bytes, source: str = "public key") -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"{source}: not a PEM public key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SigningError(f"{source}: the key must be ECDSA on P-256 (prime256v1), as cosign's keys are")
    return key


def public_key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


# --- the message ---------------------------------------------------------------------------------------------


def tar_gz(files: dict[str, bytes]) -> bytes:
    """A gzipped tar of `files` (name -> content), made reproducible: fixed times, owners and modes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(content), 0o644, 0
            tar.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), mtime=0)


def untar_gz(blob: bytes, limit: int = 10 * 1024 * 1024) -> dict[str, bytes]:
    """The regular files of a gzipped tar, refusing archives that expand past `limit` bytes."""
    try:
        data = _gunzip(blob, limit)
        files: dict[str, bytes] = {}
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for member in tar.getmembers():
                if member.isfile():
                    extracted = tar.extractfile(member)
                    files[member.name] = extracted.read() if extracted is not None else b""
        return files
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise SigningError(f"the signed message is not a gzipped tar ({exc})") from None


def _gunzip(data: bytes, limit: int) -> bytes:
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
        out = stream.read(limit + 1)
    if len(out) > limit:
        raise SigningError(f"the signed message expands past {limit} bytes")
    return out


def message_of(blob: bytes) -> str:
    return base64.b64encode(gzip.compress(blob, mtime=0)).decode("ascii")


def blob_of(message: str) -> bytes:
    try:
        return _gunzip(base64.b64decode(message, validate=True), 10 * 1024 * 1024)
    except (ValueError, OSError, EOFError) as exc:
        raise SigningError(f"the {MESSAGE_ANNOTATION} annotation is not base64 of gzip data ({exc})") from None


# --- objects --------------------------------------------------------------------------------------------------


def _annotations(obj: dict[str, Any]) -> dict[str, Any]:
    metadata = obj.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    return annotations if isinstance(annotations, dict) else {}


def without_signature(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as it was before signing: the signature annotations removed (and an emptied map with them)."""
    clean = copy.deepcopy(obj)
    metadata = clean.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("annotations"), dict):
        for key in SIGNATURE_ANNOTATIONS:
            metadata["annotations"].pop(key, None)
        if not metadata["annotations"]:
            del metadata["annotations"]
    return clean


def normalised(obj: dict[str, Any], extra_annotations: Iterable[str] = ARGOCD_ANNOTATIONS) -> dict[str, Any]:
    """The object with every ignored field removed, as the verifier compares it."""
    clean = copy.deepcopy(obj)
    clean.pop("status", None)
    metadata = clean.get("metadata")
    if isinstance(metadata, dict):
        for field in IGNORED_METADATA:
            metadata.pop(field, None)
        for key, ignored in (("annotations", (*IGNORED_ANNOTATIONS, *extra_annotations)), ("labels", IGNORED_LABELS)):
            values = metadata.get(key)
            if isinstance(values, dict):
                for name in ignored:
                    values.pop(name, None)
                if not values:
                    del metadata[key]
    return clean


def _identity(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    metadata = mapping(obj.get("metadata"))
    return (
        str(obj.get("apiVersion", "")),
        str(obj.get("kind", "")),
        str(metadata.get("namespace", "")),
        str(metadata.get("name", "")),
    )


def _describe(obj: dict[str, Any]) -> str:
    _, kind, namespace, name = _identity(obj)
    return f"{kind} {namespace + '/' if namespace else ''}{name}"


def _load_yaml_objects(data: bytes | str, source: str) -> list[dict[str, Any]]:
    objects = []
    for document in load_documents(data, source):
        if document.value is None:
            continue
        if not isinstance(document.value, dict):
            raise InputError("expected a Kubernetes object in every YAML document", source, document.line)
        objects.append(document.value)
    return objects


# --- signing and verifying ------------------------------------------------------------------------------------


def sign_manifest(text: bytes | str, name: str, key: ec.EllipticCurvePrivateKey) -> str:
    """The manifest file `name` with every object signed (one message for the whole file, as kubectl-sigstore
    signs a file). A file signed before is signed anew from its content without the old annotations."""
    objects = [without_signature(obj) for obj in _load_yaml_objects(text, name)]
    if not objects:
        raise InputError("no Kubernetes object to sign", name)
    blob = tar_gz({name: dump_yaml_documents(objects).encode("utf-8")})
    signature = base64.b64encode(key.sign(blob, ec.ECDSA(hashes.SHA256()))).decode("ascii")
    signed = []
    for obj in objects:
        metadata = obj.setdefault("metadata", {})
        metadata["annotations"] = {
            **metadata.get("annotations", {}),
            MESSAGE_ANNOTATION: message_of(blob),
            SIGNATURE_ANNOTATION: signature,
        }
        signed.append(obj)
    return dump_yaml_documents(signed)


@dataclasses.dataclass
class Verdict:
    source: str
    object: str
    problem: str | None = None  # None: verified

    def __str__(self) -> str:
        return f"{self.source}: {self.object}: " + ("verified" if self.problem is None else f"FAILED: {self.problem}")


def verify_object(
    obj: dict[str, Any],
    key: ec.EllipticCurvePublicKey,
    extra_annotations: Iterable[str] = ARGOCD_ANNOTATIONS,
) -> str | None:
    """Why `obj` does not carry a valid signature by `key`, or None when it does."""
    annotations = _annotations(obj)
    message, signature = annotations.get(MESSAGE_ANNOTATION), annotations.get(SIGNATURE_ANNOTATION)
    if not isinstance(message, str) or not isinstance(signature, str):
        return f"no {MESSAGE_ANNOTATION} / {SIGNATURE_ANNOTATION} annotations"
    try:
        blob = blob_of(message)
        raw_signature = base64.b64decode(signature, validate=True)
    except (SigningError, ValueError) as exc:
        return str(exc)
    try:
        key.verify(raw_signature, blob, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return "the signature does not match the message and key"
    try:
        signed_objects = [
            o for name, content in untar_gz(blob).items() for o in _load_yaml_objects(content, f"message:{name}")
        ]
    except (SigningError, InputError) as exc:
        return str(exc)
    wanted = _identity(obj)
    candidates = [o for o in signed_objects if _identity(o) == wanted]
    if not candidates:
        return "the signed message holds no manifest of this object"
    actual = normalised(obj, extra_annotations)
    if not any(normalised(candidate, extra_annotations) == actual for candidate in candidates):
        return "the object differs from the signed manifest (" + _first_difference(candidates[0], obj) + ")"
    return None


def _first_difference(signed: Any, actual: Any, path: str = "") -> str:
    signed, actual = (normalised(signed), normalised(actual)) if not path else (signed, actual)
    if isinstance(signed, dict) and isinstance(actual, dict):
        for key in sorted(set(signed) | set(actual), key=str):
            if signed.get(key) != actual.get(key):
                return _first_difference(signed.get(key), actual.get(key), f"{path}.{key}" if path else str(key))
    if isinstance(signed, list) and isinstance(actual, list) and len(signed) == len(actual):
        for index, (a, b) in enumerate(zip(signed, actual, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{path}[{index}]")
    return f"{path or 'object'}: signed {signed!r}, found {actual!r}"


def manifest_files(directory: Path) -> list[Path]:
    """The YAML files of a bundle directory that carry policies to sign (kustomization.yaml configures, and is
    not applied, so it is left unsigned)."""
    if not directory.is_dir():
        raise InputError("not a directory", str(directory))
    return sorted(
        path
        for path in directory.rglob("*")
        if path.is_file()
        and path.suffix in SIGNED_SUFFIXES
        and path.name != "kustomization.yaml"
        and not any(part.startswith(".") for part in path.relative_to(directory).parts)
    )


def sign_directory(directory: Path, key: ec.EllipticCurvePrivateKey, kinds: Iterable[str]) -> list[Path]:
    """Sign, in place, every manifest file under `directory` whose objects are all of `kinds`. Every file is
    read and signed before any is written, so a file that cannot be read leaves the whole folder as it was."""
    wanted = set(kinds)
    signed: dict[Path, str] = {}
    for path in manifest_files(directory):
        data = path.read_bytes()
        objects = _load_yaml_objects(data, str(path))
        if objects and all(obj.get("kind") in wanted for obj in objects):
            signed[path] = sign_manifest(data, path.name, key)
    for path, text in signed.items():
        path.write_text(text, encoding="utf-8")
    return list(signed)


def verify_directory(directory: Path, key: ec.EllipticCurvePublicKey, kinds: Iterable[str]) -> list[Verdict]:
    wanted = set(kinds)
    verdicts = []
    for path in manifest_files(directory):
        for obj in _load_yaml_objects(path.read_bytes(), str(path)):
            if obj.get("kind") in wanted:
                verdicts.append(Verdict(str(path.relative_to(directory)), _describe(obj), verify_object(obj, key)))
    return verdicts
