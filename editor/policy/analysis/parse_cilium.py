"""CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy read into the analyser's parsed policies (SEMANTICS.md 4)."""

from __future__ import annotations

from ..admission import L7_KINDS, cilium_refusal
from ..document import icmp_protocol, icmp_type_number
from ..icmp_wildcard import wildcard_text
from ..manifests import PolicyObject
from ..model import Port, Rule, Spec
from ..selectors import LabelSelector, Requirement
from .connections import MAX_PORT, MIN_PORT, PROTOCOLS
from .parse import (
    _IANA_SVC_NAME,
    _NS_KEY,
    _NS_LABELS_PREFIX,
    ENTITIES,
    PeerSel,
    PolicyRef,
    _Direction,
    _EndpointPeer,
    _EntityPeerSel,
    _FqdnSel,
    _IPPeer,
    _pod_keys,
    _Policy,
    _PolicyReader,
    _PortEntry,
    _Rule,
)

_CILIUM_UNSUPPORTED = ("fromRequires", "fromGroups", "fromNodes", "toServices", "toRequires", "toGroups", "toNodes")
_MAX_ICMP_TYPE = 255  # ICMPField.type: an 8-bit number (pkg/policy/api/icmp.go)
_CILIUM_PROTOCOLS = {"TCP": ("TCP",), "UDP": ("UDP",), "SCTP": ("SCTP",), "ANY": PROTOCOLS}


def _normalise_cilium_key(key: str) -> str:
    """`k8s:app` and `any:app` select the Kubernetes label `app`; other sources (`reserved:host`) stay."""
    source, colon, rest = key.partition(":")
    if colon and source in ("k8s", "any"):
        return rest
    return key


def _normalise_cilium(selector: LabelSelector) -> LabelSelector:
    return LabelSelector(
        tuple(sorted((_normalise_cilium_key(k), v) for k, v in selector.match_labels)),
        tuple(
            sorted(Requirement(_normalise_cilium_key(r.key), r.operator, r.values) for r in selector.match_expressions)
        ),
    )


def _read_cilium(policy: PolicyObject, warnings: list[str], *, node_selector_labels: bool = False) -> list[_Policy]:
    """The rules of a Cilium policy; none, with a warning saying why, when Cilium refuses the whole object."""
    reader = _PolicyReader(policy, warnings)
    reader.check(("spec",))
    reader.check(("specs",))
    if not reader.model.specs:
        raise reader.error((), "needs spec or specs")
    result = []
    own_warnings: list[str] = []
    reader.warnings = own_warnings
    for spec in reader.model.specs:
        parsed = _read_cilium_rule(reader, spec)
        if parsed is not None:
            result.append(parsed)
    reader.warnings = warnings
    refused = cilium_refusal(reader.model, node_selector_labels=node_selector_labels)
    if refused is not None:
        reader.warn(refused[0], f"{refused[1]}; the policy does not exist in the cluster, analysed as absent")
        return []
    warnings.extend(own_warnings)
    return result


def _read_cilium_rule(reader: _PolicyReader, spec: Spec) -> _Policy | None:
    policy = reader.policy
    path = spec.path
    reader.check(path, "a rule must be a mapping")
    reader.mapping(spec.subject, (*path, "endpointSelector"))
    if spec.subject is None:
        if spec.nodes is None:
            raise reader.error(path, "needs endpointSelector (or nodeSelector)")
        reader.warn((*path, "nodeSelector"), "host policies (nodeSelector) are not analysed; rule skipped")
        return None
    selector = _normalise_cilium(reader.selector_of(spec.subject, (*path, "endpointSelector")))
    namespace = policy.namespace
    if namespace is not None:  # C1: a CNP applies only in its own namespace, whatever the selector says
        named = dict(selector.match_labels).get(_NS_KEY)
        if named is not None and named != namespace:
            reader.warn((*path, "endpointSelector"), f"namespace {named!r} replaced by the policy's {namespace!r}")
        selector = LabelSelector(
            tuple((k, v) for k, v in selector.match_labels if k != _NS_KEY), selector.match_expressions
        )
    default_deny = spec.default_deny
    if default_deny is not None and not isinstance(default_deny, dict):
        raise reader.error((*path, "enableDefaultDeny"), "must be a mapping")
    directions = {}
    for label in ("Ingress", "Egress"):
        key = label.lower()
        reader.check((*path, key))
        reader.check((*path, f"{key}Deny"))
        parsed = [_read_cilium_peer_rule(reader, rule, label, namespace, False) for rule in spec.section(key)]
        parsed += [
            _read_cilium_peer_rule(reader, rule, f"{label}Deny", namespace, True) for rule in spec.section(f"{key}Deny")
        ]
        for parsed_rule in parsed:
            parsed_rule.cluster_named_ports = label == "Egress"
        flag = (default_deny or {}).get(key)
        if flag is not None and not isinstance(flag, bool):
            raise reader.error((*path, "enableDefaultDeny", key), "must be true or false")
        directions[label] = _Direction(parsed, bool(parsed) and flag is not False, bool(parsed))  # C2, C3
    ref = PolicyRef(policy.kind, namespace, policy.name, policy.where(), spec.index)
    keys = selector.label_keys().union(*(_pod_keys(d.rules) for d in directions.values()))
    return _Policy(ref, namespace, selector, True, directions["Ingress"], directions["Egress"], keys)


def _read_cilium_peer_rule(reader: _PolicyReader, rule: Rule, label: str, namespace: str | None, deny: bool) -> _Rule:
    reader.check(rule.path, "a rule must be a mapping")
    peers: list[PeerSel] | None = None
    if rule.peer_fields:  # C4: any L3 field, even an empty list, restricts peers to what the fields select
        peers = []
        for key in rule.peer_fields:
            peers.extend(_read_cilium_l3(reader, rule, key, namespace, deny))
    elif rule.selects_nothing:
        # C4: without L3 fields a rule is an L3 wildcard only on its ports (pkg/policy/rule.go); with neither,
        # as in Cilium's default deny `- {}`, it selects no peer (pkg/policy/api/ingress.go
        # GetSourceEndpointSelectorsWithRequirements returns no selector) and allows nothing.
        peers = []
    ports, l7 = _read_cilium_ports(reader, rule, deny)
    return _Rule(rule.index + 1, label, peers, ports, deny, l7, icmps=_read_cilium_icmps(reader, rule))


def _read_cilium_icmps(reader: _PolicyReader, rule: Rule) -> frozenset[tuple[str, int]]:
    """The (protocol, type) pairs of a rule's `icmps` fields: ICMPv6 for family IPv6, else ICMPv4, and a type
    name as the number Cilium gives it in its family (pkg/policy/api/icmp.go: ICMPField.PortProtocol,
    icmpIpv4TypeNameToCode), type 0 (EchoReply in IPv4) as every type of its family, as Cilium enforces it. A
    field that matches no type (an integer outside 0-255, a name its family lacks) is left out with a warning; one
    the CRD's schema refuses takes the policy with it (admission.icmp_field_refusal)."""
    found: set[tuple[str, int]] = set()
    path = (*rule.path, "icmps")
    for i, item in enumerate(rule.icmps if isinstance(rule.icmps, list) else ()):
        fields = item.get("fields") if isinstance(item, dict) else None
        for j, field in enumerate(fields if isinstance(fields, list) else ()):
            valid = isinstance(field, dict) and field.get("family") in (None, "IPv4", "IPv6")
            number = icmp_type_number(field) if valid else None
            if number is None or not 0 <= number <= _MAX_ICMP_TYPE:
                reader.warn((*path, i, "fields", j), "is not an ICMP type of IPv4 or IPv6; it allows nothing here")
                continue
            protocol = icmp_protocol(field)
            if number == 0:
                # The type becomes the port of an ICMP filter, and port 0 is Cilium's wildcard (icmp_wildcard.py);
                # the linter says the same of it (FL026).
                reader.warn((*path, i, "fields", j), wildcard_text(field, rule.deny))
                found.update((protocol, each) for each in range(_MAX_ICMP_TYPE + 1))
                continue
            found.add((protocol, number))
    return frozenset(found)


def _read_cilium_l3(reader: _PolicyReader, rule: Rule, key: str, namespace: str | None, deny: bool) -> list[PeerSel]:
    reader.check((*rule.path, key))
    if key in _CILIUM_UNSUPPORTED or (key == "toFQDNs" and deny):
        reader.warn((*rule.path, key), "is not modelled by the analyser; it allows nothing here")
        return []
    peers: list[PeerSel] = []
    for peer in rule.peers:
        if peer.field != key:
            continue
        value, item_path = peer.raw, peer.path
        if peer.kind == "endpoints":
            if not isinstance(value, dict):
                raise reader.error(item_path, "an endpoint selector must be a mapping")
            peers.append(_EndpointPeer(_scope_endpoint_selector(reader.selector_of(peer.pods, item_path), namespace)))
        elif peer.block is not None and key.endswith("CIDR"):
            network = reader.network(value, item_path)
            peers.append(
                _IPPeer(
                    ((network.version, int(network.network_address), int(network.broadcast_address)),), kubernetes=False
                )
            )
        elif key.endswith("CIDRSet"):
            if peer.block is None:
                raise reader.error(item_path, "a CIDR set must be a mapping with cidr and except")
            if peer.block.cidr is None:
                reader.warn(item_path, "cidrGroupRef/cidrSelector are not modelled; this entry allows nothing")
                continue
            peers.append(_IPPeer(reader.block(peer.block.cidr, peer.block.excepts, item_path), kubernetes=False))
        elif peer.kind == "entity":
            if value not in ENTITIES:
                raise reader.error(item_path, f"unknown entity {value!r} (known: {', '.join(ENTITIES)})")
            peers.append(_EntityPeerSel(value))
        else:  # toFQDNs
            name, pattern = peer.match_name, peer.match_pattern
            if not (name or pattern):
                raise reader.error(item_path, "needs matchName or matchPattern")
            peers.append(
                _FqdnSel(
                    str(name).lower().rstrip(".") if name else None,
                    str(pattern).lower().rstrip(".") if pattern else None,
                )
            )
    return peers


def _scope_endpoint_selector(selector: LabelSelector, namespace: str | None) -> LabelSelector:
    """C5/C6: a peer selector without a namespace (or reserved) key is limited to the policy's namespace
    (CNP) or to cluster pods in any namespace (CCNP)."""
    selector = _normalise_cilium(selector)
    keys = selector.label_keys()
    if any(k == _NS_KEY or k.startswith(_NS_LABELS_PREFIX) or k.startswith("reserved:") for k in keys):
        return selector
    if namespace is not None:
        return LabelSelector(tuple(sorted((*selector.match_labels, (_NS_KEY, namespace)))), selector.match_expressions)
    return LabelSelector(
        selector.match_labels, tuple(sorted((*selector.match_expressions, Requirement(_NS_KEY, "Exists"))))
    )


def _read_cilium_ports(reader: _PolicyReader, rule: Rule, deny: bool) -> tuple[list[_PortEntry] | None, bool]:
    reader.check((*rule.path, "toPorts"))
    if not rule.port_rules:
        # A rule with only `icmps` allows ICMP alone: nothing of TCP, UDP or SCTP.
        return ([] if rule.icmps else None), False
    entries: list[_PortEntry] = []
    l7 = False
    for port_rule in rule.port_rules:
        rule_path = port_rule.path
        reader.check(rule_path, "a toPorts entry must be a mapping")
        if port_rule.rules is not None and not isinstance(port_rule.rules, dict):
            raise reader.error((*rule_path, "rules"), "must be a mapping")
        rules = port_rule.rules or {}
        if rules and deny:
            raise reader.error((*rule_path, "rules"), "deny rules cannot carry L7 rules")
        l7 = l7 or any(kind in rules for kind in L7_KINDS)
        # C4: an entry without ports allows nothing, even with L7 rules: pkg/policy/rule.go makes one L4 filter
        # per listed port and none for an entry that lists none.
        reader.check((*rule_path, "ports"))
        for port in port_rule.ports:
            entry = _read_cilium_port(reader, port)
            if entry is not None:
                entries.append(entry)
    return entries, l7


def _read_cilium_port(reader: _PolicyReader, port: Port) -> _PortEntry | None:
    path = port.path
    reader.check(path, "a port must be a mapping")
    protocol = port.protocol or "ANY"  # C12: omitted means ANY, unlike NetworkPolicy
    if protocol not in _CILIUM_PROTOCOLS:
        if protocol in ("ICMP", "ICMPV6", "VRRP", "IGMP"):
            reader.warn((*path, "protocol"), f"{protocol} is not modelled (only TCP, UDP and SCTP)")
            return None
        raise reader.error((*path, "protocol"), f"unknown protocol {protocol!r} (use TCP, UDP, SCTP or ANY)")
    value = port.port
    number: int | str | None
    if value is None or value in (0, "0", ""):
        number = None
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.isdigit():
        number = int(value)
    elif isinstance(value, str) and _IANA_SVC_NAME.fullmatch(value.lower()):
        number = value.lower()
    else:
        raise reader.error((*path, "port"), f"{value!r} is not a port number or a port name")
    if isinstance(number, int) and not MIN_PORT <= number <= MAX_PORT:
        raise reader.error((*path, "port"), f"port {number} is not in 0-65535")
    end = port.end_port
    if end is not None and (isinstance(end, bool) or not isinstance(end, int)):
        raise reader.error((*path, "endPort"), "must be a port number")
    if not isinstance(number, int) or end in (None, 0):
        end = None  # endPort is ignored for named ports and port 0
    elif not number <= end <= MAX_PORT:
        raise reader.error((*path, "endPort"), f"endPort {end} is less than port {number}")
    return _PortEntry(_CILIUM_PROTOCOLS[protocol], number, end)
