from __future__ import annotations

import copy
from typing import Any

import pytest
from django.test import Client

# The application of the talk: a web frontend and an API in two namespaces, reached through the ingress
# controller, both resolving names through the cluster DNS. Every pod set is locked down.
TALK_DOCUMENT: dict[str, Any] = {
    "schema": "fenceline/v1",
    "name": "The talk's shop",
    "settings": {"dialect": "native"},
    "namespaces": [
        {"name": "frontend"},
        {"name": "backend"},
        {"name": "ingress-nginx"},
        {"name": "kube-system"},
    ],
    "nodes": [
        {
            "id": "web",
            "kind": "workload",
            "name": "web",
            "namespace": "frontend",
            "owner": "Deployment",
            "labels": {"app": "web"},
            "containerPorts": [{"name": "http", "port": 8080}],
            "isolate": {"ingress": True, "egress": True},
        },
        {
            "id": "api",
            "kind": "workload",
            "name": "api",
            "namespace": "backend",
            "owner": "Deployment",
            "labels": {"app": "api"},
            "containerPorts": [{"name": "http", "port": 9090}],
            "isolate": {"ingress": True, "egress": True},
        },
        {
            "id": "ingress",
            "kind": "selector",
            "name": "ingress controller",
            "namespace": "ingress-nginx",
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
        },
        {
            "id": "dns",
            "kind": "selector",
            "name": "cluster DNS",
            "namespace": "kube-system",
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        },
    ],
    "edges": [
        {
            "id": "e1",
            "source": "ingress",
            "target": "web",
            "ports": [{"protocol": "TCP", "port": 8080}],
            "enforce": ["target"],
        },
        {"id": "e2", "source": "web", "target": "api", "ports": [{"protocol": "TCP", "port": 9090}]},
        {
            "id": "e3",
            "source": "web",
            "target": "dns",
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
            "enforce": ["source"],
        },
        {
            "id": "e4",
            "source": "api",
            "target": "dns",
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
            "enforce": ["source"],
        },
    ],
}


@pytest.fixture
def talk_doc() -> dict[str, Any]:
    return copy.deepcopy(TALK_DOCUMENT)


class CsrfClient(Client):
    """A test client that enforces CSRF like a browser session, with the token fetched the documented way."""

    def __init__(self) -> None:
        super().__init__(enforce_csrf_checks=True)
        self.token = self.get("/api/csrf").json()["csrfToken"]

    def post_json(self, path: str, data: Any, **extra: Any) -> Any:
        return self.post(path, data, content_type="application/json", headers={"X-CSRFToken": self.token}, **extra)

    def post_form(self, path: str, data: dict[str, Any], **extra: Any) -> Any:
        return self.post(path, data, headers={"X-CSRFToken": self.token}, **extra)


@pytest.fixture
def api() -> CsrfClient:
    return CsrfClient()
