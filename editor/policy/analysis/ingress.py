"""Ingress and OpenShift Route objects: what the ingress controller may open to each workload.

As np-guard/netpol-analyzer models them (pkg/netpol/connlist/ingress_analyzer.go): an Ingress backend or a Route
`to`/`alternateBackends` names a Service; the Service's selector picks the workloads of its namespace; the
controller may reach those pods on the target ports of the service ports the object refers to (all of them
when a Route names no port), as far as the pods' ingress policies admit `{ingress-controller}`, which they see
as a pod with no labels in a namespace with no labels: only rules without peers or with a namespace-only
selector matching every namespace let it in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..manifests import Service, ServicePort, Workload
from ..shapes import mapping
from ..yamlio import KubeObject
from .connections import ALL_CONNECTIONS, NO_CONNECTIONS, ConnectionSet
from .parse import _PodPeer, _Rule
from .peers import INGRESS_CONTROLLER, WorkloadPeer

if TYPE_CHECKING:
    from .evaluate import Analysis


@dataclasses.dataclass(frozen=True)
class ExposedBy:
    """One Ingress or Route reaching a workload through one service: on which connections."""

    kind: str  # "Ingress" or "Route"
    namespace: str
    name: str
    service: str
    connections: ConnectionSet

    @property
    def ref(self) -> str:
        return f"{self.kind} '{self.namespace}/{self.name}'"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclasses.dataclass(frozen=True)
class _Backend:
    service: str
    port: int | str | None  # None: every port of the service


def _backends(item: KubeObject) -> Iterator[_Backend]:
    """The services an Ingress or Route routes to; malformed parts (the API server would refuse them) route
    nowhere."""
    spec = mapping(item.obj.get("spec"))
    if item.obj.get("kind") == "Route":
        port = mapping(spec.get("port")).get("targetPort")
        for target in [spec.get("to"), *_list(spec.get("alternateBackends"))]:
            target = mapping(target)
            if target.get("kind", "Service") == "Service" and isinstance(target.get("name"), str):
                yield _Backend(target["name"], port if isinstance(port, int | str) else None)
        return
    backends: list[Any] = [spec.get("defaultBackend")]
    for rule in _list(spec.get("rules")):
        backends += [mapping(path).get("backend") for path in _list(mapping(mapping(rule).get("http")).get("paths"))]
    for backend in backends:
        service = mapping(mapping(backend).get("service"))
        if isinstance(service.get("name"), str):
            port = mapping(service.get("port"))
            number, name = port.get("number"), port.get("name")
            wanted = number if isinstance(number, int) else name if isinstance(name, str) and name else None
            yield _Backend(service["name"], wanted)


def _port_matches(wanted: int | str | None, port: ServicePort) -> bool:
    if wanted is None:
        return True
    if isinstance(wanted, str):
        return wanted == port.name
    # a number is the service port or its target port (netpol-analyzer accepts either, for Ingress and Route)
    return wanted in (port.port, port.target_port)


def _target_connections(port: ServicePort, workload: Workload) -> ConnectionSet:
    target = port.target_port if port.target_port is not None else port.port
    if isinstance(target, str):
        found = next((p for p in workload.ports if p.name == target and p.protocol == port.protocol), None)
        if found is None:
            return NO_CONNECTIONS
        target = found.port
    return ConnectionSet.of([port.protocol], target, target)


def _selects(service: Service, workload: Workload) -> bool:
    selector = service.selector
    return (
        service.namespace == workload.namespace
        and bool(selector)
        and all(workload.labels.get(k) == v for k, v in (selector or {}).items())
    )


def exposed_by(analysis: Analysis) -> dict[WorkloadPeer, list[ExposedBy]]:
    """Per workload, every Ingress/Route that routes to it and on which connections (before policies)."""
    cluster = analysis.cluster
    services = {(s.namespace, s.name): s for s in cluster.services}
    result: dict[WorkloadPeer, list[ExposedBy]] = {}
    for item in cluster.exposing:
        kind = str(item.obj.get("kind"))
        metadata = mapping(item.obj.get("metadata"))
        namespace, name = str(metadata.get("namespace") or "default"), str(metadata.get("name") or "")
        for backend in _backends(item):
            service = services.get((namespace, backend.service))
            if service is None:
                analysis.warnings.append(
                    f"{item.where()}: {kind} {namespace}/{name}: service {backend.service} not found; ignored"
                )
                continue
            ports = [p for p in service.ports if _port_matches(backend.port, p)]
            for workload in cluster.workloads:
                if not _selects(service, workload):
                    continue
                conns = NO_CONNECTIONS
                for port in ports:
                    conns = conns | _target_connections(port, workload)
                if conns:
                    peer = analysis.workload_peer(workload)
                    result.setdefault(peer, []).append(ExposedBy(kind, namespace, name, service.name, conns))
    return result


def admits_controller(rule: _Rule) -> bool:
    """Whether an ingress rule's peers include the ingress controller (no labels, namespace with no labels)."""
    if rule.deny:
        return False
    if rule.peers is None:
        return True
    return any(
        isinstance(peer, _PodPeer)
        and peer.namespaces is not None
        and peer.namespaces.matches({})
        and (peer.pods is None or peer.pods.matches({}))
        for peer in rule.peers
    )


def controller_ingress(analysis: Analysis, cls: int) -> ConnectionSet:
    """What a pod class's ingress policies let the ingress controller open to it."""
    if not analysis.ingress.isolated[cls]:
        return ALL_CONNECTIONS
    allowed = NO_CONNECTIONS
    for policy in analysis.policies:
        if policy.subjects >> cls & 1 and policy.ingress.applies:
            for rule in policy.ingress.rules:
                if admits_controller(rule):
                    allowed = allowed | analysis._ports(rule, cls)[0]
    return allowed


def add_controller_connections(analysis: Analysis) -> None:
    """Add `{ingress-controller} => workload` to the analysis' connections."""
    analysis.exposed_by = exposed_by(analysis)
    for peer, sources in analysis.exposed_by.items():
        routed = NO_CONNECTIONS
        for source in sources:
            routed = routed | source.connections
        cls = analysis.universe.workload_classes[(peer.namespace, peer.kind, peer.name)][0]
        conns = routed & controller_ingress(analysis, cls)
        if conns:
            analysis.connections[(INGRESS_CONTROLLER, peer)] = conns
