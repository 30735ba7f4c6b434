"""A drawing as a GitOps bundle: the repository folder a team reviews, signs and lets Argo CD deploy.

    <namespace>/<policy>.yaml        one file per compiled policy (cluster-wide Cilium policies in _cluster/)
    kustomization.yaml               lists the policy files (what Argo CD applies)
    CODEOWNERS                       namespace folders -> the namespace's owners; the rest -> platform owners
    platform/kyverno-clusterpolicy.yaml   Kyverno admits the bundle's policies only with a valid signature
    platform/argocd-application.yaml      Argo CD syncs the folder from the signed branch
    README.md                        how these fit together

The platform files are applied once by the platform team (they are not in the kustomization: Argo CD must not
be able to change the rule that checks what Argo CD deploys). `fenceline sign` then signs the policy files.
"""

from __future__ import annotations

import dataclasses
import io
import posixpath
import re
import zipfile
from typing import Any

from .compile import compile_document, dns_slug
from .document import Document
from .kinds import POLICY_KINDS
from .signing import ARGOCD_ANNOTATIONS
from .yamlio import dump_yaml_documents

CLUSTER_FOLDER = "_cluster"
PLATFORM_FOLDER = "platform"
SIGNED_KINDS = POLICY_KINDS  # every policy kind Fenceline writes
PUBLIC_KEY_PLACEHOLDER = (
    "-----BEGIN PUBLIC KEY-----\n"
    "REPLACE WITH THE TEAM'S PUBLIC KEY (fenceline bundle --public-key cosign.pub)\n"
    "-----END PUBLIC KEY-----"
)
_REPO_PATH = re.compile(r"^(\.|[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*)$")


class BundleError(ValueError):
    """Options that cannot make a bundle (a repository path with spaces, a policy that does not compile)."""


@dataclasses.dataclass(frozen=True)
class BundleOptions:
    repo_url: str = "https://git.example.com/your-team/network-policies.git"
    repo_path: str = "."  # the bundle's folder inside the repository
    branch: str = "main"  # the signed branch Argo CD deploys from
    public_key: str | None = None  # PEM; None leaves a placeholder the README points at
    dialect: str | None = None

    def __post_init__(self) -> None:
        if not _REPO_PATH.match(self.repo_path) or ".." in self.repo_path.split("/"):
            raise BundleError(f"repository path {self.repo_path!r}: use folder names of letters, digits, . _ -")
        if not re.match(r"^[A-Za-z0-9._/-]+$", self.branch):
            raise BundleError(f"branch {self.branch!r} is not a plain branch name")
        if self.public_key is not None and "BEGIN PUBLIC KEY" not in self.public_key:
            raise BundleError("the public key must be a PEM public key (-----BEGIN PUBLIC KEY-----)")


def _metadata(obj: dict[str, Any]) -> dict[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def policy_path(obj: dict[str, Any]) -> str:
    metadata = _metadata(obj)
    folder = metadata.get("namespace") or CLUSTER_FOLDER
    suffix = "" if obj.get("kind") == "NetworkPolicy" else "-" + dns_slug(str(obj.get("kind", ""))).lower()
    return f"{folder}/{metadata.get('name', 'policy')}{suffix}.yaml"


def _repo_file(options: BundleOptions, path: str) -> str:
    """A bundle path as CODEOWNERS names it: from the repository root, with a leading slash ("*" for all)."""
    joined = posixpath.normpath(posixpath.join(options.repo_path, path))
    return "*" if joined == "." else "/" + joined


def _codeowners(document: Document, namespaces: list[str], options: BundleOptions) -> str:
    platform = " ".join(document.platform_owners)
    lines = [
        "# Made by Fenceline from the drawing's owners. The last matching line wins (GitHub and GitLab):",
        "# everything falls to the platform owners, each namespace folder to its own.",
    ]
    if platform:
        everything = _repo_file(options, "")
        lines.append(f"{everything if everything == '*' else everything + '/'} {platform}")
    else:
        lines.append("# (the drawing names no platform owners: add platformOwners to it)")
    for name in namespaces:
        namespace = document.namespace(name)
        owners = " ".join(namespace.owners) if namespace is not None else ""
        if owners:
            lines.append(f"{_repo_file(options, name)}/ {owners}")
        else:
            lines.append(f"# {name}/ has no owners in the drawing: the platform owners review it")
    if platform:
        lines.append(f"{_repo_file(options, PLATFORM_FOLDER)}/ {platform}")
        lines += [f"{_repo_file(options, path)} {platform}" for path in ("kustomization.yaml", "CODEOWNERS")]
    return "\n".join(lines) + "\n"


def kyverno_policy(namespaces: list[str], cluster_wide: bool, options: BundleOptions) -> dict[str, Any]:
    """The ClusterPolicy that makes Kyverno verify every bundle policy's manifest signature on admission."""
    # An empty `namespaces` list would match every namespace, so a bundle without namespaced policies has none.
    resources: list[dict[str, Any]] = (
        [{"resources": {"kinds": ["NetworkPolicy", "CiliumNetworkPolicy"], "namespaces": namespaces}}]
        if namespaces
        else []
    )
    if cluster_wide:
        resources.append({"resources": {"kinds": ["CiliumClusterwideNetworkPolicy"]}})
    return {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": {
            "name": "fenceline-signed-network-policies",
            "annotations": {
                "policies.kyverno.io/title": "Signed network policies",
                "policies.kyverno.io/description": (
                    "Network policies in the namespaces of this bundle are admitted only with a valid "
                    "cosign.sigstore.dev manifest signature by the team's key (fenceline sign / kubectl-sigstore)."
                ),
            },
        },
        "spec": {
            "validationFailureAction": "Enforce",
            "background": False,
            "webhookTimeoutSeconds": 30,
            "rules": [
                {
                    "name": "verify-manifest-signature",
                    "match": {"any": resources},
                    "validate": {
                        "manifests": {
                            "attestors": [
                                {
                                    "count": 1,
                                    "entries": [{"keys": {"publicKeys": options.public_key or PUBLIC_KEY_PLACEHOLDER}}],
                                }
                            ],
                            # What Argo CD adds when it syncs; what the API server adds (managedFields,
                            # resourceVersion, uid, status...) Kyverno ignores by default.
                            "ignoreFields": [
                                {
                                    "objects": [{"kind": kind} for kind in SIGNED_KINDS],
                                    "fields": [f"metadata.annotations.{key}" for key in ARGOCD_ANNOTATIONS],
                                }
                            ],
                        }
                    },
                }
            ],
        },
    }


def argocd_application(name: str, options: BundleOptions) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": options.repo_url, "targetRevision": options.branch, "path": options.repo_path},
            "destination": {"server": "https://kubernetes.default.svc"},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
    }


def _readme(document: Document, policy_files: list[str], options: BundleOptions, app_name: str) -> str:
    key_note = (
        "The Kyverno policy carries the team's public key."
        if options.public_key
        else "**Before applying it, replace the placeholder public key** in `platform/kyverno-clusterpolicy.yaml` "
        "(or make the bundle again with `fenceline bundle --public-key cosign.pub`)."
    )
    return f"""# Network policies: {document.name or "Untitled drawing"}

Made by Fenceline from the drawing. Every file here is derived from it: change the drawing, export again, and let
the merge request show the plan (`fenceline plan`).

## What is here

- `<namespace>/*.yaml`: one file per policy ({len(policy_files)} in all); cluster-wide ones in `{CLUSTER_FOLDER}/`.
- `kustomization.yaml`: the list of policy files; this is what Argo CD applies.
- `CODEOWNERS`: each namespace folder is reviewed by that namespace's owners, everything else by the platform
  owners (move this file to the repository root or `.github/` / `.gitlab/` if the bundle is in a sub-folder).
- `platform/kyverno-clusterpolicy.yaml`: Kyverno admits a policy in these namespaces only when it carries a valid
  manifest signature (`cosign.sigstore.dev/message` and `/signature` annotations) by the team's key.
- `platform/argocd-application.yaml`: Argo CD application `{app_name}` syncing `{options.repo_path}` of
  `{options.repo_url}` from branch `{options.branch}`.

## How they fit together

1. A change is a merge request. CI runs `fenceline plan` and posts what it does to connectivity and to observed
   traffic; CODEOWNERS asks the owners of the namespaces it touches to review it.
2. After review, the policy files are signed on the protected branch:
   `fenceline sign . --key key.pem` (or `kubectl sigstore sign`); `fenceline verify . --key key.pub` checks them.
3. Argo CD deploys only branch `{options.branch}`; Kyverno refuses any policy whose signature does not match
   its content, so a policy changed outside this flow (kubectl edit, a tampered port) is rejected.

The platform team applies `platform/` once: `kubectl apply -f platform/`. {key_note}
"""


def build_bundle(document: Document, options: BundleOptions | None = None) -> dict[str, str]:
    """The bundle's files (path -> text). Raises BundleError when the drawing does not compile cleanly."""
    options = options or BundleOptions()
    result = compile_document(document, options.dialect)
    if result.errors:
        raise BundleError("the drawing does not compile: " + "; ".join(issue.message for issue in result.errors))
    files: dict[str, str] = {}
    for obj in result.objects:
        path = policy_path(obj)
        if path in files:
            raise BundleError(f"two policies would be written to {path}")
        files[path] = dump_yaml_documents([obj])
    policy_files = sorted(files)
    namespaces = sorted({path.split("/", 1)[0] for path in policy_files} - {CLUSTER_FOLDER})
    namespaces = sorted(set(namespaces) | {ns.name for ns in document.namespaces if ns.owners})
    app_name = "fenceline-" + (dns_slug(document.name or "policies")[:40].strip("-") or "policies")
    files["kustomization.yaml"] = dump_yaml_documents(
        [{"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": policy_files}]
    ).removeprefix("---\n")
    files["CODEOWNERS"] = _codeowners(document, namespaces, options)
    cluster_wide = any(path.startswith(CLUSTER_FOLDER + "/") for path in policy_files)
    files[f"{PLATFORM_FOLDER}/kyverno-clusterpolicy.yaml"] = dump_yaml_documents(
        [kyverno_policy(namespaces, cluster_wide, options)]
    )
    files[f"{PLATFORM_FOLDER}/argocd-application.yaml"] = dump_yaml_documents([argocd_application(app_name, options)])
    files["README.md"] = _readme(document, policy_files, options, app_name)
    return files


def zip_bundle(files: dict[str, str], folder: str = "network-policies") -> bytes:
    """The bundle as a zip archive (one top folder), for the editor's download."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            info = zipfile.ZipInfo(f"{folder}/{path}", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[path])
    return out.getvalue()
