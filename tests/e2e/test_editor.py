"""The editor in Chromium, driven like a person drives it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from editor_page import TALK_APP_PARENTS

pytestmark = pytest.mark.e2e


def pairs(rules: list[dict[str, Any]], peers_key: str, ports_key: str = "ports") -> set[str]:
    """Each (peer, ports) of a policy section as one comparable string."""
    return {
        json.dumps([peer, rule.get(ports_key)], sort_keys=True) for rule in rules for peer in rule.get(peers_key, [])
    }


def ns(name: str) -> dict[str, Any]:
    return {"matchLabels": {"kubernetes.io/metadata.name": name}}


DNS_PORTS = [{"port": 53, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]


def build_the_talks_application(editor: Any) -> None:
    editor.add_namespace("frontend")
    editor.add_workload("web")
    editor.apply_panel(enter=False, **{"cport-0-name": "http", "cport-0-port": "8080"})
    editor.add_namespace("backend")
    editor.add_workload("api")
    editor.apply_panel(enter=False, **{"cport-0-name": "http", "cport-0-port": "9090"})
    edge = editor.drag_edge(editor.element_for("web"), editor.element_for("api"))
    # A new edge starts with the target's container ports; the inspector shows them for editing.
    assert editor.panel_field("port-0-port").input_value() == "9090"
    editor.wait_compiled()
    assert edge.startswith("e:")
    editor.use_template("dns")
    editor.use_template("ingress-controller", scope="frontend")


def test_it_builds_the_talks_application_and_shares_it_by_permalink(open_editor):
    editor, watch = open_editor("/")
    build_the_talks_application(editor)

    graph = editor.graph()
    labels = {label.split("\n")[0]: parent for _, label, parent in graph["nodes"]}
    assert labels == TALK_APP_PARENTS
    assert all(states == ["allowed"] for *_, states in graph["edges"])

    native = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in editor.policies()}
    assert set(native) == {("frontend", "web"), ("backend", "api")}
    web, api = native[("frontend", "web")]["spec"], native[("backend", "api")]["spec"]
    assert web["podSelector"] == {"matchLabels": {"app": "web"}}
    assert web["policyTypes"] == ["Ingress", "Egress"]
    kube_dns = {"namespaceSelector": ns("kube-system"), "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
    to_api = {"namespaceSelector": ns("backend"), "podSelector": {"matchLabels": {"app": "api"}}}
    from_web = {"namespaceSelector": ns("frontend"), "podSelector": {"matchLabels": {"app": "web"}}}
    assert pairs(web["ingress"], "from") == pairs(
        [{"from": [{"namespaceSelector": ns("ingress-nginx")}], "ports": [{"port": 8080, "protocol": "TCP"}]}], "from"
    )
    assert pairs(web["egress"], "to") == pairs(
        [{"to": [to_api], "ports": [{"port": 9090, "protocol": "TCP"}]}, {"to": [kube_dns], "ports": DNS_PORTS}], "to"
    )
    assert pairs(api["ingress"], "from") == pairs(
        [{"from": [from_web], "ports": [{"port": 9090, "protocol": "TCP"}]}], "from"
    )
    assert pairs(api["egress"], "to") == pairs([{"to": [kube_dns], "ports": DNS_PORTS}], "to")
    native_yaml = editor.yaml_text()

    editor.set_dialect("cilium")
    cilium = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in editor.policies()}
    assert {p["kind"] for p in cilium.values()} == {"CiliumNetworkPolicy"}
    web = cilium[("frontend", "web")]["spec"]
    assert web["endpointSelector"] == {"matchLabels": {"app": "web"}}
    assert pairs(web["egress"], "toEndpoints", "toPorts") == pairs(
        [
            {
                "toEndpoints": [{"matchLabels": {"app": "api", "k8s:io.kubernetes.pod.namespace": "backend"}}],
                "toPorts": [{"ports": [{"port": "9090", "protocol": "TCP"}]}],
            },
            {
                "toEndpoints": [
                    {"matchLabels": {"k8s-app": "kube-dns", "k8s:io.kubernetes.pod.namespace": "kube-system"}}
                ],
                "toPorts": [{"ports": [{"port": "53", "protocol": "TCP"}, {"port": "53", "protocol": "UDP"}]}],
            },
        ],
        "toEndpoints",
        "toPorts",
    )
    assert pairs(web["ingress"], "fromEndpoints", "toPorts") == pairs(
        [
            {
                "fromEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "ingress-nginx"}}],
                "toPorts": [{"ports": [{"port": "8080", "protocol": "TCP"}]}],
            }
        ],
        "fromEndpoints",
        "toPorts",
    )
    cilium_yaml = editor.yaml_text()

    editor.page.click("#save-button")
    permalink = editor.page.locator("#permalink").get_attribute("href")
    watch.assert_clean(editor.page)

    viewer, viewer_watch = open_editor(permalink)  # a fresh browser context: nothing shared but the link
    assert viewer.page.locator("#edit-copy").is_visible()
    assert viewer.page.locator("#save-button").count() == 0
    assert viewer.graph() == graph
    assert viewer.positions() == editor.positions()
    assert viewer.yaml_text() == cilium_yaml  # the drawing's dialect is saved with it
    viewer.set_dialect("native")
    assert viewer.yaml_text() == native_yaml
    raw = viewer.page.request.get(permalink + ".yaml?dialect=cilium")
    assert raw.headers["content-type"] == "text/yaml; charset=utf-8"
    assert raw.text().endswith(cilium_yaml.strip() + "\n")
    viewer_watch.assert_clean(viewer.page)


def test_it_undoes_and_redoes_with_the_keyboard(open_editor):
    editor, watch = open_editor("/")
    editor.add_namespace("shop")
    editor.add_workload("cart")
    editor.close_panel()
    editor.page.locator("#cy").focus()
    editor.page.keyboard.press("Control+z")  # the rename
    editor.page.keyboard.press("Control+z")  # the workload
    editor.wait_compiled()
    assert [label.split("\n")[0] for _, label, _ in editor.graph()["nodes"]] == ["shop"]
    editor.page.keyboard.press("Control+Shift+z")
    editor.page.keyboard.press("Control+Shift+z")
    assert sorted(label.split("\n")[0] for _, label, _ in editor.graph()["nodes"]) == ["cart", "shop"]
    watch.assert_clean(editor.page)


def test_it_imports_pasted_yaml_and_keeps_the_drawing_on_bad_input(open_editor):
    editor, watch = open_editor("/")
    editor.add_namespace("keep-me")
    editor.close_panel()
    editor.page.click("#import-button")
    editor.page.fill("#dialog textarea[name=text]", "kind: NetworkPolicy\nspec: [\n")
    editor.page.click("#dialog button[type=submit]")
    problem = editor.page.locator("#dialog .panel-problems")
    assert "pasted:3: invalid YAML" in problem.inner_text()
    assert "the drawing is unchanged" in problem.inner_text()
    assert [label for _, label, _ in editor.graph()["nodes"]] == ["keep-me"]

    policy = (
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: shop}\n"
        "spec:\n  podSelector: {}\n  policyTypes: [Ingress]\n"
    )
    editor.page.fill("#dialog textarea[name=text]", policy)
    editor.page.click("#dialog button[type=submit]")
    editor.page.wait_for_selector("#dialog .panel-saved")
    editor.wait_compiled()
    assert [label.split("\n")[0] for _, label, _ in editor.graph()["nodes"]] == ["all pods", "shop"]
    assert [p["metadata"]["name"] for p in editor.policies()] == ["deny"]
    editor.page.keyboard.press("Escape")
    editor.page.locator("#cy").focus()
    editor.page.keyboard.press("Control+z")
    assert [label for _, label, _ in editor.graph()["nodes"]] == ["keep-me"]
    watch.assert_clean(editor.page)


def test_it_shows_the_tour_on_the_first_visit_only(open_editor):
    editor, watch = open_editor("/", tour_done=False)
    tour = editor.page.locator("#tour")
    tour.wait_for(state="visible")
    assert editor.page.locator("#tour-title").inner_text() == "Add what runs"
    editor.page.click("#tour [data-tour=next]")
    assert editor.page.locator("#tour-title").inner_text() == "Draw the traffic"
    editor.page.click("#tour [data-tour=skip]")
    assert tour.is_hidden()
    editor.goto("/")
    editor.page.wait_for_timeout(500)
    assert tour.is_hidden()
    watch.assert_clean(editor.page)


def test_it_downloads_the_yaml_shown(open_editor):
    editor, watch = open_editor("/")
    editor.add_namespace("shop")
    editor.add_workload("cart")
    editor.tick("isolate_ingress")
    with editor.page.expect_download() as download:
        editor.page.click("[data-action=download]")
    assert download.value.suggested_filename == "fenceline-native.yaml"
    # The problems ride along as comments, as on the permalink's .yaml (none here but the title line).
    assert Path(download.value.path()).read_text() == "# Fenceline drawing (native)\n" + editor.yaml_text()
    assert "name: cart" in editor.yaml_text()
    watch.assert_clean(editor.page)


def test_it_offers_a_fork_when_someone_saved_first(open_editor):
    first, first_watch = open_editor("/")
    first.add_namespace("shop")
    first.page.click("#save-button")
    permalink = first.page.locator("#permalink").get_attribute("href")
    alice, alice_watch = open_editor(permalink + "/edit")
    bob, bob_watch = open_editor(permalink + "/edit")
    alice.add_workload("cart")
    alice.page.click("#save-button")
    alice.page.wait_for_selector("#permalink")
    bob.add_workload("payments")
    bob.page.click("#save-button")
    dialog = bob.page.locator("#dialog")
    dialog.wait_for(state="visible")
    assert "Someone saved this drawing meanwhile" in dialog.inner_text()
    assert "revision 1 is not the latest" in dialog.inner_text()
    bob.page.click("#dialog >> text=Save as a fork")
    fork = bob.page.locator("#permalink").get_attribute("href")
    viewer, viewer_watch = open_editor(fork)
    labels = sorted(label.split("\n")[0] for _, label, _ in viewer.graph()["nodes"])
    assert labels == ["payments", "shop"]
    for page, watch in ((first, first_watch), (alice, alice_watch), (viewer, viewer_watch)):
        watch.assert_clean(page.page)
    bob_watch.assert_clean(bob.page, expected_statuses=(409,))
