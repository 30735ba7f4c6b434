"""Differential fuzzing of the compiled flow reader (editor/policy/flows/_read.pyx) against the Python one.

The compiled reader scans snake_case Hubble lines in C and hands every line it does not take to the Python
path (msgspec's typed decode, then importer._FileReader._slow). It must never take a line the Python path
would read differently or reject. Here real lines (the Hubble captures of tests/fixtures and the shared corpus)
are mutated -- fields set to values of the wrong type, odd numbers, escapes, non-ASCII and invalid UTF-8,
duplicate, unknown, reordered and camelCase keys, white space around tokens, then cut, spliced and padded
byte by byte -- and imported by both readers; the document's bytes and the summary (counts, times, skipped
lines with their numbers and reasons, ignored reasons) must be identical.

Both readers run in this process, as in test_flows_compiled.py: Aggregator.add_records is the compiled one or
Aggregator._python_add_records (what FENCELINE_PURE_FLOWS=1 picks at import). CI runs a fixed set of examples
(derandomize); a deeper, random search: `FENCELINE_FUZZ_EXAMPLES=20000 pytest tests/unit/test_flows_reader_fuzz.py`.
The lines found to differ are kept in FOUND (and as @example) so that they stay covered.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from editor.policy.flows import FlowOptions, aggregate
from editor.policy.flows.aggregate import Aggregator
from tests.unit.test_flows_compiled import PYTHON_ADD, compiled, import_with

ROOT = Path(__file__).resolve().parents[2]
DEEP_EXAMPLES = os.getenv("FENCELINE_FUZZ_EXAMPLES")
FUZZ = settings(
    max_examples=int(DEEP_EXAMPLES or 300),
    derandomize=DEEP_EXAMPLES is None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


# ---- the two readers ------------------------------------------------------------------------------------------


class Taken:
    """How many lines the compiled reader read itself (not handed to the Python loop), over one import, and how
    many its Python fallback read."""

    count = 0
    fallback = 0


def _compiled_counting(
    self: Aggregator, records: Any, start: int, decode: Any, wrapped: bool, strict: bool = True
) -> int:
    """The compiled add_records, counting the lines it read itself: those it returned past, less those its
    Python fallback (Aggregator._python_add_records, called per line) took."""
    before = Taken.fallback
    stop: int = aggregate._read.add_records(self, records, start, decode, wrapped, strict)
    Taken.count += (stop - start) - (Taken.fallback - before)
    return stop


def _python_counting(
    self: Aggregator, records: Any, start: int, decode: Any, wrapped: bool, strict: bool = True
) -> int:
    stop = PYTHON_ADD(self, records, start, decode, wrapped, strict)
    Taken.fallback += stop - start
    return stop


def read_both(data: bytes, options: FlowOptions | None = None) -> tuple[tuple[bytes, Any], tuple[bytes, Any], int]:
    """((document bytes, summary) by the compiled reader, the same by the Python one, lines the C scan took).
    An import that raises gives (b"", the error) instead: shared code may fail on a line (detect.py), the
    same way under either reader."""
    results: list[tuple[bytes, Any]] = []
    Taken.count = 0
    readers: list[tuple[Callable[..., int], Callable[..., int]]] = [
        (_compiled_counting, _python_counting),
        (PYTHON_ADD, PYTHON_ADD),
    ]
    for add, fallback in readers:
        try:
            results.append(import_with(add, data, options, fallback))
        except Exception as exc:  # an error is a result too: both readers must raise the same one
            results.append((b"", f"{type(exc).__name__}: {exc}"))
    return results[0], results[1], Taken.count


def assert_same(data: bytes, options: FlowOptions | None = None) -> int:
    fast, python, taken = read_both(data, options)
    assert fast[1] == python[1], f"summaries differ for {data!r}"
    assert fast[0] == python[0], f"documents differ for {data!r}"
    return taken


# ---- real lines -----------------------------------------------------------------------------------------------

CAPTURES = sorted(
    {
        path.read_bytes()
        for folder in (ROOT / "tests" / "fixtures" / "hubble", Path("/work/shared/corpus/hubble"))
        if folder.is_dir()
        for path in folder.iterdir()
        if path.suffix in (".json", ".jsonl")
    }
    | {(ROOT / "tests" / "fixtures" / "flows-golden" / "synthetic-bare-pods-40.jsonl").read_bytes()}
)


def _seed_lines() -> list[bytes]:
    """Up to 12 distinct lines of each capture, spread over it (a mix of the shapes Hubble prints)."""
    seeds: list[bytes] = []
    for data in CAPTURES:
        lines = [line for line in data.split(b"\n") if line.strip()]
        step = max(1, len(lines) // 12)
        seeds.extend(line for line in lines[::step][:12] if line not in seeds)
    return seeds


SEEDS = _seed_lines()


class Obj(list):  # type: ignore[type-arg]
    """A JSON object as its members in order, [key, value] pairs, so that a key may come twice."""


class Raw(bytes):
    """A value written as these bytes, verbatim (numbers JSON has no Python value for, broken tokens)."""


class RawString(bytes):
    """A string whose text between the quotes is these bytes, verbatim (escapes, invalid UTF-8)."""


def parse(line: bytes) -> Any:
    return json.loads(line, object_pairs_hook=lambda pairs: Obj([list(pair) for pair in pairs]))


def member(obj: Obj, key: str) -> list[Any] | None:
    """The last member of that key (msgspec reads the last of duplicate keys)."""
    for pair in reversed(obj):
        if pair[0] == key:
            return pair  # type: ignore[no-any-return]
    return None


# ---- writing JSON with a chosen style ------------------------------------------------------------------------


class Style:
    def __init__(self, spaces: list[bytes], strings: str, keys: str, every: int) -> None:
        self.spaces, self.strings, self.keys, self.every = spaces, strings, keys, every
        self.turn = 0

    def space(self) -> bytes:
        self.turn += 1
        return self.spaces[self.turn % len(self.spaces)]


def write_string(text: str, mode: str, every: int) -> bytes:
    if mode == "ascii":
        return json.dumps(text).encode()
    body = json.dumps(text, ensure_ascii=False)[1:-1]
    if mode == "slash":
        body = body.replace("/", "\\/")
    elif mode == "u-escape":  # every n-th character as \\u00XX (lower or upper case hex)
        out = []
        for index, char in enumerate(body):
            if index % every == 0 and char.isascii() and char.isalnum():
                out.append(f"\\u{ord(char):04x}" if index % 2 else f"\\u{ord(char):04X}")
            else:
                out.append(char)
        body = "".join(out)
    return b'"' + body.encode("utf-8", "surrogatepass") + b'"'


def write(value: Any, style: Style) -> bytes:
    if isinstance(value, RawString):
        return b'"' + bytes(value) + b'"'
    if isinstance(value, Raw):
        return bytes(value)
    if isinstance(value, Obj):
        if not value:
            return b"{" + style.space() + b"}"
        parts = [
            style.space()
            + write_string(key, style.keys, style.every)
            + style.space()
            + b":"
            + style.space()
            + write(item, style)
            + style.space()
            for key, item in value
        ]
        return b"{" + b",".join(parts) + b"}"
    if isinstance(value, list):
        if not value:
            return b"[" + style.space() + b"]"
        return b"[" + b",".join(style.space() + write(item, style) + style.space() for item in value) + b"]"
    if isinstance(value, str):
        return write_string(value, style.strings, style.every)
    return json.dumps(value).encode()


SPACES = [b"", b"", b"", b" ", b"  ", b"\t", b"\r", b" \r\t ", b"\r\n"]  # \r\n inside a line: two lines
STYLES = st.builds(
    Style,
    st.lists(st.sampled_from(SPACES), min_size=1, max_size=5).map(lambda spaces: [b"", *spaces]),
    st.sampled_from(["plain"] * 6 + ["ascii", "ascii", "slash", "u-escape"]),
    st.sampled_from(["plain"] * 12 + ["u-escape", "slash", "ascii"]),
    st.integers(1, 7),
)


# ---- the values a field may be given ---------------------------------------------------------------------------

NUMBERS = [
    0, 1, -1, 53, 80, 129, 443, 8080, 65535, 65536, 70000, -80, 2**31, 2**32 + 80, 2**63 - 1, 2**63, 2**64 + 80,
    10**17 + 80, 10**18 - 1, 10**18, -(10**18) + 1, -(10**18), 10**19, 123456789012345678901234567890,
]  # fmt: skip
RAW_NUMBERS = [
    b"-0", b"1e3", b"1E2", b"1.0", b"80.0", b"0.5", b"-0.0", b"1e-2", b"08", b"00", b"-", b"+1", b".5", b"1.",
    b"NaN", b"Infinity", b"-Infinity", b"0x50", b"8_0", b"99999999999999999999", b"-9223372036854775808",
    b"9223372036854775808", b"000000000000000000080", b"1" * 18, b"1" * 19, b"-" + b"9" * 18, b"-" + b"9" * 19,
]  # fmt: skip
RAW_LITERALS = [b"tru", b"nul", b"True", b"NULL", b"fals", b"truee", b"nullx", b"t", b"n", b"f", b"undefined"]
STRINGS = [
    "", "FORWARDED", "REDIRECTED", "DROPPED", "AUDIT", "forwarded", "FORWARDED ", "TCP", "web", "db", "a-b",
    "api-7d9f8b6c5d-x2b4q", "shop", "kube-system", "Bad_NS", "<script>", "x" * 23, "x" * 24, "x" * 25, "x" * 47,
    "x" * 48, "x" * 49, "x" * 56, "x" * 57, "k8s:app=web", "k8s:io.kubernetes.pod.namespace=shop",
    "k8s:pod-template-hash=7d9f8b6c5d", "k8s:job-name=batch", "reserved:world", "reserved:host", "=", "k8s:", "",
    "é", "日本", "😀", "\x7f", "tab\tx", 'q"uote', "back\\slash", "slash/x", "\u2028", "\x00",
    "2024-03-01T10:00:00Z", "2024-03-01T10:00:00.123456789Z", "2024-03-01T12:00:00.5+02:00",
    "2024-03-01T10:00:00.12345678ZZ", "2024-03-01T10:00:00.123456789z", "2024-03-01T10:00:00.123456789\u00e9",
    "not a time", "10.0.0.1", "93.184.216.34", "::1",
]  # fmt: skip
RAW_STRINGS = [
    b"\\u0041", b"\\u0061pp", b'\\"', b"\\\\", b"\\/", b"\\b\\f\\n\\r\\t", b"\\ud83d\\ude00", b"\\uD83D\\uDE00",
    b"\\ud800", b"\\udc00", b"\\ud800x", b"\\ud800\\u0041", b"\\udbff\\udfff", b"\\u00e9", b"\\u0000", b"\\u007f",
    b"\\u00", b"\\u12", b"\\uZZZZ", b"\\x41", b"\\'", b"\\a", b"\\", b"\xff", b"\xfe\xff", b"\xc3", b"\xc3\xa9",
    b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xc2\xa0", b"\xa0",
    b"\x01", b"\x1f", b"\t", b"\n", b"\r", b"\x0c", b"\x7f", b"\x00", b"web\xff", b"k8s:app=\xff",
    b"2024-03-01T10:00:00.123456789\xff",
]  # fmt: skip


def _nested(depth: int, array: bool) -> Raw:
    return Raw(b"[" * depth + b"]" * depth if array else b'{"a":' * depth + b"{}" + b"}" * depth)


SCALARS = st.one_of(
    st.sampled_from([None, True, False]),
    st.sampled_from(NUMBERS),
    st.sampled_from(RAW_NUMBERS + RAW_LITERALS).map(Raw),
    st.sampled_from(STRINGS),
    st.sampled_from(RAW_STRINGS).map(RawString),
    st.text(max_size=6),
)
CONTAINERS = st.one_of(
    st.builds(Obj),  # new ones each time: the mutations change them in place
    st.builds(list),
    st.sampled_from([0, 1, 2, 3, 60, 61, 62, 63, 64, 65, 66, 70, 200]).flatmap(
        lambda depth: st.sampled_from([_nested(depth, True), _nested(depth, False)])
    ),
    st.lists(SCALARS, max_size=3),
    st.lists(st.tuples(st.sampled_from(["a", "name", "kind", "flow", "{", '"', "}"]), SCALARS), max_size=3).map(
        lambda pairs: Obj([list(pair) for pair in pairs])
    ),
)
JUNK = st.one_of(
    SCALARS,
    CONTAINERS,
    st.sampled_from(
        [
            Raw(b'{"x":"}{][\\"","y":[{"z":"\\\\"}],"w":{}}'),
            Raw(b'["{", "}", "[", "]", "\\"", ",", ":"]'),
            Raw(b'{"l4":{"TCP":{"destination_port":1}},"is_reply":true,"flow":null}'),
            RawString(b"}" * 3 + b'\\"' + b"{" * 3),
            RawString(b"x" * 70000),
            Raw(b"[" + b",".join([b'"k8s:app=x"'] * 3000) + b"]"),
        ]
    ),
)
VALUES = st.one_of(SCALARS, SCALARS, CONTAINERS, JUNK)
LABELS = st.lists(
    st.one_of(
        st.sampled_from(STRINGS),
        st.sampled_from(
            [
                "k8s:app=web",
                "k8s:run=x",
                "k8s:io.kubernetes.pod.namespace=shop",
                "k8s:io.kubernetes.pod.namespace=Bad_NS",
                "k8s:io.cilium.k8s.namespace.labels.team=a",
                "k8s:pod-template-hash=7d9f8b6c5d",
                "k8s:controller-revision-hash=abc",
                "k8s:job-name=batch",
                "reserved:world",
                "any:app=x",
                "container:x=y",
                "app=x=y",
                "k8s:" + "h" * 52 + "=v",
                "k8s:" + "h" * 53 + "=v",
                "k8s:" + "h" * 60 + "=v",
            ]
        ),
        st.sampled_from(RAW_STRINGS).map(RawString),
        SCALARS,
    ),
    max_size=5,
)

ASCII_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=127), max_size=8)
INTEGERS = st.one_of(st.sampled_from(NUMBERS), st.just(Raw(b"-0")), st.integers(-(2**63), 2**64))
PORTS = st.one_of(INTEGERS, st.integers(-2, 70000))
NAMES = st.one_of(st.sampled_from([text for text in STRINGS if text.isascii()]), ASCII_TEXT)
HEADER = st.one_of(
    st.none(),
    st.builds(Obj),
    PORTS.map(lambda port: Obj([["destination_port", port]])),
    st.builds(Obj, JUNK.map(lambda junk: [["x", junk]])),
)
TYPED: dict[Any, st.SearchStrategy[Any]] = {
    "time": NAMES,
    "verdict": st.sampled_from(["FORWARDED", "FORWARDED", "REDIRECTED", "DROPPED", "AUDIT", 1, 5]),
    "is_reply": st.sampled_from([True, False, False, None]),
    "reply": st.booleans(),
    "SYN": st.booleans(),
    "ACK": st.booleans(),
    "drop_reason": INTEGERS,
    "drop_reason_desc": st.one_of(INTEGERS, NAMES, st.sampled_from(RAW_STRINGS).map(RawString)),
    "trace_reason": st.one_of(INTEGERS, NAMES, st.sampled_from(RAW_STRINGS).map(RawString)),
    "identity": INTEGERS,
    "namespace": NAMES,
    "pod_name": NAMES,
    "name": NAMES,
    "kind": NAMES,
    "labels": LABELS,
    0: NAMES,
    1: NAMES,
    "destination_port": PORTS,
    "source_port": PORTS,
    "type": PORTS,
    "source": st.one_of(NAMES, st.builds(Obj)),
    "destination": st.one_of(NAMES, st.builds(Obj)),
    "flags": st.sampled_from([None, "empty", "syn"]).map(
        lambda kind: None if kind is None else Obj() if kind == "empty" else Obj([["SYN", True], ["ACK", False]])
    ),
    "TCP": HEADER,
    "UDP": HEADER,
    "SCTP": HEADER,
    "ICMPv4": HEADER,
    "ICMPv6": HEADER,
    "l4": st.builds(Obj),
    "l7": st.none(),
    "source_names": st.builds(list),
    "destination_names": st.builds(list),
    "lost_events": st.none(),
    "workloads": st.lists(
        st.builds(lambda name, kind: Obj([["name", name], ["kind", kind]]), NAMES, NAMES), max_size=2
    ),
    "IP": st.builds(Obj),
}

# The fields the importer reads, below the flow object (the wrapper's own at "^").
ENDPOINT_FIELDS = [
    ("identity",), ("namespace",), ("pod_name",), ("labels",), ("labels", 0), ("labels", 1), ("workloads",),
    ("workloads", 0), ("workloads", 0, "name"), ("workloads", 0, "kind"), ("ID",),
]  # fmt: skip
_GROUPED: list[Any] = [
    ("time",), ("verdict",), ("is_reply",), ("reply",), ("drop_reason",), ("drop_reason_desc",), ("trace_reason",),
    ("source",), ("destination",), ("IP",), ("IP", "source"), ("IP", "destination"), ("l4",), ("l7",),
    ("source_names",), ("destination_names",), ("nodeName",), ("node_name",), ("Summary",),
    *(("source", *field) for field in ENDPOINT_FIELDS), *(("destination", *field) for field in ENDPOINT_FIELDS),
    *((("l4", protocol), ("l4", protocol, "destination_port"), ("l4", protocol, "source_port"),
       ("l4", protocol, "flags"), ("l4", protocol, "flags", "SYN"), ("l4", protocol, "flags", "ACK"))
      for protocol in ("TCP", "UDP", "SCTP")),
    ("l4", "ICMPv4"), ("l4", "ICMPv4", "type"), ("l4", "ICMPv6"), ("l4", "ICMPv6", "type"),
    ("^", "flow"), ("^", "lost_events"), ("^", "node_name"), ("^", "time"),
]  # fmt: skip
FIELDS: list[tuple[Any, ...]] = [
    field for group in _GROUPED for field in (group if isinstance(group[0], tuple) else (group,))
]
CAMEL = {
    "is_reply": "isReply", "pod_name": "podName", "node_name": "nodeName", "destination_port": "destinationPort",
    "source_port": "sourcePort", "drop_reason_desc": "dropReasonDesc", "trace_reason": "traceReason",
    "lost_events": "lostEvents", "source_names": "sourceNames", "destination_names": "destinationNames",
}  # fmt: skip


def _root(line: Any, path: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
    """The value a field path starts from (the flow, or the wrapper for "^") and the rest of the path."""
    if path[0] == "^":
        return line, path[1:]
    if isinstance(line, Obj) and (pair := member(line, "flow")) is not None:
        return pair[1], path
    return line, path


def _walk(value: Any, path: tuple[Any, ...], create: bool) -> Any:
    """The container holding the last step of `path`, made on the way when `create`; None when there is none."""
    for step, after in itertools.pairwise(path):
        if isinstance(value, Obj) and isinstance(step, str):
            pair = member(value, step)
            if pair is None or not isinstance(pair[1], Obj | list):
                if not create:
                    return None
                made = Obj() if isinstance(after, str) else []
                if pair is None:
                    value.append([step, made])
                else:
                    pair[1] = made
                value = made
                continue
            value = pair[1]
        elif isinstance(value, list) and not isinstance(value, Obj) and isinstance(step, int) and step < len(value):
            value = value[step]
        else:
            return None
    return value


def set_field(line: Any, path: tuple[Any, ...], new: Any) -> None:
    start, rest = _root(line, path)
    holder = _walk(start, rest, True)
    last = rest[-1]
    if isinstance(holder, Obj) and isinstance(last, str):
        pair = member(holder, last)
        if pair is None:
            holder.append([last, new])
        else:
            pair[1] = new
    elif isinstance(holder, list) and not isinstance(holder, Obj) and isinstance(last, int) and last < len(holder):
        holder[last] = new


def delete_field(line: Any, path: tuple[Any, ...]) -> None:
    start, rest = _root(line, path)
    holder = _walk(start, rest, False)
    last = rest[-1]
    if isinstance(holder, Obj):
        holder[:] = [pair for pair in holder if pair[0] != last]
    elif isinstance(holder, list) and not isinstance(holder, Obj) and isinstance(last, int) and last < len(holder):
        del holder[last]


def objects(value: Any) -> Iterator[Obj]:
    if isinstance(value, Obj):
        yield value
        for _, item in value:
            yield from objects(item)
    elif isinstance(value, list):
        for item in value:
            yield from objects(item)


@st.composite
def mutate_tree(draw: st.DrawFn, line: Any, gentle: bool = False) -> Any:
    """0 to 4 changes to the parsed line: fields set, deleted, doubled, renamed, reordered; unknown members.
    `gentle`: only values of the field's type, unknown members and other orders (lines the C scan may take)."""
    operations = ["typed", "typed", "typed", "set", "set", "delete", "dup", "unknown", "shuffle", "camel"]
    if gentle:
        operations = ["typed", "typed", "typed", "unknown", "shuffle"]
    for _ in range(draw(st.integers(0, 4))):
        operation = draw(st.sampled_from(operations))
        path = draw(st.sampled_from(FIELDS))
        if operation == "typed":  # a value of the type the field has, so that the C scan may still take the line
            set_field(line, path, draw(TYPED.get(path[-1], JUNK)))
            continue
        if operation == "set":
            set_field(line, path, draw(VALUES))
            continue
        if operation == "delete":
            delete_field(line, path)
            continue
        found = list(objects(line))
        if not found:
            continue
        obj = draw(st.sampled_from(found))
        if operation == "dup" and obj:
            pair = draw(st.sampled_from(obj))
            again = [pair[0], pair[1] if draw(st.booleans()) else draw(VALUES)]
            obj.insert(draw(st.integers(0, len(obj))), again)
        elif operation == "unknown":
            key = draw(st.sampled_from(["x", "ID", "Type", "event_type", "flow", "source", "a\u00e9", "\\", "{"]))
            obj.insert(draw(st.integers(0, len(obj))), [key, draw(JUNK)])
        elif operation == "shuffle":
            obj[:] = draw(st.permutations(obj))
        elif operation == "camel" and obj:
            pair = draw(st.sampled_from(obj))
            pair[0] = CAMEL.get(pair[0], pair[0][:1].upper() + pair[0][1:])
    return line


# ---- changes to the bytes ------------------------------------------------------------------------------------

INSERTS = [
    b'"', b"\\", b"{", b"}", b"[", b"]", b",", b":", b" ", b"\t", b"\r", b"\x0c", b"\x0b", b"\xc2\xa0", b"\xa0",
    b"\xff", b"\x00", b"0", b"9", b"-", b"e", b".", b"\xef\xbb\xbf", b"null", b'"x":1,', b"\\u0041", b"\xc3\xa9",
]  # fmt: skip
TAILS = [b",", b"x", b"}", b" {}", b"\x00", b"\r", b" ", b"\t", b"\x0c", b"\xc2\xa0", b"\xef\xbb\xbf", b"\r\r"]
PUNCTUATION = frozenset(b'"{}[],:\\0123456789')


@st.composite
def position(draw: st.DrawFn, data: bytes) -> int:
    """Anywhere in the line, or (as often) at or just after a quote, bracket, comma, colon or digit."""
    if data and draw(st.booleans()):
        marks = [index for index, byte in enumerate(data) if byte in PUNCTUATION]
        if marks:
            return draw(st.sampled_from(marks)) + draw(st.integers(0, 1))
    return draw(st.integers(0, len(data)))


@st.composite
def mutate_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    for _ in range(draw(st.sampled_from([0, 0, 0, 0, 1, 1, 2]))):
        operation = draw(st.sampled_from(["cut", "delete", "insert", "insert", "replace", "head", "tail"]))
        at = draw(position(data))
        if operation == "cut":
            data = data[:at]
        elif operation == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 3)) :]
        elif operation == "insert":
            data = data[:at] + draw(st.sampled_from(INSERTS)) + data[at:]
        elif operation == "replace" and at < len(data):
            data = data[:at] + draw(st.sampled_from(INSERTS))[:1] + data[at + 1 :]
        elif operation == "head":
            data = draw(st.sampled_from([b"\xef\xbb\xbf", b" ", b"\t", b"\r", b"\x0c", b"\xc2\xa0", b"\x00"])) + data
        elif operation == "tail":
            data += draw(st.sampled_from(TAILS))
    return data


# ---- lines and captures --------------------------------------------------------------------------------------

FAST_FORM: list[tuple[tuple[str, ...], Any]] = [(("l7",), None), (("source_names",), []), (("destination_names",), [])]


def fast_form(line: Any, reply: bool, verdict: str) -> Any:
    """The line in the form the compiled reader takes (is_reply set, no L7, an allowed verdict), so that the
    mutations start from lines it reads itself."""
    for path, value in FAST_FORM:
        set_field(line, path, copy.copy(value))
    set_field(line, ("is_reply",), reply)
    set_field(line, ("verdict",), verdict)
    return line


@st.composite
def mutated_lines(draw: st.DrawFn, gentle: bool = False) -> tuple[bytes, bool]:
    """(a mutated real line, whether it is a GetFlowsResponse: else a bare legacy flow); `gentle`: in the fast
    form, changed by mutate_tree(gentle=True) only, written with white space but without escapes."""
    seed = draw(st.sampled_from(SEEDS))
    line = parse(seed)
    wrapped = True
    if isinstance(line, Obj) and member(line, "flow") is not None and draw(st.integers(0, 4)) == 0:
        line, wrapped = member(line, "flow")[1], False  # type: ignore[index]
    if gentle or draw(st.integers(0, 3)) > 0:
        fast_form(
            line, draw(st.sampled_from([False, False, False, True])), draw(st.sampled_from(["FORWARDED", "REDIRECTED"]))
        )
    line = draw(mutate_tree(line, gentle))
    style = draw(STYLES)
    if gentle:
        style.strings, style.keys = "plain", "plain"
        return write(line, style), wrapped
    return draw(mutate_bytes(write(line, style))), wrapped


def context(wrapped: bool, seed: int) -> bytes:
    """A good line of the shape a mutated line has, read first so that it meets the decoder of its shape."""
    line = fast_form(parse(SEEDS[seed % len(SEEDS)]), False, "FORWARDED")
    if not wrapped:
        line = member(line, "flow")[1]  # type: ignore[index]
    return write(line, Style([b""], "plain", "plain", 1))


OPTIONS = st.one_of(
    st.just(FlowOptions()),
    st.just(FlowOptions()),
    st.builds(
        FlowOptions,
        namespaces=st.frozensets(st.sampled_from(["shop", "bookinfo", "kube-system", "batch-0", ""]), max_size=2),
        since=st.sampled_from([None, "2021-11-10T10:40:57Z", "2024-03-01T10:00:00Z"]),
        until=st.sampled_from([None, "2021-11-10T10:41:00Z", "2024-03-01T10:00:00.5Z"]),
        verdicts=st.frozensets(st.sampled_from(["FORWARDED", "DROPPED", "REDIRECTED"]), max_size=2),
    ),
)

# Lines the two readers were found to read differently (minimal forms): the compiled one must hand them over.
_GOOD_FLOW = (
    b'{"flow":{"time":"2024-03-01T10:00:00.123456789Z","verdict":"FORWARDED","l4":{"TCP":{"destination_port":80}},'
    b'"source":{"namespace":"a","pod_name":"x"},"destination":{"namespace":"a","pod_name":"y"},"is_reply":false%s}}'
)
FOUND = [
    # msgspec decodes `str | int` fields (trace_reason, drop_reason_desc) and rejects invalid UTF-8 in them:
    # the Python path skips the line ("binary data (not UTF-8), not JSON"), the compiled one counts the flow.
    _GOOD_FLOW % b',"trace_reason":"\xff"',
    _GOOD_FLOW % b',"drop_reason_desc":"\xed\xa0\x80"',
]


@compiled
@pytest.mark.parametrize("line", FOUND, ids=repr)
def test_lines_found_to_differ_read_the_same(line: bytes) -> None:
    assert_same(line + b"\n")
    assert_same(context(True, 0) + b"\n" + line + b"\n")


@compiled
@FUZZ
@given(mutated_lines(), st.integers(0, 1000))
@example((FOUND[0], True), 0)
@example((FOUND[1], True), 0)
def test_a_mutated_line_reads_the_same(mutated: tuple[bytes, bool], seed: int) -> None:
    """One mutated line after a good one of its shape, and alone (there it meets the wrapped decoder first)."""
    line, wrapped = mutated
    assert_same(context(wrapped, seed) + b"\n" + line + b"\n")
    assert_same(line)


@compiled
@FUZZ
@given(mutated_lines(gentle=True), st.integers(0, 1000))
def test_a_gently_mutated_line_reads_the_same(mutated: tuple[bytes, bool], seed: int) -> None:
    """Lines most of which the C scan takes itself: values of each field's type at their edges, unknown members."""
    line, wrapped = mutated
    assert_same(context(wrapped, seed) + b"\n" + line + b"\n" + context(wrapped, seed + 1))


@compiled
@FUZZ
@given(st.lists(mutated_lines(), min_size=1, max_size=6), st.integers(0, 1000), OPTIONS, st.booleans())
def test_a_capture_of_mutated_lines_reads_the_same(
    mutated: list[tuple[bytes, bool]], seed: int, options: FlowOptions, array: bool
) -> None:
    """Mutated lines among good ones (the pods they share seen by either reader first), as lines or as a JSON
    array, with and without filters."""
    lines = []
    for index, (line, wrapped) in enumerate(mutated):
        lines += [context(wrapped, seed + index), line, context(wrapped, seed + 2 * index)]
    data = b",\n".join(lines).join([b"[", b"]"]) if array else b"\n".join(lines)
    assert_same(data, options)


# ---- every cut, deletion and insertion of a few lines the compiled reader takes ----------------------------


def _taken_lines() -> list[bytes]:
    """Short and long seed lines in their fast form, one of each capture the compiled reader reads lines of."""
    chosen = []
    for data in CAPTURES:
        lines = [line for line in data.split(b"\n") if line.strip()]
        line = write(fast_form(parse(lines[-1]), False, "FORWARDED"), Style([b""], "plain", "plain", 1))
        if b'"flow"' in line:
            chosen.append(line)
    return sorted(chosen, key=len)


TAKEN = _taken_lines()


@compiled
def test_the_fuzzed_lines_reach_the_compiled_reader() -> None:
    """The seeds in fast form are read by the C scan itself (else the fuzzing above would test only fallbacks)."""
    for line in TAKEN:
        assert assert_same(line + b"\n" + line + b"\n") == 2, line


@compiled
@pytest.mark.parametrize("index", range(3))
def test_every_cut_of_a_line_reads_the_same(index: int) -> None:
    line = TAKEN[index * (len(TAKEN) - 1) // 2]
    good = context(True, index)
    for at in range(len(line) + 1):
        assert_same(good + b"\n" + line[:at] + b"\n" + good + b"\n")


@compiled
def test_every_deletion_and_insertion_in_a_line_reads_the_same() -> None:
    line = TAKEN[0]
    good = context(True, 1)
    for at in range(len(line) + 1):
        changed = [line[:at] + line[at + 1 :]]
        changed += [
            line[:at] + insert + line[at:] for insert in (b'"', b"\\", b"}", b",", b" ", b"\x0c", b"\xff", b"0")
        ]
        for variant in changed:
            assert_same(good + b"\n" + variant + b"\n")


# ---- pods met first by one reader, then by the other -------------------------------------------------------

POD_NAMES = ["web", "web-0", "api-7d9f8b6c5d-x2b4q", "job-abcde", "db", "p" * 40, "q" * 47, "r" * 48, "s" * 60, ""]
POD_NAMESPACES = ["shop", "shop", "", "Bad_NS", "kube-system", "n" * 8, "m" * 40, "<b>"]
POD_LABELS = [
    None,
    [],
    ["k8s:app=web", "k8s:io.kubernetes.pod.namespace=shop"],
    ["k8s:app=web", "k8s:io.kubernetes.pod.namespace=other", "k8s:io.cilium.k8s.namespace.labels.team=a"],
    ["k8s:pod-template-hash=7d9f8b6c5d", "k8s:app=api"],
    ["k8s:job-name=job", "k8s:io.kubernetes.pod.namespace=Bad_NS"],
    ["k8s:controller-revision-hash=abc", "k8s:statefulset.kubernetes.io/pod-name=web-0"],
    ["reserved:world"],
    ["k8s:app=\u00e9"],  # not ASCII: the Python code takes the labels apart
    "k8s:app=web",  # not a list
]


@st.composite
def pod_lines(draw: st.DrawFn, count: int) -> list[bytes]:
    """Flows between a few pods (names shared across namespaces, no namespace, invalid ones, long ones), each line
    either in the form the C scan takes or with an unknown float member, which sends it to the Python loop and
    changes nothing else."""
    ends = []
    for _ in range(draw(st.integers(1, 6))):
        end: dict[str, Any] = {"identity": draw(st.sampled_from([0, 2, 7, 1000, 16777217]))}
        if (namespace := draw(st.sampled_from(POD_NAMESPACES))) or draw(st.booleans()):
            end["namespace"] = namespace
        end["pod_name"] = draw(st.sampled_from(POD_NAMES))
        if (labels := draw(st.sampled_from(POD_LABELS))) is not None:
            end["labels"] = labels
        if draw(st.integers(0, 5)) == 0:
            end["workloads"] = draw(st.sampled_from([[], [{"name": "owner", "kind": "Deployment"}], [{}]]))
        ends.append(end)
    lines = []
    for _ in range(count):
        flow = {
            "time": draw(st.sampled_from(["2024-03-01T10:00:0%dZ", "2024-03-01T10:00:00.12345678%dZ"]))
            % draw(st.integers(0, 9)),
            "verdict": "FORWARDED",
            "IP": {"source": "10.0.0.1", "destination": draw(st.sampled_from(["10.0.0.2", "93.184.216.34"]))},
            "l4": {"TCP": {"source_port": 40000, "destination_port": draw(st.sampled_from([80, 443]))}},
            "source": draw(st.sampled_from(ends)),
            "destination": draw(st.sampled_from(ends)),
            "is_reply": False,
        }
        if draw(st.booleans()):
            flow["x"] = 0.5
        lines.append(json.dumps({"flow": flow}).encode())
    return lines


@compiled
@FUZZ
@given(st.integers(1, 30).flatmap(pod_lines), OPTIONS)
def test_pods_met_by_either_reader_first_read_the_same(lines: list[bytes], options: FlowOptions) -> None:
    assert_same(b"\n".join(lines), options)


@compiled
def test_a_capture_of_many_pods_reads_the_same() -> None:
    """Thousands of pods (the compiled reader's pod table grows), each met three times, some by the Python loop;
    pod names shared by two namespaces, lengths about the table's inline key."""
    lines = []
    for turn in range(3):
        for index in range(3000):
            pod = {"namespace": f"ns{index % 7}", "pod_name": f"pod{index % 1500}" + "x" * (index % 45)}
            other = {"namespace": "shop", "pod_name": f"web-{index % 11}"}
            flow = {
                "time": f"2024-03-01T10:00:{(index + turn) % 60:02d}Z",
                "verdict": "FORWARDED",
                "l4": {"TCP": {"destination_port": 80 + index % 3}},
                "source": pod,
                "destination": other,
                "is_reply": False,
            }
            if (index + turn) % 5 == 0:
                flow["x"] = 0.5  # this one to the Python loop
            lines.append(json.dumps({"flow": flow}, separators=(",", ":")).encode())
    assert assert_same(b"\n".join(lines)) > 5000


@compiled
def test_a_capture_of_cut_and_changed_lines_reads_the_same_in_two_processes(tmp_path: Path) -> None:
    """The CLI under FENCELINE_PURE_FLOWS=1 and without it (the switch as a user flips it): a capture of the
    lines the compiled reader takes, each followed by its halves and by changed copies, then the lines found to
    differ; the same document and summary."""
    lines = []
    for line in TAKEN:
        lines += [line, line[: len(line) // 2], line[len(line) // 2 :], line.replace(b'"is_reply":false', b'"x":1.5')]
        lines += [line.replace(b":", b": ", 3), line.replace(b'"l7":null', b'"l7":null,"l7":null')]
    path = tmp_path / "capture.jsonl"
    path.write_bytes(b"\n".join(lines + FOUND + TAKEN))
    outputs = []
    for pure in ("1", ""):
        environment = {**os.environ, "FENCELINE_PURE_FLOWS": pure}
        command = [sys.executable, "-m", "editor.policy.cli", "flows", str(path)]
        run = subprocess.run(command, env=environment, capture_output=True, cwd=ROOT, check=False)
        assert run.returncode == 0, run.stderr
        outputs.append((run.stdout, run.stderr))
    assert outputs[0] == outputs[1]
