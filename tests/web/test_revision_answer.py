"""What the editor asks for when it opens a drawing (issue 13): the compile answer of a saved revision
(GET /api/documents/<slug>/compiled), kept by the server, and the editor's view of an answer (without the objects
and explanations it does not read)."""

from __future__ import annotations

import zlib

import pytest

from editor import api as api_module
from editor.models import CompiledAnswer, save_revision
from editor.policy.sized_cache import SizedCache

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("dialect", ["native", "cilium"])
def test_a_revisions_answer_is_what_posting_its_drawing_answers(api, talk_doc, dialect):
    revision = save_revision(talk_doc)
    posted = api.post_json("/api/compile", {"document": talk_doc, "dialect": dialect}).json()
    got = api.get(f"/api/documents/{revision.slug}/compiled?dialect={dialect}")
    assert got.status_code == 200 and got["Content-Type"] == "application/json"
    assert got.json() == posted
    for view in ("full", "editor"):
        posted = api.post_json("/api/compile", {"document": talk_doc, "dialect": dialect, "view": view}).json()
        assert api.get(f"/api/documents/{revision.slug}/compiled?dialect={dialect}&view={view}").json() == posted


def test_the_editor_view_leaves_out_what_the_editor_does_not_read(api, talk_doc):
    full = api.post_json("/api/compile", {"document": talk_doc}).json()
    shown = api.post_json("/api/compile?view=editor", talk_doc).json()
    assert shown["objectCount"] == len(full["objects"]) > 0
    assert shown["annotation"] + shown["yaml"] == full["annotated"]
    assert shown["annotation"].startswith("# Fenceline drawing") and shown["annotation"].endswith("\n")
    assert set(full) - set(shown) == {"objects", "explanations", "annotated"}
    assert all(shown[key] == full[key] for key in set(full) & set(shown))


def test_the_drawings_own_dialect_is_the_default(api, talk_doc):
    talk_doc["settings"]["dialect"] = "cilium"
    revision = save_revision(talk_doc)
    assert api.get(f"/api/documents/{revision.slug}/compiled").json()["dialect"] == "cilium"


def test_it_is_made_once_and_then_kept(api, talk_doc):
    revision = save_revision(talk_doc)
    kept = api_module._revision_answers
    before = kept.chars
    first = api.get(f"/api/documents/{revision.slug}/compiled?view=editor").content
    assert kept.chars > before + len(first) - 1
    after_first = kept.chars
    assert api.get(f"/api/documents/{revision.slug}/compiled?view=editor").content == first
    assert kept.chars == after_first
    api.get(f"/api/documents/{revision.slug}/compiled?view=editor&dialect=cilium")
    assert kept.chars > after_first
    # Kept with the revision as well, for the other workers and after a restart.
    stored = CompiledAnswer.objects.get(revision=revision, key__startswith="native editor ")
    assert zlib.decompress(stored.body) == first
    assert CompiledAnswer.objects.filter(revision=revision).count() == 2


def test_a_worker_without_it_in_memory_gives_the_one_kept_with_the_revision(api, talk_doc, monkeypatch):
    revision = save_revision(talk_doc)
    api.get(f"/api/documents/{revision.slug}/compiled")
    # What is kept is what is given (marked here, to see where the answer came from), in a fresh worker's memory.
    CompiledAnswer.objects.filter(revision=revision).update(body=zlib.compress(b'{"kept":true}'))
    monkeypatch.setattr(api_module, "_revision_answers", SizedCache(1024 * 1024))
    assert api.get(f"/api/documents/{revision.slug}/compiled").json() == {"kept": True}


def test_the_limits_apply_as_they_do_to_a_post(api, talk_doc, settings):
    revision = save_revision(talk_doc)
    assert api.get(f"/api/documents/{revision.slug}/compiled").status_code == 200
    settings.FENCELINE_MAX_NODES = 2  # lowered after the answer was kept: the kept answer is not given
    response = api.get(f"/api/documents/{revision.slug}/compiled")
    assert response.status_code == 413 and "FENCELINE_MAX_NODES" in response.json()["details"][0]


def test_it_refuses_what_it_does_not_know(api, talk_doc):
    revision = save_revision(talk_doc)
    assert api.get(f"/api/documents/{revision.slug}/compiled?dialect=calico").status_code == 400
    assert api.get(f"/api/documents/{revision.slug}/compiled?view=some").status_code == 400
    assert api.post_json("/api/compile?view=some", talk_doc).status_code == 400
    assert api.get("/api/documents/" + "x" * 30 + "/compiled").status_code == 404
    assert api.post_json(f"/api/documents/{revision.slug}/compiled", talk_doc).status_code == 405
