"""Properties of the compilers over random documents (tests/strategies.py): deterministic, order-independent,
schema-valid in both dialects, and free of errors when the document only uses what the dialect expresses."""

from __future__ import annotations

from random import Random

from hypothesis import given, settings
from hypothesis import strategies as st

from editor.policy.compile import DIALECTS, CompileResult, compile_document
from editor.policy.document import Document
from editor.policy.validate import validate_object
from tests.strategies import assume_cilium_spells_named_ports, documents

EXAMPLES = settings(max_examples=60, deadline=None)
# The only advisory finding a valid Cilium policy may get: fromNodes/toNodes need an agent flag.
NODE_SELECTOR_FLAG = "works only when the agent runs with --enable-node-selector-labels"


def assert_well_formed(result: CompileResult) -> None:
    seen = set()
    for obj in result.objects:
        key = (obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])
        assert key not in seen, f"two policies called {key}"
        seen.add(key)
        findings = validate_object(obj)
        assert [str(f) for f in findings if f.is_error] == [], obj
        assert all(f.message == NODE_SELECTOR_FLAG for f in findings), findings
        for section in ("ingress", "egress", "ingressDeny", "egressDeny"):
            rules = obj["spec"].get(section, [])
            # SEMANTICS C4: `- {}` is Cilium's default deny, and only a subject no NetworkPolicy can select needs it
            if obj["kind"] != "NetworkPolicy" and {} in rules:
                assert rules == [{}] and obj["kind"] == "CiliumClusterwideNetworkPolicy", obj
            explained = {
                x.index for x in result.explanations if (x.kind, x.namespace, x.name, x.direction) == (*key, section)
            }
            assert explained == set(range(len(rules)))


@EXAMPLES
@given(documents(), st.sampled_from(DIALECTS))
def test_any_document_compiles_to_schema_valid_policies_with_every_rule_explained(
    document: Document, dialect: str
) -> None:
    result = compile_document(document, dialect)
    assert_well_formed(result)
    edge_ids = {edge.id for edge in document.edges}
    # every rule comes from edges, except Cilium's default deny `- {}` of a locked cluster-wide subject (C4)
    assert all(
        set(x.edge_ids) <= edge_ids and (x.edge_ids or x.text.startswith("default deny")) for x in result.explanations
    )


@EXAMPLES
@given(documents("native"))
def test_documents_within_the_native_dialect_compile_without_errors(document: Document) -> None:
    result = compile_document(document, "native")
    assert result.errors == []
    assert_well_formed(result)


@EXAMPLES
@given(documents("cilium"))
def test_documents_within_the_cilium_dialect_compile_without_errors(document: Document) -> None:
    result = compile_document(document, "cilium")
    assume_cilium_spells_named_ports([str(issue) for issue in result.errors])
    assert result.errors == []
    assert_well_formed(result)


@EXAMPLES
@given(documents(), st.sampled_from(DIALECTS), st.randoms(use_true_random=False))
def test_rendering_is_deterministic_and_independent_of_node_and_edge_order(
    document: Document, dialect: str, random: Random
) -> None:
    first = compile_document(document, dialect)
    again = compile_document(Document.loads(document.dumps()), dialect)
    shuffled = Document.loads(document.dumps())
    random.shuffle(shuffled.nodes)
    random.shuffle(shuffled.edges)
    random.shuffle(shuffled.namespaces)
    reordered = compile_document(shuffled, dialect)
    assert again.yaml == first.yaml
    assert reordered.yaml == first.yaml
    assert sorted(map(str, reordered.issues)) == sorted(map(str, first.issues))
    assert sorted(x.to_json().__repr__() for x in reordered.explanations) == sorted(
        x.to_json().__repr__() for x in first.explanations
    )
