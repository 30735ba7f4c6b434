"""The inspector partials (htmx): show a part of the posted document as a form, apply a change, report errors."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest

from editor.policy.document import Document


def changed(response) -> dict[str, Any] | None:
    """The document an applied panel hands back to the browser, or None when nothing changed."""
    text = response.content.decode()
    marker = 'class="panel-result" hidden data-document="'
    if marker not in text:
        return None
    return json.loads(html.unescape(text.split(marker, 1)[1].split('"', 1)[0]))


def post(api, what: str, document: dict[str, Any], **fields: Any):
    return api.post_form(f"/panel/{what}", {"document": json.dumps(document), **fields})


def test_it_shows_a_workload_with_its_locks_labels_and_ports(api, talk_doc):
    response = post(api, "node", talk_doc, id="web")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="isolate_ingress" id="id_isolate_ingress" checked' in page
    assert "app=web" in page and 'value="http"' in page and 'value="8080"' in page
    assert changed(response) is None


def test_it_offers_every_other_node_not_yet_connected_to_connect_to(api, talk_doc):
    page = post(api, "node", talk_doc, id="web").content.decode()
    offered = re.findall(r'<option value="([^"]*)" data-node="([^"]*)">', page.split('id="connect-targets"', 1)[1])
    # web already reaches api and dns; the ingress controller is the one node left (and never web itself).
    assert [(html.unescape(label), node) for label, node in offered] == [
        ("ingress controller (selector in ingress-nginx)", "ingress")
    ]


def test_it_applies_a_workload_change(api, talk_doc):
    fields = {
        "id": "web",
        "_apply": "1",
        "name": "storefront",
        "namespace": "frontend",
        "owner": "StatefulSet",
        "labels": "app=storefront, tier=web",
        "isolate_ingress": "on",
        "policy_name": "storefront-policy",
        "cport-TOTAL_FORMS": "2",
        "cport-INITIAL_FORMS": "1",
        "cport-0-name": "http",
        "cport-0-port": "8080",
        "cport-0-protocol": "TCP",
        "cport-1-name": "metrics",
        "cport-1-port": "9100",
        "cport-1-protocol": "TCP",
    }
    document = Document.from_json(changed(post(api, "node", talk_doc, **fields)))
    web = document.node("web")
    assert (web.name, web.owner, web.labels) == ("storefront", "StatefulSet", {"app": "storefront", "tier": "web"})
    assert (web.isolate.ingress, web.isolate.egress, web.policy_name) == (True, False, "storefront-policy")
    assert [(p.name, p.port) for p in web.container_ports] == [("http", 8080), ("metrics", 9100)]


def test_it_shows_field_errors_and_changes_nothing(api, talk_doc):
    fields = {
        "id": "web",
        "_apply": "1",
        "name": "web",
        "namespace": "frontend",
        "owner": "Deployment",
        "labels": "app=we b",
        "cport-TOTAL_FORMS": "1",
        "cport-INITIAL_FORMS": "0",
        "cport-0-name": "Not-A-Port-Name",
        "cport-0-port": "70000",
        "cport-0-protocol": "TCP",
    }
    response = post(api, "node", talk_doc, **fields)
    assert changed(response) is None
    page = response.content.decode()
    assert "invalid label value &#x27;we b&#x27;" in page
    assert "Ensure this value is less than or equal to 65535." in page
    assert "port name &#x27;Not-A-Port-Name&#x27; must be lowercase" in page


def test_it_edits_edge_ports_enforcement_and_l7_rules(api, talk_doc):
    fields = {
        "id": "e2",
        "_apply": "1",
        "dialect": "cilium",
        "enforce_source": "on",
        "port-TOTAL_FORMS": "2",
        "port-INITIAL_FORMS": "1",
        "port-0-protocol": "TCP",
        "port-0-port": "9090",
        "port-1-protocol": "TCP",
        "port-1-port": "9100",
        "port-1-end_port": "9110",
        "http-TOTAL_FORMS": "1",
        "http-INITIAL_FORMS": "0",
        "http-0-method": "GET",
        "http-0-path": "/api/.*",
        "dns-TOTAL_FORMS": "1",
        "dns-INITIAL_FORMS": "0",
        "dns-0-match": "matchPattern",
        "dns-0-value": "",
    }
    document = Document.from_json(changed(post(api, "edge", talk_doc, **fields)))
    edge = next(e for e in document.edges if e.id == "e2")
    assert [p.to_json() for p in edge.ports] == [
        {"protocol": "TCP", "port": 9090},
        {"protocol": "TCP", "port": 9100, "endPort": 9110},
    ]
    assert edge.enforce == ["source"]
    assert edge.l7 == {"http": [{"method": "GET", "path": "/api/.*"}]}


def test_it_shows_l7_rules_only_in_the_cilium_dialect(api, talk_doc):
    talk_doc["edges"][1]["l7"] = {"http": [{"method": "GET", "path": "/"}]}
    native = post(api, "edge", talk_doc, id="e2", dialect="native").content.decode()
    cilium = post(api, "edge", talk_doc, id="e2", dialect="cilium").content.decode()
    assert "HTTP rules (L7)" not in native and "switch to the Cilium dialect" in native
    assert "HTTP rules (L7)" in cilium and 'value="/"' in cilium
    assert "Compiles to" in cilium and "CiliumNetworkPolicy" in cilium


def test_it_keeps_l7_rules_when_a_native_panel_is_applied(api, talk_doc):
    talk_doc["edges"][1]["l7"] = {"http": [{"method": "GET", "path": "/"}]}
    fields = {
        "id": "e2",
        "_apply": "1",
        "dialect": "native",
        "enforce_source": "on",
        "enforce_target": "on",
        "port-TOTAL_FORMS": "1",
        "port-INITIAL_FORMS": "1",
        "port-0-protocol": "TCP",
        "port-0-port": "9091",
    }
    edge = Document.from_json(changed(post(api, "edge", talk_doc, **fields))).edges[1]
    assert edge.ports[0].port == 9091 and edge.l7 == {"http": [{"method": "GET", "path": "/"}]}


def test_it_renames_a_namespace_with_everything_in_it(api, talk_doc):
    response = post(api, "namespace", talk_doc, id="frontend", _apply="1", name="shop", labels="team=web")
    document = Document.from_json(changed(response))
    assert document.namespace("shop").labels == {"team": "web", "kubernetes.io/metadata.name": "shop"}
    assert document.node("web").namespace == "shop"
    assert 'data-select="ns:shop"' in response.content.decode()


def test_it_refuses_an_invalid_namespace_name_with_the_documents_reason(api, talk_doc):
    response = post(api, "namespace", talk_doc, id="frontend", _apply="1", name="Shop_1", labels="")
    assert changed(response) is None
    assert "invalid namespace name &#x27;Shop_1&#x27;" in response.content.decode()


def test_it_edits_the_drawing_settings(api, talk_doc):
    fields = {
        "_apply": "1",
        "name": "shop",
        "dialect": "cilium",
        "dns_namespace": "dns",
        "dns_labels": "app=coredns",
        "dns_port": "5353",
        "pod_cidrs": "10.0.0.0/16",
        "service_cidrs": "10.1.0.0/16",
        "api_server_cidr": "192.0.2.1",
    }
    document = Document.from_json(changed(post(api, "settings", talk_doc, **fields)))
    s = document.settings
    assert (document.name, s.dialect, s.dns.namespace, s.dns.pod_labels, s.dns.port) == (
        "shop",
        "cilium",
        "dns",
        {"app": "coredns"},
        5353,
    )
    assert s.extra["apiServerCIDR"] == "192.0.2.1/32"


def test_it_applies_a_template_from_its_panel(api, talk_doc):
    response = post(api, "template", talk_doc, id="default-deny", _apply="1", scope="backend")
    document = Document.from_json(changed(response))
    node = document.node("all-pods.backend")
    assert (node.pod_selector, node.isolate.ingress, node.isolate.egress) == ({}, True, True)
    assert "All pods in backend now deny ingress and egress" in response.content.decode()


@pytest.mark.parametrize(
    ("what", "target", "prefix"), [("edge", "e1", "port"), ("edge", "e1", "dns"), ("node", "web", "cport")]
)
def test_a_posted_row_count_cannot_make_it_build_thousands_of_rows(api, talk_doc, what, target, prefix):
    # A 200-byte post claiming 100,000 rows: Django's default would build and render 1,200 of them.
    fields = {f"{prefix}-TOTAL_FORMS": "100000", f"{prefix}-INITIAL_FORMS": "0", "_apply": "1", "dialect": "cilium"}
    response = post(api, what, talk_doc, id=target, **fields)
    assert response.status_code == 200
    page = response.content.decode()
    assert len(set(re.findall(rf'name="{prefix}-(\d+)-', page))) == 201
    assert "Please submit at most 200 forms." in page
    assert changed(response) is None


def test_it_shows_names_with_html_as_text(api, talk_doc):
    hostile = "<img src=x onerror=alert(1)>"
    talk_doc["nodes"][0]["name"] = hostile
    page = post(api, "node", talk_doc, id="web").content.decode()
    assert hostile not in page
    assert html.escape(hostile, quote=True).replace("&#x27;", "'") in page.replace("&#x27;", "'")


@pytest.mark.parametrize(
    ("what", "fields", "message"),
    [
        ("node", {"id": "ghost"}, "the drawing has no node &#x27;ghost&#x27;"),
        ("edge", {"id": "e77"}, "the drawing has no edge &#x27;e77&#x27;"),
        ("template", {"id": "coffee"}, "there is no template &#x27;coffee&#x27;"),
        ("teapot", {}, "there is no panel &#x27;teapot&#x27;"),
    ],
)
def test_it_answers_404_for_parts_that_do_not_exist(api, talk_doc, what, fields, message):
    response = post(api, what, talk_doc, **fields)
    assert response.status_code == 404
    assert message in response.content.decode()


def test_it_answers_400_for_a_broken_document(api):
    response = api.post_form("/panel/node", {"document": "{not json", "id": "web"})
    assert response.status_code == 400
    assert "document:1: not valid JSON" in response.content.decode()


def test_it_imports_pasted_yaml_and_keeps_the_drawing_on_errors(api):
    good = api.post_form("/panel/import", {"text": "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n"})
    assert changed(good)["namespaces"][0]["name"] == "shop"
    assert "Imported 1 namespace, 0 nodes, 0 edges." in good.content.decode()
    bad = api.post_form("/panel/import", {"text": "kind: [\n"})
    assert changed(bad) is None
    page = bad.content.decode()
    assert "Nothing was imported; the drawing is unchanged." in page and "pasted:2: invalid YAML" in page
    empty = api.post_form("/panel/import", {"text": "  "})
    assert "paste YAML or choose a file to import" in empty.content.decode()
