"""The analyser against np-guard/netpol-analyzer's own connlist cases, its invalid inputs, and the CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from editor.policy.analysis import analyse, diff, format_connlist, format_diff, format_explanations
from editor.policy.cli import main
from editor.policy.manifests import read_paths
from editor.policy.yamlio import InputError

CORPUS = Path(__file__).parent.parent / "fixtures" / "netpol-analyzer"
CASES = json.loads((CORPUS / "cases.json").read_text())
CASES_BY_DIR = {c["dir"]: c["expected"] for c in CASES["connlist"]}


@pytest.mark.parametrize("case", CASES["connlist"], ids=[c["dir"] for c in CASES["connlist"]])
def test_connlist_matches_netpol_analyzer(case: dict[str, str]) -> None:
    expected = (CORPUS / case["expected"]).read_text().strip()
    assert format_connlist(analyse(read_paths([CORPUS / case["input_dir"]]))) == expected


INVALID = {
    # input_dir: what the message must say, the file and the line it must point at
    "tests/bad_netpols/subdir1": (
        ["spec.ingress[2].from[0].ipBlock.cidr", "CIDR error: invalid CIDR address: A"],
        "netpols.yaml",
        22,
    ),
    "tests/bad_netpols/subdir7": (
        [
            "NetworkPolicy default/frontend-netpol",
            "spec.egress[0].to[0].podSelector.matchLabels.app",
            "'$backendservice'",
        ],
        "resources.yaml",
        158,
    ),
    "tests/bad_netpols/subdir4": (
        ["spec.ingress[0].from[0]", "cannot have empty rule peer", "podSelector, namespaceSelector or ipBlock"],
        "netpols.yaml",
        9,
    ),
    "tests/np_bad_path_test_1": (
        ['NetworkPolicy "default/backend-netpol" is already exists', "defined twice"],
        "netpols.yaml",
        24,
    ),
    "tests/np_test_with_empty_port_range": (
        ["spec.egress[0].ports[1].endPort", "endPort 1 is less than port 10", "port range 10-1"],
        "netpol.yaml",
        15,
    ),
    # not invalid Kubernetes: a limit of the one-line-per-workload output, reported as netpol-analyzer does
    "tests/semanticDiff-same-topologies-illegal-podlist": (
        [
            "Found Pods of the same owner workload `demo/cog-agents` and with differences in their labels",
            "`app=bank-ui-selector`",
            "NetworkPolicy 'demo/ui-to-command' selects by `app`",
            "while a network policy contains selectors impacted by this gap.",
        ],
        "bank_pod_list.json",
        9,
    ),
}


def test_every_invalid_case_is_covered() -> None:
    assert {c["input_dir"] for c in CASES["invalid"]} == set(INVALID)


@pytest.mark.parametrize("input_dir", sorted(INVALID))
def test_invalid_inputs_are_rejected_with_a_clear_error(input_dir: str) -> None:
    phrases, file_name, line = INVALID[input_dir]
    with pytest.raises(InputError) as caught:
        analyse(read_paths([CORPUS / input_dir]))
    for phrase in phrases:
        assert phrase in caught.value.message
    assert Path(caught.value.source).name == file_name
    assert caught.value.line == line


def test_cli_prints_the_connlist(capsys: pytest.CaptureFixture[str]) -> None:
    case = CORPUS / "tests/netpol-analysis-example-minimal"
    assert main(["connlist", str(case)]) == 0
    out, err = capsys.readouterr()
    assert out == (
        "0.0.0.0-255.255.255.255[External] => default/frontend[Deployment] : TCP 8080\n"
        "default/frontend[Deployment] => 0.0.0.0-255.255.255.255[External] : UDP 53\n"
        "default/frontend[Deployment] => default/backend[Deployment] : TCP 9090\n"
    )
    assert err == ""


def test_cli_reads_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    data = (CORPUS / "tests/minimal_test_in_ns/namespace_and_deployments.yaml").read_bytes()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["connlist", "-", str(CORPUS / "tests/minimal_test_in_ns/netpol.yaml")]) == 0
    assert capsys.readouterr().out.strip() == (CORPUS / CASES_BY_DIR["minimal_test_in_ns"]).read_text().strip()


def test_cli_rejects_bad_input_with_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["connlist", str(CORPUS / "tests/bad_netpols/subdir4")]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("fenceline connlist: ") and "netpols.yaml:9: " in err


def test_explanations_name_policies_and_rules() -> None:
    # the CLI's --explain prints netpol-analyzer's format (tests/unit/test_netpol_analyzer_more.py); the library's
    # format_explanations is the compact form the editor shows
    out = format_explanations(analyse(read_paths([CORPUS / "tests/netpol-analysis-example-minimal"])))
    block = out.split("\n\n")
    allowed = next(b for b in block if b.startswith("default/frontend[Deployment] => default/backend[Deployment]"))
    assert allowed.splitlines() == [
        "default/frontend[Deployment] => default/backend[Deployment] : TCP 9090",
        "  Egress of default/frontend[Deployment]: TCP 9090,UDP 53",
        "    NetworkPolicy 'default/frontend-netpol' allows connections by Egress rule #1: TCP 9090",
        "    NetworkPolicy 'default/frontend-netpol' allows connections by Egress rule #2: UDP 53",
        "    NetworkPolicy 'default/default-deny-in-namespace' selects default/frontend[Deployment], but "
        "default/backend[Deployment] is not allowed by any Egress rule (no rules defined)",
        "  Ingress of default/backend[Deployment]: TCP 9090",
        "    NetworkPolicy 'default/backend-netpol' allows connections by Ingress rule #1: TCP 9090",
        "    NetworkPolicy 'default/default-deny-in-namespace' selects default/backend[Deployment], but "
        "default/frontend[Deployment] is not allowed by any Ingress rule (no rules defined)",
    ]
    denied = next(b for b in block if b.startswith("default/backend[Deployment] => default/frontend[Deployment]"))
    assert "default/backend[Deployment] => default/frontend[Deployment] : No Connections" in denied
    assert "NetworkPolicy 'default/backend-netpol' selects default/backend[Deployment], but" in denied


def test_explain_of_unrestricted_pairs_names_the_system_default() -> None:
    analysis = analyse(read_paths([CORPUS / "tests/minimal_test_in_ns"]))
    text = format_explanations(analysis)
    assert (
        "hello-world/workload-a[Deployment] => hello-world/workload-b[Deployment]"
        in text.split("Allowed by the system default (Allow all)")[1]
    )
    explanation = analysis.explain(
        analysis.peer("hello-world/workload-b[Deployment]"), analysis.peer("hello-world/workload-a")
    )
    assert explanation.egress is not None and not explanation.egress.selecting
    assert "due to the system default (Allow all)" in str(explanation)
    assert explanation.ingress is not None
    assert [m.rule for m in explanation.ingress.matches] == ["Ingress rule #1"]
    assert str(explanation.connections) == "TCP 8050"


def test_diff_between_two_policy_sets(capsys: pytest.CaptureFixture[str]) -> None:
    old = str(CORPUS / "tests/semanticDiff-same-topologies-old1")
    new = str(CORPUS / "tests/semanticDiff-same-topologies-new2")
    assert main(["connlist", old, "--diff", new]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Connectivity diff:"
    assert (
        "diff-type: changed, source: demo/cog-agents-bank-ui[DaemonSet], destination: "
        "demo/cog-agents-account-command[DaemonSet], ref1: All Connections, ref2: TCP 8081-8082,UDP 9091"
    ) in lines
    kinds = [line.split(",")[0] for line in lines[1:]]
    assert kinds == sorted(kinds, key=["diff-type: changed", "diff-type: added", "diff-type: removed"].index)


def test_diff_refines_external_ranges_and_reports_new_workloads() -> None:
    a = analyse(read_paths([CORPUS / "tests/semanticDiff-different-topologies-policy-a"]))
    b = analyse(read_paths([CORPUS / "tests/semanticDiff-different-topologies-policy-a-with-ipblock"]))
    entries = diff(a, b)
    text = format_diff(entries)
    # b cuts the address space at 10.0.0.0/8 except 10.10.0.0/16; a does not: compared piece by piece
    assert (
        "diff-type: added, source: 10.0.0.0-10.9.255.255[External], destination: default/cog-agents-1[DaemonSet], "
        "ref1: No Connections, ref2: All Connections"
    ) in text
    assert "10.10.0.0-10.10.255.255[External], destination: default/cog-agents-1" not in text
    assert format_diff(diff(a, a)) == "No connections diff"
    assert all(e.kind in ("added", "removed", "changed") for e in entries)
