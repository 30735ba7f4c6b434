"""The cluster model read from Kubernetes manifests: namespaces, workloads, services and policy objects.

`read_cluster(objects)` turns the objects of `yamlio.load_objects` into a `Cluster`; `read_paths(paths)` does
the same for files and directories (searched recursively for .yaml/.yml/.json; `-` is stdin). Objects of kinds
this model does not use are skipped with a warning naming file:line, never an error.

Model rules (they follow np-guard/netpol-analyzer so its connlist output can be compared, SEMANTICS.md 6.1):
* A workload is the controller of a set of pods. A Deployment, StatefulSet, DaemonSet, ReplicaSet,
  ReplicationController, Job or CronJob manifest is a workload whose pod labels and ports come from its pod
  template. A Pod belongs to the workload named by its `ownerReferences` entry with `controller: true` (Node
  owners ignored), so pods of ReplicaSet `web-5d4` form the workload `ns/web-5d4[ReplicaSet]`; a Pod without
  one is its own workload `ns/pod[Pod]`.
* Namespaced objects without `metadata.namespace` are in `default`.
* Every namespace carries `kubernetes.io/metadata.name: <name>`; namespaces used by an object but not given as
  a Namespace object are synthesised with only that label.
* Container ports come from `spec.containers[].ports` (protocol defaults to TCP).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeGuard

from .kinds import CLUSTER_SCOPED, KINDS
from .selectors import validate_label_key, validate_label_value
from .shapes import mapping
from .yamlio import InputError, KubeObject, load_objects, read_sources

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
DEFAULT_NAMESPACE = "default"
PROTOCOLS = ("TCP", "UDP", "SCTP")

# kind -> path of the pod template inside the object
WORKLOAD_TEMPLATES: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
POLICY_KINDS: dict[str, tuple[str, ...]] = {name: kind.groups for name, kind in KINDS.items()}
_WORKLOAD_GROUPS = ("apps", "extensions", "batch", "")
# Objects that expose workloads to traffic from outside through an ingress controller (netpol-analyzer's
# `{ingress-controller}` peer): kind -> API groups.
EXPOSING_KINDS = {"Ingress": ("networking.k8s.io", "extensions"), "Route": ("route.openshift.io",)}
# Cluster-scoped policies around the NetworkPolicy layer (evaluated by analysis.admin).
ADMIN_POLICY_KINDS = ("AdminNetworkPolicy", "BaselineAdminNetworkPolicy")
_KIND = re.compile(r"[A-Za-z][A-Za-z0-9]*")  # a Kubernetes kind is a Go type name
# Pods and their controllers are named by DNS subdomains (the API server refuses any other name); a workload
# name is part of graph node ids and connlist lines, so one that is not is skipped.
_OBJECT_NAME = re.compile(r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


@dataclasses.dataclass(frozen=True)
class ContainerPort:
    """A port a container listens on; `name` is what a NetworkPolicy's named port refers to."""

    name: str | None
    port: int
    protocol: str = "TCP"


@dataclasses.dataclass
class Pod:
    """One pod (or the pod a controller's template stands for)."""

    namespace: str
    name: str
    labels: dict[str, str]
    ports: tuple[ContainerPort, ...]
    ips: tuple[str, ...] = ()
    host_network: bool = False
    service_account: str = "default"
    where: str = ""


@dataclasses.dataclass
class Workload:
    """A controller (or an ownerless Pod) and its pods; `labels`/`ports` are those of its first pod."""

    namespace: str
    name: str
    kind: str
    labels: dict[str, str]
    ports: tuple[ContainerPort, ...]
    replicas: int
    where: str
    pods: list[Pod] = dataclasses.field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.namespace, self.kind, self.name)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}[{self.kind}]"


@dataclasses.dataclass
class Namespace:
    name: str
    labels: dict[str, str]
    where: str | None = None  # None when synthesised


@dataclasses.dataclass(frozen=True)
class ServicePort:
    name: str | None
    port: int
    target_port: int | str | None
    protocol: str = "TCP"


@dataclasses.dataclass
class Service:
    namespace: str
    name: str
    selector: dict[str, str] | None  # None: a service without selector (ExternalName, manual Endpoints)
    ports: tuple[ServicePort, ...]
    where: str


@dataclasses.dataclass
class PolicyObject:
    """A NetworkPolicy, CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy as read (not yet validated)."""

    kind: str
    namespace: str | None  # None for the cluster-wide kind
    name: str
    source: KubeObject

    @property
    def obj(self) -> dict[str, Any]:
        return self.source.obj

    def where(self) -> str:
        return self.source.where()

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


@dataclasses.dataclass
class Cluster:
    namespaces: dict[str, Namespace]
    workloads: list[Workload]
    services: list[Service]
    policies: list[PolicyObject]
    warnings: list[str]
    exposing: list[KubeObject] = dataclasses.field(default_factory=list)  # Ingress and Route objects, as read
    admin_policies: list[PolicyObject] = dataclasses.field(default_factory=list)  # (Baseline)AdminNetworkPolicy

    @property
    def pods(self) -> list[Pod]:
        return [pod for workload in self.workloads for pod in workload.pods]


def _kind_of(item: KubeObject) -> str:
    """The kind, taken from the enclosing `<Kind>List` when a typed list's items omit it (kubectl output)."""
    if item.kind or len(item.path) < 2:
        return item.kind
    parent: Any = item.document.value
    for step in item.path[:-2]:
        parent = parent[step]
    parent_kind = parent.get("kind") if isinstance(parent, dict) else None
    if isinstance(parent_kind, str) and parent_kind.endswith("List") and parent_kind != "List":
        return parent_kind[: -len("List")]
    return ""


def _group(item: KubeObject) -> str | None:
    api_version = item.obj.get("apiVersion")
    if not isinstance(api_version, str) or not api_version:
        return None
    return api_version.rpartition("/")[0]


def _metadata(item: KubeObject) -> dict[str, Any]:
    metadata = item.obj.get("metadata")
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise InputError("metadata must be a mapping", item.source, item.line_of(("metadata",)))
    return metadata


def _name(item: KubeObject, kind: str) -> str:
    name = _metadata(item).get("name")
    if not isinstance(name, str) or not name:
        raise InputError(f"{kind} has no metadata.name", item.source, item.line)
    return name


def _namespace(item: KubeObject) -> str:
    namespace = _metadata(item).get("namespace")
    if namespace is None or namespace == "":
        return DEFAULT_NAMESPACE
    if not isinstance(namespace, str):
        raise InputError("metadata.namespace must be a string", item.source, item.line_of(("metadata", "namespace")))
    return namespace


def _labels(item: KubeObject, path: tuple[str | int, ...], what: str) -> dict[str, str]:
    value: Any = item.obj
    for step in path:
        value = value.get(step) if isinstance(value, dict) else None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{what} labels must be a mapping", item.source, item.line_of(path))
    labels: dict[str, str] = {}
    for key, label_value in value.items():
        if not isinstance(key, str) or not isinstance(label_value, str):
            raise InputError(
                f"{what} label {key!r}: keys and values must be strings (quote {label_value!r} in YAML)",
                item.source,
                item.line_of((*path, key)),
            )
        problem = validate_label_key(key) or validate_label_value(label_value)
        if problem:
            raise InputError(f"{what} label: {problem}", item.source, item.line_of((*path, key)))
        labels[key] = label_value
    return labels


def _listed(item: KubeObject, path: tuple[str | int, ...], value: Any, what: str, warnings: list[str]) -> list[Any]:
    """`value` when it is a list; absent or null is an empty list, anything else a warning and an empty list.

    Only the fields that name an object (name, namespace, labels) stop the reading with an InputError; a bad
    list elsewhere loses what it would have added, as the API server would have refused that object."""
    if isinstance(value, list):
        return value
    if value is not None:
        found = type(value).__name__
        warnings.append(f"{item.source}:{item.line_of(path)}: {what} must be a list, found {found}; ignored")
    return []


def _container_ports(
    item: KubeObject, spec_path: tuple[str | int, ...], warnings: list[str]
) -> tuple[ContainerPort, ...]:
    spec: Any = item.obj
    for step in spec_path:
        spec = spec.get(step) if isinstance(spec, dict) else None
    containers_path = (*spec_path, "containers")
    containers = spec.get("containers") if isinstance(spec, dict) else None
    ports: list[ContainerPort] = []
    for c_index, container in enumerate(_listed(item, containers_path, containers, "containers", warnings)):
        entries = container.get("ports") if isinstance(container, dict) else None
        entries_path = (*containers_path, c_index, "ports")
        for p_index, entry in enumerate(_listed(item, entries_path, entries, "container ports", warnings)):
            path = (*entries_path, p_index)
            if not isinstance(entry, dict):
                warnings.append(f"{item.source}:{item.line_of(path)}: container port is not a mapping; ignored")
                continue
            number = entry.get("containerPort")
            protocol = entry.get("protocol") or "TCP"
            name = entry.get("name")
            if not _is_port(number):
                warnings.append(
                    f"{item.source}:{item.line_of(path)}: container port without a valid containerPort "
                    f"(1-65535); ignored"
                )
                continue
            if protocol not in PROTOCOLS:
                warnings.append(f"{item.source}:{item.line_of(path)}: unknown protocol {protocol!r}; port ignored")
                continue
            ports.append(ContainerPort(name if isinstance(name, str) and name else None, number, protocol))
    return tuple(ports)


def _is_port(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


def _pod_extras(item: KubeObject, spec_path: tuple[str, ...]) -> tuple[bool, str]:
    spec: Any = item.obj
    for step in spec_path:
        spec = spec.get(step) if isinstance(spec, dict) else None
    if not isinstance(spec, dict):
        return False, "default"
    account = spec.get("serviceAccountName") or spec.get("serviceAccount")
    return spec.get("hostNetwork") is True, account if isinstance(account, str) else "default"


def _pod_ips(item: KubeObject, warnings: list[str]) -> tuple[str, ...]:
    status = item.obj.get("status")
    if not isinstance(status, dict):
        return ()
    ips: list[str] = []
    for entry in _listed(item, ("status", "podIPs"), status.get("podIPs"), "status.podIPs", warnings):
        if isinstance(entry, dict) and isinstance(entry.get("ip"), str):
            ips.append(entry["ip"])
    if not ips and isinstance(status.get("podIP"), str):
        ips.append(status["podIP"])
    return tuple(ips)


def _controller_owner(item: KubeObject, warnings: list[str]) -> tuple[str, str] | None:
    """(kind, name) of the controlling owner, as netpol-analyzer reads it; None for an ownerless pod."""
    path = ("metadata", "ownerReferences")
    references = _listed(item, path, _metadata(item).get("ownerReferences"), "ownerReferences", warnings)
    for index, reference in enumerate(references):
        if isinstance(reference, dict) and reference.get("controller") is True:
            kind, name = reference.get("kind") or "Pod", reference.get("name")
            if kind == "Node":
                return None
            if not isinstance(kind, str) or not _KIND.fullmatch(kind) or not _is_object_name(name):
                warnings.append(
                    f"{item.source}:{item.line_of((*path, index))}: the controller reference needs a kind and an "
                    "object name; the pod is read as a workload of its own"
                )
                return None
            return (kind, name)
    return None


def _is_object_name(name: Any) -> TypeGuard[str]:
    return isinstance(name, str) and bool(_OBJECT_NAME.fullmatch(name))


def _replicas(item: KubeObject, kind: str) -> int:
    spec = mapping(item.obj.get("spec"))
    field = "parallelism" if kind == "Job" else "replicas"
    value = spec.get(field) if kind not in ("DaemonSet", "CronJob") else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 1


def _service(item: KubeObject, warnings: list[str]) -> Service:
    spec = mapping(item.obj.get("spec"))
    selector = spec.get("selector")
    if selector is not None and not isinstance(selector, dict):
        where = f"{item.source}:{item.line_of(('spec', 'selector'))}"
        warnings.append(f"{where}: service selector must be a mapping; read as a service without selector")
    ports: list[ServicePort] = []
    for index, entry in enumerate(_listed(item, ("spec", "ports"), spec.get("ports"), "service ports", warnings)):
        where = f"{item.source}:{item.line_of(('spec', 'ports', index))}"
        if not isinstance(entry, dict) or not _is_port(entry.get("port")):
            warnings.append(f"{where}: service port without a valid port (1-65535); ignored")
            continue
        protocol = entry.get("protocol") or "TCP"
        if protocol not in PROTOCOLS:
            warnings.append(f"{where}: unknown protocol {protocol!r}; service port ignored")
            continue
        target = entry.get("targetPort")
        ports.append(
            ServicePort(
                entry.get("name") if isinstance(entry.get("name"), str) else None,
                entry["port"],
                target if isinstance(target, int | str) and not isinstance(target, bool) else None,
                protocol,
            )
        )
    return Service(
        _namespace(item),
        _name(item, "Service"),
        _labels(item, ("spec", "selector"), "Service selector") if isinstance(selector, dict) else None,
        tuple(ports),
        item.where(),
    )


class _Builder:
    def __init__(self) -> None:
        self.namespaces: dict[str, Namespace] = {}
        self.workloads: dict[tuple[str, str, str], Workload] = {}
        self.services: list[Service] = []
        self.policies: list[PolicyObject] = []
        self.exposing: list[KubeObject] = []
        self.admin_policies: list[PolicyObject] = []
        self.warnings: list[str] = []

    def add(self, item: KubeObject) -> None:
        kind = _kind_of(item)
        group = _group(item)
        if kind == "Namespace" and group in (None, ""):
            self._add_namespace(item)
        elif kind == "Pod" and group in (None, ""):
            self._add_pod(item)
        elif kind in WORKLOAD_TEMPLATES and (group is None or group in _WORKLOAD_GROUPS):
            self._add_controller(item, kind)
        elif kind == "Service" and group in (None, ""):
            self.services.append(_service(item, self.warnings))
        elif kind in POLICY_KINDS and (group is None or group in POLICY_KINDS[kind]):
            namespace = None if kind in CLUSTER_SCOPED else _namespace(item)
            self.policies.append(PolicyObject(kind, namespace, _name(item, kind), item))
        elif kind in EXPOSING_KINDS and (group is None or group in EXPOSING_KINDS[kind]):
            self.exposing.append(item)
        elif kind in ADMIN_POLICY_KINDS and group in (None, "policy.networking.k8s.io"):
            self.admin_policies.append(PolicyObject(kind, None, _name(item, kind), item))
        elif not kind:
            self.warnings.append(f"{item.where()}: Object 'Kind' is missing in it: not a Kubernetes object; skipped")
        else:
            api = f" ({item.obj.get('apiVersion')})" if group else ""
            self.warnings.append(f"{item.where()}: kind {kind}{api} is not used by the analysis; skipped")

    def _add_namespace(self, item: KubeObject) -> None:
        name = _name(item, "Namespace")
        labels = _labels(item, ("metadata", "labels"), "Namespace")
        labels[NAMESPACE_NAME_LABEL] = name
        if name in self.namespaces:
            self.warnings.append(f"{item.where()}: Namespace {name} defined again; this definition wins")
        self.namespaces[name] = Namespace(name, labels, item.where())

    def _workload(self, key: tuple[str, str, str], item: KubeObject, pod: Pod, replicas: int) -> Workload:
        workload = self.workloads.get(key)
        if workload is None:
            namespace, kind, name = key
            workload = Workload(namespace, name, kind, pod.labels, pod.ports, 0, item.where())
            self.workloads[key] = workload
        workload.pods.append(pod)
        workload.replicas += replicas
        return workload

    def _named(self, item: KubeObject, kind: str) -> str | None:
        name = _name(item, kind)
        if _is_object_name(name):
            return name
        self.warnings.append(
            f"{item.source}:{item.line_of(('metadata', 'name'))}: {kind} name {name!r} is not an object name "
            "(a DNS subdomain: lowercase letters, digits, '-' and '.'); skipped"
        )
        return None

    def _add_pod(self, item: KubeObject) -> None:
        name = self._named(item, "Pod")
        if name is None:
            return
        namespace = _namespace(item)
        host_network, account = _pod_extras(item, ("spec",))
        pod = Pod(
            namespace,
            name,
            _labels(item, ("metadata", "labels"), "Pod"),
            _container_ports(item, ("spec",), self.warnings),
            _pod_ips(item, self.warnings),
            host_network,
            account,
            item.where(),
        )
        owner = _controller_owner(item, self.warnings) or ("Pod", name)
        self._workload((namespace, *owner), item, pod, 1)

    def _add_controller(self, item: KubeObject, kind: str) -> None:
        name = self._named(item, kind)
        if name is None:
            return
        namespace = _namespace(item)
        template = WORKLOAD_TEMPLATES[kind]
        host_network, account = _pod_extras(item, (*template, "spec"))
        pod = Pod(
            namespace,
            f"{name}-1",
            _labels(item, (*template, "metadata", "labels"), f"{kind} pod template"),
            _container_ports(item, (*template, "spec"), self.warnings),
            (),
            host_network,
            account,
            item.where(),
        )
        key = (namespace, kind, name)
        if key in self.workloads:
            self.warnings.append(f"{item.where()}: {kind} {namespace}/{name} defined again; pods merged")
        self._workload(key, item, pod, _replicas(item, kind))

    def build(self) -> Cluster:
        used = [w.namespace for w in self.workloads.values()] + [s.namespace for s in self.services]
        used += [p.namespace for p in self.policies if p.namespace]
        for name in used:
            if name not in self.namespaces:
                self.namespaces[name] = Namespace(name, {NAMESPACE_NAME_LABEL: name})
        return Cluster(
            dict(sorted(self.namespaces.items())),
            list(self.workloads.values()),
            self.services,
            self.policies,
            self.warnings,
            self.exposing,
            self.admin_policies,
        )


def read_cluster(objects: Iterable[KubeObject], warnings: Sequence[str] = ()) -> Cluster:
    """The cluster model of `objects`; `warnings` (e.g. from loading) are carried into `Cluster.warnings`."""
    builder = _Builder()
    builder.warnings.extend(warnings)
    for item in objects:
        builder.add(item)
    return builder.build()


def load_paths(
    paths: Sequence[str | Path], *, keep_before_syntax_error: bool = False
) -> tuple[list[KubeObject], list[str]]:
    """The objects of files and directories (recursively: .yaml, .yml, .json; `-` reads stdin), and a warning for
    each document that is not an object.

    `keep_before_syntax_error`: a file with a YAML syntax error contributes the documents before the error (with
    a warning) instead of failing the whole read, as netpol-analyzer reads directories."""
    objects: list[KubeObject] = []
    warnings: list[str] = []
    for source, data in read_sources(paths):
        found, problems = load_objects(data, source, keep_before_error=keep_before_syntax_error)
        warnings.extend(f"{problem.one_line()}; skipped" for problem in problems)
        objects.extend(found)
    return objects, warnings


def read_paths(paths: Sequence[str | Path], *, keep_before_syntax_error: bool = False) -> Cluster:
    """The cluster model of files and directories (recursively: .yaml, .yml, .json); `-` reads stdin."""
    return read_cluster(*load_paths(paths, keep_before_syntax_error=keep_before_syntax_error))
