"""The compiled flow reader (editor/policy/flows/_read.pyx) against the Python one it stands in for.

Both read the same captures, in one process (the Python reader is Aggregator._python_add_records, the one the
compiled reader hands its other lines to) or in two (FENCELINE_PURE_FLOWS=1); the document's bytes and the
summary must be identical: every Hubble and Gadget capture of the fixtures and the shared corpus, and captures
Hypothesis makes up (pods and namespaces with unicode and HTML in names and labels, replicas, replies, drops,
ICMP, world addresses, identities, L7, filters, both record shapes, escapes and spacing).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from editor.policy.flows import FlowOptions, aggregate, graph, read_flows
from editor.policy.flows.aggregate import Aggregator

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = sorted(
    path
    for folder in (ROOT / "tests" / "fixtures", Path("/work/shared/corpus"))
    for kind in ("hubble", "gadget", "flows-golden")
    if (folder / kind).is_dir()
    for path in (folder / kind).rglob("*")
    if path.is_file() and path.name != "README.md" and not path.name.endswith(".golden.json")
)
# The compiled module a test compares with the Python code may be absent where the Python code alone is meant to run
# (FENCELINE_PURE_FLOWS set, or no C compiler): a comparison then has nothing to compare. The test command never
# runs without both modules: test_the_compiled_reader_is_built_where_ci_runs fails there instead.
WHY_NOT_LOADED = "not loaded (FENCELINE_PURE_FLOWS set, or not built: no C compiler); the test command requires it"
compiled = pytest.mark.skipif(not aggregate.COMPILED, reason=f"the compiled flow reader is {WHY_NOT_LOADED}")
PYTHON_ADD = Aggregator._python_add_records


def test_the_compiled_reader_is_built_where_ci_runs() -> None:
    """The test command (scripts/test.sh, which `make test` and `.ci/run` run) sets FENCELINE_REQUIRE_COMPILED, as its
    set-up builds both modules or stops: it must never test only the Python reader or builder without saying so."""
    if not os.environ.get("FENCELINE_REQUIRE_COMPILED"):
        pytest.skip("not the test command: the Python reader alone is a supported set-up")
    assert aggregate.COMPILED, "CI runs without the compiled flow reader: run scripts/setup.sh (it needs gcc)"
    assert graph._compiled is not None, "CI runs without the compiled flow builder (_graphc): run scripts/setup.sh"


def import_with(
    add: Callable[..., int], data: bytes, options: FlowOptions | None, fallback: Callable[..., int] = PYTHON_ADD
) -> tuple[bytes, Any]:
    """(document bytes, summary) of one import of `data` with `add` as Aggregator.add_records and `fallback` as the
    Python loop the compiled reader hands its other lines to; both put back afterwards."""
    Aggregator.add_records = add  # type: ignore[method-assign]
    Aggregator._python_add_records = fallback  # type: ignore[method-assign]
    try:
        result = read_flows([("capture", io.BytesIO(data))], options)
        return b"".join(result.dump_chunks()), result.summary.to_json()
    finally:
        Aggregator.add_records = aggregate._read.add_records  # type: ignore[method-assign]
        Aggregator._python_add_records = PYTHON_ADD  # type: ignore[method-assign]


def both(data: bytes, options: FlowOptions | None = None) -> tuple[Any, Any]:
    """(document bytes, summary) read by the compiled reader, then by the Python one."""
    return import_with(aggregate._read.add_records, data, options), import_with(PYTHON_ADD, data, options)


@compiled
@pytest.mark.parametrize("path", CAPTURES, ids=lambda path: str(path).removeprefix(f"{ROOT}/"))
def test_every_capture_reads_the_same_compiled(path: Path) -> None:
    data = path.read_bytes()
    fast, python = both(data)
    assert fast == python
    assert fast[1]["flowsRead"] or "gadget" in str(path) or fast[1]["linesSkipped"]


@compiled
def test_the_environment_variable_picks_the_python_reader() -> None:
    path = ROOT / "tests" / "fixtures" / "hubble" / "basic-sample-400-tcp-flows.json"
    outputs = []
    for pure in ("1", ""):
        environment = {**os.environ, "FENCELINE_PURE_FLOWS": pure}
        code = "from editor.policy.flows import aggregate; print(aggregate.COMPILED)"
        chosen = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True)
        command = [sys.executable, "-m", "editor.policy.cli", "flows", str(path)]
        run = subprocess.run(command, env=environment, capture_output=True, cwd=ROOT)
        assert run.returncode == 0, run.stderr
        outputs.append((chosen.stdout.strip(), run.stdout, run.stderr))
    assert [chosen for chosen, _, _ in outputs] == ["False", "True"]
    assert outputs[0][1:] == outputs[1][1:] and len(outputs[0][1]) > 1000


# ---- made-up captures ---------------------------------------------------------------------------------------------

TEXT = st.sampled_from(["web", "db", "a-b", "<b>x</b>", "é", "пакет", "日本", 'q"uote', "back\\slash", "tab\tx", ""])
PLAIN_NAMES = st.sampled_from(
    ["web", "db", "api-7d9f8b6c5d-x2b4q", "api-7d9f8b6c5d-k8s9z", "job-abcde", "redis-0", "x"]
)
NAMES = st.one_of(PLAIN_NAMES, PLAIN_NAMES, PLAIN_NAMES, TEXT, st.text(max_size=8))  # mostly what the C scan reads
NAMESPACES = st.sampled_from(["shop", "shop", "kube-system", "default", "<script>", "Bad_NS", "é", ""])


@st.composite
def endpoints(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["pod", "pod", "pod", "identity", "world", "entity", "empty"]))
    namespace = draw(NAMESPACES)
    labelled = draw(st.sampled_from([namespace, namespace, "shop"]))  # the namespace its labels name
    endpoint: dict[str, Any] = {"ID": draw(st.integers(0, 5000))}
    if kind == "world":
        endpoint.update(identity=draw(st.sampled_from([2, 16777217])), labels=["reserved:world"])
        return endpoint
    if kind == "entity":
        endpoint.update(
            identity=draw(st.sampled_from([1, 4, 6, 7])),
            labels=draw(
                st.sampled_from(
                    [["reserved:host"], ["reserved:kube-apiserver", "reserved:world"], ["reserved:remote-node"], []]
                )
            ),
        )
        return endpoint
    if kind == "empty":
        return draw(st.sampled_from([{}, {"labels": []}, {"identity": 0}]))
    labels = [
        f"k8s:{key}={value}"
        for key, value in draw(
            st.dictionaries(
                st.sampled_from(
                    ["app", "run", "pod-template-hash", "job-name", "controller-revision-hash", "tier", "<i>k"]
                ),
                TEXT,
                max_size=3,
            )
        ).items()
    ]
    labels += draw(
        st.lists(
            st.sampled_from(
                [
                    f"k8s:io.kubernetes.pod.namespace={labelled}",
                    "k8s:io.cilium.k8s.policy.cluster=default",
                    "k8s:io.cilium.k8s.namespace.labels.team=a",
                    "reserved:init",
                    "k8s:io.cilium.k8s.policy.serviceaccount=x",
                ]
            ),
            max_size=3,
            unique=True,
        )
    )
    endpoint.update(identity=draw(st.integers(0, 70000)), namespace=namespace)
    if draw(st.booleans()) or kind == "pod":
        endpoint["labels"] = labels
    if kind == "pod":
        endpoint["pod_name"] = draw(NAMES)
        if draw(st.integers(0, 4)) == 0:
            endpoint["workloads"] = [{"name": draw(NAMES), "kind": draw(st.sampled_from(["Deployment", "Job"]))}]
    return endpoint


@st.composite
def flows(draw: st.DrawFn, pool: list[dict[str, Any]]) -> dict[str, Any]:
    source, destination = draw(st.sampled_from(pool)), draw(st.sampled_from(pool))
    protocol = draw(st.sampled_from(["TCP", "TCP", "UDP", "SCTP", "ICMPv4", "ICMPv6", "none"]))
    port = draw(st.sampled_from([53, 80, 443, 8080, 0, 40000, 70000]))
    l4: dict[str, Any] = {}
    if protocol in ("ICMPv4", "ICMPv6"):
        l4[protocol] = {"type": draw(st.sampled_from([0, 8, 128, 129]))}
    elif protocol != "none":
        l4[protocol] = {"source_port": draw(st.sampled_from([80, 43210])), "destination_port": port}
        if draw(st.booleans()):
            l4[protocol]["flags"] = {"SYN": draw(st.booleans()), "ACK": draw(st.booleans())}
    second = draw(st.integers(0, 59))
    flow: dict[str, Any] = {
        "time": draw(
            st.sampled_from(
                [
                    f"2024-03-01T10:00:{second:02d}.123456789Z",
                    f"2024-03-01T10:00:{second:02d}Z",
                    f"2024-03-01T12:00:{second:02d}.5+02:00",
                    "not a time",
                ]
            )
        ),
        "verdict": draw(st.sampled_from([*["FORWARDED"] * 12, "REDIRECTED", "DROPPED", "AUDIT", "ERROR", 1, 2])),
        "source": source,
        "destination": destination,
        "l4": l4,
        "node_name": "kind-worker",
        "Summary": draw(st.one_of(st.just("TCP Flags: SYN"), TEXT)),
    }
    if flow["verdict"] in ("DROPPED", 2):
        flow["drop_reason_desc"] = draw(st.sampled_from(["POLICY_DENIED", "CT_MAP_INSERTION_FAILED", 133]))
    reply = draw(st.sampled_from([True, *[False] * 6, None, "absent"]))
    if reply != "absent":
        flow["is_reply"] = reply
    if draw(st.booleans()):
        flow["IP"] = {"source": "10.0.0.1", "destination": draw(st.sampled_from(["10.0.0.2", "93.184.216.34", "::1"]))}
    if draw(st.integers(0, 9)) == 0:
        flow["destination_names"] = [draw(st.sampled_from(["example.com.", "api.github.com"]))]
    if draw(st.integers(0, 9)) == 0:
        flow["l7"] = draw(
            st.sampled_from(
                [
                    {"type": "REQUEST", "http": {"method": "get", "url": "http://x/a?b"}},
                    {"type": "REQUEST", "dns": {"query": "example.com.", "ips": ["93.184.216.34"]}},
                    None,
                ]
            )
        )
    if draw(st.integers(0, 8)) == 0:
        flow["trace_reason"] = draw(st.sampled_from(["REPLY", "NEW", 3]))
    return flow


def line_of(draw: st.DrawFn, flow: dict[str, Any], wrapped: bool) -> bytes:
    """A GetFlowsResponse line, or a legacy bare flow (in a capture of those, or now and then among the others)."""
    if draw(st.integers(0, 9)) == 0:
        wrapped = not wrapped
    record = {"flow": flow, "node_name": "kind-worker"} if wrapped else flow
    text = json.dumps(
        record,
        ensure_ascii=draw(st.sampled_from([True, True, False])),
        separators=draw(st.sampled_from([(",", ":"), (", ", ": "), (" ,", " :  ")])),
    )
    if draw(st.integers(0, 12)) == 0:  # a raw control character (JSON refuses it) or DEL (JSON takes it) in a string
        text = text.replace("SYN", draw(st.sampled_from(["S\tYN", "S\x00YN", "S\x1fYN", "S\x7fYN", "SYN\nSYN"])))
    return text.encode()


@st.composite
def captures(draw: st.DrawFn) -> bytes:
    pool = draw(st.lists(endpoints(), min_size=1, max_size=12))
    wrapped = draw(st.integers(0, 4)) > 0
    lines = []
    for _ in range(draw(st.integers(1, 40))):
        lines.append(line_of(draw, draw(flows(pool)), wrapped))
        if draw(st.integers(0, 25)) == 0:
            lines.append(draw(st.sampled_from([b"", b"{", b"null", b'{"lost_events":{"num_events_lost":3}}'])))
    return b"\n".join(lines) + b"\n"


OPTIONS = st.one_of(
    st.just(FlowOptions()),
    st.builds(
        FlowOptions,
        namespaces=st.frozensets(NAMESPACES, max_size=2),
        since=st.sampled_from([None, "2024-03-01T10:00:20Z"]),
        until=st.sampled_from([None, "2024-03-01T10:00:40Z"]),
        verdicts=st.frozensets(st.sampled_from(["FORWARDED", "DROPPED", "REDIRECTED"]), max_size=2),
    ),
)


# Derandomized in CI (a failure is reproducible); `FENCELINE_FUZZ_EXAMPLES=5000` for a deeper, random search.
DEEP_EXAMPLES = os.getenv("FENCELINE_FUZZ_EXAMPLES")


@compiled
@settings(
    max_examples=int(DEEP_EXAMPLES or 300),
    derandomize=DEEP_EXAMPLES is None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(captures(), OPTIONS)
def test_made_up_captures_read_the_same_compiled(data: bytes, options: FlowOptions) -> None:
    fast, python = both(data, options)
    assert fast == python
