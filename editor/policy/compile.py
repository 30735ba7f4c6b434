"""The shared front of the compilers: a graph document in, policy objects (and YAML) out.

`compile_document(doc, dialect=None)` plans which subjects need a policy and which edges each one carries, then
hands the plan to `native.py` (networking.k8s.io/v1 NetworkPolicy) or `cilium.py` (cilium.io/v2
CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy), names the drafts and returns a `CompileResult`.

Rules common to both dialects:

* A subject (a workload, selector or hosts node) gets a policy when it is isolated in some direction. Effective
  isolation per direction = the node's lock OR any enabled edge enforced on it in that direction: an edge
  enforced on "target" is an ingress rule of its target, one enforced on "source" an egress rule of its source.
  A side that is not a subject (a CIDR, entity or FQDN) cannot enforce anything; an edge that neither end can
  enforce compiles to nothing and says so in a warning. Disabled edges compile to nothing.
* Nothing is silently dropped: a construct the dialect cannot express is a `CompileIssue` of severity "error"
  naming the node or edge and the dialect that can express it; everything else still compiles.
* Deterministic: policy names come from `node.policy_name`, else a DNS-1123 slug of the node's name, made unique
  per (kind, namespace) with `-2`, `-3`, ... in a content-based order; policies, rules, peers and ports are
  sorted, so the same document (in any node or edge order) always gives the same YAML.
* Every emitted rule has a `RuleExplanation`: the policy, direction and rule index, the edge ids that produced
  it and one sentence, so the editor can explain each line of the YAML.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import msgspec

from .dialects import NAMES
from .dialects import dialect as dialect_named
from .document import NAMESPACE_NAME_LABEL, Document, Edge, Node, Port
from .gcpause import paused_gc
from .json_fields import camel_json
from .layers import has_platform
from .selectors import LabelSelector, SelectorError, parse_selector
from .sized_cache import SizedCache
from .yamlio import dump_yaml_documents

DIALECTS: tuple[str, ...] = NAMES
Severity = Literal["error", "warning"]


@dataclasses.dataclass(frozen=True)
class CompileIssue:
    """A problem found while compiling; `node_id` / `edge_id` point at what to fix in the drawing."""

    severity: Severity
    message: str
    node_id: str | None = None
    edge_id: str | None = None

    def __str__(self) -> str:
        return f"{self.severity}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"severity": self.severity, "message": self.message}
        if self.node_id is not None:
            data["nodeId"] = self.node_id
        if self.edge_id is not None:
            data["edgeId"] = self.edge_id
        return data


@dataclasses.dataclass(frozen=True)
class RuleExplanation:
    """Why one emitted rule exists: `direction` is the spec section (ingress, egress, ingressDeny, egressDeny)
    and `index` the rule's position in it."""

    kind: str
    namespace: str | None
    name: str
    direction: str
    index: int
    edge_ids: tuple[str, ...]
    text: str
    node_id: str | None = None  # the subject whose policy holds the rule

    def to_json(self) -> dict[str, Any]:
        return camel_json(self)


@dataclasses.dataclass
class CompileResult:
    """The emitted objects, in order, with `object_nodes[i]` the id of the subject node `objects[i]` is for."""

    dialect: str
    objects: list[dict[str, Any]]
    issues: list[CompileIssue]
    explanations: list[RuleExplanation]
    object_nodes: list[str] = dataclasses.field(default_factory=list)
    platform_objects: int = 0  # how many of the last objects are the platform layers' (layers.py)
    # The plan the objects were compiled from (who is isolated), for the callers that colour edges and locks.
    subjects: list[Subject] = dataclasses.field(default_factory=list, repr=False, compare=False)

    @property
    def errors(self) -> list[CompileIssue]:
        return [issue for issue in self.issues if issue.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def yaml(self) -> str:
        return dump_yaml_documents(self.objects)

    def to_json(self) -> dict[str, Any]:
        return {
            "dialect": self.dialect,
            "yaml": self.yaml,
            "objects": self.objects,
            "issues": [issue.to_json() for issue in self.issues],
            "explanations": [explanation.to_json() for explanation in self.explanations],
            "objectNodes": list(self.object_nodes),
        }


@dataclasses.dataclass
class Subject:
    """A node that gets a policy, with the enabled edges enforced on it (sorted by id) and its effective
    isolation per direction."""

    node: Node
    ingress: list[Edge] = dataclasses.field(default_factory=list)
    egress: list[Edge] = dataclasses.field(default_factory=list)

    @property
    def isolate_ingress(self) -> bool:
        return self.node.isolate.ingress or bool(self.ingress)

    @property
    def isolate_egress(self) -> bool:
        return self.node.isolate.egress or bool(self.egress)


@dataclasses.dataclass
class RuleDraft:
    direction: str
    index: int
    edge_ids: tuple[str, ...]
    text: str


@dataclasses.dataclass
class Draft:
    """A policy before it has its final name: `body` is everything after `metadata` (usually `spec`)."""

    api_version: str
    kind: str
    namespace: str | None
    base_name: str
    node_id: str
    body: dict[str, Any]
    rules: list[RuleDraft] = dataclasses.field(default_factory=list)


# One subject's drafts as a compile made them: the issues it reported, in order, and each draft with its body as
# JSON, decoded afresh on every use so that no caller can change what the cache holds.
_FrozenRule = tuple[str, int, tuple[str, ...], str]
_FrozenDraft = tuple[str, str, str | None, str, str, bytes, tuple[_FrozenRule, ...]]
SubjectDrafts = tuple[tuple[CompileIssue, ...], tuple[_FrozenDraft, ...]]
_KEY_ENCODER = msgspec.json.Encoder()


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def _frozen(draft: Draft) -> _FrozenDraft:
    rules = tuple((rule.direction, rule.index, tuple(rule.edge_ids), rule.text) for rule in draft.rules)
    body = _KEY_ENCODER.encode(draft.body)
    return (draft.api_version, draft.kind, draft.namespace, draft.base_name, draft.node_id, body, rules)


def _thawed(frozen: _FrozenDraft) -> Draft:
    api_version, kind, namespace, base_name, node_id, body, rules = frozen
    return Draft(
        api_version, kind, namespace, base_name, node_id, msgspec.json.decode(body), [RuleDraft(*r) for r in rules]
    )


def _fresh(draft: Draft) -> Draft:
    """`draft` with a body that shares nothing: the compilers put the document's own dicts and lists (a node's
    podSelector and namespaceSelector, an edge's L7 rules) into the bodies, and the same one into several places
    (a selector that is both the subject and a peer, a peer of several rules). Whoever edits an emitted object
    (a lint fix, which edits a deep copy, and deepcopy keeps the sharing) would otherwise change the drawing or
    another rule too. The dicts and lists are copied, the strings and numbers (immutable) kept: a msgspec round trip
    copied them too and made the readers of the objects slower (lint compares many equal labels, and two equal
    strings that are one object compare at once)."""
    return dataclasses.replace(draft, body=_copied(draft.body))


def _copied(value: Any) -> Any:
    """A JSON-like value with every dict and list new (the leaves, immutable, are the same objects)."""
    if type(value) is dict:
        return {key: _copied(item) for key, item in value.items()}
    if type(value) is list:
        return [_copied(item) for item in value]
    return value


def _drafts_size(value: SubjectDrafts) -> int:
    issues, drafts = value
    size = sum(len(issue.message) + 64 for issue in issues)
    for draft in drafts:
        size += len(draft[5]) + 128 + sum(len(rule[3]) + 16 + 8 * len(rule[2]) for rule in draft[6])
    return size


class Context:
    """What a dialect compiler needs besides the plan: node lookup, issue collection, shared wording, and the
    cache of subjects compiled earlier (`subject_drafts`) when the caller keeps one."""

    def __init__(
        self, document: Document, drafts_cache: SizedCache[SubjectDrafts] | None = None, dialect: str = ""
    ) -> None:
        self.document = document
        self.nodes = document.node_map()
        self.issues: list[CompileIssue] = []
        self._seen: set[CompileIssue] = set()
        self._selector_problems: dict[tuple[str, bool], str | None] = {}
        self.cache: dict[str, Any] = {}  # per-compile memo of a dialect compiler (e.g. named ports per peer)
        self._drafts_cache = drafts_cache
        self._dialect = dialect
        self._recording: list[CompileIssue] | None = None
        self._digests: dict[int, bytes] = {}  # id() of a node or edge of `document` -> _digest of its JSON
        self._key_head: bytes | None = None

    def error(self, message: str, node_id: str | None = None, edge_id: str | None = None) -> None:
        self._add(CompileIssue("error", message, node_id, edge_id))

    def warning(self, message: str, node_id: str | None = None, edge_id: str | None = None) -> None:
        self._add(CompileIssue("warning", message, node_id, edge_id))

    def _add(self, issue: CompileIssue) -> None:
        if self._recording is not None:
            self._recording.append(issue)
        if issue not in self._seen:
            self._seen.add(issue)
            self.issues.append(issue)

    def subject_drafts(self, subject: Subject, make: Callable[[], list[Draft]], *inputs: Any) -> list[Draft]:
        """`make()`, the drafts of one subject; with a cache, the drafts an earlier compile made from the same
        inputs, and the issues it reported reported again, in the same order.

        The inputs are the dialect, the subject node, the edges it enforces with the node at their other end, the
        document's fields other than its nodes and edges, and `inputs` (JSON-like): whatever else of the drawing
        `make` reads (the ports of the workloads a peer covers, a decision over all subjects) must be in `inputs`,
        or an edit there would leave the policy as it was. An edit elsewhere in the drawing leaves the key alone,
        so one changed edge recompiles the two subjects at its ends.
        """
        cache = self._drafts_cache
        if cache is None:
            return list(map(_fresh, make()))
        made: list[list[Draft]] = []

        def run(_: str) -> SubjectDrafts:
            outer, self._recording = self._recording, []
            try:
                drafts = make()
            finally:
                recorded, self._recording = self._recording, outer
            made.append(drafts)
            return tuple(recorded), tuple(map(_frozen, drafts))

        issues, frozen = cache.get(self._subject_key(subject, inputs), run, _drafts_size)
        if made:  # just made: copied like those made without a cache (_fresh)
            return list(map(_fresh, made[0]))
        for issue in issues:
            self._add(issue)
        return [_thawed(draft) for draft in frozen]

    def _subject_key(self, subject: Subject, inputs: tuple[Any, ...]) -> str:
        if self._key_head is None:
            document = self.document
            rest = {f.name: getattr(document, f.name) for f in dataclasses.fields(document)}
            del rest["nodes"], rest["edges"]
            self._key_head = _digest(_KEY_ENCODER.encode([self._dialect, rest]))
        # Digests of one length and the counts before them: two different subjects cannot give the same bytes.
        parts = [self._key_head, self._digest(subject.node), b"%d,%d;" % (len(subject.ingress), len(subject.egress))]
        for edges, end in ((subject.ingress, "source"), (subject.egress, "target")):
            for edge in edges:
                parts += (self._digest(edge), self._digest(self.nodes[getattr(edge, end)]))
        parts.append(_KEY_ENCODER.encode(inputs))
        return _digest(b"".join(parts)).hex()

    def _digest(self, item: Node | Edge) -> bytes:
        """A digest of every field of a node or edge (dataclasses, as JSON), once per compile."""
        digest = self._digests.get(id(item))
        if digest is None:
            digest = self._digests[id(item)] = _digest(_KEY_ENCODER.encode(item))
        return digest

    def namespace_labels(self, name: str) -> dict[str, str]:
        namespace = self.document.namespace(name)
        return dict(namespace.labels) if namespace else {NAMESPACE_NAME_LABEL: name}

    def selector_problem(self, node: Node, *, cilium: bool) -> str | None:
        """Why a selector of `node` cannot be emitted (label syntax; Cilium allows `k8s:`-style prefixes)."""
        key = (node.id, cilium)
        if key not in self._selector_problems:
            self._selector_problems[key] = _selector_problem(node, cilium=cilium)
        return self._selector_problems[key]

    def describe(self, node: Node) -> str:
        return describe_node(node)

    def describe_edge(self, edge: Edge) -> str:
        return describe_edge(edge, self.nodes)


def describe_node(node: Node) -> str:
    """A node as people read it: `app=web (prod)`, `10.0.0.0/8`, `world`."""
    text = node.display_name()
    if node.kind == "workload":
        return f"{node.namespace}/{text}"
    if node.kind == "selector" and node.namespace is not None:
        return f"{text} ({node.namespace})"
    return text


def describe_edge(edge: Edge, nodes: Mapping[str, Node]) -> str:
    """`edge e3 (prod/web -> 10.0.0.0/8)`, its ends found in `nodes` (by id)."""
    return f"edge {edge.id} ({describe_node(nodes[edge.source])} -> {describe_node(nodes[edge.target])})"


def _selector_problem(node: Node, *, cilium: bool) -> str | None:
    fields = [("podSelector", node.selector() if node.is_pod_set else None)]
    fields += [("namespaceSelector", node.namespace_selector), ("nodeSelector", node.node_selector)]
    for field, selector in fields:
        if selector is None:
            continue
        try:
            parse_selector(selector, f"{field} of node {node.id}", source_prefixes=cilium)
        except SelectorError as exc:
            return str(exc)
    return None


def selector_of(raw: dict[str, Any]) -> LabelSelector | None:
    """A document selector as a `LabelSelector` for matching, or None when it is not valid."""
    try:
        return parse_selector(raw, source_prefixes=True)
    except SelectorError:
        return None


def plan(document: Document, context: Context) -> list[Subject]:
    """The subjects that get a policy, sorted by (namespace, id), with the edges each one enforces."""
    subjects: dict[str, Subject] = {}
    for node in document.nodes:
        if node.is_subject and (node.isolate.ingress or node.isolate.egress):
            subjects[node.id] = Subject(node)
    for edge in sorted(document.edges, key=lambda e: e.id):
        if edge.disabled or edge.layer != "application":  # platform rules: platform/from_drawing.py
            continue
        source, target = context.nodes[edge.source], context.nodes[edge.target]
        enforced = False
        if "source" in edge.enforce and source.is_subject:
            subjects.setdefault(source.id, Subject(source)).egress.append(edge)
            enforced = True
        if "target" in edge.enforce and target.is_subject:
            subjects.setdefault(target.id, Subject(target)).ingress.append(edge)
            enforced = True
        if not enforced:
            context.warning(
                f"{context.describe_edge(edge)} is enforced by neither end (only workloads, selectors and hosts "
                "carry policies), so it compiles to nothing",
                edge_id=edge.id,
            )
    return sorted(subjects.values(), key=lambda s: (s.node.namespace or "", s.node.id))


# --- names ---------------------------------------------------------------------------------------------------

_NAME_LIMIT = 240  # DNS-1123 subdomains may be 253 long; leave room for the "-N" that makes a name unique


def dns_slug(text: str) -> str:
    """`text` as a DNS-1123 subdomain (lower case, digits, '-' and '.'), e.g. `app=Web` -> `app-web`."""
    slug = re.sub(r"[^a-z0-9.-]+", "-", text.lower())
    parts = [re.sub(r"-{2,}", "-", part).strip("-") for part in slug.split(".")]
    slug = ".".join(part for part in parts if part)[:_NAME_LIMIT].strip("-.")
    return slug or "policy"


def policy_base_name(node: Node) -> str:
    return dns_slug(node.policy_name or node.display_name())


def _assign_names(drafts: list[Draft]) -> list[tuple[str, Draft]]:
    taken: set[tuple[str, str | None, str]] = set()
    named: list[tuple[str, Draft]] = []
    for draft in sorted(drafts, key=lambda d: (d.namespace or "", d.base_name, d.node_id, d.kind)):
        name, number = draft.base_name, 1
        while (draft.kind, draft.namespace, name) in taken:
            number += 1
            name = f"{draft.base_name}-{number}"
        taken.add((draft.kind, draft.namespace, name))
        named.append((name, draft))
    return sorted(named, key=lambda item: (item[1].namespace or "", item[0], item[1].kind))


# --- wording shared by the explanations ----------------------------------------------------------------------


def describe_ports(ports: Iterable[Port]) -> str:
    texts = []
    for port in ports:
        if port.port is None:
            texts.append(f"all {port.protocol} ports" if port.protocol != "ANY" else "all ports")
        elif port.end_port is not None:
            texts.append(f"{port.protocol} {port.port}-{port.end_port}")
        else:
            texts.append(f"{port.protocol} {port.port}")
    return ", ".join(texts) if texts else "all ports"


def describe_rule(direction: str, peers: list[str], ports_text: str, edge_ids: Iterable[str]) -> str:
    deny = direction.endswith("Deny")
    verb = "Denies" if deny else "Allows"
    preposition = "from" if direction.startswith("ingress") else "to"
    ids = sorted(set(edge_ids))
    label = "edge" if len(ids) == 1 else "edges"
    return f"{verb} connections {preposition} {', '.join(peers)} on {ports_text} ({label} {', '.join(ids)})."


_SORTED_JSON = msgspec.json.Encoder(order="sorted")


def canonical(value: Any) -> str:
    """A stable text form of a JSON-like value, for sorting and grouping (and hashed into imported node ids).

    The text of `json.dumps(value, sort_keys=True, separators=(",", ":"))` for every value without floats (policy
    objects have none): a compile calls this tens of thousands of times and msgspec writes it eight times faster.
    msgspec does not escape non-ASCII or DEL, so such values (and anything msgspec refuses) take the json path; a float
    is written in its shortest form (`1e16`, not `1e+16`), still stable.
    """
    try:
        text = _SORTED_JSON.encode(value).decode()
    except (TypeError, msgspec.EncodeError):
        text = ""
    # json escapes everything outside printable ASCII (DEL included); msgspec only what JSON requires.
    plain = text and text.isascii() and "\x7f" not in text
    return text if plain else json.dumps(value, sort_keys=True, separators=(",", ":"))


# --- the entry point -----------------------------------------------------------------------------------------


def compile_document(
    document: Document, dialect: str | None = None, drafts_cache: SizedCache[SubjectDrafts] | None = None
) -> CompileResult:
    """Compile `document` to policy objects in `dialect` (default: the document's `settings.dialect`).

    With `drafts_cache`, each subject's policies are taken from it when an earlier compile had the same inputs
    (Context.subject_drafts): the result is the same as without it."""
    # The policies, their issues and explanations stay alive until the end, and their fresh bodies (_fresh) are
    # many small containers: the cyclic collector would walk them again and again finding no garbage.
    with paused_gc():
        return _compile(document, dialect or document.settings.dialect, drafts_cache)


def _compile(document: Document, chosen: str, drafts_cache: SizedCache[SubjectDrafts] | None) -> CompileResult:
    compiler = dialect_named(chosen).compiler()  # ValueError for an unknown dialect
    context = Context(document, drafts_cache, chosen)
    subjects = plan(document, context)
    drafts = compiler(context, subjects)
    objects: list[dict[str, Any]] = []
    object_nodes: list[str] = []
    explanations: list[RuleExplanation] = []
    for name, draft in _assign_names(drafts):
        metadata: dict[str, Any] = {"name": name}
        if draft.namespace is not None:
            metadata["namespace"] = draft.namespace
        objects.append({"apiVersion": draft.api_version, "kind": draft.kind, "metadata": metadata, **draft.body})
        object_nodes.append(draft.node_id)
        explanations.extend(
            RuleExplanation(
                draft.kind, draft.namespace, name, rule.direction, rule.index, rule.edge_ids, rule.text, draft.node_id
            )
            for rule in draft.rules
        )
    platform = 0
    if has_platform(document):  # the platform layers, after the application's policies
        from .platform.from_drawing import compile_layers  # it builds on this module

        cluster_scoped = {obj["metadata"]["name"] for obj in objects if "namespace" not in obj["metadata"]}
        layers = compile_layers(document, chosen, context, cluster_scoped)
        objects.extend(map(_copied, layers.compiled.objects))  # shares nothing with the drawing: see _fresh
        object_nodes.extend(layers.object_nodes)
        explanations.extend(layers.explanations)
        platform = len(layers.compiled.objects)
    return CompileResult(chosen, objects, context.issues, explanations, object_nodes, platform, subjects)
