"""The one-click DNS fix on the Online Boutique reuses the imported kube-dns selector, and identical findings are
fixed together as one undo step (issue 10, finding 9). The manifests and policies are the netpol-analyzer
fixture tests/fixtures/manifests/onlineboutique_workloads (see its README)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

BOUTIQUE = Path(__file__).resolve().parents[1] / "fixtures" / "manifests" / "onlineboutique_workloads"


def wait_linted(editor: Any) -> None:
    editor.wait_compiled()
    editor.page.wait_for_function("() => document.getElementById('app').dataset.lintPending === '0'")


def dns_findings(editor: Any) -> Any:
    return editor.page.locator("#findings-list .finding", has_text="FL004")


def node_labels(editor: Any) -> list[str]:
    return sorted(label.split("\n")[0] for _, label, _ in editor.graph()["nodes"])


def edges_into(editor: Any, node_id: str) -> int:
    return sum(1 for source, target, *_ in editor.graph()["edges"] if target == node_id)


def test_the_dns_fix_reuses_the_imported_kube_dns_selector_and_fix_all_is_one_undo_step(open_editor, tmp_path):
    everything = tmp_path / "boutique.yaml"  # as a person would: cat ns.yaml kubernetes-manifests.yaml netpols.yaml
    everything.write_text(
        "\n---\n".join(
            (BOUTIQUE / name).read_text() for name in ("ns.yaml", "kubernetes-manifests.yaml", "netpols.yaml")
        )
    )
    editor, _ = open_editor("/", size=(1024, 768))
    page = editor.page
    page.click("[data-action=import]")
    page.set_input_files("#dialog [name=file]", str(everything))
    page.click("#dialog button[type=submit]")
    page.wait_for_selector("#dialog .panel-saved")
    page.click("#dialog .panel-actions [data-action=close-dialog]")
    wait_linted(editor)
    nodes_before = node_labels(editor)
    kube_dns = editor.element_for("k8s-app=kube-dns in all namespaces")
    drawn = edges_into(editor, kube_dns)  # the four policies that allow DNS
    assert drawn == 4
    assert dns_findings(editor).count() == 7

    # One finding fixed: its edge goes to the imported selector, no "cluster DNS" beside it.
    first = dns_findings(editor).first
    first.locator("[data-fix]:not([data-fix-all])", has_text="Draw the 'allow DNS' edge").click()
    page.wait_for_function(
        "() => document.querySelectorAll('#findings-list .finding[data-finding-id^=\"FL004\"]').length === 6"
    )
    wait_linted(editor)
    assert node_labels(editor) == nodes_before
    assert edges_into(editor, kube_dns) == drawn + 1

    # The six alike findings offer "Fix all 6"; it is one change, and one Ctrl+Z takes all of it back.
    fix_all = dns_findings(editor).first.locator("[data-fix-all]")
    assert fix_all.inner_text() == "Fix all 6"
    fix_all.click()
    page.wait_for_function("() => !document.querySelector('#findings-list .finding[data-finding-id^=\"FL004\"]')")
    wait_linted(editor)
    assert node_labels(editor) == nodes_before
    assert edges_into(editor, kube_dns) == drawn + 7
    assert "Applied 6 times" in page.inner_text("#toast")

    page.locator("#cy").focus()
    page.keyboard.press("Control+z")
    wait_linted(editor)
    assert edges_into(editor, kube_dns) == drawn + 1
    assert dns_findings(editor).count() == 6
