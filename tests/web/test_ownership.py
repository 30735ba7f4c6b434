"""Who may add revisions to a drawing (issue 12, finding 8): anyone who could save could append the latest revision
of anybody's drawing.

With sign-in on, the first revision's author owns the drawing; the owner and the editors they name (people or
groups) add revisions, everyone else gets a 403 that offers a fork. With sign-in off nothing changes.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from test_auth import FAST_HASHER, signing_key  # noqa: F401  (signing_key is a fixture)

from editor.models import Document, Revision, save_revision

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(settings: Any) -> dict[str, User]:
    settings.FENCELINE_AUTH = "accounts"
    settings.PASSWORD_HASHERS = FAST_HASHER
    named = {name: User.objects.create_user(name, password="a long enough password") for name in ("alice", "bob")}
    named["carol"] = User.objects.create_user("carol", password="a long enough password")
    Group.objects.create(name="platform").user_set.add(named["carol"])
    return named


def save(client: Any, document: dict[str, Any], parent: str | None = None, **options: Any) -> Any:
    return client.post_json("/api/documents", {"document": document, "parent": parent, **options})


def as_user(client: Any, user: User | None) -> Any:
    client.logout()
    if user is not None:
        client.force_login(user)
    client.token = client.get("/api/csrf").json()["csrfToken"]
    return client


def test_without_sign_in_anyone_continues_any_drawing_as_before(api, talk_doc):
    first = save(api, talk_doc)
    assert first.status_code == 201
    second = save(api, {**talk_doc, "name": "someone else's change"}, first.json()["slug"])
    assert second.status_code == 201 and second.json()["revision"] == 2
    assert Document.objects.get().owner is None
    loaded = api.get(f"/api/documents/{first.json()['slug']}").json()
    assert loaded["owner"] is None and loaded["mayAddRevisions"] is True


def test_only_the_owner_adds_revisions_and_others_are_offered_a_fork(api, talk_doc, people):
    slug = save(as_user(api, people["alice"]), talk_doc).json()["slug"]
    assert Revision.objects.get(slug=slug).document.owner == people["alice"]

    refused = save(as_user(api, people["bob"]), {**talk_doc, "name": "bob's change"}, slug)
    assert refused.status_code == 403
    body = refused.json()
    assert body["fork"] is True and body["owner"] == "alice"
    assert body["error"].startswith("only alice and the editors they named may add revisions to this drawing")
    assert api.get(f"/api/documents/{slug}").json()["mayAddRevisions"] is False

    fork = save(api, {**talk_doc, "name": "bob's change"}, slug, fork=True)
    assert fork.status_code == 201 and fork.json()["revision"] == 1 and fork.json()["parent"] == slug
    assert Revision.objects.get(slug=fork.json()["slug"]).document.owner == people["bob"]

    # Nobody signed in (saving without sign-in is allowed here) cannot continue alice's drawing either.
    assert save(as_user(api, None), talk_doc, slug).status_code == 403
    assert save(as_user(api, people["alice"]), {**talk_doc, "name": "alice's second"}, slug).status_code == 201
    assert Revision.objects.filter(document__owner=people["alice"]).count() == 2


def test_the_owner_names_editors_people_and_groups(api, talk_doc, people):
    slug = save(as_user(api, people["alice"]), talk_doc).json()["slug"]
    named = api.post_json(f"/api/documents/{slug}/editors", {"users": ["bob"], "groups": ["platform"]})
    assert named.status_code == 200
    assert named.json() == {"owner": "alice", "editors": ["bob"], "editorGroups": ["platform"], "mayAddRevisions": True}

    second = save(as_user(api, people["bob"]), {**talk_doc, "name": "by bob"}, slug)
    assert second.status_code == 201
    third = save(as_user(api, people["carol"]), {**talk_doc, "name": "by carol"}, second.json()["slug"])
    assert third.status_code == 201 and third.json()["revision"] == 3

    # Only the owner names editors; unknown names are refused, not ignored.
    refused = api.post_json(f"/api/documents/{slug}/editors", {"users": ["carol"]})
    assert refused.status_code == 403 and "its owner is alice" in refused.json()["error"]
    as_user(api, people["alice"])
    unknown = api.post_json(f"/api/documents/{slug}/editors", {"users": ["bob", "mallory"], "groups": ["ops"]})
    assert unknown.status_code == 400 and unknown.json()["details"] == ["mallory", "ops"]
    assert api.post_json(f"/api/documents/{slug}/editors", {"users": []}).json()["editors"] == []
    assert save(as_user(api, people["bob"]), talk_doc, third.json()["slug"]).status_code == 403


def test_a_drawing_saved_before_sign_in_stays_open(api, talk_doc, people):
    slug = save_revision(talk_doc).slug  # no owner: saved while sign-in was off
    assert save(as_user(api, people["bob"]), talk_doc, slug).status_code == 201


def test_without_sign_in_there_are_no_editors_to_name(api, talk_doc):
    slug = save(api, talk_doc).json()["slug"]
    response = api.post_json(f"/api/documents/{slug}/editors", {"users": ["bob"]})
    assert response.status_code == 404 and "no sign-in" in response.json()["error"]
