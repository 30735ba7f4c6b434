"""`fenceline import` and `fenceline render` as a user runs them: files, stdin, output and exit codes."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from editor.policy.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
WEB_POLICY = FIXTURES / "policies" / "kubernetes-website" / "networkpolicy.yaml"
FQDN_POLICY = FIXTURES / "policies" / "cilium-cilium" / "l3" / "fqdn" / "fqdn.yaml"


def run(argv: list[str], capsys: pytest.CaptureFixture[str], stdin: bytes | None = None) -> tuple[int, str, str]:
    saved = sys.stdin
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    try:
        code = main(argv)
    finally:
        sys.stdin = saved
    out, err = capsys.readouterr()
    return code, out, err


def test_import_prints_a_document_and_render_turns_it_back_into_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["import", str(WEB_POLICY), "--name", "demo"], capsys)
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert document["schema"] == "fenceline/v1" and document["name"] == "demo"
    (tmp_path / "doc.json").write_text(out)
    code, yaml_text, err = run(["render", str(tmp_path / "doc.json"), "--dialect", "native"], capsys)
    assert (code, err) == (0, "")
    assert yaml_text.startswith("---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n")
    assert "name: test-network-policy" in yaml_text


def test_import_writes_to_a_file_and_warnings_go_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out.json"
    code, out, err = run(
        ["import", str(FIXTURES / "policies" / "cilium-cilium" / "l3" / "service"), "-o", str(target)], capsys
    )
    assert (code, out) == (0, "")
    assert json.loads(target.read_text())["name"] == "service"
    assert err.count("\n") >= 1 and all(line.startswith("warning: ") for line in err.splitlines())
    assert "service.yaml:10:" in err and "toServices" in err


def test_dash_reads_stdin_for_both_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["import", "-"], capsys, stdin=WEB_POLICY.read_bytes())
    assert code == 0 and json.loads(out)["name"] == "stdin"
    code, yaml_text, _ = run(["render", "-", "--dialect", "cilium"], capsys, stdin=out.encode())
    assert code == 0 and "kind: CiliumClusterwideNetworkPolicy" in yaml_text


def test_render_reports_compile_errors_on_stderr_and_exits_1_but_prints_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["import", str(FQDN_POLICY)], capsys)
    (tmp_path / "doc.json").write_text(out)
    code, yaml_text, err = run(["render", str(tmp_path / "doc.json"), "--dialect", "native"], capsys)
    assert code == 1
    assert err.startswith("error: edge e2 (") and "toFQDNs" in err and "[edge e2]" in err
    assert "kind: NetworkPolicy" in yaml_text
    code, yaml_text, err = run(["render", str(tmp_path / "doc.json"), "--dialect", "cilium"], capsys)
    assert (code, err) == (0, "") and "toFQDNs" in yaml_text


def test_an_invalid_document_exits_2_with_file_line_and_field_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = {
        "schema": "fenceline/v1",
        "namespaces": [{"name": "default"}],
        "nodes": [{"id": "a", "kind": "selector", "namespace": "default", "podSelector": {}}],
        "edges": [
            {"id": "e1", "source": "a", "target": "a"},
            {"id": "e2", "source": "a", "target": "a", "ports": [{"protocol": "TCP", "port": 90, "endPort": 80}]},
        ],
    }
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(document, indent=2))
    code, out, err = run(["render", str(path)], capsys)
    assert (code, out) == (2, "")
    line = path.read_text().splitlines().index('          "endPort": 80') + 1
    assert err == f"fenceline render: {path}:{line}: edges[1].ports[0].endPort: endPort 80 is smaller than port 90\n"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"schema": "fenceline/v1", "nodes": [', "invalid YAML"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"schema": "fenceline/v9"}', "unsupported document version"),
        (b"{}\n---\n{}\n", "expected one JSON document, found 2"),
    ],
)
def test_bad_documents_on_stdin_exit_2_with_one_line(
    data: bytes, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["render", "-"], capsys, stdin=data)
    assert (code, out) == (2, "")
    assert err.startswith("fenceline render: <stdin>") and message in err and err.count("\n") == 1


def test_import_of_a_missing_file_or_bad_yaml_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["import", str(tmp_path / "nope.yaml")], capsys)
    assert code == 2 and "nope.yaml" in err and err.count("\n") == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: NetworkPolicy\nspec: [\n")
    code, _, err = run(["import", str(bad)], capsys)
    assert code == 2 and f"{bad}:" in err and "invalid YAML" in err


def test_hostile_label_values_are_kept_as_data_and_refused_by_label_syntax(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    markup = "<img src=x onerror=alert(1)>"
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\n"
        f'spec:\n  podSelector: {{matchLabels: {{app: "{markup}"}}}}\n'
    )
    code, out, err = run(["import", str(policy)], capsys)
    assert code == 0 and f"{policy}:5:" in err and "invalid label value" in err
    assert json.loads(out)["nodes"][0]["podSelector"] == {"matchLabels": {"app": markup}}
    (tmp_path / "doc.json").write_text(out)
    for dialect in ("native", "cilium"):
        code, yaml_text, err = run(["render", str(tmp_path / "doc.json"), "--dialect", dialect], capsys)
        assert code == 1 and "invalid label value" in err
        assert "<img" not in yaml_text


def test_render_reports_the_schema_checks_of_what_it_emits_as_the_api_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`fenceline render` and the JSON API give one answer (editor.policy.service): the validator's findings on
    the emitted objects are part of it, here its warning that a node peer needs an agent flag."""
    from editor.policy.document import Document
    from editor.policy.service import compile_answer

    data = {
        "schema": "fenceline/v1",
        "settings": {"dialect": "cilium"},
        "namespaces": [{"name": "shop"}],
        "nodes": [
            {"id": "web", "kind": "workload", "name": "web", "namespace": "shop", "labels": {"app": "web"}},
            {"id": "workers", "kind": "hosts", "nodeSelector": {"matchLabels": {"role": "worker"}}},
        ],
        "edges": [{"id": "e1", "source": "workers", "target": "web", "enforce": ["target"]}],
    }
    (tmp_path / "doc.json").write_text(json.dumps(data))
    code, yaml_text, err = run(["render", str(tmp_path / "doc.json")], capsys)
    assert code == 0 and "fromNodes" in yaml_text
    api = compile_answer(Document.from_json(data), "cilium")
    assert (
        [line for line in err.splitlines() if "works only when the agent runs with" in line]
        == [
            f"{i['severity']}: {i['message']}"
            for i in api["issues"]
            if "works only when the agent runs with" in i["message"]
        ]
        != []
    )
