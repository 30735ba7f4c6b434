"""Duplicate and shadowed rules: a rule whose every peer and port another rule of the same direction allows."""

from __future__ import annotations

from collections.abc import Iterator

from ..model.objects import DIRECTIONS
from .context import LintContext, check
from .model import Fix, LintFinding, format_path, rule
from .policyview import RuleView, remove_at

SHADOWED = rule(
    "FL017",
    "shadowed-rule",
    "warning",
    "A rule that another rule of the same policy already allows",
    "Rules of one direction are ORed; a rule whose peers and ports are all covered by another rule adds "
    "nothing. It usually means the wider rule is wider than intended (a `- {}`, a missing `ports`).",
)


def _coverer(rules: list[RuleView], index: int) -> RuleView | None:
    """The first other rule covering rules[index]; of two identical rules, the earlier one is kept."""
    current = rules[index]
    for other_index, other in enumerate(rules):
        if other_index == index or not other.covers(current):
            continue
        if other_index < index or not current.covers(other):
            return other
    return None


@check
def shadowed_rules(ctx: LintContext) -> Iterator[LintFinding]:
    for policy in ctx.policies:
        for direction in DIRECTIONS:
            rules = policy.rules_of(direction)
            for index, current in enumerate(rules):
                wider = _coverer(rules, index)
                if wider is None:
                    continue
                same = current.covers(wider)
                yield policy.finding(
                    SHADOWED.id,
                    current.path,
                    f"{'duplicates' if same else 'is already allowed by'} {format_path(wider.path)}: "
                    f"this rule adds nothing{'' if same else '; is the other rule wider than meant?'}",
                    SHADOWED.severity,
                    [_remove_fix(current)],
                )


def _remove_fix(rule_view: RuleView) -> Fix:
    return Fix("remove", f"Remove {format_path(rule_view.path)}", "object", lambda obj: remove_at(obj, rule_view.path))
