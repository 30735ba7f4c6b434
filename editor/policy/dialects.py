"""The dialects a drawing compiles to: each declares its policy kinds, its compiler and what it can express.

Callers ask a dialect what it can do (`has`, `capabilities`) instead of comparing its name, and the browser gets
the same table (`capabilities_table`), so adding a dialect means adding its compiler module and one entry here.

Capabilities (simple names, shared with the editor): `l7` (HTTP/Kafka/DNS rules on ports), `fqdn` (DNS-name
peers), `entities` (Cilium entities other than `all`), `deny` (deny edges), `node_peers` (hosts nodes as peers),
`host_policies` (hosts nodes as subjects), `icmp`, `server_names` (TLS SNI), `cluster_wide` (subjects chosen by
a namespaceSelector), `dns_protocol_any` (one port entry for UDP and TCP).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .compile import Context, Draft, Subject

CAPABILITIES: tuple[str, ...] = (
    "l7",
    "fqdn",
    "entities",
    "deny",
    "node_peers",
    "host_policies",
    "icmp",
    "server_names",
    "cluster_wide",
    "dns_protocol_any",
)


@dataclasses.dataclass(frozen=True)
class Dialect:
    name: str
    label: str  # as people read it
    title: str  # what it writes, for a choice list
    module: str  # the module under editor.policy with `compile_subjects(context, subjects) -> list[Draft]`
    kinds: tuple[str, ...]  # the policy kinds it writes (kinds.py)
    capabilities: frozenset[str]

    def has(self, capability: str) -> bool:
        if capability not in CAPABILITIES:
            raise ValueError(f"unknown capability {capability!r}; known: {', '.join(CAPABILITIES)}")
        return capability in self.capabilities

    def missing(self, needed: Iterable[str]) -> list[str]:
        """The capabilities among `needed` that this dialect lacks, in CAPABILITIES order."""
        wanted = set(needed)
        return [name for name in CAPABILITIES if name in wanted and not self.has(name)]

    def compiler(self) -> Callable[[Context, list[Subject]], list[Draft]]:
        compile_subjects: Callable[[Context, list[Subject]], list[Draft]]
        compile_subjects = importlib.import_module(f"editor.policy.{self.module}").compile_subjects
        return compile_subjects


REGISTRY: dict[str, Dialect] = {
    dialect.name: dialect
    for dialect in (
        Dialect("native", "Native", "Kubernetes NetworkPolicy", "native", ("NetworkPolicy",), frozenset()),
        # NetworkPolicy too: the default-deny companion of a namespaced subject without rules (cilium.py)
        Dialect(
            "cilium",
            "Cilium",
            "CiliumNetworkPolicy",
            "cilium",
            ("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy", "NetworkPolicy"),
            frozenset(CAPABILITIES),
        ),
    )
}
NAMES: tuple[str, ...] = tuple(REGISTRY)


def dialect(name: str) -> Dialect:
    """The dialect called `name`; ValueError naming the known ones otherwise."""
    found = REGISTRY.get(name)
    if found is None:
        raise ValueError(f"unknown dialect {name!r}; use one of {', '.join(NAMES)}")
    return found


def capabilities_table() -> dict[str, Any]:
    """What the browser gets: every dialect with its label, kinds and capabilities."""
    return {
        name: {"label": d.label, "kinds": list(d.kinds), "capabilities": sorted(d.capabilities)}
        for name, d in REGISTRY.items()
    }
