"""POST /api/isolation: what a change would take away by isolating workloads (issue 10, finding 3)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def drawing(*edges: dict) -> dict:
    return {
        "schema": "fenceline/v1",
        "namespaces": [{"name": "shop"}],
        "nodes": [
            {"id": "web", "kind": "workload", "name": "web", "namespace": "shop", "labels": {"app": "web"}},
            {"id": "db", "kind": "workload", "name": "db", "namespace": "shop", "labels": {"app": "db"}},
        ],
        "edges": list(edges),
    }


def test_it_lists_the_traffic_each_newly_isolated_workload_loses(api):
    after = drawing({"id": "e1", "source": "web", "target": "db", "ports": [{"protocol": "TCP", "port": 5432}]})
    body = api.post_json("/api/isolation", {"document": after, "before": drawing()}).json()
    assert [loss["text"] for loss in body["losses"]] == [
        "shop/db can no longer be reached from Any IP address (all ports)",
        "shop/web can no longer reach Any IP address (all ports)",
        "shop/web can no longer reach shop/db (all ports but TCP 5432)",
    ]
    assert body["losses"][0] | {"text": None} == {
        "nodeId": "db",
        "workload": "shop/db",
        "direction": "ingress",
        "peers": ["Any IP address"],
        "connections": "all ports",
        "text": None,
    }


def test_it_needs_the_drawing_before(api):
    response = api.post_json("/api/isolation", {"document": drawing()})
    assert response.status_code == 400
    assert response.json()["error"] == "before is required: the drawing as it is before the change"
