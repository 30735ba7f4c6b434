"""Limits on what one drawing or one import may cost: nodes, edges and time.

A 1.2 MB document of 5,000 workloads takes about 13 s to compile through /api/compile on this machine, and a
10 MiB import over 20 s, so without these limits a handful of requests occupies every gunicorn worker (and a
request longer than gunicorn's --timeout is cut off with no answer at all). The settings are FENCELINE_MAX_NODES,
FENCELINE_MAX_EDGES and FENCELINE_TIME_LIMIT_SECONDS.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db

MAX_NODES = 40
MAX_EDGES = 60


def wide_document(nodes: int, edges: int) -> dict[str, Any]:
    workloads = [
        {"id": f"w{i}", "kind": "workload", "name": f"w{i}", "namespace": "shop", "labels": {"app": f"w{i}"}}
        for i in range(nodes)
    ]
    links = [
        {"id": f"e{i}", "source": f"w{i % nodes}", "target": f"w{(i + 1) % nodes}", "ports": [{"port": 1 + i}]}
        for i in range(edges)
    ]
    return {"schema": "fenceline/v1", "namespaces": [{"name": "shop"}], "nodes": workloads, "edges": links}


def deployments(count: int) -> str:
    return "".join(
        f"---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: w{i}, namespace: shop}}\nspec:\n"
        f"  selector: {{matchLabels: {{app: w{i}}}}}\n  template:\n    metadata: {{labels: {{app: w{i}}}}}\n"
        f"    spec: {{containers: [{{name: c, image: x}}]}}\n"
        for i in range(count)
    )


def policies(count: int) -> str:
    return "".join(
        f"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p{i}, namespace: shop}}\n"
        f"spec:\n  podSelector: {{matchLabels: {{app: w{i}}}}}\n"
        f"  ingress: [{{from: [{{podSelector: {{matchLabels: {{app: w{i + 1}}}}}}}], ports: [{{port: 80}}]}}]\n"
        for i in range(count)
    )


def test_a_document_within_the_limits_is_accepted(api):
    with override_settings(FENCELINE_MAX_NODES=MAX_NODES, FENCELINE_MAX_EDGES=MAX_EDGES):
        response = api.post_json("/api/compile", wide_document(MAX_NODES, MAX_EDGES))
    assert response.status_code == 200


@pytest.mark.parametrize("url", ["/api/compile", "/api/documents", "/api/templates/dns"])
@pytest.mark.parametrize(("nodes", "edges", "named"), [(MAX_NODES + 1, 1, "41 nodes"), (2, MAX_EDGES + 1, "61 edges")])
def test_the_api_refuses_a_document_over_the_size_limits(api, url, nodes, edges, named):
    with override_settings(FENCELINE_MAX_NODES=MAX_NODES, FENCELINE_MAX_EDGES=MAX_EDGES):
        response = api.post_json(url, {"document": wide_document(nodes, edges)})
    assert response.status_code == 413, response.content[:300]
    error = response.json()["error"]
    assert named in error and "limit" in error


def test_the_inspector_refuses_a_document_over_the_size_limits_with_a_page(api):
    with override_settings(FENCELINE_MAX_NODES=MAX_NODES, FENCELINE_MAX_EDGES=MAX_EDGES):
        response = api.post_form("/panel/node", {"document": json.dumps(wide_document(MAX_NODES + 1, 1)), "id": "w0"})
    assert response.status_code == 413, response.content[:300]
    assert response["Content-Type"].startswith("text/html") and b"41 nodes" in response.content


def test_an_import_that_makes_too_many_nodes_is_refused_clearly(api):
    with override_settings(FENCELINE_MAX_NODES=MAX_NODES, FENCELINE_MAX_EDGES=MAX_EDGES):
        response = api.post(
            "/api/import",
            deployments(MAX_NODES + 1),
            content_type="application/yaml",
            headers={"X-CSRFToken": api.token},
        )
        page = api.post_form("/panel/import", {"text": deployments(MAX_NODES + 1)})
    assert response.status_code == 413 and "41 nodes" in response.json()["error"], response.content[:300]
    assert b"41 nodes" in page.content and b"Nothing was imported" in page.content


def test_an_import_over_the_time_limit_is_stopped_with_a_clear_answer(api):
    # About 1.5 s of work on this machine; the limit is a tenth of that.
    text = policies(2000)
    with override_settings(FENCELINE_TIME_LIMIT_SECONDS=0.15):
        response = api.post("/api/import", text, content_type="application/yaml", headers={"X-CSRFToken": api.token})
        page = api.post_form("/panel/import", {"text": text})
    assert response.status_code in (413, 503), response.content[:300]
    assert "longer than" in response.json()["error"]
    assert page.status_code in (200, 413, 503) and b"longer than" in page.content


@pytest.mark.parametrize("url", ["/api/compile", "/api/lint", "/api/check"])
def test_a_drawing_over_the_time_limit_is_stopped_with_a_clear_answer(api, url):
    # Hundreds of milliseconds of compiling, linting or checking on this machine; the limit is a few.
    document = {**wide_document(400, 1600), "name": f"new to the caches of {url}"}
    with override_settings(FENCELINE_TIME_LIMIT_SECONDS=0.005, FENCELINE_MAX_NODES=1000, FENCELINE_MAX_EDGES=2000):
        response = api.post(
            url, json.dumps(document), content_type="application/json", headers={"X-CSRFToken": api.token}
        )
    assert response.status_code == 503, response.content[:300]
    assert "longer than the limit of 0.005 s" in response.json()["error"]
    assert response.json()["details"] == ["the limit is the setting FENCELINE_TIME_LIMIT_SECONDS"]
