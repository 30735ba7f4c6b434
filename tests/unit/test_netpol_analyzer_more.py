"""np-guard/netpol-analyzer's own outputs, reproduced by `fenceline connlist` and `fenceline diff`.

Every case of the lists connlist, explain, exposure, focus, diff and invalid of tests/fixtures/netpol-analyzer-more
(upstream commit e54a3343; see its README) runs through the command line with the options upstream used, and the
output is compared as upstream compares it (pkg/internal/testutils.cleanStr: every \\n and \\r deleted from both
texts). Invalid inputs must fail with an error containing upstream's expected substring. The lists include the
AdminNetworkPolicy/BaselineAdminNetworkPolicy cases (analysis/admin.py); only OVN-Kubernetes user-defined network
cases (`multiple_networks`) are left out: out of scope.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from editor.policy.cli import main

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "netpol-analyzer-more"
CASES = json.loads((ROOT / "cases.json").read_text())
LISTS = ("connlist", "anp", "explain", "exposure", "focus", "diff", "invalid")


def _cases() -> list[Any]:
    seen: set[str] = set()
    params = []
    for name in LISTS:
        for case in CASES["lists"][name]:
            if case["id"] in seen or case["options"].get("multiple_networks"):
                continue
            seen.add(case["id"])
            params.append(pytest.param(case, id=case["id"]))
    return params


def _is_diff(case: dict[str, Any]) -> bool:
    return case["id"].startswith(("diff/", "cli/diff", "invalid/diff/", "invalid/cli/diff"))


def _argv(case: dict[str, Any]) -> list[str]:
    options = case["options"]
    paths = [str(ROOT / path) for path in case["input_dirs"]]
    if _is_diff(case):
        names = options.get("arg_names") or (["dir1", "dir2"] if case.get("via") == "cli" else ["ref1", "ref2"])
        return ["diff", *paths, "--names", ",".join(names)]
    argv = ["connlist", *paths]
    for option, flag in (("focus_workload", "--focusworkload"), ("focus_workload_peer", "--focusworkload-peer")):
        if options.get(option):
            argv += [flag, ",".join(options[option])]
    for option, flag in (
        ("focus_direction", "--focus-direction"),
        ("focus_conn", "--focus-conn"),
        ("explain_only", "--explain-only"),
    ):
        if options.get(option):
            argv += [flag, options[option]]
    argv += ["--exposure"] * bool(options.get("exposure")) + ["--explain"] * bool(options.get("explain"))
    return argv


def _clean(text: str) -> str:
    return text.replace("\n", "").replace("\r", "")


@pytest.mark.parametrize("case", _cases())
def test_upstream_case(case: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(_argv(case))
    out, err = capsys.readouterr()
    if case["expected"] is None:
        assert code == 2, out
        for text in case.get("expected_error_contains_all") or [case["expected_error_contains"]]:
            assert text in err
        return
    assert code == 0, err
    assert _clean(out) == _clean((ROOT / case["expected"]).read_text())


def test_every_list_is_exercised() -> None:
    ids = {p.id for p in _cases()}
    for name in LISTS:
        assert any(c["id"] in ids for c in CASES["lists"][name]), name


def test_diff_without_both_paths_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", str(ROOT / "tests" / "k8s_ingress_test")]) == 2
    assert "both directory paths dir1 and dir2 are required" in capsys.readouterr().err


def test_connlist_diff_stays_an_alias_with_library_labels(capsys: pytest.CaptureFixture[str]) -> None:
    old, new = (str(ROOT / "tests" / d) for d in ("k8s_ingress_test", "k8s_ingress_test_new"))
    assert main(["connlist", old, "--diff", new]) == 0
    via_connlist = capsys.readouterr().out
    assert main(["diff", old, new, "--names", "ref1,ref2"]) == 0
    assert capsys.readouterr().out == via_connlist
    assert "ref1: All Connections, ref2: TCP 9080" in via_connlist


def test_bad_focus_conn_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["connlist", str(ROOT / "tests" / "k8s_ingress_test"), "--focus-conn", "tcp-70000"]) == 2
    assert "tcp-70000" in capsys.readouterr().err


def test_a_file_with_a_syntax_error_keeps_its_earlier_documents_with_a_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["connlist", str(ROOT / "tests" / "document_with_syntax_error")]) == 0
    out, err = capsys.readouterr()
    assert "default/checkoutservice[Deployment]" in out
    assert "document_with_syntax_error.yaml:225: invalid YAML" in err and "skipped" in err


def test_diff_names_need_two_labels(capsys: pytest.CaptureFixture[str]) -> None:
    old, new = (str(ROOT / "tests" / d) for d in ("k8s_ingress_test", "k8s_ingress_test_new"))
    assert main(["diff", old, new, "--names", "only-one"]) == 2
    assert "--names needs two labels" in capsys.readouterr().err


def test_exposure_with_diff_is_refused_instead_of_ignored(capsys: pytest.CaptureFixture[str]) -> None:
    old, new = (str(ROOT / "tests" / d) for d in ("k8s_ingress_test", "k8s_ingress_test_new"))
    assert main(["connlist", old, "--diff", new, "--exposure"]) == 2
    assert "--exposure lists what one policy set leaves open; it cannot be combined with --diff" in (
        capsys.readouterr().err
    )


def test_explain_only_needs_explain(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["connlist", str(ROOT / "tests" / "k8s_ingress_test"), "--explain-only", "allow"]) == 2
    assert "--explain-only needs --explain" in capsys.readouterr().err
