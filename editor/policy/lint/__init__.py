"""Lint: findings that explain a trap in policy YAML, each with an id, a why page and, where possible, a fix.

The API used by the CLI (`fenceline lint`), the JSON API and the editor:

* `lint_objects(objects, settings=None, inventory=None) -> list[LintFinding]` - policy objects (KubeObjects
  from `yamlio.load_objects`, with file:line, or bare mappings); workload manifests among them feed the rules
  that need workloads.
* `lint_document(document) -> list[LintFinding]` - what a graph document compiles to, in its dialect, with
  `finding.nodes` / `finding.edges` pointing into the drawing and document fixes where the drawing can change.
* `lint_drawing(document) -> LintedDocument` - the same findings with the compiled policies they were found in,
  which `rating.rate_linted` rates without compiling and linting the drawing again.
* `apply_fix(fix_or_id, object_or_document) -> fixed copy`.
* `RULES` - every rule (id, slug, severity, title, summary); `docs/rules/<id>.md` explains each with sources.
* `LintSettings` - pod/Service CIDRs, cluster DNS, gateways; `LintSettings.from_settings(document.settings)`.
"""

from .engine import (
    LintedDocument,
    alike_counts,
    alike_fixes,
    apply_fix,
    apply_fixes,
    compile_for_lint,
    find_fix,
    inventory_from_cluster,
    inventory_from_document,
    inventory_from_objects,
    lint_document,
    lint_drawing,
    lint_objects,
)
from .model import GATEWAY_ANNOTATION, RULES, Fix, Inventory, KnownWorkload, LintFinding, LintSettings, Rule

__all__ = [
    "GATEWAY_ANNOTATION",
    "RULES",
    "Fix",
    "Inventory",
    "KnownWorkload",
    "LintFinding",
    "LintSettings",
    "LintedDocument",
    "Rule",
    "alike_counts",
    "alike_fixes",
    "apply_fix",
    "apply_fixes",
    "compile_for_lint",
    "find_fix",
    "inventory_from_cluster",
    "inventory_from_document",
    "inventory_from_objects",
    "lint_document",
    "lint_drawing",
    "lint_objects",
]
