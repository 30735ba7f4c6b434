"""NetworkPolicy -> imported policies (peers, ports; rules outside policyTypes become disabled edges)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import manifests
from ..compile import canonical
from ..document import Node, Port
from ..document import port_name_error as document_port_name_error
from ..document_schema import PROTOCOLS
from .common import (
    Report,
    _cidr_peer,
    _list,
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
    spec = policy.obj.get("spec")
    if not isinstance(spec, dict):
        report(("spec",), "no spec; policy not imported")
        return None
    namespace = policy.namespace or manifests.DEFAULT_NAMESPACE
    terms = _terms(spec.get("podSelector"), ("spec", "podSelector"), report)
    if terms is None or not _namespace_ok(namespace, ("metadata", "namespace"), report):
        return None
    result = _Policy(policy.name, pods_node(namespace, None, _selector_dict(*terms)))
    ingress = _list(spec.get("ingress"), ("spec", "ingress"), report)
    egress = _list(spec.get("egress"), ("spec", "egress"), report)
    types = spec.get("policyTypes")
    if isinstance(types, list) and types:
        types = [t for t in types if t in ("Ingress", "Egress")]
    else:
        types = ["Ingress", *(["Egress"] if egress else [])]
    result.isolate_ingress, result.isolate_egress = "Ingress" in types, "Egress" in types
    for direction, rules, peers_key in (("ingress", ingress or [], "from"), ("egress", egress or [], "to")):
        active = direction.capitalize() in types
        if rules and not active:
            report(
                ("spec", direction),
                f"policyTypes does not list {direction.capitalize()}, so these rules have no effect in Kubernetes "
                "(Cilium enforces them anyway, cilium#48703); imported as disabled edges",
            )
        for i, rule in enumerate(rules):
            for peer, ports in _network_policy_rule(rule, ("spec", direction, i), peers_key, namespace, report):
                result.rules.append(_Rule(direction, peer, ports, disabled=not active))
    return result


def _network_policy_rule(
    rule: Any, path: _Path, peers_key: str, namespace: str, report: Report
) -> list[tuple[Node, list[Port]]]:
    if not isinstance(rule, dict):
        report(path, "a rule must be a mapping; rule not imported")
        return []
    ports = _ports(rule.get("ports"), (*path, "ports"), report, _network_policy_port, "rule")
    raw_peers = _list(rule.get(peers_key), (*path, peers_key), report)
    if ports is None or raw_peers is None:
        return []
    if not raw_peers:
        return [(entity_node("all"), ports)]
    peers = [_network_policy_peer(raw, namespace, (*path, peers_key, j), report) for j, raw in enumerate(raw_peers)]
    found = [(peer, ports) for peer in peers if peer is not None]
    if not found:
        report(path, "no peer of this rule could be imported; rule not imported")
    return found


def _network_policy_peer(raw: Any, namespace: str, path: _Path, report: Report) -> Node | None:
    if not isinstance(raw, dict):
        report(path, "a peer must be a mapping; peer not imported")
        return None
    block, pods, namespaces = raw.get("ipBlock"), raw.get("podSelector"), raw.get("namespaceSelector")
    if block is not None:
        if pods is not None or namespaces is not None:
            report(path, "ipBlock cannot be combined with a selector; peer not imported")
            return None
        if not isinstance(block, dict):
            report((*path, "ipBlock"), "must be a mapping; peer not imported")
            return None
        return _cidr_peer(block.get("cidr"), block.get("except"), (*path, "ipBlock"), report)
    if pods is None and namespaces is None:
        report(path, "an empty peer selects nothing the API server accepts; peer not imported")
        return None
    pod_terms = _terms(pods, (*path, "podSelector"), report)
    if pod_terms is None:
        return None
    if namespaces is None:
        return pods_node(namespace, None, _selector_dict(*pod_terms))
    namespace_terms = _terms(namespaces, (*path, "namespaceSelector"), report)
    if namespace_terms is None:
        return None
    return pods_node(None, _selector_dict(*namespace_terms), _selector_dict(*pod_terms))


def _ports(
    raw: Any, path: _Path, report: Report, read: Callable[[Any, _Path, Report], Port | None], dropped: str
) -> list[Port] | None:
    """The readable ports of a list, sorted; None when there were entries but none could be read, because
    dropping them all would turn "these ports" into "all ports"."""
    entries = _list(raw, path, report)
    if entries is None:
        return None
    ports = [port for i, entry in enumerate(entries) if (port := read(entry, (*path, i), report)) is not None]
    if entries and not ports:
        report(path, f"no port could be imported; {dropped} not imported")
        return None
    unique = {canonical(p.to_json()): p for p in ports}
    return sorted(unique.values(), key=_port_order)


def _port_order(port: Port) -> tuple[int, int, int | str, int]:
    """Protocol (TCP, UDP, SCTP, ANY), then all ports, numbers, names."""
    shape = 0 if port.port is None else (1 if isinstance(port.port, int) else 2)
    return (PROTOCOLS.index(port.protocol), shape, port.port if port.port is not None else 0, port.end_port or 0)


def _network_policy_port(entry: Any, path: _Path, report: Report) -> Port | None:
    if not isinstance(entry, dict):
        report(path, "a port must be a mapping; port not imported")
        return None
    protocol = entry.get("protocol") or "TCP"
    number, end = entry.get("port"), entry.get("endPort")
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
