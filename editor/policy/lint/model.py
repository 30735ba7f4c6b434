"""What a lint run produces and consumes: rules, findings, fixes, settings and the known workloads.

A finding is data the editor can show beside the YAML and on the graph (object, field path, file:line, node and
edge ids) plus zero or more fixes. A fix is a pure function from a policy object (or a graph document) to a new
one; it never edits its input, so the editor can preview it and apply it with one click.
"""

from __future__ import annotations

import copy
import dataclasses
import ipaddress
from collections.abc import Callable, Mapping
from typing import Any, Literal

from ..document import Document, Settings
from ..json_fields import camel_json
from ..selectors import LabelSelector, parse_selector

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
Path = tuple[str | int, ...]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# A policy carrying this annotation with value "true" selects an ingress gateway: world ingress is intended.
GATEWAY_ANNOTATION = "fenceline.dev/ingress-gateway"
# Words in a pod's labels, its workload name or its namespace that mark an ingress gateway (FL018).
GATEWAY_WORDS = (
    "ingress", "gateway", "nginx", "traefik", "envoy", "haproxy", "kong", "contour", "ambassador", "emissary",
    "caddy", "apisix",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Rule:
    """A lint rule: `id` (FL001...), a slug, its default severity, a one-line title and the why page name."""

    id: str
    slug: str
    severity: Severity
    title: str
    summary: str  # two sentences: what is wrong and what breaks; the docs page says more, with sources

    @property
    def doc_path(self) -> str:
        return f"docs/rules/{self.id}.md"

    def to_json(self) -> dict[str, Any]:
        return camel_json(self, help=self.doc_path)


RULES: dict[str, Rule] = {}


def rule(id: str, slug: str, severity: Severity, title: str, summary: str) -> Rule:
    """Register a rule in RULES (each rule module declares its rules at import time)."""
    if id in RULES:
        raise ValueError(f"lint rule {id} declared twice")
    RULES[id] = Rule(id, slug, severity, title, summary)
    return RULES[id]


def format_path(path: Path) -> str:
    """`("spec", "egress", 1, "ports")` -> `spec.egress[1].ports`."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


ObjectTransform = Callable[[dict[str, Any]], None]
DocumentTransform = Callable[[Document], None]


@dataclasses.dataclass
class Fix:
    """A one-click change. `target` says what `apply` takes: a policy object (dict) or a graph document.

    `transform` edits a deep copy in place; `apply` returns that copy, so the input stays untouched.
    """

    id: str
    title: str
    target: Literal["object", "document"]
    transform: ObjectTransform | DocumentTransform = dataclasses.field(repr=False, compare=False)

    def apply(self, value: Any) -> Any:
        if self.target == "document":
            if not isinstance(value, Document):
                raise TypeError(f"fix {self.id} changes a graph document, not {type(value).__name__}")
            fixed = Document.from_json(copy.deepcopy(value.to_json()))
        else:
            if not isinstance(value, dict):
                raise TypeError(f"fix {self.id} changes a policy object (a mapping), not {type(value).__name__}")
            fixed = copy.deepcopy(value)  # type: ignore[assignment]
        self.transform(fixed)  # type: ignore[arg-type]
        return fixed

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "target": self.target}


@dataclasses.dataclass
class LintFinding:
    """One finding about one policy object. `str()` is `file:line: severity FL00x Kind ns/name: path: message`."""

    rule: str
    severity: Severity
    message: str
    kind: str
    namespace: str | None
    name: str
    path: str  # field path inside the object, e.g. spec.egress[1].ports
    source: str | None = None
    line: int | None = None
    fixes: list[Fix] = dataclasses.field(default_factory=list)
    nodes: list[str] = dataclasses.field(default_factory=list)  # graph node ids, when linting a document
    edges: list[str] = dataclasses.field(default_factory=list)  # graph edge ids, when linting a document

    @property
    def id(self) -> str:
        """Stable across runs over the same input: rule, object and path."""
        return f"{self.rule}:{self.subject}:{self.path}"

    @property
    def subject(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    @property
    def slug(self) -> str:
        return RULES[self.rule].slug

    @property
    def help(self) -> str:
        return RULES[self.rule].doc_path

    def where(self) -> str:
        if self.source is None:
            return self.subject
        return f"{self.source}:{self.line}" if self.line is not None else self.source

    def __str__(self) -> str:
        location = f"{self.where()}: " if self.source is not None else ""
        path = f": {self.path}" if self.path else ""
        return f"{location}{self.severity} {self.rule} {self.subject}{path}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule,
            "slug": self.slug,
            "severity": self.severity,
            "message": self.message,
            "object": {"kind": self.kind, "namespace": self.namespace, "name": self.name},
            "path": self.path,
            "source": self.source,
            "line": self.line,
            "help": self.help,
            "fixes": [fix.to_json() for fix in self.fixes],
            "nodes": list(self.nodes),
            "edges": list(self.edges),
        }


@dataclasses.dataclass(frozen=True)
class KnownWorkload:
    """A workload whose pods the linter may reason about (from manifests or from a document's workload nodes)."""

    namespace: str
    name: str
    labels: Mapping[str, str]
    ports: tuple[tuple[str | None, int, str], ...]  # (name, number, protocol) of every container port
    ips: tuple[str, ...] = ()
    service_account: str = "default"
    node_id: str | None = None

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclasses.dataclass
class Inventory:
    """Namespaces (with labels) and workloads known from the input; `workloads` empty = nothing known."""

    namespaces: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    workloads: list[KnownWorkload] = dataclasses.field(default_factory=list)

    def namespace_labels(self, name: str) -> dict[str, str]:
        """A namespace's labels; an unknown namespace still has its automatic name label (SEMANTICS R5)."""
        return {**self.namespaces.get(name, {}), "kubernetes.io/metadata.name": name}


@dataclasses.dataclass
class LintSettings:
    """Cluster facts the rules need. Defaults are the graph document's defaults (document.Settings)."""

    pod_cidrs: list[IPNetwork] = dataclasses.field(default_factory=lambda: _networks(Settings().pod_cidrs))
    service_cidrs: list[IPNetwork] = dataclasses.field(default_factory=lambda: _networks(Settings().service_cidrs))
    dns_namespace: str = dataclasses.field(default_factory=lambda: Settings().dns.namespace)
    dns_labels: dict[str, str] = dataclasses.field(default_factory=lambda: dict(Settings().dns.pod_labels))
    dns_port: int = dataclasses.field(default_factory=lambda: Settings().dns.port)
    gateways: list[LabelSelector] = dataclasses.field(default_factory=list)  # pods matching any are gateways
    gateway_nodes: list[str] = dataclasses.field(default_factory=list)  # document node ids marked as gateways

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> LintSettings:
        """From a document's settings (`settings.extra.lint.gateways` lists gateway node ids)."""
        settings = settings or Settings()
        lint_extra = settings.extra.get("lint") if isinstance(settings.extra.get("lint"), dict) else {}
        gateway_nodes = lint_extra.get("gateways", []) if isinstance(lint_extra, dict) else []
        return cls(
            pod_cidrs=_networks(settings.pod_cidrs),
            service_cidrs=_networks(settings.service_cidrs),
            dns_namespace=settings.dns.namespace,
            dns_labels=dict(settings.dns.pod_labels),
            dns_port=settings.dns.port,
            gateway_nodes=[str(node) for node in gateway_nodes if isinstance(node, str)],
        )

    def with_overrides(
        self,
        pod_cidrs: list[str] | None = None,
        service_cidrs: list[str] | None = None,
        gateway_labels: list[str] | None = None,
    ) -> LintSettings:
        """A copy with CLI-style overrides: CIDR strings and `key=value` gateway labels. Raises ValueError."""
        changed = dataclasses.replace(self)
        if pod_cidrs:
            changed.pod_cidrs = [_network(text, "--pod-cidr") for text in pod_cidrs]
        if service_cidrs:
            changed.service_cidrs = [_network(text, "--service-cidr") for text in service_cidrs]
        for text in gateway_labels or []:
            key, equals, value = text.partition("=")
            if not equals:
                raise ValueError(f"--gateway-label {text!r}: expected KEY=VALUE")
            try:
                selector = parse_selector({"matchLabels": {key: value}}, "--gateway-label")
            except ValueError as exc:
                raise ValueError(str(exc)) from None
            changed.gateways = [*changed.gateways, selector]
        return changed


def _networks(texts: list[str]) -> list[IPNetwork]:
    return [ipaddress.ip_network(text, strict=False) for text in texts]


def _network(text: str, option: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"{option} {text!r} is not a CIDR such as 10.244.0.0/16") from None
