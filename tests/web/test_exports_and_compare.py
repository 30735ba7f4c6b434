"""Pictures (/d/<slug>.svg, .png), bundles, the revision diff pages, the drawings list, and plan over permalinks."""

from __future__ import annotations

import copy
import io
import json
import zipfile
from typing import Any

import pytest
from django.test import Client, override_settings

from editor.models import Revision, save_revision
from editor.policy.cli import main

pytestmark = pytest.mark.django_db
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _two_revisions(talk_doc: dict[str, Any]) -> tuple[Revision, Revision]:
    first = save_revision(talk_doc, author="ana")
    changed = copy.deepcopy(talk_doc)
    edge = next(e for e in changed["edges"] if e["ports"] and e["ports"][0].get("port") == 9090)
    edge["ports"][0]["port"] = 9091
    return first, save_revision(changed, first, author="bo")


def test_it_draws_a_saved_revision_as_svg_and_png(client: Client, talk_doc: dict[str, Any]) -> None:
    revision = save_revision(talk_doc)
    response = client.get(f"/d/{revision.slug}.svg")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml; charset=utf-8"
    assert "immutable" in response["Cache-Control"]
    svg = response.content.decode()
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert '<g class="namespace" data-name="frontend">' in svg and "#15803d" in svg  # the canvas's "allowed" green
    assert "style=" not in svg and "<style" not in svg and "<script" not in svg
    png = client.get(f"/d/{revision.slug}.png")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert png.content.startswith(PNG_MAGIC)
    assert client.get("/d/" + "x" * 30 + ".svg").status_code == 404


def test_names_are_text_in_the_picture(client: Client, talk_doc: dict[str, Any]) -> None:
    talk_doc["name"] = "<script>alert(1)</script>"
    talk_doc["nodes"][0]["name"] = 'x"><image href=x onerror=alert(1)>'
    svg = client.get(f"/d/{save_revision(talk_doc).slug}.svg").content.decode()
    assert "<script>" not in svg and "<image" not in svg
    assert "&lt;script&gt;" in svg


def test_it_zips_the_bundle_of_a_revision_and_of_the_unsaved_drawing(
    client: Client, api: Any, talk_doc: dict[str, Any]
) -> None:
    revision = save_revision(talk_doc)
    response = client.get(f"/d/{revision.slug}/bundle.zip")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert "network-policies/CODEOWNERS" in names and "network-policies/backend/api.yaml" in names
    posted = api.post_form("/export/bundle.zip", {"document": json.dumps(talk_doc)})
    assert posted.status_code == 200 and posted.content.startswith(b"PK")
    svg = api.post_form("/export/picture.svg", {"document": json.dumps(talk_doc)})
    assert svg.status_code == 200 and b"fenceline-picture" in svg.content


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{", "not valid JSON"),
        (
            json.dumps({"schema": "fenceline/v1", "nodes": [{"id": "a", "kind": "pod"}]}),
            "not a valid Fenceline document",
        ),
        ("", "not valid JSON"),
    ],
)
def test_a_bad_posted_drawing_is_a_clear_400(api: Any, document: str, message: str) -> None:
    response = api.post_form("/export/picture.png", {"document": document})
    assert response.status_code == 400
    assert message in response.content.decode()


def test_export_needs_the_csrf_token(talk_doc: dict[str, Any]) -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.post("/export/bundle.zip", {"document": json.dumps(talk_doc)}).status_code == 403


def test_compare_two_revisions_shows_the_changed_edge_and_the_yaml_diff(
    client: Client, talk_doc: dict[str, Any]
) -> None:
    first, second = _two_revisions(talk_doc)
    page = client.get(f"/d/compare?old={first.slug}&new={second.slug}").content.decode()
    assert "r1 → r2" in page
    assert "diff-changed" in page
    assert '<span class="line del">-          port: 9090</span>' in page
    assert '<span class="line add">+          port: 9091</span>' in page
    previous = client.get(f"/d/{second.slug}/compare").content.decode()
    assert "diff-changed" in previous
    assert client.get(f"/d/{first.slug}/compare").status_code == 404  # r1 has nothing before it
    history = client.get(f"/d/{second.slug}/history").content.decode()
    assert f'href="/d/{second.slug}/compare" class="compare-previous"' in history
    assert f'href="/d/{second.slug}/compare"' in client.get(f"/d/{second.slug}").content.decode()


def test_compare_a_revision_with_the_unsaved_drawing(api: Any, talk_doc: dict[str, Any]) -> None:
    revision = save_revision(talk_doc)
    unsaved = copy.deepcopy(talk_doc)
    unsaved["edges"].pop()
    page = api.post_form(f"/d/{revision.slug}/compare", {"document": json.dumps(unsaved)}).content.decode()
    assert "r1 → your unsaved drawing" in page and "diff-removed" in page


def test_the_drawings_list_is_newest_first_searchable_and_links_forks(client: Client, talk_doc: dict[str, Any]) -> None:
    talk_doc["name"] = "Shop"
    shop = save_revision(talk_doc, author="ana")
    other = {"schema": "fenceline/v1", "name": "Billing", "namespaces": [{"name": "payments"}]}
    save_revision(other)
    fork = save_revision({**talk_doc, "name": "Shop fork"}, shop, fork=True)
    page = client.get("/d/").content.decode()
    assert page.index("Shop fork") < page.index("Billing") < page.index(">Shop<")
    assert f'<a href="/d/{shop.slug}">Shop r1</a>' in page  # the fork links the drawing it came from
    by_namespace = client.get("/d/?q=payments").content.decode()
    assert "Billing" in by_namespace and "Shop" not in by_namespace
    by_workload = client.get("/d/?q=api").content.decode()
    assert "Shop" in by_workload and "Billing" not in by_workload
    assert "No saved drawing matches" in client.get("/d/?q=nothing-like-this").content.decode()
    assert fork.document.name == "Shop fork"


def test_the_drawings_list_is_paginated(client: Client) -> None:
    for number in range(27):
        save_revision({"schema": "fenceline/v1", "name": f"drawing {number:02d}"})
    first = client.get("/d/").content.decode()
    assert "drawing 26" in first and "drawing 01" not in first and "Page 1 of 2" in first
    second = client.get("/d/?page=2").content.decode()
    assert "drawing 01" in second and "drawing 00" in second


def test_plan_reads_two_permalinks_of_a_running_server(
    app_url: str, talk_doc: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = _two_revisions(talk_doc)
    code = main(["plan", f"{app_url}/d/{first.slug}", f"{app_url}/d/{second.slug}/edit"])
    out = capsys.readouterr().out
    assert code == 0
    assert "### Fenceline plan: `r1 The talk" in out
    assert f"![before]({app_url}/d/{first.slug}.svg)" in out and f"![after]({app_url}/d/{second.slug}.svg)" in out
    assert "TCP 9091" in out


@override_settings(FENCELINE_MAX_UPLOAD_BYTES=16 * 1024, DATA_UPLOAD_MAX_MEMORY_SIZE=16 * 1024)
@pytest.mark.parametrize("path", ["/export/bundle.zip", "/export/picture.svg"])
def test_a_huge_posted_drawing_is_a_413_with_the_limit(api: Any, talk_doc: dict[str, Any], path: str) -> None:
    talk_doc["description"] = "x" * 20_000
    response = api.post_form(path, {"document": json.dumps(talk_doc)})
    assert response.status_code == 413
    assert "larger than the limit of" in response.content.decode()


def test_a_huge_posted_drawing_to_compare_is_a_413(api: Any, talk_doc: dict[str, Any]) -> None:
    revision = save_revision(talk_doc)
    with override_settings(FENCELINE_MAX_UPLOAD_BYTES=16 * 1024, DATA_UPLOAD_MAX_MEMORY_SIZE=16 * 1024):
        talk_doc["description"] = "x" * 20_000
        response = api.post_form(f"/d/{revision.slug}/compare", {"document": json.dumps(talk_doc)})
    assert response.status_code == 413


def test_compare_needs_two_revisions_that_exist(client: Client, talk_doc: dict[str, Any]) -> None:
    revision = save_revision(talk_doc)
    assert client.get("/d/compare").status_code == 404
    assert client.get(f"/d/compare?old={revision.slug}").status_code == 404
    missing = client.get(f"/d/compare?old={revision.slug}&new={'z' * 30}")
    assert missing.status_code == 404 and "No saved drawing has this address." in missing.content.decode()
