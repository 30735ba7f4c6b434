"""A plan as a merge-request comment (Markdown), as plain text, or as JSON.

The Markdown fits GitHub's and GitLab's comment limit (65,536 characters; we stay under MARKDOWN_LIMIT): long
tables are cut, row limit by row limit, and a note says how many rows were left out and how to see them all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from .plan import FlowChange, Plan

MARKDOWN_LIMIT = 65_000
ROW_LIMITS: tuple[int | None, ...] = (None, 400, 200, 100, 50, 20, 10, 5)


def _md(text: object) -> str:
    """Table-cell text: pipes and line breaks would end the cell, and `<` could open HTML in the comment."""
    return (
        str(text)
        .replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\r", " ")
        .replace("\n", " ")
    )


def _rows(rows: Sequence[str], limit: int | None, cut: list[int]) -> list[str]:
    if limit is None or len(rows) <= limit:
        return list(rows)
    cut.append(len(rows) - limit)
    return [*rows[:limit], f"| … | {len(rows) - limit} more rows left out |"]


def _details(summary: str, body: list[str], open_: bool = False) -> list[str]:
    return [f"<details{' open' if open_ else ''}><summary>{summary}</summary>", "", *body, "", "</details>", ""]


def _flow_rows(changes: Sequence[FlowChange], limit: int | None, cut: list[int]) -> list[str]:
    header = ["| source | destination | port | flows | why |", "|---|---|---|---|---|"]
    rows = [
        f"| {_md(c.src)} | {_md(c.dst)} | {_md(c.protocol)}{'' if c.port is None else ' ' + str(c.port)} | "
        f"{c.count} | {_md(c.reason)} |"
        for c in changes
    ]
    return header + _rows(rows, limit, cut)


def _fence(text: str, language: str = "diff") -> list[str]:
    fence = "```"
    while fence in text:
        fence += "`"
    return [f"{fence}{language}", text.rstrip("\n"), fence]


def _markdown(plan: Plan, limit: int | None, svg_note: str | None) -> tuple[str, int]:
    cut: list[int] = []
    counts = plan.counts()
    old_score, new_score = plan.rating
    verdict = (
        "❌ **This change breaks observed traffic or adds an error.**"
        if plan.breaking
        else "✅ No observed traffic breaks and no new error."
    )
    lines = [
        f"### Fenceline plan: `{_md(plan.old.label)}` → `{_md(plan.new.label)}`",
        "",
        verdict,
        "",
        f"**Connections:** +{counts['added']} added, −{counts['removed']} removed, ~{counts['changed']} changed · "
        f"**Observed flows:** {counts['breaks']} would break, {counts['fixes']} fixed (of {plan.observed}) · "
        f"**Lint:** {counts['newFindings']} new, {counts['fixedFindings']} fixed · "
        f"**Rating:** {old_score:.1f} → {new_score:.1f} / 5 · "
        f"**Policies:** +{counts['policiesAdded']} −{counts['policiesRemoved']} ~{counts['policiesChanged']}",
        "",
    ]
    if plan.breaks:
        lines += _details(
            f"❌ Observed flows NEW would break ({len(plan.breaks)})", _flow_rows(plan.breaks, limit, cut), True
        )
    if plan.fixes:
        lines += _details(
            f"Observed flows OLD denied that NEW allows ({len(plan.fixes)})", _flow_rows(plan.fixes, limit, cut)
        )
    if plan.still_denied:
        lines += _details(
            f"Observed flows denied before and after ({len(plan.still_denied)})",
            _flow_rows(plan.still_denied, limit, cut),
        )
    if plan.connections:
        rows = [
            f"| {entry.kind} | {_md(entry.src)} | {_md(entry.dst)} | {_md(entry.ref1)} | {_md(entry.ref2)} |"
            for entry in plan.connections
        ]
        body = ["| change | source | destination | before | after |", "|---|---|---|---|---|", *_rows(rows, limit, cut)]
        lines += _details(f"Connections ({len(plan.connections)})", body, open_=len(plan.connections) <= 20)
    else:
        lines += ["No connection changes.", ""]
    for title, findings in (("New lint findings", plan.new_findings), ("Fixed lint findings", plan.fixed_findings)):
        if findings:
            rows = [
                f"| {f.severity} | {f.rule} | {_md(f.subject)} | {_md(f.path)} | {_md(f.message)} |" for f in findings
            ]
            body = ["| severity | rule | object | path | message |", "|---|---|---|---|---|", *_rows(rows, limit, cut)]
            lines += _details(f"{title} ({len(findings)})", body, open_=title.startswith("New"))
    if plan.policies:
        body = []
        shown = plan.policies if limit is None else plan.policies[: max(1, limit // 10)]
        for change in shown:
            body += [f"**{change.kind}:** `{_md(change.object)}`", "", *_fence(change.yaml_diff), ""]
        if len(shown) < len(plan.policies):
            cut.append(len(plan.policies) - len(shown))
            body.append(f"… {len(plan.policies) - len(shown)} more changed policies left out.")
        lines += _details(f"Policies ({len(plan.policies)})", body)
    if plan.old.picture_url and plan.new.picture_url:
        lines += _details(
            "Picture", [f"Before: ![before]({plan.old.picture_url})", "", f"After: ![after]({plan.new.picture_url})"]
        )
    elif svg_note:
        lines += [svg_note, ""]
    if plan.warnings:
        rows = [f"- {_md(w)}" for w in plan.warnings]
        lines += _details(f"Analyser warnings ({len(plan.warnings)})", _rows(rows, limit, cut))
    if cut:
        lines += [
            f"> ⚠️ Truncated to fit a merge-request comment: {sum(cut)} rows left out. "
            "Run `fenceline plan --format json` for the full plan.",
            "",
        ]
    return "\n".join(lines), sum(cut)


def to_markdown(plan: Plan, svg_note: str | None = None, max_chars: int = MARKDOWN_LIMIT) -> str:
    """The merge-request comment, at most `max_chars` characters."""
    text = ""
    for limit in ROW_LIMITS:
        text, _ = _markdown(plan, limit, svg_note)
        if len(text) <= max_chars:
            return text
    note = "\n\n> ⚠️ Truncated to fit a merge-request comment. Run `fenceline plan --format json` for the full plan.\n"
    return text[: max_chars - len(note)] + note


def to_text(plan: Plan) -> str:
    counts = plan.counts()
    out = [
        f"plan: {plan.old.label} -> {plan.new.label}",
        f"connections: {counts['added']} added, {counts['removed']} removed, {counts['changed']} changed",
    ]
    out += [f"  {entry}" for entry in plan.connections]

    def section(title: str, items: Sequence[Any], show: Callable[[Any], str]) -> None:
        if items:
            out.append(f"{title}: {len(items)}")
            out.extend(f"  {show(item)}" for item in items)

    section("observed flows NEW would break", plan.breaks, FlowChange.text)
    section("observed flows OLD denied that NEW allows", plan.fixes, FlowChange.text)
    section("observed flows denied before and after", plan.still_denied, FlowChange.text)
    section("new lint findings", plan.new_findings, str)
    section("fixed lint findings", plan.fixed_findings, str)
    out.append(f"rating: {plan.rating[0]:.1f} -> {plan.rating[1]:.1f} / 5")
    section("policies", plan.policies, lambda p: f"{p.kind}: {p.object}")
    section("warnings", plan.warnings, str)
    out.append("BREAKING: observed traffic breaks or a new error" if plan.breaking else "no breaking change")
    return "\n".join(out) + "\n"


def to_json(plan: Plan) -> str:
    return json.dumps(plan.to_json(), indent=2, ensure_ascii=False) + "\n"
