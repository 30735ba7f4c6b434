"""`fenceline plan OLD NEW`: the analyser's diff, observed flows that break, lint, rating, policies, exit codes."""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path

import pytest

from editor.policy.cli import main
from editor.policy.commands.plan_cmd import read_side
from editor.policy.document import Document
from editor.policy.plan import Side, make_plan, picture_of_change
from editor.policy.plan_report import MARKDOWN_LIMIT, to_markdown

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DIFF_CASES = FIXTURES / "netpol-analyzer-diff"
HUBBLE_10 = FIXTURES / "hubble" / "basic-sample-10-flows.json"
TALK = FIXTURES / "documents" / "talk-app.json"
CASES = json.loads((DIFF_CASES / "cases.json").read_text())["diff"]
SKIPPED = "is not used by the analysis; skipped"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", CASES, ids=[c["id"].rsplit("/", 1)[-1][:60] for c in CASES])
def test_plan_connections_are_the_analyser_diff_of_netpol_analyzer(case: dict) -> None:
    """np-guard/netpol-analyzer's diff cases (pkg/netpol/diff/diff_test.go): every connection the plan lists is
    in the upstream expected output; where the input holds kinds the analyser does not model (ANP, BANP,
    Ingress, UDN), the plan says it skipped them, else it lists every expected line."""
    old, new = (read_side(str(DIFF_CASES / d)) for d in case["input_dirs"])
    plan = make_plan(old, new)
    expected = (DIFF_CASES / case["expected"]).read_text().splitlines()[1:]
    got = [str(entry) for entry in plan.connections]
    assert [line for line in got if line not in expected] == []
    if any(SKIPPED in warning for warning in plan.warnings):
        assert set(got) <= set(expected)
    else:
        assert got == expected


def test_markdown_of_a_diff_case_is_a_comment_with_collapsible_sections(capsys: pytest.CaptureFixture[str]) -> None:
    old, new = (str(DIFF_CASES / "tests" / d) for d in ("k8s_ingress_test", "k8s_ingress_test_new"))
    code, out, _ = run(capsys, "plan", old, new)
    assert code == 0
    assert out.startswith("### Fenceline plan:")
    # the counts of netpol-analyzer's expected diff (the Ingress objects' {ingress-controller} lines included)
    expected = (DIFF_CASES / "test_outputs" / "diff").glob("*k8s_ingress_test*")
    kinds = Counter(
        line.split(",")[0].removeprefix("diff-type: ") for line in next(expected).read_text().splitlines()[1:]
    )
    assert f"+{kinds['added']} added, −{kinds['removed']} removed, ~{kinds['changed']} changed" in out
    assert f"<details><summary>Connections ({kinds.total()})</summary>" in out
    assert SKIPPED not in out
    assert "✅ No observed traffic breaks" in out


POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: reviews
  namespace: bookinfo
spec:
  podSelector:
    matchLabels:
      app: reviews
  policyTypes: [Ingress]
  ingress:
  - ports:
    - protocol: TCP
      port: 15020
    - protocol: TCP
      port: {port}
"""


def _policy_dirs(tmp_path: Path, old_port: int, new_port: int) -> tuple[Path, Path]:
    old, new = tmp_path / "old", tmp_path / "new"
    for directory, port in ((old, old_port), (new, new_port)):
        directory.mkdir()
        (directory / "reviews.yaml").write_text(POLICY.format(port=port))
    return old, new


def test_a_port_change_that_breaks_observed_hubble_flows_exits_1_and_lists_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Hubble saw prometheus scrape reviews-v1 on 15090 (FORWARDED); NEW moves the allowed port to 15091.
    old, new = _policy_dirs(tmp_path, 15090, 15091)
    code, out, err = run(capsys, "plan", str(old), str(new), "--flows", str(HUBBLE_10), "--format", "text")
    assert code == 1, out + err
    assert "observed flows NEW would break: 1" in out
    assert "istio-system/prometheus" in out and "bookinfo/reviews-v1" in out and "TCP 15090" in out
    assert "BREAKING" in out
    code, out, _ = run(capsys, "plan", str(old), str(new), "--flows", str(HUBBLE_10))
    assert code == 1
    assert "<details open><summary>❌ Observed flows NEW would break (1)</summary>" in out
    code, out, _ = run(capsys, "plan", str(new), str(old), "--flows", str(HUBBLE_10), "--format", "json")
    plan = json.loads(out)
    assert code == 0 and plan["breaking"] is False
    assert [(f["src"], f["port"], f["old"], f["new"]) for f in plan["flows"]["fixes"]] == [
        ("istio-system/prometheus[Deployment]", 15090, "denied", "allowed")
    ]
    assert (
        plan["policies"][0]["kind"] == "changed"
        and "-          port: 15091\n+          port: 15090" in plan["policies"][0]["yaml_diff"]
    )


def test_an_unchanged_policy_set_is_an_empty_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = _policy_dirs(tmp_path, 15090, 15090)
    code, out, _ = run(capsys, "plan", str(old), str(new), "--flows", str(HUBBLE_10), "--format", "json")
    plan = json.loads(out)
    assert code == 0
    assert plan["connections"] == [] and plan["policies"] == [] and plan["flows"]["breaks"] == []


def _talk() -> Document:
    return Document.loads(TALK.read_text())


def test_plan_between_two_drawings_marks_edges_and_counts_lint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = _talk()
    new = copy.deepcopy(old)
    changed = next(e for e in new.edges if e.ports and e.ports[0].port == 9090)
    changed.ports[0].port = 9091
    removed = new.edges.pop()
    (tmp_path / "old.json").write_text(old.dumps())
    (tmp_path / "new.json").write_text(new.dumps())
    svg = tmp_path / "plan.svg"
    code, out, _ = run(capsys, "plan", str(tmp_path / "old.json"), str(tmp_path / "new.json"), "--format", "json",
                       "--svg", str(svg))  # fmt: skip
    plan = json.loads(out)
    assert code == 0
    assert plan["edgeChanges"] == {changed.id: "changed", f"removed:{removed.id}": "removed"}
    assert {p["kind"] for p in plan["policies"]} == {"changed"}
    assert any(c["kind"] == "changed" and "TCP 9091" in c["new"] for c in plan["connections"])
    picture = svg.read_text()
    assert f'class="edge allowed diff-changed" data-id="{changed.id}"' in picture
    assert f'diff-removed" data-id="removed:{removed.id}"' in picture


def test_picture_of_change_keeps_nodes_only_removed_edges_need() -> None:
    old = _talk()
    new = copy.deepcopy(old)
    gone = next(n for n in new.nodes if n.kind == "workload")
    new.nodes.remove(gone)
    new.edges = [e for e in new.edges if gone.id not in (e.source, e.target)]
    picture, changes = picture_of_change(old, new)
    assert gone.id in {n.id for n in picture.nodes}
    assert changes and set(changes.values()) == {"removed"}
    assert all(e.disabled for e in picture.edges if e.id in changes)
    Document.from_json(picture.to_json())  # still a valid document


def test_markdown_stays_under_the_comment_limit_with_a_truncation_note() -> None:
    document = Document.from_json({
        "schema": "fenceline/v1",
        "namespaces": [{"name": "big"}],
        "nodes": [{"id": f"w{i}", "kind": "workload", "namespace": "big", "name": f"w{i}", "labels": {"app": f"w{i}"}}
                  for i in range(60)],
    })  # fmt: skip
    locked = copy.deepcopy(document)
    for node in locked.nodes:
        node.isolate.ingress = True
    plan = make_plan(Side("open", document=document), Side("locked", document=locked))
    assert len(plan.connections) == 60 * 59 + 60  # every pair, and the outside world to each
    text = to_markdown(plan)
    assert len(text) <= MARKDOWN_LIMIT
    assert "Truncated to fit a merge-request comment" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["plan", "/nonexistent/old", "/nonexistent/new"], "/nonexistent/old: no such file or directory"),
        (["plan", "http://127.0.0.1:9/x", str(TALK)], "not a Fenceline permalink"),
        (["plan", "http://127.0.0.1:9/d/" + "a" * 30, str(TALK)], "cannot fetch"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert message in err and err.count("\n") == 1


def test_malformed_yaml_on_one_side_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.yaml").write_text("kind: NetworkPolicy\nmetadata: {name: [unclosed\n")
    code, _, err = run(capsys, "plan", str(tmp_path / "bad.yaml"), str(TALK))
    assert code == 2 and "bad.yaml" in err


def test_a_new_error_level_finding_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = _policy_dirs(tmp_path, 15090, 15090)
    fqdn = FIXTURES / "policies" / "cilium-cilium" / "l3" / "fqdn" / "fqdn.yaml"  # FL014: an error (test_lint_cli)
    (new / "fqdn.yaml").write_text(fqdn.read_text())
    code, out, _ = run(capsys, "plan", str(old), str(new), "--format", "json")
    plan = json.loads(out)
    assert code == 1 and plan["breaking"] is True and plan["flows"]["breaks"] == []
    assert "FL014" in {f["rule"] for f in plan["lint"]["new"] if f["severity"] == "error"}
    assert [p["kind"] for p in plan["policies"]] == ["added"]
    code, out, _ = run(capsys, "plan", str(new), str(old), "--format", "json")
    assert code == 0 and "FL014" in {f["rule"] for f in json.loads(out)["lint"]["fixed"]}
