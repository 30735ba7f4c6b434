"""Layers of a drawing: the application team's policy and the platform team's Admin and Baseline tiers.

Every node and edge belongs to one layer (`layer`, default "application"). An application edge compiles to
NetworkPolicy / CiliumNetworkPolicy as always; an edge of the `admin` or `baseline` layer is a platform rule
(platform/from_drawing.py compiles them to ClusterNetworkPolicy, ANP/BANP or CCNP):

* `action`: allow (Accept), deny, or pass (Admin tier only: hands the connection to NetworkPolicy);
* `priority` 0..1000 (default 100), platform edges only: within a tier the lower number is evaluated first;
* the edges of one layer with the same subject node and priority make one platform policy, its rules in the
  order of the edges in the document (`enforce` says whose rule an edge is, as for application edges: "source" an
  egress rule of the source's policy, "target" an ingress rule of the target's).

A platform node (`layer` admin/baseline) is a subject drawn by the platform team, e.g. "every namespace"; platform
edges may connect to any node. This module holds the vocabulary and the checks of the document (`layer_errors`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .document_schema import ADMIN_LAYER, APPLICATION, BASELINE_LAYER

if TYPE_CHECKING:
    from .document import Document, Edge, Node

PLATFORM_LAYERS = (ADMIN_LAYER, BASELINE_LAYER)
DEFAULT_PRIORITY = 100
MIN_PRIORITY, MAX_PRIORITY = 0, 1000
ACTIONS = {APPLICATION: ("allow", "deny"), ADMIN_LAYER: ("allow", "deny", "pass"), BASELINE_LAYER: ("allow", "deny")}
TIER_TITLES = {ADMIN_LAYER: "Admin", BASELINE_LAYER: "Baseline"}


def is_platform(edge: Edge) -> bool:
    return edge.layer != APPLICATION


def priority_of(edge: Edge) -> int:
    return DEFAULT_PRIORITY if edge.priority is None else edge.priority


def has_platform(document: Document) -> bool:
    """Whether the drawing has a platform rule (an enabled edge of the admin or baseline layer)."""
    return any(edge.layer != APPLICATION and not edge.disabled for edge in document.edges)


def application_edges(document: Document) -> list[Edge]:
    return [edge for edge in document.edges if edge.layer == APPLICATION]


def application_only_fields(edge: Edge) -> list[tuple[str, str]]:
    """(document key, words) of the fields `edge` has that only an application edge may have: L7 rules, server
    names and ICMP (a platform rule matches ports and peers only)."""
    fields = (
        ("l7", "L7 rules", edge.l7),
        ("serverNames", "server names", edge.server_names),
        ("icmps", "ICMP", edge.icmps),
    )
    return [(key, words) for key, words, value in fields if value]


def move_node(node: Node, layer: str) -> bool:
    """Put `node` in `layer`; a node leaving the application layer loses its default-deny locks (they are the
    application's, see layer_errors). True when locks were removed."""
    node.layer = layer
    locked = node.isolate.ingress or node.isolate.egress
    if layer == APPLICATION or not locked:
        return False
    node.isolate.ingress = node.isolate.egress = False
    return True


def layer_errors(document: Document) -> list[tuple[str, str]]:
    """(path, message) of every layer field that does not fit its layer."""
    errors: list[tuple[str, str]] = []
    for i, node in enumerate(document.nodes):
        if node.layer != APPLICATION and (node.isolate.ingress or node.isolate.egress):
            errors.append(
                (f"nodes[{i}].isolate", "isolation locks are the application layer's; a platform node has none")
            )
    for i, edge in enumerate(document.edges):
        path = f"edges[{i}]"
        if edge.action not in ACTIONS[edge.layer]:
            if edge.layer == BASELINE_LAYER:
                why = "pass is an Admin tier action (it hands the connection to NetworkPolicy); a baseline edge allows "
                why += "or denies"
            else:
                why = "pass is an Admin tier action: put the edge in the admin layer"
            errors.append((f"{path}.action", why))
        if edge.priority is not None:
            if edge.layer == APPLICATION:
                errors.append((f"{path}.priority", "priority is for admin and baseline edges (platform rules) only"))
            elif not MIN_PRIORITY <= edge.priority <= MAX_PRIORITY:
                errors.append(
                    (f"{path}.priority", f"priority {edge.priority} is outside {MIN_PRIORITY}-{MAX_PRIORITY}")
                )
        if edge.name is not None and edge.layer == APPLICATION:
            errors.append((f"{path}.name", "a rule name is for admin and baseline edges (platform rules) only"))
        if edge.layer != APPLICATION:
            for field, _words in application_only_fields(edge):
                errors.append((f"{path}.{field}", f"a platform rule ({edge.layer} layer) has no {field}"))
        if edge.name and any(not char.isprintable() for char in edge.name):
            errors.append((f"{path}.name", "a rule name may not hold control characters or line breaks"))
    return errors
