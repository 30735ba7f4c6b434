"""The compiled build and write of a flow import (editor/policy/flows/_graphc.pyx) against the Python code it stands
in for: on every flow capture under tests/fixtures (Hubble in every shape, Gadget) and on generated captures (pods
and namespaces with any characters, replicas, replies, drops, ICMP, world addresses, identities, L7, imports into
an existing document), both paths must write the same bytes, make the same Node and Edge objects and the same
summary.

The Python path is graph.py with its `_compiled` module unset, which is what FENCELINE_PURE_FLOWS=1 or a tree
without the extension gives."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from editor.policy.document import Document, DocumentError
from editor.policy.flows import FlowOptions, read_flows
from editor.policy.flows import graph as flow_graph
from tests.unit.test_flows_compiled import WHY_NOT_LOADED

pytestmark = pytest.mark.skipif(flow_graph._compiled is None, reason=f"the compiled flow builder is {WHY_NOT_LOADED}")

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
HUBBLE = sorted((FIXTURES / "hubble").glob("*.json*"))
GADGET = sorted((FIXTURES / "gadget").glob("*/*.input"))
BARE_PODS = FIXTURES / "flows-golden" / "synthetic-bare-pods-40.jsonl"


@contextmanager
def compiled(module: Any) -> Iterator[None]:
    """graph.build_document with this compiled module (None: the Python path only)."""
    saved = flow_graph._compiled
    flow_graph._compiled = module
    try:
        yield
    finally:
        flow_graph._compiled = saved


def outcome(data: list[bytes], into: Callable[[], Document | None], options: FlowOptions) -> dict[str, Any]:
    """Everything an import gives: the JSON written without the document (indent 2, as `fenceline flows`, and 1,
    as observe.py), the document's objects and JSON, the summary, and whether the compiled build made it."""
    result = read_flows([(f"log{index}", io.BytesIO(raw)) for index, raw in enumerate(data)], options, into=into())
    made_compiled = result.graph._compact is not None
    written = b"".join(result.dump_chunks())
    written_narrow = b"".join(result.graph.dump_chunks(1))
    document = result.document
    return {
        "written": written,
        "written indent 1": written_narrow,
        "nodes": document.nodes,
        "edges": document.edges,
        "namespaces": document.namespaces,
        "document": document.dump_bytes(),
        "written after the document": b"".join(result.dump_chunks()),
        "summary": json.dumps(result.summary.to_json()),
        "compiled": made_compiled,
    }


def both(data: list[bytes], into: Callable[[], Document | None] = lambda: None, **options: Any) -> bool:
    """Assert that both paths give the same import; whether the compiled one made it."""
    module = flow_graph._compiled
    assert module is not None, "the compiled flow module is not built (pip install -e .)"
    with compiled(module):
        fast = outcome(data, into, FlowOptions(**options))
    with compiled(None):
        slow = outcome(data, into, FlowOptions(**options))
    assert not slow["compiled"]
    made = fast.pop("compiled")
    slow.pop("compiled")
    for key, value in slow.items():
        assert fast[key] == value, key
    assert fast["written"] == fast["document"]
    return bool(made)


def camel(value: Any) -> Any:
    """lowerCamelCase keys (protojson's default); keys without "_" (IP, Type, ipVersion, TCP...) stay."""
    if isinstance(value, dict):
        return {
            key.split("_")[0] + "".join(part[:1].upper() + part[1:] for part in key.split("_")[1:]): camel(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [camel(item) for item in value]
    return value


def variants(path: Path) -> dict[str, bytes]:
    """A Hubble capture as captured, as legacy bare flows, and with lowerCamelCase keys."""
    raw = path.read_bytes()
    records = [json.loads(line) for line in raw.splitlines() if line.strip()]
    if not all(isinstance(record, dict) and "flow" in record for record in records):
        return {"as captured": raw}
    lines = {
        "legacy": [record["flow"] for record in records],
        "camelCase": [camel(record) for record in records],
    }
    return {"as captured": raw} | {name: "\n".join(map(json.dumps, items)).encode() for name, items in lines.items()}


OPTION_SETS = [
    {},
    {"namespaces": frozenset({"kube-system"})},
    {"fqdn": False, "collapse_cidr": 24, "collapse_cidr6": 64},
    {"verdicts": frozenset({"FORWARDED"})},
]


@pytest.mark.parametrize("path", HUBBLE, ids=lambda path: path.name)
def test_every_hubble_capture_in_every_shape(path: Path) -> None:
    for name, data in variants(path).items():
        for options in OPTION_SETS:
            try:
                both([data], **options)
            except AssertionError as error:
                raise AssertionError(f"{name}, {options}: {error}") from None


@pytest.mark.parametrize("path", GADGET, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_gadget_log(path: Path) -> None:
    both([path.read_bytes()])  # Gadget pods go the Python way, through build_document's dispatch


def test_every_capture_at_once_and_into_the_document_they_made() -> None:
    data = [path.read_bytes() for path in [*HUBBLE, *GADGET, BARE_PODS]]
    both(data)
    with compiled(None):
        made = read_flows([(str(index), io.BytesIO(raw)) for index, raw in enumerate(data)]).document.dumps()
    both(data, into=lambda: Document.loads(made))


def test_bare_pods_are_built_by_the_compiled_code() -> None:
    assert both([BARE_PODS.read_bytes()])
    # The captures whose every end is a pod known by name, an entity or an address (the 400 TCP flows have
    # identity groups: Python).
    made = {path.name for path in HUBBLE if both([path.read_bytes()])}
    assert made == {path.name for path in HUBBLE} - {"basic-sample-400-tcp-flows.json"}


def test_the_environment_variable_forces_the_python_path(tmp_path: Path) -> None:
    code = "from editor.policy.flows import graph; print(graph._compiled is None)"
    for value, pure in (("1", "True"), ("0", "False")):
        environment = {**os.environ, "FENCELINE_PURE_FLOWS": value}
        found = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True)
        assert found.stdout.strip() == pure, found.stderr


# ---- generated captures -------------------------------------------------------------------------------------

# Text that JSON must escape or that sorts oddly: HTML, quotes, backslashes, control characters, non-ASCII, and
# id characters.
HOSTILE = st.one_of(
    st.sampled_from(['<script>alert("x")</script>', "a\\b", "tab\there", "\x00\x7f\u2028", "é€😀", "a&amp;b", "x'y"]),
    st.text(alphabet=st.sampled_from([*"abz09-._:/=@+", *"<>&\"'\\", "\x00", "\x1f", "\n", "\u2028"]), max_size=12),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
).filter(bool)
NAMESPACES = st.sampled_from(["default", "kube-system", "shop", "a", "a-b", "zz9", "Bad_Namespace"])
SAFE_NAME = st.text(alphabet="abcdefgh0123456789-", min_size=1, max_size=10)
LABEL_KEYS = st.sampled_from(["app", "run", "k8s-app", "pod-template-hash", "tier", "<b>", "é", 'q"'])


@st.composite
def pods(draw: st.DrawFn) -> dict[str, Any]:
    namespace = draw(NAMESPACES)
    labels = draw(st.dictionaries(LABEL_KEYS, HOSTILE | SAFE_NAME, max_size=3))
    if draw(st.booleans()):  # a replica of a Deployment, named as its ReplicaSet names it
        template = draw(st.sampled_from(["5d78c9869d", "7bc9f8d5f4"]))
        name = f"{draw(SAFE_NAME)}-{template}-{draw(st.sampled_from(['x2b4q', 'kz9vw', 'qq2bd']))}"
        labels["pod-template-hash"] = template
    else:
        name = draw(HOSTILE | SAFE_NAME)
    endpoint: dict[str, Any] = {
        "identity": draw(st.integers(256, 70000)),
        "namespace": namespace,
        "labels": [f"k8s:{key}={value}" for key, value in labels.items()]
        + [f"k8s:io.kubernetes.pod.namespace={namespace}"],
        "pod_name": name,
    }
    if draw(st.integers(0, 5)) == 0:
        endpoint["workloads"] = [{"name": draw(SAFE_NAME), "kind": draw(st.sampled_from(["Deployment", "Job"]))}]
    return endpoint


WORLD = st.builds(lambda identity: {"identity": identity, "labels": ["reserved:world"]}, st.sampled_from([2, 16777217]))
ENTITIES = st.sampled_from(
    [
        {"identity": 1, "labels": ["reserved:host"]},
        {"identity": 6, "labels": ["reserved:remote-node"]},
        {"identity": 7, "labels": ["reserved:init"]},
    ]
)
# Known by identity and labels only: an identity group (pod_info), which the compiled build leaves to Python.
GROUPS = st.builds(
    lambda identity, app: {
        "identity": identity,
        "namespace": "shop",
        "labels": [f"k8s:app={app}", "k8s:io.kubernetes.pod.namespace=shop"],
    },
    st.integers(300, 400),
    SAFE_NAME,
)
ADDRESSES = st.sampled_from(["10.0.0.1", "10.0.0.77", "192.168.3.4", "2001:db8::1", "2001:db8::ff", "not-an-ip"])
VERDICTS = st.sampled_from(
    [
        {"verdict": "FORWARDED"},
        {"verdict": "REDIRECTED"},
        {"verdict": "AUDIT"},
        {"verdict": "DROPPED", "drop_reason_desc": "POLICY_DENIED"},
        {"verdict": "DROPPED", "drop_reason_desc": "POLICY_DENY"},
        {"verdict": "DROPPED", "drop_reason_desc": "INVALID_SOURCE_IP"},
    ]
)
L7 = st.one_of(
    st.none(),
    st.builds(
        lambda method, path: {"type": "REQUEST", "http": {"method": method, "url": f"http://svc{path}"}},
        st.sampled_from(["GET", "post"]),
        st.sampled_from(["/", "/a?b=1", "/<x>", "/ü/\\"]),
    ),
    st.builds(
        lambda name: {"type": "REQUEST", "dns": {"query": f"{name}.", "ips": ["10.0.0.77"]}},
        st.sampled_from(["example.com", "api.example.org", "<odd>.test"]),
    ),
)


@st.composite
def flows(draw: st.DrawFn, ends: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    source, destination = draw(ends), draw(ends)
    protocol = draw(st.sampled_from(["TCP", "TCP", "UDP", "SCTP", "ICMPv4", "ICMPv6"]))
    if protocol.startswith("ICMP"):
        layer4 = {protocol: {"type": draw(st.sampled_from([0, 8, 128, 129, 3]))}}
    else:
        layer4 = {
            protocol: {"source_port": draw(st.integers(1, 65535)), "destination_port": draw(st.integers(1, 9000))}
        }
    second = draw(st.integers(0, 59))
    flow: dict[str, Any] = {
        "time": f"2024-03-01T10:00:{second:02d}.{draw(st.integers(0, 999999999)):09d}Z",
        **draw(VERDICTS),
        "IP": {"source": draw(ADDRESSES), "destination": draw(ADDRESSES)},
        "l4": layer4,
        "source": source,
        "destination": destination,
        "is_reply": draw(st.sampled_from([False, False, True, None])),
    }
    if flow["is_reply"] is None:
        del flow["is_reply"]
    l7 = draw(L7)
    if l7 is not None:
        flow["l7"] = l7
    if draw(st.integers(0, 6)) == 0:
        flow["destination_names"] = [draw(st.sampled_from(["db.example.com.", "<x>.test."]))]
    return {"flow": flow, "time": flow["time"]}


def capture(records: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(record, ensure_ascii=False).encode() + b"\n" for record in records)


COMMON = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@COMMON
@given(st.lists(flows(pods()), min_size=1, max_size=30))
def test_generated_pods(records: list[dict[str, Any]]) -> None:
    assert both([capture(records)])  # pods known by name: always the compiled build


@COMMON
@given(
    st.lists(flows(st.one_of(pods(), pods(), WORLD, ENTITIES)), min_size=1, max_size=30),
    st.sampled_from(OPTION_SETS),
)
def test_generated_pods_world_and_entities(records: list[dict[str, Any]], options: dict[str, Any]) -> None:
    assert both([capture(records)], **options)


@COMMON
@given(st.lists(flows(st.one_of(pods(), GROUPS, WORLD)), min_size=1, max_size=20))
def test_generated_identities(records: list[dict[str, Any]]) -> None:
    both([capture(records)])


@COMMON
@given(st.lists(flows(pods()), min_size=1, max_size=15), st.lists(flows(pods()), min_size=1, max_size=15))
def test_generated_into_an_existing_document(first: list[dict[str, Any]], second: list[dict[str, Any]]) -> None:
    with compiled(None):
        made = read_flows([("first", io.BytesIO(capture(first)))]).document.dumps()
    try:
        Document.loads(made)
    except DocumentError:  # a name with a control character, say: not a document one can import into
        assume(False)
    both([capture(second)], into=lambda: Document.loads(made))


def test_the_rare_edges_within_a_compiled_build() -> None:
    """Two verdicts on one edge, two addresses in one CIDR, an ICMP edge and a DNS edge with its L4 twin, in a
    capture the compiled build takes: each must be made as the Python path makes it."""
    web = {"identity": 300, "namespace": "shop", "labels": ["k8s:app=web"], "pod_name": "web"}
    dns = {"identity": 301, "namespace": "kube-system", "labels": ["k8s:k8s-app=kube-dns"], "pod_name": "dns"}
    world = {"identity": 2, "labels": ["reserved:world"]}

    def flow(source: dict[str, Any], destination: dict[str, Any], address: str, **fields: Any) -> dict[str, Any]:
        layer4 = fields.pop("l4", {"TCP": {"source_port": 40000, "destination_port": 443}})
        return {
            "flow": {
                "time": "2024-03-01T10:00:00.000000000Z",
                "verdict": "FORWARDED",
                "IP": {"source": "10.1.0.1", "destination": address},
                "l4": layer4,
                "source": source,
                "destination": destination,
                "is_reply": False,
                **fields,
            }
        }

    denied = {"verdict": "DROPPED", "drop_reason_desc": "POLICY_DENIED"}
    lookup = {"type": "REQUEST", "dns": {"query": "example.com."}}
    records = [
        flow(web, dns, "10.1.0.2"),
        flow(web, dns, "10.1.0.2", **denied),
        flow(web, world, "192.0.2.1"),
        flow(web, world, "192.0.2.9", **denied),
        flow(web, world, "192.0.2.9", l4={"ICMPv4": {"type": 8}}),
        flow(web, dns, "10.1.0.2", l4={"UDP": {"source_port": 40000, "destination_port": 53}}, l7=lookup),
    ]
    assert both([capture(records)], collapse_cidr=24)
    with compiled(flow_graph._compiled):
        document = read_flows([("log", io.BytesIO(capture(records)))], FlowOptions(collapse_cidr=24)).document
    merged = [edge.observed.verdicts for edge in document.edges if edge.observed and len(edge.observed.verdicts) > 1]
    assert merged == [{"DROPPED:POLICY_DENIED": 1, "FORWARDED": 1}] * 2
    assert [edge.icmps for edge in document.edges if edge.icmps] == [[{"family": "IPv4", "type": 8}]]
    assert [edge.l7 for edge in document.edges if edge.l7] == [{"dns": [{"matchName": "example.com"}]}]
    assert any("DNS server's side" in (edge.note or "") for edge in document.edges)
