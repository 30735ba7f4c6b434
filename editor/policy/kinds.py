"""The policy kinds Fenceline reads and writes: one registry, so that the reader of manifests, the validator, the
linter and the analyser agree on which objects are policies and how each is shaped.

Adding a kind (AdminNetworkPolicy, Calico, ...) starts here: its API groups, the upstream schema it is validated
against, whether it is namespaced, the dialect it belongs to and whether it carries a list of rules (`specs`).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class PolicyKind:
    name: str
    api_version: str  # the version Fenceline writes
    groups: tuple[str, ...]  # API groups accepted when reading manifests
    schema: str  # file name under schemas/
    namespaced: bool
    dialect: str  # "native" or "cilium"
    rule_lists: bool = False  # also accepts `specs`, a list of rules, beside `spec`


KINDS: dict[str, PolicyKind] = {
    kind.name: kind
    for kind in (
        PolicyKind(
            "NetworkPolicy",
            "networking.k8s.io/v1",
            ("networking.k8s.io", "extensions"),
            "networkpolicy-networking-v1.standalone-strict.k8s-v1.37.0.json",
            True,
            "native",
        ),
        PolicyKind(
            "CiliumNetworkPolicy",
            "cilium.io/v2",
            ("cilium.io",),
            "datreeio-cilium.io-ciliumnetworkpolicy_v2.json",
            True,
            "cilium",
            rule_lists=True,
        ),
        PolicyKind(
            "CiliumClusterwideNetworkPolicy",
            "cilium.io/v2",
            ("cilium.io",),
            "datreeio-cilium.io-ciliumclusterwidenetworkpolicy_v2.json",
            False,
            "cilium",
            rule_lists=True,
        ),
    )
}
POLICY_KINDS: tuple[str, ...] = tuple(KINDS)
CILIUM_KINDS: frozenset[str] = frozenset(name for name, kind in KINDS.items() if kind.dialect == "cilium")
CLUSTER_SCOPED: frozenset[str] = frozenset(name for name, kind in KINDS.items() if not kind.namespaced)
