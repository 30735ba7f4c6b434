"""Platform policies written out: ClusterNetworkPolicy v1alpha2 (the default), AdminNetworkPolicy /
BaselineAdminNetworkPolicy v1alpha1 (for clusters whose CNI implements only those), or CiliumClusterwideNetworkPolicy
(the Cilium dialect). What a target cannot express is listed in `Compiled.not_expressed` (not compiled, never
dropped silently); what it expresses with a difference worth knowing, in `Compiled.caveats`.

Cilium (1.18, `pkg/policy/api/rule.go`, docs "Deny policies") has no tiers, priorities or rule order: a deny rule
wins over every allow, and allows add up. So an Admin Deny is a deny rule; an Admin Accept is an allow rule with
`enableDefaultDeny: false` (an allow policy would otherwise put the pods into default deny), which an application's
deny rule can still override; an Admin Deny is a deny rule with `enableDefaultDeny: false` as well (a deny-only
policy isolates too, SEMANTICS C2); Pass has no equivalent; a Baseline Deny can be expressed only when it denies
everything in a direction (an empty rule `{}` puts the pods into default deny, and application policies add their
allows on top); any other Baseline rule would override the NetworkPolicy tier and is not compiled.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..cilium import NAMESPACE_KEY, namespace_terms
from ..selectors import LabelSelector
from . import model
from .model import ADMIN, ALLOW, BASELINE, DENY, PASS, PlatformPeer, PlatformPolicy, PlatformPort, PlatformRule, PodSet

GROUP = "policy.networking.k8s.io"


@dataclasses.dataclass
class Compiled:
    objects: list[dict[str, Any]]
    not_expressed: list[str]  # rules or policies not compiled: one sentence each, naming it and why
    caveats: list[str] = dataclasses.field(default_factory=list)  # compiled, with a difference in meaning


def _selector(selector: LabelSelector) -> dict[str, Any]:
    return selector.to_dict()


def _pod_set(pods: PodSet) -> dict[str, Any]:
    if pods.pods is None:
        return {"namespaces": _selector(pods.namespaces)}
    return {"pods": {"namespaceSelector": _selector(pods.namespaces), "podSelector": _selector(pods.pods)}}


def _peer(peer: PlatformPeer) -> dict[str, Any]:
    if peer.pods is not None:
        return _pod_set(peer.pods)
    if peer.networks:
        return {"networks": [str(n) for n in peer.networks]}
    if peer.nodes is not None:
        return {"nodes": _selector(peer.nodes)}
    return {"domainNames": list(peer.domain_names)}


def _v1alpha2_port(port: PlatformPort) -> dict[str, Any]:
    if port.name is not None:
        return {"destinationNamedPort": port.name}
    number = {"number": port.first} if port.first == port.last else {"range": {"start": port.first, "end": port.last}}
    return {str(port.protocol).lower(): {"destinationPort": number}}


def _v1alpha1_port(port: PlatformPort) -> dict[str, Any]:
    if port.name is not None:
        return {"namedPort": port.name}
    if port.first == port.last:
        return {"portNumber": {"protocol": port.protocol, "port": port.first}}
    return {"portRange": {"protocol": port.protocol, "start": port.first, "end": port.last}}


def _rule(rule: PlatformRule, v1alpha2: bool) -> dict[str, Any]:
    actions = model.V1ALPHA2_ACTIONS if v1alpha2 else model.V1ALPHA1_ACTIONS
    out: dict[str, Any] = {"name": rule.name} if rule.name else {}
    out["action"] = actions[rule.verdict]
    out["from" if rule.direction == "Ingress" else "to"] = [_peer(p) for p in rule.peers]
    if rule.ports is not None:
        if v1alpha2:
            out["protocols"] = [_v1alpha2_port(p) for p in rule.ports]
        else:
            out["ports"] = [_v1alpha1_port(p) for p in rule.ports]
    return out


def _spec_rules(policy: PlatformPolicy, v1alpha2: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    for direction, rules in (("ingress", policy.ingress), ("egress", policy.egress)):
        if rules:
            spec[direction] = [_rule(r, v1alpha2) for r in rules]
    return spec


def to_v1alpha2(policies: list[PlatformPolicy]) -> Compiled:
    objects = []
    for policy in policies:
        spec = {"tier": policy.tier, "priority": policy.ref.priority or 0, "subject": _pod_set(policy.subject)}
        objects.append(
            {
                "apiVersion": f"{GROUP}/v1alpha2",
                "kind": "ClusterNetworkPolicy",
                "metadata": {"name": policy.ref.name},
                "spec": {**spec, **_spec_rules(policy, True)},
            }
        )
    return Compiled(objects, [])


def to_v1alpha1(policies: list[PlatformPolicy]) -> Compiled:
    """Admin tier policies as ANPs; the Baseline tier as the one BANP `default` when it has one subject."""
    objects: list[dict[str, Any]] = []
    missing: list[str] = []
    for source in (p for p in policies if p.tier == ADMIN):
        policy = dataclasses.replace(
            source,
            ingress=source.ingress,
            egress=tuple(r for r in source.egress if _v1alpha1_peers(source, r, missing)),
        )
        spec = {"priority": policy.ref.priority or 0, "subject": _pod_set(policy.subject)}
        objects.append(
            {
                "apiVersion": f"{GROUP}/v1alpha1",
                "kind": "AdminNetworkPolicy",
                "metadata": {"name": policy.ref.name},
                "spec": {**spec, **_spec_rules(policy, False)},
            }
        )
    baseline = sorted((p for p in policies if p.tier == BASELINE), key=lambda p: (p.ref.priority or 0, p.ref.name))
    if baseline:
        subject = baseline[0].subject
        kept = [p for p in baseline if p.subject == subject]
        for policy in baseline:
            if policy.subject != subject:
                missing.append(
                    f"{policy.ref} ({policy.ref.rank}): v1alpha1 has one BaselineAdminNetworkPolicy with one subject, "
                    f"and {baseline[0].ref}'s subject differs; not compiled"
                )
        rules = {
            d: [r for p in kept for r in p.rules(d) if r.verdict != PASS or _note_pass(p, r, missing)]
            for d in ("Ingress", "Egress")
        }
        rules = {d: [r for r in found if _v1alpha1_peers(baseline[0], r, missing)] for d, found in rules.items()}
        merged = PlatformPolicy(baseline[0].ref, subject, tuple(rules["Ingress"]), tuple(rules["Egress"]))
        objects.append(
            {
                "apiVersion": f"{GROUP}/v1alpha1",
                "kind": "BaselineAdminNetworkPolicy",
                "metadata": {"name": "default"},  # the CRD admits no other name
                "spec": {"subject": _pod_set(subject), **_spec_rules(merged, False)},
            }
        )
    return Compiled(objects, missing)


def _v1alpha1_peers(policy: PlatformPolicy, rule: PlatformRule, missing: list[str]) -> bool:
    if any(p.domain_names for p in rule.peers):
        missing.append(f"{policy.ref} {rule.label}: v1alpha1 has no domainNames peers; not compiled")
        return False
    return True


def _note_pass(policy: PlatformPolicy, rule: PlatformRule, missing: list[str]) -> bool:
    missing.append(f"{policy.ref} {rule.label}: BaselineAdminNetworkPolicy has no Pass action; not compiled")
    return False


# --- Cilium ----------------------------------------------------------------------------------------------------


def _endpoints(pods: PodSet) -> dict[str, Any]:
    ns_labels, ns_expressions = namespace_terms(_selector(pods.namespaces))
    own = _selector(pods.pods) if pods.pods is not None else {}
    labels = {**own.get("matchLabels", {}), **ns_labels}
    expressions = [*own.get("matchExpressions", []), *ns_expressions]
    if not ns_labels and not ns_expressions:
        expressions.append({"key": NAMESPACE_KEY, "operator": "Exists"})  # every namespace, pods only
    selector: dict[str, Any] = {}
    if labels:
        selector["matchLabels"] = dict(sorted(labels.items()))
    if expressions:
        selector["matchExpressions"] = expressions
    return selector


def _cilium_peers(rule: PlatformRule, prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for peer in rule.peers:
        if peer.pods is not None:
            out.setdefault(f"{prefix}Endpoints", []).append(_endpoints(peer.pods))
        elif peer.networks:
            out.setdefault(f"{prefix}CIDR", []).extend(str(n) for n in peer.networks)
        elif peer.nodes is not None:
            out.setdefault(f"{prefix}Nodes", []).append(_selector(peer.nodes))
        else:
            out.setdefault("toFQDNs", []).extend({"matchName": n} for n in peer.domain_names)
    return out


def _cilium_ports(rule: PlatformRule) -> list[dict[str, Any]] | None:
    if rule.ports is None:
        return None
    entries = []
    for port in rule.ports:
        if port.name is not None:
            entries.append({"port": port.name, "protocol": "ANY"})
        else:
            entry: dict[str, Any] = {"port": str(port.first), "protocol": port.protocol}
            if port.last != port.first:
                entry["endPort"] = port.last
            entries.append(entry)
    return [{"ports": entries}]


def _everything(rule: PlatformRule) -> bool:
    """Every pod, or every address (0.0.0.0/0 with ::/0), on every port."""
    every_pod = any(
        p.pods is not None and p.pods.namespaces.is_empty and (p.pods.pods is None or p.pods.pods.is_empty)
        for p in rule.peers
    )
    every_address = {str(n) for p in rule.peers for n in p.networks} >= {"0.0.0.0/0", "::/0"}
    return rule.ports is None and (every_pod or every_address)


def _order_lost(policies: list[PlatformPolicy]) -> list[str]:
    """Deny rules that come after an Accept or a Pass in the Admin tier: in Cilium the deny wins where they overlap,
    whatever came first."""
    found = []
    admin = sorted((p for p in policies if p.tier == ADMIN), key=lambda p: (p.ref.priority or 0, p.ref.name))
    for direction in ("Ingress", "Egress"):
        earlier: list[str] = []
        for policy in admin:
            for rule in policy.rules(direction):
                if rule.verdict == DENY and earlier:
                    found.append(
                        f"{policy.ref} {rule.label} (Deny) comes after {', '.join(earlier)}: in Cilium the deny wins "
                        "where their peers and ports overlap"
                    )
                elif rule.verdict != DENY:
                    earlier.append(f"{policy.ref} {rule.label} ({rule.action})")
    return found


def to_cilium(policies: list[PlatformPolicy]) -> Compiled:
    objects: list[dict[str, Any]] = []
    missing: list[str] = []
    caveats: list[str] = []
    for policy in sorted(policies, key=lambda p: (p.tier != ADMIN, p.ref.priority or 0, p.ref.name)):
        spec: dict[str, Any] = {"endpointSelector": _endpoints(policy.subject)}
        default_deny: dict[str, bool] = {}
        for direction, rules in (("ingress", policy.ingress), ("egress", policy.egress)):
            prefix = "from" if direction == "ingress" else "to"
            for rule in rules:
                where = f"{policy.ref} ({policy.ref.rank}) {rule.label}"
                if rule.verdict == PASS:
                    missing.append(f"{where}: Cilium has no Pass (delegation to NetworkPolicy); not compiled")
                    continue
                if policy.tier == BASELINE:
                    if rule.verdict == DENY and _everything(rule):
                        spec[direction] = [{}]  # default deny in this direction; applications add allows
                        default_deny[direction] = True
                    else:
                        missing.append(
                            f"{where}: Cilium cannot place a rule below NetworkPolicy (a Baseline tier rule that is "
                            "not a deny of everything would override application policies); not compiled"
                        )
                    continue
                if rule.verdict == DENY and any(p.domain_names for p in rule.peers):
                    missing.append(f"{where}: Cilium deny rules cannot name DNS names (toFQDNs); not compiled")
                    continue
                body = _cilium_peers(rule, prefix)
                ports = _cilium_ports(rule)
                if ports is not None:
                    body["toPorts"] = ports
                section = direction + ("Deny" if rule.verdict == DENY else "")
                spec.setdefault(section, []).append(body)
                # a deny or allow entry would put every selected pod into default deny (SEMANTICS C2), which no
                # Admin rule means: only the Baseline deny-all (an empty rule, below) isolates
                default_deny.setdefault(direction, False)
                if rule.verdict == ALLOW:
                    caveats.append(f"{where}: in Cilium an application deny rule still wins over this Accept")
                if any(p.networks for p in rule.peers):
                    caveats.append(f"{where}: Cilium CIDR rules match only addresses outside the cluster, not pods")
        if len(spec) == 1:
            continue  # nothing Cilium can say for this policy; each rule is in `missing`
        if default_deny:
            spec["enableDefaultDeny"] = default_deny
        objects.append(
            {
                "apiVersion": "cilium.io/v2",
                "kind": "CiliumClusterwideNetworkPolicy",
                "metadata": {"name": policy.ref.name},
                "spec": spec,
            }
        )
    caveats.extend(_order_lost(policies))
    if any(p.tier == ADMIN for p in policies) and len({p.ref.priority for p in policies if p.tier == ADMIN}) > 1:
        caveats.append("Cilium has no priorities: every deny rule wins over every allow rule, whatever the priority")
    return Compiled(objects, missing, caveats)
