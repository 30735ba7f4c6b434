"""`fenceline flows`: document JSON on stdout, the summary on stderr, `-` for stdin, exit 2 on bad input."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from editor.policy.cli import main
from editor.policy.document import Document
from editor.policy.flows import FlowImport, read_flows

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


GOLDEN = FIXTURES / "flows-golden"


@pytest.mark.parametrize(
    ("log", "golden"),
    [
        (GOLDEN / "synthetic-bare-pods-40.jsonl", "synthetic-bare-pods-40.golden.json"),
        (Path(HTTP), "basic-sample-5-http-flows.golden.json"),
    ],
)
def test_output_is_byte_for_byte_what_it_was(capsys: pytest.CaptureFixture[str], log: Path, golden: str) -> None:
    """The speed-ups of the import and the batched writer change no byte of the document (golden files made
    before them: tests/fixtures/flows-golden/README.md)."""
    code, out, _ = run(capsys, str(log))
    assert code == 0
    assert out == (GOLDEN / golden).read_text()


def test_bare_pods_each_make_a_locked_node() -> None:
    """The bench's `pods` shape in small: no two pods share a workload, every pod that sends is locked for
    egress, every edge is numbered in (source, target, protocol, port) order."""
    document = Document.loads((GOLDEN / "synthetic-bare-pods-40.golden.json").read_bytes())
    assert len(document.nodes) == 40
    assert all(node.kind == "workload" and node.owner == "Pod" for node in document.nodes)
    assert all(node.isolate.egress for node in document.nodes)
    keys = [(edge.source, edge.target, edge.ports[0].protocol, edge.ports[0].port) for edge in document.edges]
    assert keys == sorted(keys)
    assert [edge.id for edge in document.edges] == [f"e{number}" for number in range(1, len(keys) + 1)]


@pytest.mark.parametrize("batch", [1, 3, 1000])
def test_batched_writing_is_the_standard_librarys_indented_json(batch: int) -> None:
    """dump_chunks moves formatted batches of items two levels in: the result must be exactly what
    json.dumps(indent=2) writes for the whole document, with nodes and edges or with none."""
    with open(HTTP, "rb") as handle:
        full = read_flows([(HTTP, handle)]).document
    for document in (full, Document(name="empty")):
        expected = json.dumps(document.to_json(), indent=2, ensure_ascii=False) + "\n"
        assert b"".join(document.dump_chunks(batch=batch)).decode() == expected
        assert document.dump_bytes() == expected.encode()


CAPTURES = sorted([*(FIXTURES / "hubble").glob("*.json*"), *(FIXTURES / "gadget").glob("*/*.input")])


def _import(*paths: Path, into: Document | None = None) -> FlowImport:
    files = [(str(path), io.BytesIO(path.read_bytes())) for path in paths]
    return read_flows(files, into=into)


@pytest.mark.parametrize(
    "paths",
    [[path] for path in CAPTURES] + [CAPTURES, [GOLDEN / "synthetic-bare-pods-40.jsonl"]],
    ids=lambda paths: paths[0].name if len(paths) == 1 else "all",
)
def test_the_json_written_from_the_rows_is_the_documents(paths: list[Path]) -> None:
    """`fenceline flows` writes the JSON of the nodes and edges an import made straight from their rows, without
    making the Document: it must be the text the Document itself writes, byte for byte."""
    written = b"".join(_import(*paths).dump_chunks())
    document = _import(*paths).document
    assert written == document.dump_bytes()
    assert written == (json.dumps(document.to_json(), indent=2, ensure_ascii=False) + "\n").encode()
    assert b"".join(_import(*paths, into=Document.loads(written)).dump_chunks()) == (
        _import(*paths, into=Document.loads(written)).document.dump_bytes()
    )


def test_the_document_is_the_same_whatever_the_string_hash_seed() -> None:
    """Several captures together make entity and address nodes; their order may not follow Python's set order,
    which changes with PYTHONHASHSEED from run to run."""
    captures = sorted(str(path) for path in (FIXTURES / "hubble").glob("*.json"))
    outputs = set()
    for seed in ("1", "2", "3"):
        done = subprocess.run(
            [sys.executable, "-m", "editor.policy.cli", "flows", *captures],
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            check=True,
        )
        outputs.add(done.stdout)
    assert len(outputs) == 1


def test_the_flows_command_does_not_import_the_yaml_loader_or_the_schema_validators(tmp_path: Path) -> None:
    """`fenceline flows` reads flow logs and writes JSON: importing PyYAML (and building the YAML emitter and
    resolver), fastjsonschema or jsonschema is start-up time a realistic capture pays for nothing."""
    probe = (
        "import sys\nfrom editor.policy.cli import main\n"
        f"main(['flows', {HTTP!r}])\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in "
        "('yaml', 'fastjsonschema', 'jsonschema') or name == 'editor.policy.yamlio'), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert done.stdout.startswith("{")
    assert done.stderr.rstrip().splitlines()[-1] == "[]"


def test_the_flows_process_ends_at_once_yet_writes_everything_and_keeps_its_status(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The `fenceline` program ends a `flows` process with os._exit, without freeing the graph (cli.console):
    what it wrote to a pipe must still arrive whole, stderr too, and the exit status must be main's."""
    capture = tmp_path / "pods.jsonl"
    with capture.open("w") as handle:
        for number in range(600):
            ends = [{"namespace": "batch", "pod_name": f"worker{number + side}", "labels": [f"k8s:run=w{number}"]}
                    for side in (0, 1)]  # fmt: skip
            flow = {"time": "2024-03-01T10:00:00.000000000Z", "verdict": "FORWARDED", "is_reply": False,
                    "source": ends[0], "destination": ends[1], "l4": {"TCP": {"destination_port": 8080}}}  # fmt: skip
            handle.write(json.dumps({"flow": flow}) + "\n")
    captures = [str(capture), *sorted(str(path) for path in (FIXTURES / "hubble").glob("*.json"))]
    code, out, err = run(capsys, *captures)
    done = subprocess.run([sys.executable, "-m", "editor.policy.cli", "flows", *captures], capture_output=True)
    assert len(done.stdout) > 200_000  # more than a pipe holds: written while the reader drains it
    assert (done.returncode, done.stdout.decode(), done.stderr.decode()) == (code, out, err)
    missing = str(tmp_path / "missing.json")
    failed = subprocess.run([sys.executable, "-m", "editor.policy.cli", "flows", missing], capture_output=True)
    assert failed.returncode == 2 and failed.stdout == b"" and failed.stderr.count(b"\n") == 1
