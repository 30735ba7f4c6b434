"""What colour each edge gets on the canvas, from the compiler's own plan of who is isolated.

An edge is drawn as:
* `allowed`   - the compiled policies let its traffic through (or nothing isolates either end);
* `one-sided` - it is enforced on one end only while the other end is isolated in that direction, so the
                other end's policy drops the traffic although the edge is drawn;
* `denied`    - it is drawn as observed traffic (from flow logs) that today's policies drop, and not yet accepted
                into the drawing (disabled);
* `disabled`  - drawn but switched off, so it compiles to nothing;
* `deny`      - a Cilium deny rule, or a platform rule (admin/baseline layer) that denies;
* `pass`      - a platform rule that hands its connections to NetworkPolicy (admin layer);
* `overridden` - an application edge whose traffic a platform rule decides against (platform/overrides.py,
                 which adds these with their reasons);
* `error`     - the compiler could not express it in the chosen dialect.
"""

from __future__ import annotations

from .compile import CompileResult
from .document import Document, Edge

DENIED_VERDICTS = ("DROPPED", "DENIED", "ERROR")


def _observed_denied(edge: Edge) -> bool:
    verdicts = edge.observed.verdicts if edge.observed is not None else {}
    return any(verdicts.get(verdict, 0) > 0 for verdict in DENIED_VERDICTS)


def edge_states(document: Document, result: CompileResult) -> dict[str, str]:
    subjects = {subject.node.id: subject for subject in result.subjects}  # the plan `result` was compiled from
    failed = {issue.edge_id for issue in result.errors if issue.edge_id is not None}
    states: dict[str, str] = {}
    for edge in document.edges:
        if edge.disabled:
            states[edge.id] = "denied" if _observed_denied(edge) else "disabled"
        elif edge.id in failed:
            states[edge.id] = "error"
        elif edge.action in ("deny", "pass"):
            states[edge.id] = edge.action
        elif edge.layer != "application":
            states[edge.id] = "allowed"  # a platform Accept: no NetworkPolicy isolation bears on it
        else:
            source, target = subjects.get(edge.source), subjects.get(edge.target)
            blocked_at_source = source is not None and source.isolate_egress and "source" not in edge.enforce
            blocked_at_target = target is not None and target.isolate_ingress and "target" not in edge.enforce
            states[edge.id] = "one-sided" if blocked_at_source or blocked_at_target else "allowed"
    return states
