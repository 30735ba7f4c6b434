"""POST /api/lint/fix with `all`: the same drawing fix of every alike finding, as one answer (issue 10, finding 9)."""

from __future__ import annotations

from pathlib import Path

import pytest

from editor.policy.importer import import_paths

pytestmark = pytest.mark.django_db

BOUTIQUE = Path(__file__).resolve().parents[1] / "fixtures" / "manifests" / "onlineboutique_workloads"


@pytest.fixture
def boutique() -> dict:
    files = [BOUTIQUE / "ns.yaml", BOUTIQUE / "kubernetes-manifests.yaml", BOUTIQUE / "netpols.yaml"]
    return import_paths(files).document.to_json()


def test_lint_says_how_many_findings_share_a_fix_and_fix_all_applies_them_together(api, boutique):
    findings = [
        f for f in api.post_json("/api/lint", {"document": boutique}).json()["findings"] if f["rule"] == "FL004"
    ]
    fix_id = next(fix["id"] for fix in findings[0]["fixes"] if fix["id"].endswith("#draw-dns-edge"))
    assert findings[0]["alike"] == {fix_id: 7}
    answer = api.post_json("/api/lint/fix", {"document": boutique, "fix": fix_id, "all": True}).json()
    assert answer["message"] == "Applied 7 times: Draw the 'allow DNS' edge to the cluster DNS."
    assert len(answer["document"]["edges"]) == len(boutique["edges"]) + 7
    assert len(answer["document"]["nodes"]) == len(boutique["nodes"])
    one = api.post_json("/api/lint/fix", {"document": boutique, "fix": fix_id}).json()
    assert len(one["document"]["edges"]) == len(boutique["edges"]) + 1


def test_all_must_be_a_boolean(api, boutique):
    response = api.post_json("/api/lint/fix", {"document": boutique, "fix": "FL004", "all": "yes"})
    assert response.status_code == 400
    assert response.json()["error"] == "all must be true or false, not 'yes'"
