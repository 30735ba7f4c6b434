"""YAML -> document -> YAML -> document -> YAML: the second rendering equals the first, for every fixture in
both dialects, and every rendered object passes the upstream schema and the semantic checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from editor.policy.compile import DIALECTS, compile_document
from editor.policy.document import Document
from editor.policy.importer import import_paths, import_text
from editor.policy.validate import validate_object

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
POLICY_FILES = sorted((FIXTURES / "policies").rglob("*.yaml"))
MANIFEST_DIRS = sorted(path for path in (FIXTURES / "manifests").iterdir() if path.is_dir())
CASES = [*POLICY_FILES, *MANIFEST_DIRS]
# Advisory findings a correct policy may still get: fromNodes needs an agent flag.
ADVISORY = ("works only when the agent runs with --enable-node-selector-labels",)


def render(document: Document, dialect: str) -> str:
    result = compile_document(document, dialect)
    for obj in result.objects:
        findings = [f for f in validate_object(obj) if f.message not in ADVISORY]
        assert findings == [], (obj, [str(f) for f in findings])
    return result.yaml


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("path", CASES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_import_render_import_render_is_stable_and_valid(path: Path, dialect: str) -> None:
    document = Document.from_json(import_paths([path]).document.to_json())
    first = render(document, dialect)
    second = render(Document.from_json(import_text(first, "first.yaml").document.to_json()), dialect)
    third = render(Document.from_json(import_text(second, "second.yaml").document.to_json()), dialect)
    assert third == second


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_whole_corpus_at_once_round_trips(dialect: str) -> None:
    first = render(import_paths([FIXTURES / "policies"]).document, dialect)
    second = render(import_text(first, "first.yaml").document, dialect)
    assert render(import_text(second, "second.yaml").document, dialect) == second


def test_a_cilium_rendering_reimported_keeps_what_the_native_one_says() -> None:
    """Cross-dialect: native YAML -> document -> Cilium YAML -> document -> native YAML is the native YAML."""
    path = FIXTURES / "policies" / "kubernetes-website" / "networkpolicy.yaml"
    native = render(import_paths([path]).document, "native")
    through_cilium = render(
        import_text(render(import_text(native, "n.yaml").document, "cilium"), "c.yaml").document, "native"
    )
    assert through_cilium == native
