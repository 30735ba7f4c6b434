"""Fuzzing every parser entry point of the core: bad input gives a clean error, never an unhandled exception.

The inputs are the real files of tests/fixtures (policies, manifests, Hubble and Gadget logs) mutated at random
(a value replaced, a key dropped, a list wrapped or emptied, the text cut or spliced), Kubernetes-shaped objects
built from the field names the readers look for, and arbitrary bytes. The only errors allowed are
yamlio.InputError (for input that cannot be read at all) and DocumentError (for an invalid graph document);
everything else a reader meets must become a warning, a finding or a skipped line.
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from editor.policy.analysis import analyse
from editor.policy.compile import compile_document
from editor.policy.document import Document, DocumentError
from editor.policy.flows.importer import read_flows
from editor.policy.importer import import_objects, import_text
from editor.policy.lint.engine import lint_document, lint_objects
from editor.policy.manifests import read_cluster
from editor.policy.validate import validate_objects
from editor.policy.yamlio import InputError, dump_yaml_documents, load_documents, load_objects
from tests.strategies import documents

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# CI runs a fixed set of examples (derandomize), so a failure is reproducible and never flaky; for a deeper,
# random search run e.g. `FENCELINE_FUZZ_EXAMPLES=3000 pytest tests/unit/test_fuzz_parsers.py`.
DEEP_EXAMPLES = os.getenv("FENCELINE_FUZZ_EXAMPLES")
FUZZ = settings(
    max_examples=int(DEEP_EXAMPLES or 60),
    derandomize=DEEP_EXAMPLES is None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Field names the readers look for, so random objects reach past the first `if key in obj`.
KEYS = (
    "apiVersion", "kind", "metadata", "name", "namespace", "labels", "spec", "specs", "items", "podSelector",
    "namespaceSelector", "matchLabels", "matchExpressions", "key", "operator", "values", "policyTypes", "ingress",
    "egress", "from", "to", "ports", "port", "endPort", "protocol", "ipBlock", "cidr", "except", "endpointSelector",
    "nodeSelector", "fromEndpoints", "toEndpoints", "fromEntities", "toEntities", "fromCIDR", "toCIDR",
    "fromCIDRSet", "toCIDRSet", "cidrGroupRef", "toFQDNs", "matchName", "matchPattern", "toPorts", "rules", "http",
    "dns", "method", "path", "icmps", "fields", "type", "family", "ingressDeny", "egressDeny", "toServices",
    "serverNames", "template", "selector", "containers", "containerPort", "replicas", "status", "podIP", "podIPs",
    "ip", "ownerReferences", "controller", "targetPort", "clusterIP", "enableDefaultDeny",
)  # fmt: skip
KINDS = (
    "NetworkPolicy", "CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy", "Deployment", "StatefulSet",
    "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod", "Namespace", "Service", "List", "NetworkPolicyList",
    "PodList", "ConfigMap", "",
)  # fmt: skip
API_VERSIONS = ("networking.k8s.io/v1", "cilium.io/v2", "apps/v1", "v1", "batch/v1", "v2", "")
TRICKY = (
    "", " ", "a", "app", "web", "TCP", "UDP", "SCTP", "ANY", "ICMP", "http", "dns", "80", "0", "-1", "65536",
    "8080-8090", "10.0.0.0/8", "10.0.0.1", "10.0.0.0/33", "300.1.1.1/8", "0.0.0.0/0", "::/0", "fe80::1/64",
    "::ffff:10.0.0.1/128", "*.example.com", "**", "k8s:app", "any:app", "reserved:world", "reserved:bogus",
    "io.kubernetes.pod.namespace", "io.cilium.k8s.namespace.labels.team", "kubernetes.io/metadata.name", "In",
    "NotIn", "Exists", "DoesNotExist", "Gt", "Ingress", "Egress", "world", "cluster", "host", "all", "default",
    "kube-system", "a/b/c", "é", "\u202e", "\ufeff", "1e3", "null", "~", "yes", "no", "-", "[", "{",
)  # fmt: skip

strings = st.one_of(st.sampled_from(TRICKY), st.text(max_size=12))
# Finite floats only: the core takes what JSON and YAML loaders make; NaN reaches it only through the API,
# whose door refuses it (tests/web/test_fuzz_api.py sends it).
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False, allow_infinity=False), strings
)
keys = st.one_of(st.sampled_from(KEYS), strings)
values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)),
    max_leaves=25,
)
kube_objects = st.builds(
    lambda api_version, kind, body: {"apiVersion": api_version, "kind": kind, **body},
    st.sampled_from(API_VERSIONS),
    st.sampled_from(KINDS),
    st.dictionaries(st.sampled_from(KEYS), values, max_size=5),
)


def fixture_objects(*folders: str) -> list[dict[str, Any]]:
    found = []
    for folder in folders:
        for path in sorted((FIXTURES / folder).rglob("*")):
            if path.suffix in (".yaml", ".yml", ".json") and path.stat().st_size < 200_000:
                try:
                    loaded, _ = load_objects(path.read_bytes(), str(path))
                except InputError:
                    continue  # the corpus keeps some broken files on purpose; they are inputs of other tests
                found += [item.obj for item in loaded]
    return found


POLICY_SEEDS = [obj for obj in fixture_objects("policies", "cyclonus") if "Policy" in str(obj.get("kind"))]
MANIFEST_SEEDS = fixture_objects("manifests")
POLICY_TEXTS = [
    path.read_text() for path in sorted((FIXTURES / "policies").rglob("*.yaml")) if path.stat().st_size < 20_000
]


def json_lines(path: Path) -> list[dict[str, Any]]:
    text = path.read_text()
    if text.lstrip().startswith("["):
        return [item for item in json.loads(text) if isinstance(item, dict)]
    return [json.loads(line) for line in text.splitlines() if line.strip()]


HUBBLE_SEEDS = [flow for path in sorted((FIXTURES / "hubble").glob("*.json*")) for flow in json_lines(path)[:40]]
GADGET_SEEDS = [event for path in sorted((FIXTURES / "gadget").rglob("*.input")) for event in json_lines(path)]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*prefix, index))


@st.composite
def mutated(draw: st.DrawFn, seeds: Any, replacements: Any = values) -> Any:
    """A seed with one to three random changes somewhere in its tree."""
    value = copy.deepcopy(draw(seeds))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(paths(value))))
        if not path:
            continue
        *parent_path, last = path
        parent = value
        for step in parent_path:
            parent = parent[step]
        operation = draw(st.sampled_from(("replace", "delete", "wrap", "empty", "scalar")))
        if operation == "delete":
            del parent[last]
        elif operation == "wrap":
            parent[last] = [parent[last]]
        elif operation == "empty":
            parent[last] = draw(st.sampled_from(([], {}, None, "")))
        elif operation == "scalar":
            parent[last] = draw(scalars)
        else:
            parent[last] = draw(replacements)
    return value


policies = st.one_of(mutated(st.sampled_from(POLICY_SEEDS)), kube_objects)
manifests = st.one_of(mutated(st.sampled_from(MANIFEST_SEEDS)), kube_objects)


@st.composite
def spliced_text(draw: st.DrawFn) -> str:
    """A real policy file with a random cut, insertion or duplicated line: broken indentation, unclosed flows."""
    text = draw(st.sampled_from(POLICY_TEXTS))
    start = draw(st.integers(0, len(text)))
    end = draw(st.integers(start, min(len(text), start + 40)))
    insert = draw(
        st.one_of(
            st.just(""),
            st.sampled_from(
                ("\n", "  ", "- ", ": ", "{", "[", "&a ", "*a", "!!python/object:os.system ", "\t", "'", '"')
            ),
            st.text(max_size=8),
        )
    )
    return text[:start] + insert + text[end:]


# --- policy YAML and manifests ----------------------------------------------------------------------------------


def clean(call: Any, *args: Any) -> Any:
    """Run a reader; an InputError is a clean answer (it must name its source), anything else fails the test."""
    try:
        return call(*args)
    except InputError as exc:
        assert exc.source and str(exc).startswith(exc.source)
        return None


@FUZZ
@given(st.lists(policies, min_size=1, max_size=3))
def test_importing_policy_yaml_gives_a_document_or_an_input_error(objects):
    result = clean(import_text, dump_yaml_documents(objects), "fuzz.yaml")
    if result is not None:
        Document.from_json(result.document.to_json())  # what the importer makes is always a valid document
        assert all(isinstance(warning, str) and warning for warning in result.warnings)


@FUZZ
@given(spliced_text())
def test_importing_damaged_yaml_text_gives_a_document_or_an_input_error(text):
    result = clean(import_text, text, "damaged.yaml")
    if result is not None:
        Document.from_json(result.document.to_json())


@FUZZ
@given(st.lists(policies, min_size=1, max_size=3))
def test_validating_policies_gives_findings_not_exceptions(objects):
    loaded, problems = load_objects(dump_yaml_documents(objects), "fuzz.yaml")
    for finding in validate_objects(loaded):
        assert finding.severity in ("error", "warning") and str(finding)
    assert all(isinstance(problem, InputError) for problem in problems)


@FUZZ
@given(st.lists(manifests, min_size=1, max_size=3), st.lists(policies, max_size=2))
def test_reading_manifests_and_analysing_gives_warnings_not_exceptions(workloads, rules):
    loaded, _ = load_objects(dump_yaml_documents(workloads + rules), "fuzz.yaml")
    cluster = clean(read_cluster, loaded)
    analysis = cluster and clean(analyse, cluster)
    if analysis:
        assert all(isinstance(warning, str) for warning in analysis.warnings)
    result = clean(import_objects, loaded)
    if result is not None:
        Document.from_json(result.document.to_json())


@FUZZ
@given(st.lists(st.one_of(policies, manifests), min_size=1, max_size=3))
def test_linting_objects_gives_findings_or_an_input_error(objects):
    loaded, _ = load_objects(dump_yaml_documents(objects), "fuzz.yaml")
    findings = clean(lint_objects, loaded)
    assert findings is None or all(finding.rule for finding in findings)


# Found by the tests above; each is a traceback from `fenceline lint|rate|connlist|import` today.
NULL_PEER = """\
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: l3-egress-rule, namespace: default}
spec:
  endpointSelector: {matchLabels: {run: ssh-client}}
  egress:
  - toEndpoints: [null]
"""
SERVICE_PORTS_NOT_A_LIST = """\
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {selector: {app: web}, ports: 1.5}
"""


def test_linting_a_null_peer_gives_findings():
    loaded, _ = load_objects(NULL_PEER, "null-peer.yaml")
    assert lint_objects(loaded)


def test_reading_a_service_whose_ports_are_not_a_list_warns():
    loaded, _ = load_objects(SERVICE_PORTS_NOT_A_LIST, "service.yaml")
    assert read_cluster(loaded).warnings


@FUZZ
@given(st.binary(max_size=300))
def test_the_loader_reads_arbitrary_bytes_or_says_why_not(data):
    clean(load_documents, data, "bytes")
    clean(import_text, data, "bytes")


# --- flow lines -------------------------------------------------------------------------------------------------

flow_records = st.one_of(
    mutated(st.sampled_from(HUBBLE_SEEDS)), mutated(st.sampled_from(GADGET_SEEDS)), values, kube_objects
)
flow_lines = st.one_of(
    flow_records.map(lambda record: json.dumps(record).encode()),
    st.binary(max_size=60),
    st.sampled_from((b"", b"{", b"[", b"]", b"null", b'{"flow": null}', b'{"flow": {}}', b"\xff\xfe", b"\x1f\x8b")),
)


@FUZZ
@given(st.lists(flow_lines, min_size=1, max_size=8), st.sampled_from(("lines", "array", "gzip")))
def test_reading_flow_logs_skips_bad_lines_and_never_raises(lines, layout):
    data = b"[" + b",\n".join(lines) + b"]" if layout == "array" else b"\n".join(lines) + b"\n"
    if layout == "gzip":
        data = gzip.compress(data)
    result = clean(read_flows, [("fuzz.log", io.BytesIO(data))])
    if result is not None:
        Document.from_json(result.document.to_json())  # a graph the editor can open
        assert all(skipped.line >= 1 and skipped.reason for skipped in result.summary.skipped)


# Found by the test above: a flow whose pod has no usable namespace still becomes a node in a namespace that a
# document cannot hold, so the import answers a document that Document.from_json (and the editor) refuses.
INVALID_NAMESPACE_FLOWS = {
    "hubble-pod-without-namespace": {
        "flow": {
            "time": "2021-11-10T10:40:56.479977400Z",
            "verdict": "FORWARDED",
            "IP": {"source": "10.244.0.177", "destination": "10.244.0.110", "ipVersion": "IPv4"},
            "l4": {"TCP": {"source_port": 35128, "destination_port": 9080}},
            "source": {"namespace": "bookinfo", "labels": ["k8s:app=productpage"], "pod_name": "productpage-1"},
            "destination": {"labels": ["k8s:app=reviews"], "pod_name": "reviews-v2-7bf8c9648f-r7bs2"},
        }
    },
    "gadget-number-as-namespace": {
        "type": "accept",
        "remote_kind": "pod",
        "port": 50051,
        "local_pod_namespace": 1.0,
        "local_pod_name": "shippingservice-778db496dd-v94bv",
        "local_pod_labels": {"app": "shippingservice"},
        "remote_pod_namespace": "demo",
        "remote_pod_name": "checkoutservice-66d68cbdd-9kkkl",
        "remote_pod_labels": {"app": "checkoutservice"},
    },
}


GADGET_OWNER_LIST = {**INVALID_NAMESPACE_FLOWS["gadget-number-as-namespace"], "local_pod_namespace": "demo"}
GADGET_OWNER_LIST["local_pod_owner"] = ["shippingservice"]


def test_a_gadget_event_whose_owner_is_a_list_is_skipped_not_a_crash():
    result = read_flows([("gadget.log", io.BytesIO(json.dumps(GADGET_OWNER_LIST).encode() + b"\n"))])
    Document.from_json(result.document.to_json())


@pytest.mark.parametrize("record", INVALID_NAMESPACE_FLOWS.values(), ids=INVALID_NAMESPACE_FLOWS.keys())
def test_a_flow_with_an_unusable_namespace_never_makes_an_invalid_document(record):
    result = read_flows([("flows.log", io.BytesIO(json.dumps(record).encode() + b"\n"))])
    Document.from_json(result.document.to_json())


@FUZZ
@given(st.binary(max_size=200))
def test_reading_damaged_gzip_is_an_input_error(tail):
    data = gzip.compress(b'{"flow": {}}\n' * 20)[:20] + tail
    clean(read_flows, [("damaged.gz", io.BytesIO(data))])


# --- the graph document -----------------------------------------------------------------------------------------

document_seeds = st.one_of(documents(), documents(dialect="native"), documents(dialect="cilium")).map(
    lambda document: document.to_json()
)


@FUZZ
@given(st.one_of(mutated(document_seeds), values, st.dictionaries(keys, values, max_size=4)))
def test_a_document_is_valid_or_a_document_error_and_valid_ones_compile(value):
    try:
        document = Document.from_json(value)
    except DocumentError as exc:
        assert exc.errors and all(isinstance(message, str) and message for _, message in exc.errors)
        return
    for dialect in ("native", "cilium"):
        result = compile_document(document, dialect)
        assert all(issue.severity in ("error", "warning", "info") for issue in result.issues)
    lint_document(document)


@FUZZ
@given(st.one_of(st.text(max_size=200), mutated(document_seeds).map(json.dumps)))
def test_document_text_loads_or_is_a_document_error(text):
    try:
        Document.loads(text)
    except DocumentError as exc:
        assert str(exc)


def test_document_text_nested_beyond_recursion_is_a_document_error():
    with pytest.raises(DocumentError):
        Document.loads("[" * 100_000)
