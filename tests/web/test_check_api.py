"""POST /api/check and /api/check/cell: the Check view of a drawing, and flow replay before saving."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from editor.policy.flows import read_flows

HUBBLE_HTTP = Path(__file__).parents[1] / "fixtures/hubble/basic-sample-5-http-flows.json"
HOSTILE = "<img src=x onerror=alert(1)>"


def observed_drawing() -> dict[str, Any]:
    """The 5 HTTP flows of the Hubble sample: prometheus (egress locked) scraping three targets."""
    with HUBBLE_HTTP.open("rb") as stream:
        return read_flows([(HUBBLE_HTTP.name, stream)]).document.to_json()


def cell(body: dict[str, Any], src: str, dst: str) -> dict[str, str]:
    names = [peer["name"] for peer in body["peers"]]
    row = body["sources"].index(names.index(src))
    column = body["destinations"].index(names.index(dst))
    return body["connections"][body["matrix"][row][column]]


def test_the_matrix_says_who_may_talk_to_whom(api, talk_doc):
    body = api.post_json("/api/check", talk_doc).json()
    assert body["ok"] is True
    assert body["flaggedEdges"] == []
    assert cell(body, "frontend/web[Deployment]", "backend/api[Deployment]") == {
        "text": "TCP 9090",
        "status": "partial",
        "tier": "application",
        "tierReason": "partly allowed by the application layer's policies: TCP 9090",
    }
    assert cell(body, "backend/api[Deployment]", "frontend/web[Deployment]")["status"] == "denied"
    everywhere = "0.0.0.0-255.255.255.255[External]"
    assert cell(body, everywhere, "frontend/web[Deployment]")["status"] == "denied"
    assert body["labels"] == {everywhere: "Any IP address"}  # what the page shows; the name stays the key
    # The ingress controller is drawn as a selector and is locked by nothing: anything may reach it.
    assert cell(body, everywhere, "ingress-nginx/ingress controller[Selector]")["status"] == "allowed"
    assert body["replay"] is None


def test_a_one_sided_edge_is_flagged_with_its_reason(api, talk_doc):
    talk_doc["edges"][1]["enforce"] = ["source"]  # web -> api, while api's ingress is locked
    body = api.post_json("/api/check", talk_doc).json()
    assert body["ok"] is False
    [flagged] = body["flaggedEdges"]
    assert flagged["edgeId"] == "e2"
    [pair] = flagged["pairs"]
    assert (pair["src"], pair["dst"], pair["missing"]) == (
        "frontend/web[Deployment]",
        "backend/api[Deployment]",
        "TCP 9090",
    )
    assert "isolated for ingress" in pair["reasons"][0]
    assert "enforce it on the target too" in flagged["summary"]


def test_allowed_connections_nobody_drew_are_listed(api, talk_doc):
    body = api.post_json("/api/check", talk_doc).json()
    undrawn = {(entry["src"], dst): entry for entry in body["undrawn"] for dst in entry["dsts"]}
    entry = undrawn[("kube-system/cluster DNS[Selector]", "ingress-nginx/ingress controller[Selector]")]
    assert entry["connections"] == "All Connections"
    assert "is not isolated for egress" in entry["reason"]


def test_a_cell_tells_ports_and_reasons(api, talk_doc):
    talk_doc["edges"][1]["enforce"] = ["source"]
    options = {"src": "frontend/web[Deployment]", "dst": "backend/api[Deployment]"}
    body = api.post_json("/api/check/cell", {"document": talk_doc, **options}).json()
    assert body["status"] == "denied"
    assert body["egress"] == {"isolated": True, "lockedOn": ["web"], "allowedBy": ["e2"], "deniedBy": []}
    assert body["ingress"]["isolated"] is True and body["ingress"]["allowedBy"] == []
    assert any("not allowed by any Ingress rule" in line for line in body["explanation"])


def test_replay_judges_the_observed_edges(api):
    document = observed_drawing()
    body = api.post_json("/api/check", document).json()
    assert body["replay"]["breaking"] == 0
    assert body["replay"]["allowed"] == 3

    document["edges"][1]["disabled"] = True  # prometheus -> kube-dns is no longer allowed
    replay = api.post_json("/api/check", {"document": document, "only": "replay"}).json()["replay"]
    assert replay["summary"].startswith("this change would break 1 observed connection (1 flow)")
    [broken] = [c for c in replay["connections"] if c["breaks"]]
    assert (broken["src"], broken["dst"], broken["port"], broken["edgeId"]) == (
        "istio-system/prometheus[Deployment]",
        "kube-system/kube-dns[Deployment]",
        10054,
        "e2",
    )
    assert replay["flows"] == 1
    # attributed in --explain's words: prometheus' egress is isolated and no rule admits kube-dns on that port
    assert broken["explanation"][0] == "Denied TCP:[10054] due to the following policies and rules:"
    assert broken["explanation"][1] == "\tEgress (Denied)"
    assert "selects kube-system/kube-dns[Deployment], but the protocols and ports do not match" in "\n".join(
        broken["explanation"]
    )
    [kept] = [c for c in replay["connections"] if c["verdict"] == "allowed"][:1]
    assert kept["explanation"][0].startswith("Allowed TCP:[")
    assert any("allows connections by Egress rule #" in line for line in kept["explanation"])


def test_the_check_view_lists_each_workloads_exposure(api, talk_doc):
    body = api.post_json("/api/check", talk_doc).json()
    exposure = {item["workload"]: item["exposures"] for item in body["exposure"]}
    assert exposure["frontend/web[Deployment]"] == []  # locked both ways, its rules name drawn pods only
    controller = exposure["ingress-nginx/ingress controller[Selector]"]
    assert {e["text"] for e in controller} >= {"open to the internet", "open to the whole cluster"}
    assert all(set(e) == {"direction", "peer", "connections", "text", "protected"} for e in controller)


def test_replay_counts_an_observed_edge_deleted_since_the_last_save(api):
    saved = observed_drawing()
    edited = copy.deepcopy(saved)
    edited["edges"] = [edge for edge in edited["edges"] if edge["id"] != "e3"]
    assert api.post_json("/api/check", {"document": edited, "only": "replay"}).json()["replay"]["breaking"] == 0
    body = api.post_json("/api/check", {"document": edited, "observed": saved, "only": "replay"}).json()
    assert "matrix" not in body
    replay = body["replay"]
    assert replay["breaking"] == 1
    assert [c["dst"] for c in replay["connections"] if c["breaks"]] == ["kube-system/node-local-dns[Workload]"]
    assert len(replay["connections"]) == 3  # each observed connection once, though both drawings hold two


@pytest.mark.parametrize(
    ("path", "extra", "status", "message"),
    [
        ("/api/check", {"only": "matrix"}, 400, "only must be 'replay'"),
        ("/api/check", {"observed": {"schema": "fenceline/v1", "edges": 3}}, 400, "not a valid Fenceline document"),
        ("/api/check/cell", {"src": "frontend/web[Deployment]"}, 400, "dst must be given"),
        ("/api/check/cell", {"src": "nope", "dst": "backend/api[Deployment]"}, 409, "no peer 'nope'"),
        ("/api/check/cell", {"src": "backend/api[Deployment]", "dst": "backend/api[Deployment]"}, 400, "no cell"),
    ],
)
def test_bad_input_is_a_clear_error(api, talk_doc, path, extra, status, message):
    response = api.post_json(path, {"document": talk_doc, **extra})
    assert response.status_code == status
    assert message in response.json()["error"]


@pytest.mark.parametrize("path", ["/api/check", "/api/check/cell"])
def test_posts_need_the_csrf_token(path, talk_doc):
    response = Client(enforce_csrf_checks=True).post(path, talk_doc, content_type="application/json")
    assert response.status_code == 403


def test_a_drawing_over_the_edge_limit_is_refused(api, talk_doc, settings):
    settings.FENCELINE_MAX_EDGES = 3
    response = api.post_json("/api/check", talk_doc)
    assert response.status_code == 413


def test_hostile_names_are_data_in_the_matrix(api, talk_doc):
    talk_doc["nodes"][0]["name"] = HOSTILE
    body = api.post_json("/api/check", talk_doc).json()
    assert f"frontend/{HOSTILE}[Deployment]" in [peer["name"] for peer in body["peers"]]
    detail = api.post_json(
        "/api/check/cell",
        {"document": talk_doc, "src": f"frontend/{HOSTILE}[Deployment]", "dst": "backend/api[Deployment]"},
    ).json()
    assert detail["src"] == f"frontend/{HOSTILE}[Deployment]"
