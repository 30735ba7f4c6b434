"""NetworkPolicy -> imported policies (peers, ports; rules outside policyTypes become disabled edges)."""

from __future__ import annotations

from collections.abc import Callable

from .. import manifests
from ..compile import canonical
from ..document import Node, Port
from ..document import port_name_error as document_port_name_error
from ..document_schema import PROTOCOLS
from ..model import Peer, Rule
from ..model import Port as WrittenPort
from .common import (
    Report,
    _cidr_peer,
    _namespace_ok,
    _Path,
    _Policy,
    _Rule,
    _selector_dict,
    _terms,
    entity_node,
    pods_node,
)


def _read_network_policy(policy: manifests.PolicyObject, report: Report) -> _Policy | None:
    written = report.written
    if not written.specs or not written.specs[0].is_mapping:
        report(("spec",), "no spec; policy not imported")
        return None
    spec = written.specs[0]
    namespace = policy.namespace or manifests.DEFAULT_NAMESPACE
    terms = _terms(spec.subject, report)
    if terms is None or not _namespace_ok(namespace, ("metadata", "namespace"), report):
        return None
    result = _Policy(policy.name, pods_node(namespace, None, _selector_dict(*terms)))
    for direction in ("ingress", "egress"):
        report.shape_ok(("spec", direction))
    types = spec.effective_policy_types()
    result.isolate_ingress, result.isolate_egress = "Ingress" in types, "Egress" in types
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        active = direction.capitalize() in types
        rules = spec.section(direction)
        if rules and not active:
            report(
                ("spec", direction),
                f"policyTypes does not list {direction.capitalize()}, so these rules have no effect in Kubernetes "
                "(Cilium enforces them anyway, cilium#48703); imported as disabled edges",
            )
        for rule in rules:
            for peer, ports in _network_policy_rule(rule, peers_key, namespace, report):
                result.rules.append(_Rule(direction, peer, ports, disabled=not active))
    return result


def _network_policy_rule(rule: Rule, peers_key: str, namespace: str, report: Report) -> list[tuple[Node, list[Port]]]:
    path = rule.path
    if not rule.is_mapping:
        report(path, "a rule must be a mapping; rule not imported")
        return []
    ports = _ports(rule.ports, (*path, "ports"), report, _network_policy_port, "rule")
    peers_ok = report.shape_ok((*path, peers_key))
    if ports is None or not peers_ok:
        return []
    if not rule.peers:
        return [(entity_node("all"), ports)]
    peers = [_network_policy_peer(peer, namespace, report) for peer in rule.peers]
    found = [(peer, ports) for peer in peers if peer is not None]
    if not found:
        report(path, "no peer of this rule could be imported; rule not imported")
    return found


def _network_policy_peer(peer: Peer, namespace: str, report: Report) -> Node | None:
    path = peer.path
    if not isinstance(peer.raw, dict):
        report(path, "a peer must be a mapping; peer not imported")
        return None
    if peer.block is not None:
        if peer.pods is not None or peer.namespaces is not None:
            report(path, "ipBlock cannot be combined with a selector; peer not imported")
            return None
        if not peer.block.is_mapping:
            report(peer.block.path, "must be a mapping; peer not imported")
            return None
        return _cidr_peer(peer.block, report)
    if peer.pods is None and peer.namespaces is None:
        report(path, "an empty peer selects nothing the API server accepts; peer not imported")
        return None
    pod_terms = _terms(peer.pods, report)
    if pod_terms is None:
        return None
    if peer.namespaces is None:
        return pods_node(namespace, None, _selector_dict(*pod_terms))
    namespace_terms = _terms(peer.namespaces, report)
    if namespace_terms is None:
        return None
    return pods_node(None, _selector_dict(*namespace_terms), _selector_dict(*pod_terms))


def _ports(
    entries: tuple[WrittenPort, ...],
    path: _Path,
    report: Report,
    read: Callable[[WrittenPort, Report], Port | None],
    dropped: str,
) -> list[Port] | None:
    """The readable ports of a list, sorted; None when there were entries but none could be read, because
    dropping them all would turn "these ports" into "all ports"."""
    if not report.shape_ok(path):
        return None
    ports = [port for entry in entries if (port := read(entry, report)) is not None]
    if entries and not ports:
        report(path, f"no port could be imported; {dropped} not imported")
        return None
    unique = {canonical(p.to_json()): p for p in ports}
    return sorted(unique.values(), key=_port_order)


def _port_order(port: Port) -> tuple[int, int, int | str, int]:
    """Protocol (TCP, UDP, SCTP, ANY), then all ports, numbers, names."""
    shape = 0 if port.port is None else (1 if isinstance(port.port, int) else 2)
    return (PROTOCOLS.index(port.protocol), shape, port.port if port.port is not None else 0, port.end_port or 0)


def _network_policy_port(entry: WrittenPort, report: Report) -> Port | None:
    path = entry.path
    if not entry.is_mapping:
        report(path, "a port must be a mapping; port not imported")
        return None
    protocol = entry.protocol or "TCP"
    number, end = entry.port, entry.end_port
    problem = None
    if protocol not in ("TCP", "UDP", "SCTP"):
        problem = f"protocol {protocol!r} is not TCP, UDP or SCTP"
    elif isinstance(number, bool) or not (number is None or isinstance(number, int | str)):
        problem = f"port {number!r} is neither a number nor a name"
    elif isinstance(number, int) and not 1 <= number <= 65535:
        problem = f"port {number} is not between 1 and 65535"
    elif isinstance(number, str) and (message := document_port_name_error(number)):
        problem = message
    elif end is not None and (
        not isinstance(number, int) or isinstance(end, bool) or not isinstance(end, int) or not number <= end <= 65535
    ):
        problem = f"endPort {end!r} needs a numeric port not above it"
    if problem:
        report(path, f"{problem}; port not imported")
        return None
    return Port(protocol, number, end)
