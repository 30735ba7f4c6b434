"""Permalinks for people and for kubectl: /d/<slug>, /d/<slug>.yaml, /d/<slug>/edit, /d/<slug>/history."""

from __future__ import annotations

import json

import pytest
import yaml

from editor.models import save_revision
from editor.policy.compile import compile_document
from editor.policy.document import Document

pytestmark = pytest.mark.django_db


def test_it_shows_a_revision_read_only_with_edit_a_copy(client, talk_doc):
    revision = save_revision(talk_doc)
    response = client.get(f"/d/{revision.slug}")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-read-only="1"' in page
    assert f'href="/d/{revision.slug}/edit"' in page and "Edit a copy" in page
    assert 'data-action="save"' not in page
    embedded = page.split('<script id="drawing-data" type="application/json">', 1)[1].split("</script>", 1)[0]
    assert json.loads(embedded) == talk_doc


def test_the_saved_drawings_pages_are_titled_with_its_name_and_carry_it_as_saved(client, talk_doc):
    # The editor hands the drawing on as the database keeps it (not decoded and encoded again): the data block is
    # still the drawing, escaped, and the title still its name.
    talk_doc["name"] = "Shop <front> & back"
    revision = save_revision(talk_doc)
    for path in (f"/d/{revision.slug}", f"/d/{revision.slug}/edit"):
        page = client.get(path).content.decode()
        assert "<title>Shop &lt;front&gt; &amp; back · r1 · Fenceline</title>" in page
        embedded = page.split('<script id="drawing-data" type="application/json">', 1)[1].split("</script>", 1)[0]
        assert "<" not in embedded and json.loads(embedded) == talk_doc
    del talk_doc["name"]
    unnamed = save_revision(talk_doc)
    assert "<title>Untitled · r1 · Fenceline</title>" in client.get(f"/d/{unnamed.slug}/edit").content.decode()


def test_it_opens_a_copy_for_editing_with_the_revision_as_parent(client, talk_doc):
    revision = save_revision(talk_doc)
    page = client.get(f"/d/{revision.slug}/edit").content.decode()
    assert 'data-read-only="0"' in page
    assert f'data-parent="{revision.slug}"' in page
    assert 'data-action="save"' in page


@pytest.mark.parametrize("dialect", ["native", "cilium"])
def test_it_serves_the_raw_yaml_for_kubectl(client, talk_doc, dialect):
    revision = save_revision(talk_doc)
    response = client.get(f"/d/{revision.slug}.yaml?dialect={dialect}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/yaml; charset=utf-8"
    text = response.content.decode()
    assert text.startswith(f'# Fenceline drawing "The talk\'s shop", revision 1 ({dialect})\n')
    expected = compile_document(Document.from_json(talk_doc), dialect)
    assert text.endswith(expected.yaml)
    assert [obj for obj in yaml.safe_load_all(text) if obj] == expected.objects


def test_it_uses_the_drawings_dialect_without_a_query(client, talk_doc):
    talk_doc["settings"]["dialect"] = "cilium"
    revision = save_revision(talk_doc)
    text = client.get(f"/d/{revision.slug}.yaml").content.decode()
    assert "kind: CiliumNetworkPolicy" in text and "kind: NetworkPolicy\n" not in text


def test_it_refuses_an_unknown_dialect_in_the_yaml_url(client, talk_doc):
    revision = save_revision(talk_doc)
    response = client.get(f"/d/{revision.slug}.yaml?dialect=calico")
    assert response.status_code == 400
    assert response.content.decode().startswith("# unknown dialect 'calico'")


def test_it_comments_problems_at_the_top_of_the_yaml(client, talk_doc):
    talk_doc["nodes"].append({"id": "github", "kind": "fqdn", "matchName": "api.github.com"})
    talk_doc["edges"].append({"id": "e5", "source": "api", "target": "github", "ports": []})
    revision = save_revision(talk_doc)
    lines = client.get(f"/d/{revision.slug}.yaml?dialect=native").content.decode().splitlines()
    assert any(line.startswith("# error: ") and "e5" in line for line in lines[:5])


INJECTED = "---{0}apiVersion: v1{0}kind: Namespace{0}metadata:{0}  name: pwned{0}#"


@pytest.mark.parametrize("field", ["name", "matchName"])
@pytest.mark.parametrize("newline", ["\r", "\x85", "\u2028", "\u2029"])
def test_a_name_that_could_break_out_of_the_yaml_comments_is_refused(api, talk_doc, newline, field):
    # `curl .../d/<slug>.yaml | kubectl apply -f -` must apply only the drawing's policies: a name quoted in a
    # problem comment that holds a line break (YAML counts \r, and in 1.1 also NEL, LS and PS) would end the
    # comment and add objects of its own. Such names never get into a saved drawing (and the view folds every
    # line break of its comments as well).
    talk_doc["nodes"].append({"id": "x", "kind": "fqdn", "matchName": "api.example.com"})
    talk_doc["nodes"][-1][field] = "api.example.com" + newline + INJECTED.format(newline)
    saved = api.post_json("/api/documents", {"document": talk_doc})
    assert saved.status_code == 400
    assert saved.json()["details"][0].startswith(f"nodes[{len(talk_doc['nodes']) - 1}].{field}:")
    assert "line break" in saved.json()["details"][0]


def test_it_lists_the_revision_history(client, talk_doc):
    first = save_revision(talk_doc)
    second = save_revision({**talk_doc, "name": "<b>second</b>"}, first)
    page = client.get(f"/d/{first.slug}/history").content.decode()
    assert page.index(f"/d/{second.slug}") < page.index(f'/d/{first.slug}"')
    assert "&lt;b&gt;second&lt;/b&gt;" in page and "<b>second</b>" not in page


def test_the_history_of_a_fork_is_its_own_and_names_the_revision_it_came_from(client, api, talk_doc):
    first = save_revision(talk_doc)
    second = save_revision({**talk_doc, "name": "second"}, first)
    fork = api.post_json(
        "/api/documents", {"document": {**talk_doc, "name": "fork"}, "parent": first.slug, "fork": True}
    )
    assert fork.status_code == 201 and fork.json()["revision"] == 1 and fork.json()["parent"] == first.slug
    forked = fork.json()["slug"]
    page = client.get(f"/d/{forked}/history").content.decode()
    assert f'<a href="/d/{first.slug}">a fork of another drawing</a>' in page
    assert f"/d/{second.slug}" not in page  # the original's later revisions are not the fork's history
    original = client.get(f"/d/{second.slug}/history").content.decode()
    assert f"/d/{forked}" not in original and "a fork of another drawing" not in original
    assert [r["slug"] for r in api.get(f"/api/documents/{forked}/history").json()["revisions"]] == [forked]
    # the permalink it forked from is unchanged: its own address still shows its own drawing
    assert Document.from_json(api.get(f"/api/documents/{first.slug}").json()["document"]).name == talk_doc["name"]


@pytest.mark.parametrize("suffix", ["", ".yaml", "/edit", "/history"])
def test_it_answers_404_for_unknown_slugs(client, suffix):
    response = client.get(f"/d/{'x' * 30}{suffix}")
    assert response.status_code == 404
    assert b"No saved drawing has this address." in response.content
