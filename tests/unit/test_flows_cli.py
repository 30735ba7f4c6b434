"""`fenceline flows`: document JSON on stdout, the summary on stderr, `-` for stdin, exit 2 on bad input."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest

from editor.policy.cli import main
from editor.policy.document import Document

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
HTTP = str(FIXTURES / "hubble" / "basic-sample-5-http-flows.json")
DENIED = str(FIXTURES / "hubble" / "cilium-docs-hubble-export-example.jsonl")
GADGET = str(FIXTURES / "gadget" / "gen1-2020-connect-accept" / "multiple.input")


class _Stdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["flows", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_files_of_both_families_give_one_document_and_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, HTTP, GADGET)
    assert code == 0
    document = Document.loads(out)
    assert {node.id for node in document.nodes} >= {"istio-system/prometheus", "demo/shippingservice"}
    assert f"fenceline flows: {HTTP}: hubble jsonpb, 5 records, 0 skipped" in err.splitlines()
    assert f"fenceline flows: {GADGET}: gadget gen1 (connect/accept), 2 records, 0 skipped" in err.splitlines()


def test_stdin_gzip_with_filters(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    data = Path(HTTP).read_bytes() + Path(DENIED).read_bytes()
    monkeypatch.setattr("sys.stdin", _Stdin(gzip.compress(data)))
    code, out, err = run(capsys, "-", "--namespace", "default", "--verdict", "DROPPED")
    assert code == 0
    (edge,) = json.loads(out)["edges"]
    assert (edge["source"], edge["target"], edge["disabled"]) == ("default/xwing", "default/deathstar", True)
    assert "fenceline flows: <stdin>: hubble jsonpb, gzip, 7 records, 0 skipped" in err.splitlines()


def test_time_window_collapse_and_into(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, HTTP, "--until", "2021-10-04T14:28:39Z", "--collapse-cidr", "16")
    assert code == 0
    (edge,) = json.loads(out)["edges"]
    assert edge["target"] == "cidr:10.128.0.0/16"
    saved = tmp_path / "doc.json"
    saved.write_text(out)
    code, out, _ = run(capsys, HTTP, "--collapse-cidr", "16", "--into", str(saved))
    assert code == 0
    counts = {(e["source"], e["target"]): e["observed"]["count"] for e in json.loads(out)["edges"]}
    assert counts[("istio-system/prometheus", "cidr:10.128.0.0/16")] == 2
    assert len(counts) == 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["/nonexistent/flows.json"],
            "fenceline flows: /nonexistent/flows.json: cannot read: No such file or directory",
        ),
        ([HTTP, "--since", "last tuesday"], "fenceline flows: options: 'last tuesday' is not an RFC 3339 time"),
        ([HTTP, "--collapse-cidr", "40"], "fenceline flows: options: --collapse-cidr 40 is not an IPv4 prefix length"),
        ([HTTP, "--into", HTTP], f"fenceline flows: {HTTP}: not a valid Fenceline document"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.startswith(message)
    assert len(err.splitlines()) == 1


def test_a_file_with_nothing_readable_still_gives_a_document(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    junk = tmp_path / "junk.log"
    junk.write_bytes(b"hello\nworld\n")
    code, out, err = run(capsys, str(junk))
    assert code == 0
    assert json.loads(out)["nodes"] == []
    assert "fenceline flows: 2 lines skipped, first ones:" in err.splitlines()
    assert f"fenceline flows:   {junk}:1: not valid JSON" in err
