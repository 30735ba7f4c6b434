"""The graph document: JSON round trip, its schema and reference checks, and the error paths they name."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from editor.policy.document import Document, DocumentError, Edge, Node, safe_id
from editor.policy.document_schema import DOCUMENT_SCHEMA, SCHEMA_VERSION
from tests.strategies import documents

VALID: dict[str, Any] = {
    "schema": "fenceline/v1",
    "name": "shop",
    "namespaces": [{"name": "shop", "labels": {"team": "a"}}],
    "nodes": [
        {
            "id": "web",
            "kind": "workload",
            "name": "web",
            "namespace": "shop",
            "owner": "Deployment",
            "labels": {"app": "web"},
            "containerPorts": [{"port": 8080, "name": "http"}],
            "isolate": {"ingress": True},
        },
        {"id": "net", "kind": "cidr", "cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]},
    ],
    "edges": [{"id": "e1", "source": "net", "target": "web", "ports": [{"port": "http"}], "enforce": ["target"]}],
}


def errors_of(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(DocumentError) as caught:
        Document.from_json(data)
    return caught.value.errors


def changed(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    target: Any = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return data


def test_a_document_reads_its_defaults_and_writes_them_out() -> None:
    document = Document.from_json(VALID)
    assert document.namespace("shop").labels == {"team": "a", "kubernetes.io/metadata.name": "shop"}
    web = document.node("web")
    assert (web.isolate.ingress, web.isolate.egress) == (True, False)
    assert web.container_ports[0].protocol == "TCP"
    edge = document.edges[0]
    assert (edge.ports[0].protocol, edge.action, edge.disabled) == ("TCP", "allow", False)
    written = document.to_json()
    assert written["schema"] == SCHEMA_VERSION
    assert written["settings"]["dns"] == {"namespace": "kube-system", "podLabels": {"k8s-app": "kube-dns"}, "port": 53}
    assert Document.from_json(written).to_json() == written


@settings(max_examples=40, deadline=None)
@given(documents())
def test_every_document_survives_json_unchanged(document: Document) -> None:
    text = document.dumps()
    assert Document.loads(text).dumps() == text


@settings(max_examples=40, deadline=None)
@given(documents(), st.text(max_size=20))
def test_the_written_json_is_what_the_standard_library_writes(document: Document, description: str) -> None:
    """dumps() writes with msgspec for speed; the text is the standard library's, byte for byte (any string,
    control characters, line separators and non-ASCII included), so saved drawings and diffs do not change."""
    document.description = description
    assert document.dumps() == json.dumps(document.to_json(), indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize(
    ("path", "value", "where", "says"),
    [
        (("schema",), "fenceline/v2", "schema", "unsupported document version"),
        (
            ("edges", 0, "ports", 0, "protocol"),
            "ICMP",
            "edges[0].ports[0].protocol",
            "is not one of TCP, UDP, SCTP, ANY",
        ),
        (("nodes", 0, "kind"), "pod", "nodes[0].kind", "is not one of"),
        (("nodes", 0, "colour"), "red", "nodes[0]", "unknown field"),
        (("edges", 0, "ports", 0), {"port": 90, "endPort": 80}, "edges[0].ports[0].endPort", "smaller than port 90"),
        (("edges", 0, "ports", 0), {"port": "80"}, "edges[0].ports[0].port", "a number written as text"),
        (("edges", 0, "ports", 0), {"port": "HTTP"}, "edges[0].ports[0].port", "lowercase"),
        (("edges", 0, "ports", 0), {"port": "http", "endPort": 90}, "edges[0].ports[0].endPort", "numeric port"),
        (("edges", 0, "target"), "nowhere", "edges[0].target", "no node has the id 'nowhere'"),
        (("nodes", 1, "id"), "web", "nodes[1].id", "already used by nodes[0]"),
        (("nodes", 0, "namespace"), "other", "nodes[0].namespace", "not in the document's namespaces"),
        (("nodes", 1, "cidr"), "10.0.0.1/8", "nodes[1].cidr", "host bits set"),
        (("nodes", 1, "except"), ["11.0.0.0/16"], "nodes[1].except[0]", "not strictly inside 10.0.0.0/8"),
        (("namespaces", 0, "name"), "Shop", "namespaces[0].name", "invalid namespace name 'Shop'"),
    ],
)
def test_errors_name_the_path_of_the_offending_value(
    path: tuple[str | int, ...], value: Any, where: str, says: str
) -> None:
    found = errors_of(changed(path, value))
    assert any(error_path == where and says in message for error_path, message in found), found


def test_kind_specific_fields_are_checked() -> None:
    data = copy.deepcopy(VALID)
    data["nodes"] += [
        {"id": "s", "kind": "selector"},
        {"id": "h", "kind": "hosts"},
        {"id": "f", "kind": "fqdn", "matchName": "a.example", "matchPattern": "*.example"},
        {"id": "w", "kind": "workload"},
    ]
    paths = {path for path, _ in errors_of(data)}
    assert {
        "nodes[2].namespace",
        "nodes[3].nodeSelector",
        "nodes[4].matchName",
        "nodes[5].namespace",
        "nodes[5].name",
    } <= paths


def test_not_json_is_a_document_error() -> None:
    with pytest.raises(DocumentError, match="not valid JSON"):
        Document.loads("{nope")


def test_a_workload_is_selected_by_its_pod_selector_else_its_labels() -> None:
    workload = Node(id="w", kind="workload", labels={"b": "2", "a": "1"})
    assert workload.selector() == {"matchLabels": {"a": "1", "b": "2"}}
    workload.pod_selector = {"matchLabels": {"a": "1"}}
    assert workload.selector() == {"matchLabels": {"a": "1"}}
    assert Node(id="s", kind="selector").selector() == {}


def test_edges_default_to_both_sides_and_the_schema_is_draft_2020_12() -> None:
    assert Edge(id="e", source="a", target="b").enforce == ["source", "target"]
    assert DOCUMENT_SCHEMA["$schema"].endswith("2020-12/schema")
    assert json.loads(json.dumps(DOCUMENT_SCHEMA)) == DOCUMENT_SCHEMA


@given(st.text(max_size=300), st.text(max_size=300))
def test_safe_ids_are_valid_ids_and_keep_texts_apart(first: str, second: str) -> None:
    pattern = DOCUMENT_SCHEMA["$defs"]["node"]["properties"]["id"]["pattern"]
    for text in (first, second):
        assert re.search(pattern, safe_id(text))
    assert (safe_id(first) == safe_id(second)) == (first == second)
