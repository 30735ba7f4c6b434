"""CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy -> imported policies (SEMANTICS.md section 4)."""

from __future__ import annotations

import dataclasses
from typing import Any

from .. import manifests
from ..admission import cilium_refusal
from ..cilium import NAMESPACE_LABEL_PREFIX
from ..document import NAMESPACE_NAME_LABEL, Node, Port
from ..document import port_name_error as document_port_name_error
from ..document_schema import ENTITIES, PROTOCOLS
from ..model import Peer, Rule, Selector, Spec
from ..model import Port as WrittenPort
from ..selectors import Requirement
from .common import (
    _POD_NAMESPACE,
    _PREFIX_SOURCES,
    Report,
    _cidr_peer,
    _list,
    _namespace_ok,
    _network,
    _Path,
    _Policy,
    _Rule,
    _selector_dict,
    _terms,
    cidr_node,
    entity_node,
    fqdn_node,
    hosts_node,
    pods_node,
)
from .native import _ports

_CILIUM_PEER_FIELDS = {
    "ingress": ("fromEndpoints", "fromCIDR", "fromCIDRSet", "fromEntities", "fromNodes"),
    "egress": ("toEndpoints", "toCIDR", "toCIDRSet", "toEntities", "toFQDNs", "toNodes"),
}
_CILIUM_UNREPRESENTED = {
    "fromRequires": "fromRequires (deprecated in 1.17, removed in 1.19) is not represented; the document allows more",
    "toRequires": "toRequires (deprecated in 1.17, removed in 1.19) is not represented; the document allows more",
    "toServices": "toServices is not represented; draw the service's pods instead",
    "toGroups": "toGroups (cloud provider groups) is not represented",
    "fromGroups": "fromGroups (cloud provider groups) is not represented",
}
_CILIUM_IGNORED = {
    "authentication": "authentication (mutual auth) is not represented; ignored",
    "auth": "auth (old spelling of authentication) is not represented; ignored",
}
_CILIUM_SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("ingress", "ingress", "allow"),
    ("ingressDeny", "ingress", "deny"),
    ("egress", "egress", "allow"),
    ("egressDeny", "egress", "deny"),
)


def _read_cilium_policy(policy: manifests.PolicyObject, report: Report) -> list[_Policy]:
    written = report.written
    report.shape_ok(("specs",))
    if not written.specs:
        report((), "no spec or specs; policy not imported")
    results = []
    for spec in written.specs:
        if not spec.is_mapping:
            report(spec.path, "a rule must be a mapping; not imported")
            continue
        result = _read_cilium_rule(policy, spec, report)
        if result is not None:
            results.append(result)
    # Node peers are imported as written although an agent without --enable-node-selector-labels refuses them;
    # the compiler says that they need the flag.
    refused = cilium_refusal(written, node_selector_labels=True)
    if refused is not None:
        report(
            refused[0],
            f"{refused[1]}: the policy never takes effect; its subjects are imported without a lock "
            "and its rules as disabled edges",
        )
        for result in results:
            result.isolate_ingress = result.isolate_egress = False
            for imported_rule in result.rules:
                imported_rule.disabled = True
    return results


def _read_cilium_rule(policy: manifests.PolicyObject, spec: Spec, report: Report) -> _Policy | None:
    path, rule = spec.path, spec.spec
    if (spec.subject is None) == (spec.nodes is None):
        report(path, "needs exactly one of endpointSelector and nodeSelector; rule not imported")
        return None
    if spec.nodes is not None:
        terms = _terms(spec.nodes, report)
        subject = hosts_node(_selector_dict(*_strip_sources(*terms))) if terms else None
    else:
        subject = _cilium_endpoints(spec.subject, policy.namespace, report, subject=True)
    if subject is None:
        report(path, "the subject cannot be read; rule not imported")
        return None
    default_deny = spec.default_deny
    if isinstance(default_deny, dict) and False in (default_deny.get("ingress"), default_deny.get("egress")):
        report(
            (*path, "enableDefaultDeny"),
            "enableDefaultDeny: false (allow without isolating) is not represented; imported as an isolating policy",
        )
    if rule.get("log") is not None:
        report((*path, "log"), "policy logging is not represented; ignored")
    result = _Policy(policy.name, subject)
    for section, direction, action in _CILIUM_SECTIONS:
        if section not in rule:
            continue
        if rule[section] is None:
            report((*path, section), "empty (null): Cilium reads it as no rules, which isolates nothing (C2)")
            continue
        items = spec.section(section)
        if not report.shape_ok((*path, section)) or not items:
            continue
        if direction == "ingress":
            result.isolate_ingress = True
        else:
            result.isolate_egress = True
        for item in items:
            _read_cilium_entry(policy, item, action, result, report)
    return result


def _read_cilium_entry(
    policy: manifests.PolicyObject, item: Rule, action: str, result: _Policy, report: Report
) -> None:
    path, direction = item.path, item.direction
    if not item.is_mapping:
        report(path, "a rule must be a mapping; rule not imported")
        return
    written: dict[str, Any] = item.raw or {}
    peers: list[Node] = []
    has_peer_field = False
    for key in _CILIUM_PEER_FIELDS[direction]:
        if key not in written:
            continue
        if action == "deny" and key == "toFQDNs":
            has_peer_field = True
            report((*path, key), "deny rules cannot use toFQDNs; not imported")
            continue
        if written[key] is None:
            report((*path, key), "empty (null): Cilium reads it as absent")
            continue
        has_peer_field = True
        if not report.shape_ok((*path, key)):
            return
        values = [peer for peer in item.peers if peer.field == key]
        if not values:
            report((*path, key), "an explicitly empty list selects nothing; rule not imported")
            return
        for value in values:
            peer = _cilium_peer(value, policy.namespace, report)
            if peer is not None:
                peers.append(peer)
    for key, message in _CILIUM_UNREPRESENTED.items():
        if written.get(key) is not None:  # in either direction: the API server takes both
            has_peer_field = True
            report((*path, key), message)
    for key, message in _CILIUM_IGNORED.items():
        if key in written:
            report((*path, key), message)
    if has_peer_field and not peers:
        report(path, "no peer of this rule could be imported; rule not imported")
        return
    if not has_peer_field and item.selects_nothing:
        # C4, pkg/policy/api/ingress.go GetSourceEndpointSelectorsWithRequirements: no peer and no ports
        report(
            path,
            f"a rule without peers or ports selects nothing: Cilium's default deny (it isolates the {direction} of "
            "the selected pods and allows nothing); imported as a lock with no edge",
        )
        return
    port_rules = _cilium_port_rules(item, report)
    icmps = _icmps(item.icmps, (*path, "icmps"), report)
    if port_rules is None or icmps is None:
        return
    named = sorted({str(p.port) for ports, _, _ in port_rules for p in ports if isinstance(p.port, str)})
    if direction == "egress" and named:
        report(
            (*path, "toPorts"),
            f"egress named port {', '.join(named)}: Cilium looks the name up among every pod of the cluster and "
            "skips it when pods give it different numbers; the document resolves it on the peer's "
            "pods and renders that number",
        )
    for peer in peers or [entity_node("all")]:
        for ports, l7, server_names in port_rules:
            result.rules.append(_Rule(direction, peer, ports, [], l7, server_names, action))
            if l7 and l7.get("dns") and peer.kind == "selector" and peer.namespace is not None:
                labels = (peer.pod_selector or {}).get("matchLabels", {})
                if labels and list(peer.pod_selector or {}) == ["matchLabels"]:
                    numbers = [p.port for p in ports if isinstance(p.port, int)]
                    result.dns_servers.append((peer.namespace, tuple(sorted(labels.items())), min(numbers or [53])))
        if icmps:
            result.rules.append(_Rule(direction, peer, [], icmps, action=action))
        if not port_rules and not icmps:
            result.rules.append(_Rule(direction, peer, [], action=action))


def _cilium_peer(peer: Peer, namespace: str | None, report: Report) -> Node | None:
    field, value, path = peer.field.removeprefix("from").removeprefix("to"), peer.raw, peer.path
    if field == "Endpoints":
        return _cilium_endpoints(peer.pods, namespace, report, subject=False)
    if field == "Nodes":
        terms = _terms(peer.pods, report)
        return hosts_node(_selector_dict(*_strip_sources(*terms))) if terms else None
    if field == "CIDR":
        network = _network(value, path, report, bare_ip=True)
        return cidr_node(network, []) if network else None
    if field == "CIDRSet":
        if peer.block is None:
            report(path, "must be a mapping; peer not imported")
            return None
        if value.get("cidrGroupRef") is not None or value.get("cidrGroupSelector") is not None:
            report(path, "CIDR groups are not represented; peer not imported")
            return None
        return _cidr_peer(peer.block, report, bare_ip=True)
    if field == "Entities":
        if value not in ENTITIES:
            report(path, f"entity {value!r} is not represented (known: {', '.join(ENTITIES)}); peer not imported")
            return None
        return entity_node(value)
    if isinstance(peer.match_name, str) != isinstance(peer.match_pattern, str):
        return fqdn_node(peer.match_name, peer.match_pattern)
    report(path, "an FQDN selector needs exactly one of matchName and matchPattern; peer not imported")
    return None


def _split_source(key: str) -> tuple[str, str]:
    """`k8s:app` -> (`k8s`, `app`); `app` -> (``, `app`). Kubernetes label keys cannot contain ':'."""
    source, colon, bare = key.partition(":")
    return (source, bare) if colon else ("", key)


def _strip_sources(labels: dict[str, str], requirements: list[Requirement]) -> tuple[dict[str, str], list[Requirement]]:
    """Drop the `k8s:`/`any:` label-source prefixes (unprefixed keys already mean `any:`)."""

    def bare(key: str) -> str:
        source, rest = _split_source(key)
        return rest if source in _PREFIX_SOURCES else key

    return {bare(k): v for k, v in labels.items()}, [dataclasses.replace(r, key=bare(r.key)) for r in requirements]


def _cilium_endpoints(
    selector: Selector | None, namespace: str | None, report: Report, *, subject: bool
) -> Node | None:
    """A Cilium endpoint selector as a node. `namespace` is the policy's (None for a CCNP)."""
    terms = _terms(selector, report)
    if terms is None or selector is None:
        return None
    path = selector.path
    labels, requirements = terms
    if not subject:
        reserved = [key for key in list(labels) + [r.key for r in requirements] if key.startswith("reserved:")]
        if reserved:
            entity = reserved[0].removeprefix("reserved:")
            if len(labels) + len(requirements) == 1 and reserved[0] in labels and entity in ENTITIES:
                return entity_node(entity)
            report(path, f"{reserved[0]!r} together with other terms is not represented; peer not imported")
            return None
    labels, requirements = _strip_sources(labels, requirements)
    pod_labels = {k: v for k, v in labels.items() if not _is_namespace_key(k)}
    pod_requirements = [r for r in requirements if not _is_namespace_key(r.key)]
    namespace_labels = {_namespace_label(k): v for k, v in labels.items() if _is_namespace_key(k)}
    namespace_requirements = [
        dataclasses.replace(r, key=_namespace_label(r.key)) for r in requirements if _is_namespace_key(r.key)
    ]
    negative_only = all(r.operator in ("NotIn", "DoesNotExist") for r in namespace_requirements)
    if not subject and namespace_requirements and not namespace_labels and negative_only:
        report(
            path,
            "a namespace term with only NotIn/DoesNotExist also matches world, host and CIDR identities, which "
            "have no namespace label; imported as pods only, so the document allows less: "
            "write those peers as their own edges if they are meant",
        )
    if subject and namespace is not None:
        named = namespace_labels.pop(NAMESPACE_NAME_LABEL, namespace)
        on_name = [r for r in namespace_requirements if r.key == NAMESPACE_NAME_LABEL]
        # Cilium overwrites a namespace in matchLabels but ANDs the expressions with the policy's namespace (C1).
        if not all(r.matches({NAMESPACE_NAME_LABEL: namespace}) for r in on_name):
            report(path, f"selects no pod: its namespace expression excludes the policy's namespace {namespace!r}")
            return None
        if named != namespace or on_name:
            report(path, f"Cilium always limits a CiliumNetworkPolicy to its own namespace {namespace!r}")
            namespace_requirements = [r for r in namespace_requirements if r.key != NAMESPACE_NAME_LABEL]
        if namespace_labels or namespace_requirements:
            namespace_labels[NAMESPACE_NAME_LABEL] = namespace
    pod_selector = _selector_dict(pod_labels, pod_requirements)
    if not namespace_labels and not namespace_requirements:
        if namespace is None:
            return pods_node(None, {}, pod_selector)
        return pods_node(namespace, None, pod_selector)
    if NAMESPACE_NAME_LABEL in namespace_labels and not _namespace_ok(
        namespace_labels[NAMESPACE_NAME_LABEL], path, report
    ):
        return None
    return pods_node(None, _selector_dict(namespace_labels, namespace_requirements), pod_selector)


def _is_namespace_key(key: str) -> bool:
    return key == _POD_NAMESPACE or key.startswith(NAMESPACE_LABEL_PREFIX)


def _namespace_label(key: str) -> str:
    return NAMESPACE_NAME_LABEL if key == _POD_NAMESPACE else key.removeprefix(NAMESPACE_LABEL_PREFIX)


def _cilium_port_rules(rule: Rule, report: Report) -> list[tuple[list[Port], dict[str, Any] | None, list[str]]] | None:
    path = (*rule.path, "toPorts")
    if not report.shape_ok(path):
        return None
    rules = []
    for entry in rule.port_rules:
        entry_path = entry.path
        if not entry.is_mapping:
            report(entry_path, "a toPorts entry must be a mapping; not imported")
            continue
        for key in ("listener", "originatingTLS", "terminatingTLS"):
            if entry.raw.get(key) is not None:
                report((*entry_path, key), f"{key} is not represented; ignored")
        if not entry.ports:
            # C4, pkg/policy/rule.go: one L4 filter per listed port, so an entry without ports allows nothing
            report(entry_path, "a toPorts entry without ports allows nothing; not imported")
            continue
        ports = _ports(entry.ports, (*entry_path, "ports"), report, _cilium_port, "toPorts entry")
        l7 = entry.rules
        names = entry.server_names or []
        if l7 is not None and not isinstance(l7, dict):
            report((*entry_path, "rules"), "must be a mapping; toPorts entry not imported")
            continue
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            report((*entry_path, "serverNames"), "must be a list of names; toPorts entry not imported")
            continue
        if ports is not None:
            rules.append((ports, dict(l7) if l7 else None, sorted(names)))
    if rule.port_rules and not rules:
        report(path, "no toPorts entry could be imported; rule not imported")
        return None
    return rules


def _cilium_port(entry: WrittenPort, report: Report) -> Port | None:
    path = entry.path
    if not entry.is_mapping:
        report(path, "a port must be a mapping; port not imported")
        return None
    protocol = str(entry.protocol or "ANY").upper()
    number, end = entry.port, entry.end_port
    port: int | str | None = None
    problem = None
    if isinstance(number, str) and number.isdigit():
        number = int(number)
    if protocol not in PROTOCOLS:
        problem = f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}"
    elif isinstance(number, bool) or not (number is None or isinstance(number, int | str)):
        problem = f"port {number!r} is neither a number nor a name"
    elif isinstance(number, int) and not 0 <= number <= 65535:
        problem = f"port {number} is not between 0 and 65535"
    elif isinstance(number, str) and (message := document_port_name_error(number.lower())):
        problem = message
    else:
        port = number.lower() if isinstance(number, str) else (number or None)
    invalid_end = (
        isinstance(end, bool) or not isinstance(end, int) or not (isinstance(port, int) and port <= end <= 65535)
    )
    if problem is None and end not in (None, 0) and isinstance(port, int) and invalid_end:
        problem = f"endPort {end!r} must be a number from port to 65535"
    if problem:
        report(path, f"{problem}; port not imported")
        return None
    return Port(protocol, port, end if isinstance(port, int) and end not in (None, 0) else None)


def _icmps(raw: Any, path: _Path, report: Report) -> list[dict[str, Any]] | None:
    rules = _list(raw, path, report)
    if rules is None:
        return None
    fields: list[dict[str, Any]] = []
    for i, rule in enumerate(rules):
        items = rule.get("fields") if isinstance(rule, dict) else None
        for j, item in enumerate(items if isinstance(items, list) else []):
            kind = item.get("type") if isinstance(item, dict) else None
            family = item.get("family") if isinstance(item, dict) else None
            valid_type = (isinstance(kind, int) and not isinstance(kind, bool) and 0 <= kind <= 255) or (
                isinstance(kind, str) and kind != ""
            )
            if not valid_type or family not in (None, "IPv4", "IPv6"):
                report((*path, i, "fields", j), "not an ICMP type with family IPv4 or IPv6; not imported")
                continue
            field = {"type": kind} if family is None else {"family": family, "type": kind}
            if field not in fields:
                fields.append(field)
    if rules and not fields:
        report(path, "no ICMP field could be imported; rule not imported")
        return None
    return fields
