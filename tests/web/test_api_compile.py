"""POST /api/compile: a document in, YAML, objects, issues, explanations and edge colours out."""

from __future__ import annotations

import json

import yaml

from editor.policy.compile import compile_document
from editor.policy.document import Document


def test_it_compiles_the_talk_document_in_both_dialects(api, talk_doc):
    for dialect, kind in (("native", "NetworkPolicy"), ("cilium", "CiliumNetworkPolicy")):
        response = api.post_json("/api/compile", {"document": talk_doc, "dialect": dialect})
        assert response.status_code == 200
        body = response.json()
        assert body["dialect"] == dialect
        assert body["ok"] is True
        expected = compile_document(Document.from_json(talk_doc), dialect)
        assert body["objects"] == expected.objects
        assert body["yaml"] == expected.yaml
        assert {obj["kind"] for obj in yaml.safe_load_all(body["yaml"])} == {kind}
        assert set(body["edgeStates"]) == {"e1", "e2", "e3", "e4"}
        assert all(e["edgeIds"] for e in body["explanations"])
        # Which subject each YAML document is for, in order: the YAML beside the canvas follows the selection.
        assert body["objectNodes"] == expected.object_nodes and len(body["objectNodes"]) == len(body["objects"])
        assert body["yaml"].count("---\n") == len(body["objects"])


def test_it_accepts_the_bare_document_and_a_dialect_in_the_query(api, talk_doc):
    response = api.post_json("/api/compile?dialect=cilium", talk_doc)
    assert response.status_code == 200
    assert response.json()["dialect"] == "cilium"


def test_it_colours_an_edge_that_the_other_end_drops(api, talk_doc):
    # api is locked for ingress, so an edge enforced only by its source never gets through.
    talk_doc["edges"][1]["enforce"] = ["source"]
    body = api.post_json("/api/compile", talk_doc).json()
    assert body["edgeStates"]["e2"] == "one-sided"
    assert body["edgeStates"]["e1"] == "allowed"


def test_it_colours_observed_but_denied_edges(api, talk_doc):
    talk_doc["edges"].append(
        {
            "id": "e9",
            "source": "api",
            "target": "web",
            "ports": [],
            "disabled": True,
            "observed": {"count": 3, "verdicts": {"DROPPED": 3}},
        }
    )
    body = api.post_json("/api/compile", talk_doc).json()
    assert body["edgeStates"]["e9"] == "denied"


def test_it_reports_what_the_dialect_cannot_express_on_the_edge(api, talk_doc):
    talk_doc["nodes"].append({"id": "github", "kind": "fqdn", "matchName": "api.github.com"})
    talk_doc["edges"].append(
        {"id": "e5", "source": "api", "target": "github", "ports": [{"protocol": "TCP", "port": 443}]}
    )
    body = api.post_json("/api/compile", talk_doc).json()
    assert body["ok"] is False
    assert any(issue.get("edgeId") == "e5" and issue["severity"] == "error" for issue in body["issues"])
    assert body["edgeStates"]["e5"] == "error"


def test_it_answers_400_with_paths_for_an_invalid_document(api, talk_doc):
    talk_doc["edges"][0]["ports"][0]["endPort"] = 1
    talk_doc["edges"][1]["target"] = "nowhere"
    response = api.post_json("/api/compile", talk_doc)
    assert response.status_code == 400
    body = response.json()
    assert body["error"].startswith("not a valid Fenceline document")
    assert "edges[0].ports[0].endPort: endPort 1 is smaller than port 8080" in body["details"]
    assert "edges[1].target: no node has the id 'nowhere'" in body["details"]


def test_it_answers_400_for_malformed_json_with_the_line(api):
    response = api.post(
        "/api/compile",
        '{\n "schema": "fenceline/v1",\n oops}',
        content_type="application/json",
        headers={"X-CSRFToken": api.token},
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("request body:3: not valid JSON")


def test_it_refuses_deeply_nested_json_cleanly(api):
    response = api.post(
        "/api/compile",
        "[" * 100_000 + "]" * 100_000,
        content_type="application/json",
        headers={"X-CSRFToken": api.token},
    )
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["error"]


def test_it_refuses_an_unknown_dialect(api, talk_doc):
    response = api.post_json("/api/compile?dialect=calico", talk_doc)
    assert response.status_code == 400
    assert response.json() == {"error": "unknown dialect 'calico'; use one of: native, cilium", "details": []}


def test_it_answers_json_for_a_wrong_method(api):
    response = api.get("/api/compile")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json()["error"] == "use POST for /api/compile"


def test_it_answers_json_404_under_the_api(api):
    response = api.get("/api/nothing-here")
    assert response.status_code == 404
    assert json.loads(response.content) == {"error": "not found", "details": ["/api/nothing-here"]}
