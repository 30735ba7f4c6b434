"""Which dialect a drawing's content needs: what a document uses that a dialect cannot write.

A NetworkPolicy filters pods, namespaces, IP blocks and ports only. A drawing read from Hubble flows or from
CiliumNetworkPolicies often holds more (L7 rules, entities such as `world`, DNS names, deny rules, node
policies); compiled as NetworkPolicy those edges are left out. The editor shows the drawing in its own dialect,
so content like that switches the drawing to a dialect that writes it (`adopt_dialect`) or the editor asks
(`missing_features`). Which dialect can write what is the dialect registry's (dialects.py); the conditions follow
what native.py refuses to write (`_expressible` and the hosts / namespaceSelector subjects).
"""

from __future__ import annotations

from collections import Counter

from .dialects import REGISTRY, dialect
from .document import Document, Edge, Node
from .document_schema import APPLICATION

# What each capability is called on screen (dialects.CAPABILITIES names).
WORDS = {
    "deny": "deny rules",
    "l7": "HTTP or DNS rules",
    "icmp": "ICMP rules",
    "server_names": "TLS server names",
    "fqdn": "DNS names (toFQDNs)",
    "node_peers": "node (host) peers",
    "entities": "Cilium entities (world, cluster, ...)",
}


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _edge_needs(edge: Edge, ends: list[Node]) -> list[str]:
    """The capabilities one edge needs beyond ports between pods, namespaces and IP blocks."""
    kinds = {node.kind for node in ends}
    needs = []
    if edge.action == "deny" and edge.layer == APPLICATION:  # a platform tier's Deny is a ClusterNetworkPolicy's
        needs.append("deny")
    if edge.l7:
        needs.append("l7")
    if edge.icmps:
        needs.append("icmp")
    if edge.server_names:
        needs.append("server_names")
    if "fqdn" in kinds:
        needs.append("fqdn")
    if "hosts" in kinds:
        needs.append("node_peers")
    if any(node.kind == "entity" and node.entity != "all" for node in ends):
        needs.append("entities")
    return needs


def needed_capabilities(document: Document) -> Counter[str]:
    """How many enabled edges need each capability."""
    nodes = document.node_map()
    found: Counter[str] = Counter()
    for edge in document.edges:
        if edge.disabled:
            continue
        ends = [nodes[end] for end in (edge.source, edge.target) if end in nodes]
        if edge.action == "allow" and not (edge.l7 or edge.icmps or edge.server_names) and all(map(_plain, ends)):
            continue  # most edges, between pods and address ranges: nothing to count
        found.update(_edge_needs(edge, ends))
    return found


def _plain(node: Node) -> bool:
    return node.kind in ("workload", "selector", "cidr") or (node.kind == "entity" and node.entity == "all")


def missing_features(document: Document, dialect_name: str | None = None) -> list[str]:
    """What `document` uses that `dialect_name` (default: the document's own) cannot write, in words, e.g.
    `HTTP or DNS rules on 3 edges`; empty when the dialect writes all of it."""
    return dialect_fit(document, dialect_name)[0]


def fitting_dialect(document: Document, dialect_name: str | None = None) -> str | None:
    """The first registered dialect that writes everything `document` uses, when `dialect_name` (default: the
    document's own) does not."""
    return dialect_fit(document, dialect_name)[1]


def dialect_fit(document: Document, dialect_name: str | None = None) -> tuple[list[str], str | None]:
    """missing_features and fitting_dialect of `document` in `dialect_name`, from one look at its edges."""
    found = needed_capabilities(document)
    lacking = dialect(dialect_name or document.settings.dialect).missing(found)
    if not lacking:
        return [], None
    words = [f"{WORDS[name]} on {_plural(found[name], 'edge')}" for name in lacking]
    return words, next((d.name for d in REGISTRY.values() if not d.missing(found)), None)


def adopt_dialect(document: Document) -> str | None:
    """Switch `document` to a dialect that writes all its content when its own cannot; the sentence saying so,
    or None (unchanged)."""
    missing, target = dialect_fit(document)
    if target is None:
        return None
    former = dialect(document.settings.dialect).title
    document.settings.dialect = target
    return f"The drawing now uses {REGISTRY[target].label}: it has {', '.join(missing)}, which {former} cannot express."
