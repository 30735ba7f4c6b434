"""Which dialect a drawing's content needs: what a document uses that a dialect cannot write.

A NetworkPolicy filters pods, namespaces, IP blocks and ports only. A drawing read from Hubble flows or from
CiliumNetworkPolicies often holds more (L7 rules, entities such as `world`, DNS names, deny rules, node
policies); compiled as NetworkPolicy those edges are left out. The editor shows the drawing in its own dialect,
so content like that switches the drawing to Cilium (`adopt_dialect`) or the editor asks (`missing_features`).
The conditions follow what native.py refuses to write (`_expressible` and the hosts / namespaceSelector subjects).
"""

from __future__ import annotations

from collections import Counter

from .document import Document

CILIUM = "cilium"
NATIVE = "native"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def missing_features(document: Document, dialect: str | None = None) -> list[str]:
    """What `document` uses that `dialect` (default: the document's own) cannot write, in words, e.g.
    `HTTP or DNS rules on 3 edges`; empty when the dialect writes all of it."""
    if (dialect or document.settings.dialect) != NATIVE:
        return []
    nodes = document.node_map()
    found: Counter[str] = Counter()
    for edge in document.edges:
        if edge.disabled:
            continue
        ends = [nodes[end] for end in (edge.source, edge.target) if end in nodes]
        kinds = {node.kind for node in ends}
        if edge.action == "deny":
            found["deny rules"] += 1
        if edge.l7:
            found["HTTP or DNS rules"] += 1
        if edge.icmps:
            found["ICMP rules"] += 1
        if edge.server_names:
            found["TLS server names"] += 1
        if "fqdn" in kinds:
            found["DNS names (toFQDNs)"] += 1
        if "hosts" in kinds:
            found["node (host) peers"] += 1
        if any(node.kind == "entity" and node.entity != "all" for node in ends):
            found["Cilium entities (world, cluster, ...)"] += 1
    return [f"{feature} on {_plural(count, 'edge')}" for feature, count in found.items()]


def adopt_dialect(document: Document) -> str | None:
    """Switch `document` to Cilium when its content needs it; the sentence saying so, or None (unchanged)."""
    missing = missing_features(document)
    if not missing:
        return None
    document.settings.dialect = CILIUM
    return f"The drawing now uses Cilium: it has {', '.join(missing)}, which a NetworkPolicy cannot express."
