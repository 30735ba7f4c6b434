"""POST /api/lint and /api/lint/fix: the findings and the rating of a drawing, and its one-click fixes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from editor.policy.cli import main as fenceline
from editor.policy.document import Document
from editor.policy.importer import import_text
from editor.policy.lint import lint_document

TUTORIALS = Path(__file__).parents[1] / "fixtures/policies/cilium-networkpolicy-editor-tutorials/tutorials"
HOSTILE = "<img src=x onerror=alert(1)>"


def workload(name: str, ingress: bool, egress: bool) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "id": name,
        "kind": "workload",
        "name": name,
        "namespace": "shop",
        "labels": labels,
        "isolate": {"ingress": ingress, "egress": egress},
    }


def egress_locked_without_dns() -> dict[str, Any]:
    """cart may call db, but its egress is locked without DNS (FL004); db's ingress lock drops the edge."""
    edge = {"id": "e1", "source": "cart", "target": "db", "ports": [{"protocol": "TCP", "port": 5432}]}
    return {
        "schema": "fenceline/v1",
        "name": "shop",
        "settings": {"dialect": "native"},
        "namespaces": [{"name": "shop"}],
        "nodes": [workload("cart", ingress=True, egress=True), workload("db", ingress=True, egress=False)],
        "edges": [{**edge, "enforce": ["source"]}],
    }


def imported(name: str) -> dict[str, Any]:
    return import_text((TUTORIALS / name).read_bytes(), name).document.to_json()


def cli_json(capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str, document: dict[str, Any]) -> Any:
    path = tmp_path / "drawing.json"
    path.write_text(json.dumps(document))
    capsys.readouterr()
    fenceline([command, str(path), "--format", "json"])
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("tutorial", ["combine-policy-rules.yaml", "empty-selectors.yaml", "allow-kube-dns.yaml"])
@pytest.mark.parametrize("dialect", ["native", "cilium"])
def test_the_rating_and_findings_are_those_of_the_cli(api, capsys, tmp_path, tutorial, dialect):
    document = imported(tutorial)
    document["settings"]["dialect"] = dialect
    body = api.post_json("/api/lint", {"document": document}).json()

    rating = cli_json(capsys, tmp_path, "rate", document)
    assert body["rating"]["score"] == rating["score"]
    assert body["rating"]["criteria"] == rating["criteria"]
    assert body["rating"]["policies"] == rating["policies"]
    assert body["rating"]["methodUrl"] == "/rules/rating"

    cli = cli_json(capsys, tmp_path, "lint", document)["findings"]
    keys = ("id", "rule", "severity", "message", "path", "fixes", "nodes", "edges")
    assert [{k: f[k] for k in keys} for f in body["findings"]] == [{k: f[k] for k in keys} for f in cli]
    assert body["counts"] == {s: sum(f["severity"] == s for f in cli) for s in ("error", "warning", "info")}


def test_a_tutorials_trap_is_a_finding_with_its_why_page_and_a_failing_criterion(api):
    body = api.post_json("/api/lint", imported("combine-policy-rules.yaml")).json()
    assert body["rating"]["score"] < 5
    failing = [c for c in body["rating"]["criteria"] if c["status"] in ("fail", "partial")]
    assert failing and all(c["reason"] and c["improve"] for c in failing)
    assert all(f["whyUrl"] == f"/rules/{f['rule']}" for f in body["findings"])
    assert body["findings"], "the tutorial's trap is found"


def test_the_dialect_shown_is_the_one_linted(api):
    document = egress_locked_without_dns()
    native = api.post_json("/api/lint", {"document": document, "dialect": "native"}).json()
    cilium = api.post_json("/api/lint?dialect=cilium", document).json()
    assert native["dialect"] == "native" and cilium["dialect"] == "cilium"
    assert {f["object"]["kind"] for f in native["findings"]} == {"NetworkPolicy"}
    assert {f["object"]["kind"] for f in cilium["findings"]} == {"CiliumNetworkPolicy"}


def test_a_finding_names_object_path_nodes_and_a_drawing_fix(api):
    body = api.post_json("/api/lint", egress_locked_without_dns()).json()
    [dns] = [f for f in body["findings"] if f["rule"] == "FL004"]
    assert dns["object"] == {"kind": "NetworkPolicy", "namespace": "shop", "name": "cart"}
    assert dns["path"] == "spec.egress"
    assert dns["nodes"] == ["cart"]
    assert [fix["target"] for fix in dns["fixes"]] == ["object", "document"]


def test_the_fix_returns_the_drawing_without_the_finding(api):
    document = egress_locked_without_dns()
    [fix] = [
        fix["id"]
        for finding in api.post_json("/api/lint", document).json()["findings"]
        for fix in finding["fixes"]
        if fix["target"] == "document"
    ]
    response = api.post_json("/api/lint/fix", {"document": document, "fix": fix})
    assert response.status_code == 200
    body = response.json()
    assert body["message"].startswith("Applied: Draw the 'allow DNS' edge")
    fixed = Document.from_json(body["document"])
    assert [f.rule for f in lint_document(fixed)] == []
    [new_edge] = [e for e in fixed.edges if e.id != "e1"]
    assert (new_edge.source, new_edge.enforce) == ("cart", ["source"])
    assert {(p.protocol, p.port) for p in new_edge.ports} == {("UDP", 53), ("TCP", 53)}


def test_a_fix_found_in_the_cilium_view_keeps_the_drawings_own_dialect(api):
    document = egress_locked_without_dns()
    findings = api.post_json("/api/lint", {"document": document, "dialect": "cilium"}).json()["findings"]
    fix = next(x["id"] for f in findings for x in f["fixes"] if x["target"] == "document")
    body = api.post_json("/api/lint/fix", {"document": document, "dialect": "cilium", "fix": fix}).json()
    assert body["document"]["settings"]["dialect"] == "native"
    [new_edge] = [e for e in body["document"]["edges"] if e["id"] != "e1"]
    assert new_edge["ports"] == [{"protocol": "ANY", "port": 53}]


def test_a_stale_or_unknown_fix_is_a_conflict(api):
    document = egress_locked_without_dns()
    response = api.post_json("/api/lint/fix", {"document": document, "fix": "FL004:NetworkPolicy shop/nope:spec#x"})
    assert response.status_code == 409
    assert "no finding or fix" in response.json()["error"]


def test_a_fix_of_the_yaml_is_refused_with_a_reason(api):
    document = egress_locked_without_dns()
    findings = api.post_json("/api/lint", document).json()["findings"]
    fix = next(x["id"] for f in findings for x in f["fixes"] if x["target"] == "object")
    response = api.post_json("/api/lint/fix", {"document": document, "fix": fix})
    assert response.status_code == 400
    assert "changes the compiled YAML, not the drawing" in response.json()["error"]


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/api/lint", {"document": {"schema": "fenceline/v1", "nodes": [{"id": "x"}]}}, "not a valid Fenceline"),
        ("/api/lint", {"document": {"schema": "fenceline/v1"}, "dialect": "calico"}, "unknown dialect"),
        ("/api/lint/fix", {"document": {"schema": "fenceline/v1"}}, "fix must be given"),
        ("/api/lint/fix", {"document": {"schema": "fenceline/v1"}, "fix": 7}, "fix must be given"),
    ],
)
def test_bad_input_is_a_clear_400(api, path, body, message):
    response = api.post_json(path, body)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_not_json_and_a_wrong_method(api):
    response = api.post("/api/lint", "{", content_type="application/json", headers={"X-CSRFToken": api.token})
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]
    assert api.get("/api/lint").status_code == 405


@pytest.mark.parametrize("path", ["/api/lint", "/api/lint/fix"])
def test_posts_need_the_csrf_token(path):
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post(path, {"schema": "fenceline/v1"}, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]


def test_a_drawing_over_the_node_limit_is_refused(api, settings):
    settings.FENCELINE_MAX_NODES = 1
    response = api.post_json("/api/lint", egress_locked_without_dns())
    assert response.status_code == 413
    assert "more than the limit of 1" in response.json()["error"]


def test_a_hostile_node_name_is_data_in_the_findings(api):
    document = egress_locked_without_dns()
    document["nodes"][0]["name"] = HOSTILE
    response = api.post_json("/api/lint", document)
    assert response["Content-Type"] == "application/json"
    finding = next(f for f in response.json()["findings"] if f["rule"] == "FL004")
    assert finding["object"]["name"] == "img-src-x-onerror-alert-1"  # the policy's name is a Kubernetes name
    assert f"(shop/{HOSTILE})" in finding["message"]  # as the text it is: the page sets textContent
