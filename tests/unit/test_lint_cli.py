"""`fenceline lint` and `fenceline rate`: exit codes for a GitOps gate, the three output formats, documents."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

from editor.policy.cli import main
from editor.policy.lint import RULES

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "policies"
COMBINE = CORPUS / "cilium-networkpolicy-editor-tutorials/tutorials/combine-policy-rules.yaml"
EGRESS_TO_POD = CORPUS / "cilium-networkpolicy-editor-tutorials/tutorials/allow-egress-to-pod.yaml"
FQDN = CORPUS / "cilium-cilium/l3/fqdn/fqdn.yaml"
DOCUMENT = {
    "schema": "fenceline/v1",
    "settings": {"dialect": "native"},
    "namespaces": [{"name": "shop"}],
    "nodes": [
        {"id": "web", "kind": "workload", "namespace": "shop", "name": "web", "labels": {"app": "web"},
         "isolate": {"ingress": True, "egress": True}},
        {"id": "db", "kind": "workload", "namespace": "shop", "name": "db", "labels": {"app": "db"}},
    ],
    "edges": [{"id": "e1", "source": "web", "target": "db", "ports": [{"protocol": "TCP", "port": 5432}]}],
}  # fmt: skip


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_warnings_only_exit_0_and_text_names_file_line_rule_fix_and_why(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "lint", str(COMBINE))
    assert code == 0
    assert f"{COMBINE}:14: warning FL005 NetworkPolicy default/egress-to-private-vm-443: spec.egress[1]:" in out
    assert "    fix: Move these ports into spec.egress[0]" in out
    assert "    why: docs/rules/FL005.md" in out
    assert "0 error(s), 3 warning(s), 1 info" in err


def test_an_error_finding_fails_the_gate(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "lint", str(FQDN))
    assert code == 1
    assert "error FL014" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["lint", "/nonexistent/policy.yaml"], "/nonexistent/policy.yaml: cannot read"),
        (["lint", str(COMBINE), "--pod-cidr", "ten"], "--pod-cidr 'ten' is not a CIDR"),
        (["rate", str(COMBINE), "--gateway-label", "app"], "expected KEY=VALUE"),
    ],
)
def test_unreadable_input_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and not out
    assert message in err and err.count("\n") == 1


def test_stdin_bad_yaml_and_bad_document_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"kind: [\n")))
    code, _, err = run(capsys, "lint", "-")
    assert code == 2 and "<stdin>:" in err and "invalid YAML" in err
    broken = tmp_path / "doc.json"
    broken.write_text(json.dumps({"schema": "fenceline/v1", "nodes": [{"id": "x"}]}))
    code, _, err = run(capsys, "lint", str(broken))
    assert code == 2 and "not a valid graph document" in err


def test_stdin_is_read(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(FQDN.read_bytes())))
    code, out, _ = run(capsys, "lint", "-", "--format", "json")
    assert code == 1
    (finding,) = json.loads(out)["findings"]
    assert finding["source"] == "<stdin>" and finding["rule"] == "FL014" and finding["line"] == 14


def test_json_format(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "lint", str(COMBINE), "--format", "json")
    report = json.loads(out)
    assert code == 0 and report["summary"] == {"error": 0, "warning": 3, "info": 1}
    finding = next(f for f in report["findings"] if f["rule"] == "FL005")
    assert finding["object"] == {"kind": "NetworkPolicy", "namespace": "default", "name": "egress-to-private-vm-443"}
    assert finding["path"] == "spec.egress[1]" and finding["line"] == 14 and finding["help"] == "docs/rules/FL005.md"
    assert finding["fixes"] == [
        {
            "id": "FL005:NetworkPolicy default/egress-to-private-vm-443:spec.egress[1]#merge",
            "title": "Move these ports into spec.egress[0] (one rule: those peers, these ports)",
            "target": "object",
        }
    ]


def test_sarif_shape(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "lint", str(COMBINE), str(FQDN), "--format", "sarif")
    log = json.loads(out)
    assert code == 1
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    (sarif_run,) = log["runs"]
    driver = sarif_run["tool"]["driver"]
    assert driver["name"] == "fenceline"
    ids = [rule["id"] for rule in driver["rules"]]
    assert ids == sorted(RULES)
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
        help_uri = urlparse(rule["helpUri"])
        assert help_uri.scheme == "file" and Path(help_uri.path).is_file()  # absolute, and the page exists
        assert help_uri.path.endswith(f"/docs/rules/{rule['id']}.md")
    results = sarif_run["results"]
    assert {r["ruleId"] for r in results} == {"FL003", "FL004", "FL005", "FL010", "FL014"}
    for result in results:
        assert ids[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note") and result["message"]["text"]
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"]["uri"] in (str(COMBINE), str(FQDN))
        assert isinstance(physical["region"]["startLine"], int) and physical["region"]["startLine"] >= 1
        assert location["logicalLocations"][0]["fullyQualifiedName"].startswith(("NetworkPolicy ", "CiliumNetwork"))
    assert next(r for r in results if r["ruleId"] == "FL014")["level"] == "error"
    assert next(r for r in results if r["ruleId"] == "FL010")["level"] == "note"


def test_sarif_help_url_override(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "lint", str(COMBINE), "--format", "sarif", "--help-url", "https://fenceline.example/rules")
    rules = json.loads(out)["runs"][0]["tool"]["driver"]["rules"]
    assert rules[0]["helpUri"] == "https://fenceline.example/rules/FL001.md"


def test_cluster_cidr_flags_turn_a_question_into_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "lint", str(EGRESS_TO_POD), "--format", "json")
    assert "FL010" in {f["rule"] for f in json.loads(out)["findings"]}
    _, out, _ = run(capsys, "lint", str(EGRESS_TO_POD), "--format", "json", "--pod-cidr", "10.0.0.0/8")
    rules = {f["rule"] for f in json.loads(out)["findings"]}
    assert "FL009" in rules and "FL010" not in rules


def test_a_graph_document_is_compiled_and_linted(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "shop.json"
    path.write_text(json.dumps(DOCUMENT))
    code, out, _ = run(capsys, "lint", str(path))
    assert code == 0
    assert f"{path}: warning FL004 NetworkPolicy shop/web: spec.egress:" in out
    assert "    graph: nodes web; edges -" in out
    assert "    fix: Draw the 'allow DNS' edge to the cluster DNS" in out


def test_rate_gate_and_formats(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "rate", str(COMBINE), "--format", "json")
    rating = json.loads(out)
    assert code == 0 and rating["max"] == 5
    score = rating["score"]
    assert run(capsys, "rate", str(COMBINE), "--min", str(score + 0.1))[0] == 1
    assert run(capsys, "rate", str(COMBINE), "--min", str(score))[0] == 0
    wildcard = next(c for c in rating["policies"][0]["criteria"] if c["id"] == "no-wildcard-peers")
    assert wildcard["status"] == "fail" and wildcard["weight"] == 3
    assert "spec.egress[1] has no peers" in wildcard["reason"] and wildcard["improve"]
    code, out, _ = run(capsys, "rate", str(COMBINE))
    assert out.startswith(f"Rating {score:.1f} / 5 for 1 policy\n")
    assert "fail    no-wildcard-peers (weight 3): " in out and "improve: " in out
    path = tmp_path / "shop.json"
    path.write_text(json.dumps(DOCUMENT))
    code, out, _ = run(capsys, "rate", str(path), "--format", "json")
    assert code == 0
    assert {p["label"]: p["nodes"] for p in json.loads(out)["policies"]} == {
        "NetworkPolicy shop/db": ["db"],
        "NetworkPolicy shop/web": ["web"],
    }
