"""Saving and loading through the API: immutable revisions, permalinks, 409 on a stale parent, forks."""

from __future__ import annotations

import pytest

from editor.models import Revision

pytestmark = pytest.mark.django_db


def test_it_saves_a_new_document_and_loads_it_back(api, talk_doc):
    response = api.post_json("/api/documents", {"document": talk_doc})
    assert response.status_code == 201
    saved = response.json()
    assert saved["revision"] == 1
    assert saved["parent"] is None
    assert saved["url"] == f"http://testserver/d/{saved['slug']}"
    assert saved["yamlUrl"] == f"http://testserver/d/{saved['slug']}.yaml"
    loaded = api.get(f"/api/documents/{saved['slug']}").json()
    assert loaded["slug"] == saved["slug"]
    assert loaded["latest"] == saved["slug"]
    assert loaded["document"]["name"] == "The talk's shop"
    assert [node["id"] for node in loaded["document"]["nodes"]] == ["web", "api", "ingress", "dns"]


def test_it_continues_a_document_from_its_latest_revision(api, talk_doc):
    first = api.post_json("/api/documents", {"document": talk_doc}).json()
    talk_doc["name"] = "v2"
    second = api.post_json("/api/documents", {"document": talk_doc, "parent": first["slug"]})
    assert second.status_code == 201
    assert (second.json()["revision"], second.json()["parent"]) == (2, first["slug"])
    assert api.get(f"/api/documents/{first['slug']}").json()["latest"] == second.json()["slug"]
    history = api.get(f"/api/documents/{first['slug']}/history").json()["revisions"]
    assert [r["revision"] for r in history] == [2, 1]


def test_it_answers_409_when_the_parent_is_not_the_latest(api, talk_doc):
    first = api.post_json("/api/documents", {"document": talk_doc}).json()
    second = api.post_json("/api/documents", {"document": talk_doc, "parent": first["slug"]}).json()
    stale = api.post_json("/api/documents", {"document": talk_doc, "parent": first["slug"]})
    assert stale.status_code == 409
    body = stale.json()
    assert body["error"].startswith("revision 1 is not the latest of this document any more: revision 2 was saved")
    assert "Save your drawing as a fork" in body["error"]
    assert body["latest"]["slug"] == second["slug"]
    assert Revision.objects.count() == 2


def test_it_saves_a_fork_as_a_new_document(api, talk_doc):
    first = api.post_json("/api/documents", {"document": talk_doc}).json()
    api.post_json("/api/documents", {"document": talk_doc, "parent": first["slug"]})
    fork = api.post_json("/api/documents", {"document": talk_doc, "parent": first["slug"], "fork": True})
    assert fork.status_code == 201
    assert (fork.json()["revision"], fork.json()["parent"]) == (1, first["slug"])


def test_it_refuses_to_save_an_invalid_document(api, talk_doc):
    talk_doc["nodes"][0]["kind"] = "teapot"
    response = api.post_json("/api/documents", {"document": talk_doc})
    assert response.status_code == 400
    assert any(detail.startswith("nodes[0].kind") for detail in response.json()["details"])
    assert not Revision.objects.exists()


def test_it_answers_404_for_unknown_slugs(api, talk_doc):
    unknown = "A" * 30
    assert api.get(f"/api/documents/{unknown}").status_code == 404
    assert api.get(f"/api/documents/{unknown}").json()["error"] == "no saved drawing has this address"
    response = api.post_json("/api/documents", {"document": talk_doc, "parent": unknown})
    assert response.status_code == 404
    assert not Revision.objects.exists()
