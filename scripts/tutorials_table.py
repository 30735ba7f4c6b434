"""Print the README table of the five Cilium editor tutorials: our rating, the findings, the fix.

Each tutorial policy (tests/fixtures/policies/cilium-networkpolicy-editor-tutorials/tutorials) is linted and
rated on its own with the default settings; then the first fix of every error or warning is applied, one at a
time, until none is left, and the fixed policy is rated again. Info findings are questions: their fixes are
not applied. Run: `.venv/bin/python scripts/tutorials_table.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from editor.policy.lint import RULES, LintFinding, lint_objects
from editor.policy.rating import rate_objects
from editor.policy.yamlio import load_objects

TUTORIALS = (
    Path(__file__).resolve().parents[1] / "tests/fixtures/policies/cilium-networkpolicy-editor-tutorials/tutorials"
)
ORDER = ("allow-cross-namespace", "allow-egress-to-pod", "allow-kube-dns", "combine-policy-rules", "empty-selectors")
MAX_STEPS = 10


def _blocking(findings: list[LintFinding]) -> LintFinding | None:
    return next((f for f in findings if f.severity != "info" and f.fixes), None)


def fix_all(obj: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Apply the first fix of each error/warning until none is left; the titles of the fixes applied."""
    applied: list[str] = []
    for _ in range(MAX_STEPS):
        finding = _blocking(lint_objects([obj]))
        if finding is None:
            break
        obj = finding.fixes[0].apply(obj)
        applied.append(f"{finding.rule}: {finding.fixes[0].title}")
    return obj, applied


def row(path: Path) -> str:
    (item,) = load_objects(path.read_bytes(), path.name)[0]
    findings = lint_objects([item])
    before = rate_objects([item]).score
    fixed, applied = fix_all(item.obj)
    after = rate_objects([fixed]).score
    listed = "<br>".join(f"{f.rule} {f.severity}: {RULES[f.rule].title} (`{f.path}`)" for f in findings) or "none"
    manual = [f"{f.rule}: no one-click fix, see docs/rules/{f.rule}.md" for f in findings if not f.fixes]
    fixes = "<br>".join(applied + manual) or "none needed"
    return f"| `{path.name}` | {before:.1f} | {listed} | {fixes} | {after:.1f} |"


def main(directory: Path = TUTORIALS) -> int:
    print("| tutorial file | rating | findings | fixes applied | rating after |")
    print("|---|---|---|---|---|")
    for name in ORDER:
        print(row(directory / f"{name}.yaml"))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else TUTORIALS))
