"""Flow log readers: every Hubble JSON shape and Gadget log in tests/fixtures reads, and bad input never costs
the good lines. Variants of the real captures (legacy bare flows, lowerCamelCase keys, numeric enums, gzip, a
JSON array) are made from the fixture lines and must give the very same document as the original."""

from __future__ import annotations

import gzip
import io
import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest

from editor.policy.flows import FlowOptions, read_flows
from editor.policy.flows.detect import CHUNK_BYTES, MAX_LINE_BYTES
from editor.policy.flows.hubble import split_labels
from editor.policy.yamlio import InputError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
HUBBLE = sorted((FIXTURES / "hubble").glob("*.json*"))
GADGET_LOGS = sorted((FIXTURES / "gadget").glob("*/*.input"))
GADGET_YAML = sorted((FIXTURES / "gadget").glob("*/*.golden*")) + sorted((FIXTURES / "gadget").glob("*/*.yaml"))

# Verbatim lost-events records (FLOWS.md Part 1 §5 d: cilium/cilium hubble printer test, and the shape the
# legacy `-o json` prints: a bare LostEvent).
LOST_WRAPPED = (
    b'{"lost_events":{"source":"HUBBLE_RING_BUFFER","num_events_lost":"1","cpu":5},'
    b'"node_name":"node-name","time":"1970-01-01T00:20:34.567800Z"}'
)
LOST_BARE = b'{"source":"HUBBLE_RING_BUFFER","num_events_lost":"7"}'
ODD_CASE = {"IP", "Type", "ID", "ipVersion", "TCP", "UDP", "SCTP", "ICMPv4", "ICMPv6", "Summary", "l4", "l7"}


def read(data: bytes, name: str = "log", **options: Any):
    return read_flows([(name, io.BytesIO(data))], FlowOptions(**options))


def document_of(data: bytes) -> dict[str, Any]:
    return read(data).document.to_json()


def lines_of(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().splitlines() if line.strip()]


def rewrite(path: Path, change) -> bytes:
    return b"\n".join(json.dumps(change(json.loads(line))).encode() for line in lines_of(path)) + b"\n"


def camel(value: Any) -> Any:
    """lowerCamelCase keys, as protojson prints them by default (odd-cased proto names stay)."""
    if isinstance(value, dict):
        return {
            (key if key in ODD_CASE else re.sub(r"_([a-z0-9])", lambda m: m[1].upper(), key)): camel(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [camel(item) for item in value]
    return value


VERDICT_NUMBERS = {"FORWARDED": 1, "DROPPED": 2, "ERROR": 3, "AUDIT": 4, "REDIRECTED": 5}
DROP_NUMBERS = {"POLICY_DENIED": 133, "INVALID_SOURCE_IP": 132}
L7_NUMBERS = {"REQUEST": 1, "RESPONSE": 2}
TRACE_NUMBERS = {"NEW": 1, "ESTABLISHED": 2, "REPLY": 3}


def numeric_enums(record: dict[str, Any]) -> dict[str, Any]:
    flow = record["flow"]
    flow["verdict"] = VERDICT_NUMBERS[flow["verdict"]]
    if "drop_reason_desc" in flow:
        flow["drop_reason_desc"] = DROP_NUMBERS[flow["drop_reason_desc"]]
    if "l7" in flow:
        flow["l7"]["type"] = L7_NUMBERS[flow["l7"]["type"]]
    if "trace_reason" in flow:
        flow["trace_reason"] = TRACE_NUMBERS[flow["trace_reason"]]
    return record


@pytest.mark.parametrize("path", HUBBLE, ids=lambda p: p.name)
def test_every_hubble_capture_reads_without_skipping(path: Path) -> None:
    result = read(path.read_bytes(), path.name)
    (report,) = result.summary.files
    assert report.format == "hubble jsonpb"
    assert report.records == len(lines_of(path))
    assert result.summary.lines_skipped == 0
    assert result.summary.flows_read == len(lines_of(path))


@pytest.mark.parametrize("path", GADGET_LOGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_gadget_log_reads_without_skipping(path: Path) -> None:
    result = read(path.read_bytes(), path.name)
    (report,) = result.summary.files
    assert result.summary.lines_skipped == 0
    if path.name.startswith("empty"):
        assert report.layout == "empty" and report.records == 0
        assert "no flow records found" in "\n".join(result.summary.lines())
    else:
        expected = {
            "gen1": "gadget gen1 (connect/accept)",
            "gen2a": "gadget gen2 2022 (networktrace.log, flat keys)",
            "gen2b": "gadget gen2 (networktrace.log)",
        }[path.parent.name.split("-")[0]]
        assert report.format == expected
        assert report.records == result.summary.flows_read > 0


@pytest.mark.parametrize("path", GADGET_YAML, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_policy_yaml_given_as_a_log_is_skipped_line_by_line_with_reasons(path: Path) -> None:
    result = read(path.read_bytes(), path.name)
    assert result.document.nodes == [] and result.document.edges == []
    lines = [line for line in path.read_bytes().splitlines() if line.strip()]
    assert result.summary.lines_skipped == len(lines)
    assert all("JSON" in skipped.reason for skipped in result.summary.skipped)
    # Inspektor Gadget's current release prints policies, not a log: every line says where it belongs.
    assert all("imported as YAML" in skipped.reason for skipped in result.summary.skipped)


@pytest.mark.parametrize("path", HUBBLE, ids=lambda p: p.name)
def test_legacy_bare_flows_give_the_same_document(path: Path) -> None:
    bare = rewrite(path, lambda record: record["flow"])
    result = read(bare)
    assert result.summary.files[0].format == "hubble legacy json"
    assert result.document.to_json() == document_of(path.read_bytes())


@pytest.mark.parametrize("path", HUBBLE, ids=lambda p: p.name)
def test_lower_camel_case_keys_give_the_same_document(path: Path) -> None:
    result = read(rewrite(path, camel))
    assert result.summary.files[0].format == "hubble jsonpb (lowerCamelCase)"
    assert result.summary.lines_skipped == 0
    assert result.document.to_json() == document_of(path.read_bytes())


def test_camel_case_legacy_flows_and_a_mixed_file_read_line_by_line() -> None:
    path = FIXTURES / "hubble" / "basic-sample-5-http-flows.json"
    snake = lines_of(path)
    camel_bare = [json.dumps(camel(json.loads(line)["flow"])).encode() for line in snake]
    mixed = b"\n".join(line for pair in zip(snake, camel_bare, strict=True) for line in pair)
    result = read(mixed)
    formats = result.summary.files[0].formats
    assert formats == {"hubble jsonpb": 5, "hubble legacy json (lowerCamelCase)": 5}
    single = read(path.read_bytes()).document
    assert [edge.observed.count for edge in result.document.edges] == [2 * edge.observed.count for edge in single.edges]


def test_runs_of_lines_in_each_shape_are_counted_under_their_own_shape() -> None:
    # Concatenated logs: a run of snake_case lines, then lowerCamelCase ones, then legacy bare flows, all in one
    # batch. The lines after each switch are read by the fast decoder, and counted under the shape they have.
    path = FIXTURES / "hubble" / "basic-sample-10-flows.json"
    snake = lines_of(path)
    camel_lines = [json.dumps(camel(json.loads(line))).encode() for line in snake]
    bare = [json.dumps(json.loads(line)["flow"]).encode() for line in snake]
    result = read(b"\n".join(snake + camel_lines + bare))
    formats = result.summary.files[0].formats
    assert formats == {"hubble jsonpb": 10, "hubble jsonpb (lowerCamelCase)": 10, "hubble legacy json": 10}


@pytest.mark.parametrize(
    "name", ["cilium-docs-hubble-export-example.jsonl", "basic-sample-5-http-flows.json", "basic-sample-10-flows.json"]
)
def test_numeric_enums_give_the_same_document(name: str) -> None:
    path = FIXTURES / "hubble" / name
    assert document_of(rewrite(path, numeric_enums)) == document_of(path.read_bytes())


@pytest.mark.parametrize("path", [HUBBLE[0], *GADGET_LOGS[:2]], ids=lambda p: p.name)
def test_gzip_is_found_by_its_magic_bytes(path: Path) -> None:
    result = read(gzip.compress(path.read_bytes()), "log.unknown-extension")
    assert result.summary.files[0].compression == "gzip"
    assert result.document.to_json() == document_of(path.read_bytes())


def test_a_json_array_of_hubble_records_reads_like_lines() -> None:
    path = FIXTURES / "hubble" / "basic-sample-400-tcp-flows.json"
    array = b"[\n" + b",\n".join(lines_of(path)) + b"\n]\n"
    result = read(array)
    assert result.summary.files[0].layout == "json-array"
    assert result.summary.lines_skipped == 0
    assert result.document.to_json() == document_of(path.read_bytes())


def test_gadget_gen2_log_as_a_json_array() -> None:
    path = FIXTURES / "gadget" / "gen2b-2023-2025-trace-network" / "connect-to-svc-duplicate.input"
    array = b"[" + b",".join(lines_of(path)) + b"]"
    assert document_of(array) == document_of(path.read_bytes())


def test_gadget_gen1_one_object_per_line() -> None:
    path = FIXTURES / "gadget" / "gen1-2020-connect-accept" / "multiple.input"
    per_line = b"\n".join(json.dumps(item).encode() for item in json.loads(path.read_bytes()))
    result = read(per_line)
    assert result.summary.files[0].layout == "lines"
    assert result.document.to_json() == document_of(path.read_bytes())


def test_lost_events_wrapped_and_bare_are_counted_and_reported() -> None:
    flows = (FIXTURES / "hubble" / "basic-sample-5-dns-flows.json").read_bytes()
    result = read(LOST_WRAPPED + b"\n" + flows + LOST_BARE + b"\n")
    summary = result.summary
    assert (summary.events_lost, summary.lost_records) == (8, 2)
    assert summary.flows_read == 5
    assert "8 events lost in 2 lost_events records" in "\n".join(summary.lines())
    assert result.document.to_json() == document_of(flows)


# ---- bad input ---------------------------------------------------------------------------------------------

GOOD = FIXTURES / "hubble" / "basic-sample-10-flows.json"


def test_a_truncated_last_line_is_skipped_and_every_good_line_kept() -> None:
    lines = lines_of(GOOD)
    data = b"\n".join(lines) + b"\n" + lines[0][: len(lines[0]) // 2]
    result = read(data, "cut.json")
    assert result.summary.flows_read == len(lines)
    assert [(s.line, s.reason) for s in result.summary.skipped] == [
        (len(lines) + 1, "truncated line (the JSON object is cut off)")
    ]
    assert result.document.to_json() == document_of(GOOD.read_bytes())


def test_non_json_and_binary_lines_are_skipped_with_line_numbers() -> None:
    lines = lines_of(GOOD)
    bad = [
        b"this is not JSON",
        b"\x00\x01\x02binary\xff\xfe",
        b"\xff\xfe\xfd not utf-8",
        b'{"unknown": "kind"}',
        b"[1, 2]",
    ]
    mixed: list[bytes] = []
    for index, line in enumerate(lines):
        mixed.append(line)
        if index < len(bad):
            mixed.append(bad[index])
    result = read(b"\n".join(mixed), "mixed.json")
    skipped = result.summary.skipped
    assert [s.line for s in skipped] == [2, 4, 6, 8, 10]
    assert skipped[0].reason.startswith("not valid JSON")
    assert skipped[1].reason == "binary data, not JSON"
    assert skipped[2].reason == "binary data (not UTF-8), not JSON"
    assert skipped[3].reason == "not a Hubble flow or Gadget event (keys: unknown)"
    assert skipped[4].reason == "a JSON list, not an object"
    assert result.summary.files[0].skipped == 5
    assert result.document.to_json() == document_of(GOOD.read_bytes())


def test_a_whole_file_of_binary_garbage_never_raises() -> None:
    garbage = bytes(range(256)) * 4000 + b"\n" + bytes(reversed(range(256))) * 10
    result = read(garbage, "random.bin")
    assert result.document.nodes == []
    assert result.summary.lines_skipped >= 1
    assert result.summary.flows_read == 0


@pytest.mark.parametrize("data", [b"", b"\n\n\n", b"   \n \t \n"], ids=["empty", "newlines", "blanks"])
def test_an_empty_file_gives_an_empty_result_with_a_note(data: bytes) -> None:
    result = read(data, "empty.json")
    assert result.document.nodes == [] and result.document.edges == []
    assert result.summary.files[0].format == "empty"
    assert result.summary.lines_skipped == 0
    assert "no flow records found" in "\n".join(result.summary.lines())


def test_a_damaged_json_array_keeps_the_items_around_the_damage() -> None:
    path = FIXTURES / "gadget" / "gen1-2020-connect-accept" / "multiple.input"
    items = [json.dumps(item) for item in json.loads(path.read_bytes())]
    damaged = "[\n" + items[0] + ",\n" + '{"type": "connect", "port": ,}' + ",\n" + items[1] + "\n]"
    result = read(damaged.encode(), "damaged.json")
    assert [(s.line, s.reason.split(":")[0]) for s in result.summary.skipped] == [(3, "broken item in a JSON array")]
    assert result.document.to_json() == document_of(path.read_bytes())
    truncated = read(("[\n" + items[0] + ",\n" + items[1][:40]).encode(), "cut.json")
    assert truncated.summary.flows_read == 1 and truncated.summary.lines_skipped == 1


def test_a_lone_surrogate_escape_in_a_damaged_array_is_a_skipped_item_not_a_crash() -> None:
    # Found by test_flows_reader_fuzz: json reads "\\ud800" as a lone surrogate, which no UTF-8 can hold, so writing
    # the item out again for the reader raised UnicodeEncodeError and ended the import with a traceback.
    path = FIXTURES / "gadget" / "gen1-2020-connect-accept" / "multiple.input"
    items = [json.dumps(item) for item in json.loads(path.read_bytes())]
    damaged = "[{\n" + '{"type": "connect", "note": "\\ud800"}' + ",\n" + items[0] + "\n"
    result = read(damaged.encode(), "damaged.json")
    reasons = [(s.line, s.reason) for s in result.summary.skipped]
    assert (2, "broken item in a JSON array: a \\u escape of a lone surrogate, which is not Unicode") in reasons
    assert result.summary.flows_read == 1


def test_only_the_first_twenty_skipped_lines_are_kept_in_detail() -> None:
    data = b"\n".join(b"junk %d" % number for number in range(50)) + b"\n" + GOOD.read_bytes()
    summary = read(data).summary
    assert summary.lines_skipped == 50
    assert [s.line for s in summary.skipped] == list(range(1, 21))
    assert summary.flows_read == len(lines_of(GOOD))


def test_an_input_over_the_size_limit_is_refused_with_a_clear_message() -> None:
    data = (FIXTURES / "hubble" / "basic-sample-400-tcp-flows.json").read_bytes()
    with pytest.raises(InputError) as caught:
        read(data, "big.json", max_bytes=100_000)
    assert str(caught.value) == "big.json: the flow logs are 0.6 MiB, more than the limit of 0.1 MiB"


def test_a_stream_of_unknown_size_over_the_limit_is_refused_while_reading() -> None:
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            return self.data.readinto(buffer)

    data = (FIXTURES / "hubble" / "basic-sample-400-tcp-flows.json").read_bytes() * 4
    with pytest.raises(InputError, match=r"more than the limit of 1\.0 MiB"):
        read_flows([("pipe", io.BufferedReader(Pipe(data)))], FlowOptions(max_bytes=1024 * 1024))


def test_damaged_gzip_is_a_clear_error() -> None:
    packed = gzip.compress(GOOD.read_bytes())
    with pytest.raises(InputError, match="damaged gzip data"):
        read(packed[: len(packed) // 2] + b"\x00" * 64, "cut.gz")


def test_progress_reports_bytes_read_up_to_the_total() -> None:
    data = (FIXTURES / "hubble" / "basic-sample-400-tcp-flows.json").read_bytes()
    calls: list[tuple[int, int]] = []
    read_flows(
        [("a", io.BytesIO(data)), ("b", io.BytesIO(data))], progress=lambda done, total: calls.append((done, total))
    )
    assert len(calls) >= 3
    assert all(total == 2 * len(data) for _, total in calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert calls[-1] == (2 * len(data), 2 * len(data))
    assert all(later - earlier <= CHUNK_BYTES for (earlier, _), (later, _) in itertools.pairwise(calls))


def test_exporter_records_without_a_flow_are_read_and_ignored() -> None:
    agent = b'{"agent_event":{"type":"AGENT_STARTED","agent_start":{"time":"2024-01-01T00:00:00Z"}},"node_name":"n1"}'
    status = b'{"node_status":{"state_change":"NODE_UNAVAILABLE","node_names":["n2"]},"node_name":"n1"}'
    flows = GOOD.read_bytes()
    result = read(agent + b"\n" + flows + status + b"\n")
    assert result.summary.lines_skipped == 0
    assert result.summary.files[0].records == len(lines_of(GOOD)) + 2
    assert result.summary.flows_read == len(lines_of(GOOD))
    assert result.document.to_json() == document_of(flows)


def test_a_line_longer_than_the_limit_is_skipped_without_being_kept_whole() -> None:
    flows = GOOD.read_bytes()
    long_line = b'{"flow": {"Summary": "' + b"x" * (MAX_LINE_BYTES + CHUNK_BYTES) + b'"}}'
    result = read(flows + long_line + b"\n" + flows)
    assert [(s.line, s.reason) for s in result.summary.skipped] == [
        (len(lines_of(GOOD)) + 1, "line longer than 16 MiB")
    ]
    assert result.summary.flows_read == 2 * len(lines_of(GOOD))


@pytest.mark.parametrize(
    "moment", ["2021-02-30T10:00:00+01:00", "2021-02-03T25:28:38+01:00", "0001-01-01T00:00:00+23:59"]
)
def test_a_flow_with_an_impossible_time_loses_only_its_time(moment: str) -> None:
    good = {
        "flow": {
            "time": "2021-02-03T10:00:00Z",
            "verdict": "FORWARDED",
            "IP": {"source": "10.0.0.1", "destination": "10.0.0.2"},
            "l4": {"TCP": {"source_port": 40000, "destination_port": 80, "flags": {"SYN": True}}},
            "source": {"namespace": "a", "pod_name": "web-1", "labels": ["k8s:app=web"]},
            "destination": {"namespace": "b", "pod_name": "api-1", "labels": ["k8s:app=api"]},
            "traffic_direction": "EGRESS",
            "is_reply": False,
        }
    }
    odd = json.loads(json.dumps(good))
    odd["flow"]["time"] = moment
    data = (json.dumps(odd) + "\n" + json.dumps(good) + "\n").encode()
    result = read_flows([("odd.json", io.BytesIO(data))])
    assert result.summary.to_json()["flowsRead"] == 2
    assert len(result.document.edges) == 1
    with pytest.raises(ValueError):
        FlowOptions(since="0001-01-01T00:00:00+23:59")


def test_labels_are_told_apart_by_what_comes_before_their_first_equals_sign() -> None:
    """split_labels caches what a label is by its `source:key` (a bare pod's `run=<its name>` repeats the key,
    not the value): sources, Cilium's own keys, namespace labels, values holding "=" and odd labels read as
    taking each label apart whole would."""
    labels = [
        "k8s:app=web",
        "k8s:io.kubernetes.pod.namespace=shop",
        "k8s:io.cilium.k8s.namespace.labels.team=a",
        "reserved:host",
        "k8s:io.cilium.k8s.policy.cluster=default",
        "any:tier=be=x",
        "plain=1",
        "foo:bar=baz",
        "k8s:empty",
        "container:x=y",
        "=k8s:odd",
        "k8s:app=api",
    ]
    for _ in range(2):  # taken apart, then from the cache
        assert split_labels(labels) == (
            {"app": "api", "tier": "be=x", "plain": "1", "foo:bar": "baz", "empty": "", "": "k8s:odd"},
            {"team": "a"},
            "shop",
        )
