"""JSON arrays of flows are streamed (issue 12, finding 4): items are cut out as the chunks arrive, so memory
stays flat however large the array, and the result is the same whatever sizes the input arrives in."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from editor.policy.flows import FlowOptions, ReadStopped, detect, read_flows

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HUBBLE = FIXTURES / "hubble" / "basic-sample-5-http-flows.json"
GEN1 = FIXTURES / "gadget" / "gen1-2020-connect-accept" / "multiple.input"
ROOT = Path(__file__).resolve().parents[2]


class Trickle(io.RawIOBase):
    """A pipe that hands out at most `size` bytes per read, so every item is cut by chunk boundaries."""

    def __init__(self, data: bytes, size: int) -> None:
        self._data = io.BytesIO(data)
        self._size = size

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._data.read(self._size)


def hubble_array() -> bytes:
    """The real HTTP capture as a pretty-printed array (`jq -s .`), with strings that hold brackets, quotes
    and backslashes where a naive bracket counter would lose its place."""
    records = [json.loads(line) for line in HUBBLE.read_bytes().splitlines() if line.strip()]
    records[0]["flow"]["Summary"] = 'odd } ] { [ "quoted" \\ back\\slash\\'
    records[1]["flow"]["Summary"] = "ünïcødé \u2028 ]}"
    return json.dumps(records, indent=2, ensure_ascii=False).encode()


def summary_of(raw: io.RawIOBase | io.BytesIO):
    result = read_flows([("array.json", raw)], FlowOptions())  # type: ignore[list-item]
    return result.document.to_json(), result.summary.to_json()


@pytest.mark.parametrize("source", [hubble_array, lambda: GEN1.read_bytes()], ids=["hubble-jq-s", "gadget-gen1"])
@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 4096])
def test_an_array_read_in_small_pieces_gives_what_the_whole_gives(source, size: int) -> None:
    data = source()
    whole = summary_of(io.BytesIO(data))
    assert whole[1]["files"][0]["layout"] == "json-array" and whole[1]["flowsRead"] > 0
    assert whole[1]["linesSkipped"] == 0
    assert summary_of(Trickle(data, size)) == whole


def test_items_report_the_line_they_start_on_across_chunks() -> None:
    items = [json.dumps({"n": n}) for n in range(3)]
    data = ("[\n\n" + items[0] + ",\n" + '{"a": [1, 2,\n 3]},\n' + items[1] + "]").encode()
    result = read_flows([("a.json", Trickle(data, 2))])  # type: ignore[list-item]
    assert [(s.line, s.reason.split(" (")[0]) for s in result.summary.skipped] == [
        (3, "not a Hubble flow or Gadget event"),
        (4, "not a Hubble flow or Gadget event"),
        (6, "not a Hubble flow or Gadget event"),
    ]


def test_an_over_long_item_is_skipped_and_the_items_after_it_are_read(monkeypatch) -> None:
    monkeypatch.setattr(detect, "MAX_LINE_BYTES", 1000)
    monkeypatch.setattr(detect, "CHUNK_BYTES", 16)
    gen1 = json.loads(GEN1.read_text())
    big = {"type": "connect", "padding": ["x" * 10] * 200}
    data = json.dumps([gen1[0], big, gen1[1]], indent=1).encode()
    result = read_flows([("a.json", io.BytesIO(data))])
    assert result.summary.flows_read == 2
    ((skipped),) = result.summary.skipped
    assert skipped.reason == "line longer than 0 MiB" and skipped.line == data.decode().splitlines().index(" {", 2) + 1


def test_stop_ends_the_read_within_one_item() -> None:
    data = hubble_array()
    asked = 0

    def stop() -> bool:
        nonlocal asked
        asked += 1
        return asked > 2

    with pytest.raises(ReadStopped):
        read_flows([("a.json", io.BytesIO(data))], stop=stop)
    assert asked == 3


# Peak RSS from VmHWM: it belongs to this process's memory map, which exec makes anew (ru_maxrss would carry
# the parent's peak, the pytest process's, across fork and exec).
MEASURE = textwrap.dedent(
    """
    import io, re, sys
    from editor.policy.flows import read_flows
    def peak_mb():
        status = open("/proc/self/status").read()
        return int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) // 1024
    data = open(sys.argv[1], "rb").read()
    before = peak_mb()
    result = read_flows([("big.json.gz", io.BytesIO(data))])
    print(result.summary.flows_read, result.summary.lines_skipped, peak_mb() - before)
    """
)


def test_a_gzip_array_that_expands_a_hundredfold_is_read_in_flat_memory(tmp_path: Path) -> None:
    """40 MiB of array inside a gzip body of about 1 MiB: the old reader held the whole expanded array (and
    a copy while joining it), well over 80 MB above the idle process; the stream stays within a few MB."""
    lines = [line for line in HUBBLE.read_bytes().splitlines() if line.strip()]
    body = b",\n".join(lines)
    count = 40 * 2**20 // len(body)
    path = tmp_path / "big.json.gz"
    path.write_bytes(gzip.compress(b"[\n" + b",\n".join([body] * count) + b"\n]\n", compresslevel=6))
    assert path.stat().st_size < 4 * 2**20
    output = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path)], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    flows, skipped, growth_mb = (int(value) for value in output.split())
    assert (flows, skipped) == (count * len(lines), 0)
    assert growth_mb < 20, f"peak RSS grew {growth_mb} MB while reading"
