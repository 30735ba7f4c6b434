"""In Chromium: findings beside the YAML with their one-click fix, the Check tab, flow upload and flow replay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from editor.models import Revision, save_revision
from editor.policy.flows import read_flows

pytestmark = pytest.mark.e2e

HUBBLE_HTTP = Path(__file__).parents[1] / "fixtures/hubble/basic-sample-5-http-flows.json"
HOSTILE = "<img src=x onerror=alert(1)>"


def wait_analysed(editor: Any, what: str) -> None:
    editor.wait_compiled()
    editor.page.wait_for_function(f"() => document.getElementById('app').dataset.{what}Pending === '0'")


def test_a_finding_beside_the_yaml_is_fixed_in_one_click(open_editor):
    editor, watch = open_editor("/")
    editor.add_namespace("shop")
    editor.add_workload("cart")
    editor.tick("isolate_egress")
    wait_analysed(editor, "lint")

    finding = editor.page.locator("#findings-list .finding", has_text="FL004")
    assert finding.locator(".finding-rule").get_attribute("href") == "/rules/FL004"
    assert "no egress rule allows DNS" in finding.inner_text()
    assert "NetworkPolicy shop/cart \u00b7 spec.policyTypes" in finding.inner_text()
    cart = editor.element_for("cart")
    assert editor.page.evaluate(f"fencelineCy.getElementById('{cart}').hasClass('finding-warning')")
    why = editor.page.request.get("/rules/FL004")
    assert why.ok and "Egress isolated without DNS" in why.text()

    editor.page.click("#tab-rating")
    assert editor.page.locator("#rating-criteria tbody tr").count() == 9
    assert float(editor.page.inner_text("#rating-total")) < 5
    editor.page.click("#tab-yaml")

    edges_before = len(editor.edge_ids())
    finding.locator("[data-fix]").click()
    editor.page.wait_for_function("() => !document.querySelector('#findings-list [data-finding-id^=\"FL004\"]')")
    wait_analysed(editor, "lint")
    assert len(editor.edge_ids()) == edges_before + 1
    assert "cluster DNS" in [label.split("\n")[0] for _, label, _ in editor.graph()["nodes"]]
    assert "k8s-app: kube-dns" in editor.yaml_text()

    editor.close_panel_if_open()
    editor.page.locator("#cy").focus()
    editor.page.keyboard.press("Control+z")  # the fix is one undo step
    wait_analysed(editor, "lint")
    assert editor.page.locator("#findings-list .finding", has_text="FL004").count() == 1
    watch.assert_clean(editor.page)


def workload(name: str, namespace: str, **isolate: bool) -> dict[str, Any]:
    return {
        "id": namespace,
        "kind": "workload",
        "name": name,
        "namespace": namespace,
        "labels": {"app": namespace},
        "isolate": {"ingress": isolate.get("ingress", False), "egress": isolate.get("egress", False)},
    }


# web may call api, but only web's policy says so while api's ingress is locked: the edge is one-sided.
ONE_SIDED = {
    "schema": "fenceline/v1",
    "name": "one-sided",
    "namespaces": [{"name": "frontend"}, {"name": "backend"}],
    "nodes": [workload(HOSTILE, "frontend", egress=True), workload("api", "backend", ingress=True)],
    "edges": [
        {"id": "e2", "source": "frontend", "target": "backend", "ports": [{"protocol": "TCP", "port": 9090}]},
    ],
}
ONE_SIDED["edges"][0]["enforce"] = ["source"]


def test_the_check_tab_flags_a_one_sided_drawing(open_editor):
    revision = save_revision(ONE_SIDED)
    editor, watch = open_editor(f"/d/{revision.slug}/edit")
    wait_analysed(editor, "lint")  # web's egress is locked without DNS: the finding quotes its name as text
    assert f"(frontend/{HOSTILE})" in editor.page.inner_text("#findings-list")
    editor.page.click("#tab-check")
    wait_analysed(editor, "check")

    flagged = editor.page.locator("#check-flagged .check-item")
    assert flagged.count() == 1
    assert "Edge e2:" in flagged.inner_text()
    assert "isolated for ingress" in flagged.inner_text()
    edge = editor.page.evaluate("(e => [e.hasClass('check-flagged'), e.data('checkFlag')])(fencelineCy.$id('e:e2'))")
    assert edge[0] is True and edge[1].startswith("\u26a0 backend/api[Workload] is isolated for ingress")
    assert "\u26a0 1" in editor.page.inner_text("#tab-check")

    row = editor.page.locator("#check-matrix th.matrix-row", has_text=HOSTILE)
    assert row.count() == 1 and row.inner_text().endswith(f"frontend/{HOSTILE}[Workload]")
    cell = editor.page.locator(
        f"#check-matrix button[data-src='frontend/{HOSTILE}[Workload]'][data-dst='backend/api[Workload]']"
    )
    assert cell.inner_text() == "\u2715"
    cell.hover()
    detail = editor.page.locator("#check-cell")
    detail.locator(".cell-explanation").wait_for()
    assert "Receiver; isolated for ingress (locked on backend)" in detail.inner_text()
    assert "not allowed by any Ingress rule" in detail.inner_text()
    assert editor.page.locator("#check-undrawn .check-item").count() > 0

    flagged.locator("[data-show]").click()  # fixing it: enforce the edge on the target too
    editor.tick("enforce_target")
    wait_analysed(editor, "check")
    editor.page.wait_for_function("() => !fencelineCy.getElementById('e:e2').hasClass('check-flagged')")
    assert "Every drawn edge is in effect" in editor.page.inner_text("#check-status")
    assert editor.page.locator("img[src=x]").count() == 0
    watch.assert_clean(editor.page)


def test_flow_logs_are_uploaded_merged_and_replayed_before_saving(open_editor):
    editor, watch = open_editor("/")
    editor.add_namespace("shop")
    editor.close_panel()
    editor.page.click("#flows-button")
    editor.page.set_input_files("#flows-files", str(HUBBLE_HTTP))
    editor.page.click("#flows-read")
    summary = editor.page.locator("#flows-summary")
    summary.wait_for()
    assert editor.page.inner_text("#flows-headline") == "Read 5 flows from 1 file: 3 workloads, 3 edges found."
    assert "Replies left out\n2" in editor.page.inner_text("#flows-counts")
    sent = editor.page.evaluate(
        "[...document.querySelectorAll('#flows-upload-bar, #flows-read-bar')].map(b => [b.value, b.max])"
    )
    assert all(value == maximum and maximum > 1 for value, maximum in sent)
    assert int(editor.page.get_attribute("#dialog", "data-upload-events")) >= 1
    assert editor.page.inner_text("#flows-read-text") == "100% read"
    editor.page.click("#flows-merge")
    editor.wait_compiled()
    names = [label.split("\n")[0] for _, label, _ in editor.graph()["nodes"]]
    assert {"shop", "prometheus", "kube-dns", "node-local-dns"} <= set(names)
    assert len(editor.edge_ids()) == 3

    editor.set_dialect("cilium")  # the observed HTTP rules need it; in native every observed connection would break
    editor.page.click("#save-button")  # nothing breaks: saved straight away
    editor.page.wait_for_selector("#permalink")
    editor.page.evaluate("document.getElementById('toast').hidden = true")

    editor.click_element("e:e2")  # prometheus -> kube-dns, observed, deleted
    editor.page.wait_for_selector("#inspector .panel-kicker:text('Edge')")
    editor.page.click("#inspector [data-action=delete]")
    editor.wait_compiled()
    editor.page.click("#save-button")
    dialog = editor.page.locator("#dialog")
    dialog.locator(".replay-list").wait_for()
    assert editor.page.inner_text("#dialog-title") == "This change would break 1 observed connection"
    assert "istio-system/prometheus[Deployment] \u2192 kube-system/kube-dns[Deployment] : TCP 10054 (1 flow)" in (
        dialog.inner_text()
    )
    editor.page.click("[data-replay=back]")
    assert not dialog.is_visible()
    assert Revision.objects.count() == 1  # going back saved nothing
    editor.page.click("#save-button")
    editor.page.click("[data-replay=save]")
    editor.page.wait_for_selector("#toast:has-text('Saved revision 2')")
    assert Revision.objects.count() == 2
    watch.assert_clean(editor.page)


def test_the_check_tab_shows_what_each_workload_is_open_to(open_editor):
    revision = save_revision(ONE_SIDED)
    editor, watch = open_editor(f"/d/{revision.slug}/edit")
    editor.page.set_viewport_size({"width": 1024, "height": 768})
    wait_analysed(editor, "lint")
    editor.page.focus("#tab-check")
    editor.page.keyboard.press("Enter")
    wait_analysed(editor, "check")

    exposure = editor.page.locator("#check-exposure")
    exposure.scroll_into_view_if_needed()
    web = exposure.locator(".exposure-item", has_text=f"frontend/{HOSTILE}[Workload]")
    # web's ingress is selected by no policy: anything may reach it, from inside the cluster or outside
    assert web.locator(".exposure-ingress").all_inner_texts() == [
        "open to the internet (no policy selects it)",
        "open to the whole cluster (no policy selects it)",
    ]
    api = exposure.locator(".exposure-item", has_text="backend/api[Workload]")
    assert "may connect to the internet (no policy selects it)" in api.inner_text()
    assert api.locator(".exposure-ingress").count() == 0  # locked: only what its rules name may reach it
    assert editor.page.locator("img[src=x]").count() == 0
    watch.assert_clean(editor.page)


def test_an_observed_edge_shows_which_rule_allowed_its_traffic(open_editor):
    with HUBBLE_HTTP.open("rb") as stream:
        observed = read_flows([(HUBBLE_HTTP.name, stream)]).document.to_json()
    revision = save_revision(observed)
    editor, watch = open_editor(f"/d/{revision.slug}/edit")
    editor.page.set_viewport_size({"width": 1024, "height": 768})
    editor.wait_compiled()
    editor.click_element("e:e2")  # prometheus -> kube-dns on TCP 10054, seen once
    panel = editor.page.locator(".attribution")
    panel.wait_for()
    text = panel.inner_text()
    assert "istio-system/prometheus[Deployment] \u2192 kube-system/kube-dns[Deployment] : TCP 10054: allowed" in text
    assert "Allowed TCP:[10054] due to the following policies and rules:" in text
    assert "allows connections by Egress rule #" in text  # prometheus' egress is locked: the rule that lets it out
    watch.assert_clean(editor.page)
