"""POST /api/import: YAML or JSON text (or an upload) becomes a document; bad input is a clear 4xx."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from editor.policy.document import Document

FIXTURES = Path(__file__).parent.parent / "fixtures" / "policies"
RECIPE = FIXTURES / "ahmetb-kubernetes-network-policy-recipes" / "02-api-allow.yaml"

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: nginx
          ports: [{name: http, containerPort: 8080}]
"""


def test_it_imports_a_policy_from_the_body(api):
    response = api.post(
        "/api/import?source=02-api-allow.yaml",
        RECIPE.read_bytes(),
        content_type="application/yaml",
        headers={"X-CSRFToken": api.token},
    )
    assert response.status_code == 200
    body = response.json()
    document = Document.from_json(body["document"])
    subject = next(node for node in document.nodes if node.policy_name == "api-allow")
    assert subject.pod_selector == {"matchLabels": {"app": "bookstore", "role": "api"}}
    assert subject.isolate.ingress is True
    assert [(edge.source, edge.target) for edge in document.edges] == [(document.edges[0].source, subject.id)]
    assert body["warnings"] == []


def test_it_imports_an_uploaded_manifest(api):
    upload = SimpleUploadedFile("shop.yaml", DEPLOYMENT.encode(), content_type="application/yaml")
    response = api.post_form("/api/import", {"file": upload})
    assert response.status_code == 200
    document = Document.from_json(response.json()["document"])
    [workload] = document.nodes
    assert (workload.kind, workload.namespace, workload.name, workload.labels) == (
        "workload",
        "shop",
        "web",
        {"app": "web"},
    )
    assert [(p.name, p.port) for p in workload.container_ports] == [("http", 8080)]


def test_it_names_file_and_line_of_malformed_yaml(api):
    response = api.post(
        "/api/import?source=broken.yaml",
        "kind: NetworkPolicy\nspec:\n  podSelector: {\n",
        content_type="application/yaml",
        headers={"X-CSRFToken": api.token},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"].startswith("broken.yaml:4: invalid YAML")
    assert body["details"] == [body["error"]]


def test_it_refuses_a_yaml_alias_bomb(api):
    # Billion laughs: each level holds ten aliases of the one before, 10**10 values once expanded.
    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        name, previous = chr(97 + i), chr(96 + i)
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]")
    bomb = "\n".join(levels) + "\n"
    response = api.post("/api/import", bomb, content_type="application/yaml", headers={"X-CSRFToken": api.token})
    assert response.status_code == 400
    assert "alias bomb" in response.json()["error"]


@override_settings(FENCELINE_MAX_UPLOAD_BYTES=64 * 1024)
def test_it_answers_413_with_a_clear_message_for_a_huge_upload(api):
    upload = SimpleUploadedFile("huge.yaml", b"# " + b"x" * (512 * 1024), content_type="application/yaml")
    response = api.post_form("/api/import", {"file": upload})
    assert response.status_code == 413
    body = response.json()
    assert body["error"] == "The request is larger than the limit of 0.1 MiB."
    assert "limit: 65,536 bytes" in body["details"][0]


@override_settings(FENCELINE_MAX_UPLOAD_BYTES=64 * 1024, DATA_UPLOAD_MAX_MEMORY_SIZE=64 * 1024)
def test_it_answers_413_for_a_huge_body(api):
    response = api.post(
        "/api/import", "a: b\n" * 100_000, content_type="application/yaml", headers={"X-CSRFToken": api.token}
    )
    assert response.status_code == 413
    assert response.json()["error"].startswith("The request is larger than the limit")


def test_it_warns_about_kinds_it_does_not_use(api):
    text = DEPLOYMENT + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: shop}\n"
    response = api.post(
        "/api/import?source=mixed.yaml", text, content_type="application/yaml", headers={"X-CSRFToken": api.token}
    )
    assert response.status_code == 200
    warnings = response.json()["warnings"]
    assert any("ConfigMap" in warning and "mixed.yaml:" in warning for warning in warnings)


def test_it_refuses_hostile_labels_naming_file_and_line(api):
    hostile = DEPLOYMENT.replace(
        "metadata: {labels: {app: web}}", "metadata: {labels: {app: '<img src=x onerror=alert(1)>'}}"
    )
    response = api.post(
        "/api/import?source=hostile.yaml", hostile, content_type="application/yaml", headers={"X-CSRFToken": api.token}
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error.startswith("hostile.yaml:7: Deployment pod template label: invalid label value '<img src=x")


def test_it_refuses_an_empty_body(api):
    response = api.post("/api/import", "", content_type="application/yaml", headers={"X-CSRFToken": api.token})
    assert response.status_code == 400
    assert response.json()["error"].startswith("empty body")


@pytest.mark.parametrize("data", [b"\xff\xfe binary", b"kind: \x00"])
def test_it_refuses_binary_input_cleanly(api, data):
    response = api.post(
        "/api/import?source=blob", data, content_type="application/octet-stream", headers={"X-CSRFToken": api.token}
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("blob:1:")


def test_platform_policies_are_imported_as_platform_layers(api):
    text = """
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: no-metadata}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {}}
  egress:
    - {name: metadata, action: Deny, to: [{networks: [169.254.169.254/32]}]}
"""
    headers = {"X-CSRFToken": api.token}
    body = api.post("/api/import", text, content_type="application/yaml", headers=headers).json()
    edges = body["document"]["edges"]
    assert [(e["id"], e["layer"], e["action"], e["priority"]) for e in edges] == [("metadata", "admin", "deny", 10)]
    bad = api.post("/api/import", text.replace("/32", ""), content_type="application/yaml", headers=headers)
    assert bad.status_code == 400 and "CIDR" in bad.json()["error"]
