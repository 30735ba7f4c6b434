"""The inspector's layer fields (issue 15): a node's and an edge's layer, a platform rule's action, priority and name,
the drawing's platform API; checked by the server before they touch the drawing."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from test_panels import changed, post

from editor.policy.document import Document

PLATFORM_EDGE = {
    "id": "no-web-to-api",
    "source": "web",
    "target": "api",
    "ports": [],
    "enforce": ["source"],
    "action": "deny",
    "layer": "admin",
    "priority": 10,
}


def with_platform_edge(talk_doc: dict[str, Any], **fields: Any) -> dict[str, Any]:
    doc = copy.deepcopy(talk_doc)
    doc["edges"].append({**PLATFORM_EDGE, **fields})
    return doc


def edge_fields(edge_id: str, **fields: str) -> dict[str, str]:
    """An edge panel's post as the browser sends it: every field shown, ports as one empty row."""
    return {
        "id": edge_id,
        "_apply": "1",
        "port-TOTAL_FORMS": "1",
        "port-INITIAL_FORMS": "0",
        "port-0-protocol": "TCP",
        **fields,
    }


def edge_of(response, edge_id: str):
    return next(e for e in Document.from_json(changed(response)).edges if e.id == edge_id)


def test_it_shows_a_platform_rules_layer_action_priority_and_name(api, talk_doc):
    page = post(api, "edge", with_platform_edge(talk_doc, name="no-web"), id="no-web-to-api").content.decode()
    assert '<option value="admin" selected>Platform: Admin tier</option>' in page
    assert '<option value="deny" selected>Deny</option>' in page
    assert 'name="priority" value="10"' in page and 'name="rule_name" value="no-web"' in page
    assert 'data-layer="admin"' in page
    assert 'name="deny"' not in page  # the application edge's deny box is not a platform rule's


def test_an_application_edge_shows_its_layer_and_no_platform_fields(api, talk_doc):
    page = post(api, "edge", talk_doc, id="e2").content.decode()
    assert '<option value="application" selected>Application</option>' in page
    assert 'name="priority"' not in page and 'name="rule_action"' not in page


def test_it_moves_an_application_edge_into_the_admin_tier_with_the_default_priority(api, talk_doc):
    response = post(api, "edge", talk_doc, **edge_fields("e2", layer="admin", enforce_source="on"))
    edge = edge_of(response, "e2")
    assert (edge.layer, edge.action, edge.priority, edge.name) == ("admin", "allow", None, None)


def test_it_applies_a_platform_rules_action_priority_and_name(api, talk_doc):
    doc = with_platform_edge(talk_doc)
    fields = edge_fields(
        "no-web-to-api", layer="admin", rule_action="pass", priority="5", rule_name="to-np", enforce_source="on"
    )
    edge = edge_of(post(api, "edge", doc, **fields), "no-web-to-api")
    assert (edge.layer, edge.action, edge.priority, edge.name) == ("admin", "pass", 5, "to-np")


@pytest.mark.parametrize("priority", ["1001", "-1", "ten", "2.5"])
def test_it_refuses_a_priority_outside_0_to_1000_and_changes_nothing(api, talk_doc, priority):
    doc = with_platform_edge(talk_doc)
    response = post(
        api, "edge", doc, **edge_fields("no-web-to-api", layer="admin", rule_action="deny", priority=priority)
    )
    assert response.status_code == 200 and changed(response) is None
    page = response.content.decode()
    assert "priority is a whole number from 0 to 1000" in page
    assert page.index("field-error") > page.index('name="priority"')


@pytest.mark.parametrize("priority", ["0", "1000"])
def test_it_takes_the_ends_of_the_priority_range(api, talk_doc, priority):
    fields = edge_fields("no-web-to-api", layer="baseline", rule_action="deny", priority=priority, enforce_source="on")
    assert edge_of(post(api, "edge", with_platform_edge(talk_doc), **fields), "no-web-to-api").priority == int(priority)


@pytest.mark.parametrize(
    ("layer", "words"),
    [
        ("baseline", "Pass is an Admin tier action (it hands the connection to NetworkPolicy): a Baseline rule"),
        ("application", "Pass is an Admin tier action: an application edge allows"),
    ],
)
def test_it_refuses_pass_outside_the_admin_tier(api, talk_doc, layer, words):
    doc = with_platform_edge(talk_doc, action="pass")
    response = post(
        api, "edge", doc, **edge_fields("no-web-to-api", layer=layer, rule_action="pass", enforce_source="on")
    )
    assert changed(response) is None
    assert words in response.content.decode()


def test_moving_a_rule_back_to_the_application_layer_drops_its_priority_and_name(api, talk_doc):
    doc = with_platform_edge(talk_doc, name="no-web", action="allow")
    fields = edge_fields("no-web-to-api", layer="application", rule_action="allow", priority="7", enforce_source="on")
    edge = edge_of(post(api, "edge", doc, **fields), "no-web-to-api")
    assert (edge.layer, edge.priority, edge.name) == ("application", None, None)


def test_it_refuses_a_rule_name_the_crds_refuse(api, talk_doc):
    doc = with_platform_edge(talk_doc)
    long_name = edge_fields("no-web-to-api", layer="admin", rule_action="deny", rule_name="r" * 101)
    assert changed(post(api, "edge", doc, **long_name)) is None
    tab = edge_fields("no-web-to-api", layer="admin", rule_action="deny", rule_name="a\tb")
    response = post(api, "edge", doc, **tab)
    assert changed(response) is None and "control characters" in response.content.decode()


def test_an_edge_with_l7_rules_cannot_become_a_platform_rule(api, talk_doc):
    doc = copy.deepcopy(talk_doc)
    doc["edges"][1]["l7"] = {"http": [{"method": "GET"}]}
    response = post(api, "edge", doc, **edge_fields("e2", layer="admin"))
    assert changed(response) is None
    assert "a platform rule has no L7 rules" in response.content.decode()


def test_the_panel_of_an_overridden_application_edge_says_which_rule_overrides_it(api, talk_doc):
    doc = with_platform_edge(talk_doc, name="no-web-to-api", priority=5)  # web -> api, Admin deny
    page = post(api, "edge", doc, id="e2").content.decode()
    assert 'id="not-in-effect"' in page
    assert "Not in effect: ClusterNetworkPolicy &#x27;web&#x27; (Admin tier, priority 5) denies it" in page
    assert 'id="not-in-effect"' not in post(api, "edge", talk_doc, id="e2").content.decode()


WEB_FIELDS = {
    "id": "web",
    "_apply": "1",
    "name": "web",
    "namespace": "frontend",
    "owner": "Deployment",
    "labels": "app=web",
    "isolate_ingress": "on",
    "cport-TOTAL_FORMS": "1",
    "cport-INITIAL_FORMS": "0",
    "cport-0-protocol": "TCP",
}


def test_a_node_moved_to_a_platform_layer_loses_its_locks(api, talk_doc):
    response = post(api, "node", talk_doc, **WEB_FIELDS, layer="baseline")
    web = Document.from_json(changed(response)).node("web")
    assert (web.layer, web.isolate.ingress, web.isolate.egress) == ("baseline", False, False)
    assert "default-deny locks were removed" in response.content.decode()
    page = post(api, "node", changed(response), id="web").content.decode()
    assert 'name="isolate_ingress"' not in page and 'data-layer="baseline"' in page


def test_it_refuses_a_layer_it_does_not_know(api, talk_doc):
    response = post(api, "node", talk_doc, **WEB_FIELDS, layer="platform")
    assert response.status_code == 200 and changed(response) is None
    assert "Select a valid choice. platform is not one of the available choices." in response.content.decode()


def test_the_drawing_settings_choose_the_platform_api(api, talk_doc):
    page = post(api, "settings", talk_doc).content.decode()
    assert '<option value="v1alpha2" selected>ClusterNetworkPolicy' in page
    fields = {
        "_apply": "1",
        "name": "talk",
        "dialect": "native",
        "dns_namespace": "kube-system",
        "dns_labels": "k8s-app=kube-dns",
        "dns_port": "53",
        "platform_api": "v1alpha1",
    }
    assert Document.from_json(changed(post(api, "settings", talk_doc, **fields))).settings.platform_api == "v1alpha1"
    assert changed(post(api, "settings", talk_doc, **{**fields, "platform_api": "v2"})) is None


def test_a_native_panel_keeps_a_cilium_deny_edge_a_deny(api, talk_doc):
    """The deny box is Cilium's: applying the Native panel (which does not show it) changes nothing of the action,
    and moving the edge to the Admin tier keeps it a deny."""
    doc = copy.deepcopy(talk_doc)
    doc["edges"][1]["action"] = "deny"
    page = post(api, "edge", doc, id="e2").content.decode()
    assert 'name="deny"' not in page
    assert edge_of(post(api, "edge", doc, **edge_fields("e2", note="kept", enforce_source="on")), "e2").action == "deny"
    moved = edge_of(post(api, "edge", doc, **edge_fields("e2", layer="admin", enforce_source="on")), "e2")
    assert (moved.layer, moved.action) == ("admin", "deny")
