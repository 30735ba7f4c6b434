"""Findings as a SARIF 2.1.0 log, for code-scanning UIs and merge-request annotations.

Every rule is listed in `tool.driver.rules` with its why page as `helpUri` (an absolute URI: SARIF requires
one), every finding is a result with the file and line it came from (a logical location names the object and
field path when there is no file, e.g. stdin or a compiled graph document).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from .model import RULES, LintFinding

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"error": "error", "warning": "warning", "info": "note"}
DOCS_DIR = Path(__file__).resolve().parents[3] / "docs" / "rules"


def default_help_base() -> str:
    """The why pages in this checkout as a file: URI (override with the URL of a deployed editor)."""
    return DOCS_DIR.as_uri() + "/"


def _rule_name(slug: str) -> str:
    return "".join(part.capitalize() for part in slug.split("-"))


def to_sarif(findings: list[LintFinding], help_base: str | None = None, version: str = "0.1.0") -> dict[str, Any]:
    base = help_base or default_help_base()
    base = base if base.endswith("/") else base + "/"
    rule_ids = sorted(RULES)
    rules = [
        {
            "id": rule.id,
            "name": _rule_name(rule.slug),
            "shortDescription": {"text": rule.title},
            "fullDescription": {"text": rule.summary},
            "helpUri": f"{base}{rule.id}.md",
            "help": {"text": f"{rule.summary} See {base}{rule.id}.md"},
            "defaultConfiguration": {"level": LEVELS[rule.severity]},
        }
        for rule in (RULES[rule_id] for rule_id in rule_ids)
    ]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "fenceline",
                        "version": version,
                        "informationUri": base,
                        "rules": rules,
                    }
                },
                "results": [_result(finding, rule_ids.index(finding.rule)) for finding in findings],
                "columnKind": "unicodeCodePoints",
            }
        ],
    }


def _result(finding: LintFinding, rule_index: int) -> dict[str, Any]:
    logical = {"fullyQualifiedName": f"{finding.subject} {finding.path}".strip(), "kind": "object"}
    location: dict[str, Any] = {"logicalLocations": [logical]}
    if finding.source and not finding.source.startswith("<"):
        physical: dict[str, Any] = {"artifactLocation": {"uri": quote(Path(finding.source).as_posix())}}
        if finding.line:
            physical["region"] = {"startLine": finding.line}
        location["physicalLocation"] = physical
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "ruleIndex": rule_index,
        "level": LEVELS[finding.severity],
        "message": {"text": f"{finding.subject}: {finding.path}: {finding.message}"},
        "locations": [location],
        "partialFingerprints": {"fencelineFinding/v1": finding.id},
    }
    if finding.fixes:
        result["properties"] = {"fixes": [fix.title for fix in finding.fixes]}
    return result
