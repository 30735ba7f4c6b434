"""What the policy readers share: the imported policy and rule, nodes for peers and subjects, field readers."""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
from collections.abc import Callable
from typing import Any

from ..compile import canonical
from ..document import NAMESPACE_NAME_LABEL, Document, Node, Port
from ..model import IPBlock, Policy, Selector
from ..selectors import LabelSelector, Requirement, validate_namespace_name

_Path = tuple[str | int, ...]
_POD_NAMESPACE = "io.kubernetes.pod.namespace"
_PREFIX_SOURCES = ("", "k8s", "any")  # label sources that mean "a Kubernetes label" in Cilium selectors


class Report:
    """Warnings about one policy object, `report(path, message)`, and the object as written (`written`)."""

    def __init__(self, written: Policy, write: Callable[[_Path, str], None]) -> None:
        self.written = written
        self._write = write
        self._problems = {problem.path: problem for problem in written.problems}

    def __call__(self, path: _Path, message: str) -> None:
        self._write(path, message)

    def shape_ok(self, path: _Path) -> bool:
        """False (after a warning) when the model found the part at `path` of the wrong shape."""
        problem = self._problems.get(path)
        if problem is not None:
            self(path, f"must be a {problem.expected}; not imported")
        return problem is None


@dataclasses.dataclass
class ImportResult:
    document: Document
    warnings: list[str]


@dataclasses.dataclass
class _Rule:
    direction: str  # ingress / egress, seen from the subject
    peer: Node
    ports: list[Port]
    icmps: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    l7: dict[str, Any] | None = None
    server_names: list[str] = dataclasses.field(default_factory=list)
    action: str = "allow"
    disabled: bool = False


@dataclasses.dataclass
class _Policy:
    name: str
    subject: Node
    isolate_ingress: bool = False
    isolate_egress: bool = False
    rules: list[_Rule] = dataclasses.field(default_factory=list)
    dns_servers: list[tuple[str, tuple[tuple[str, str], ...], int]] = dataclasses.field(default_factory=list)


def _digest(value: Any) -> str:
    return hashlib.sha256(canonical(value).encode()).hexdigest()[:10]


def _selector_dict(labels: dict[str, str], requirements: list[Requirement]) -> dict[str, Any]:
    return _as_label_selector(labels, requirements).to_dict()


def _as_label_selector(labels: dict[str, str], requirements: list[Requirement]) -> LabelSelector:
    return LabelSelector(tuple(sorted(labels.items())), tuple(sorted(set(requirements))))


def _selector_text(selector: dict[str, Any], empty: str) -> str:
    labels = selector.get("matchLabels", {})
    requirements = [
        Requirement(e["key"], e["operator"], tuple(e.get("values", ()))) for e in selector.get("matchExpressions", [])
    ]
    return str(_as_label_selector(labels, requirements)) or empty


def pods_node(namespace: str | None, namespace_selector: dict[str, Any] | None, pod_selector: dict[str, Any]) -> Node:
    """The selector node for pods chosen by `pod_selector` in `namespace` or in namespaces chosen by labels."""
    exact = _exact_namespace(namespace_selector)
    if exact is not None:
        namespace, namespace_selector = exact, None
    pods = _selector_text(pod_selector, "all pods")
    if namespace is not None:
        return Node(
            id=f"sel:{namespace}:{_digest(pod_selector)}",
            kind="selector",
            name=pods,
            namespace=namespace,
            pod_selector=pod_selector,
        )
    namespaces = _selector_text(namespace_selector or {}, "")
    return Node(
        id=f"sel::{_digest([namespace_selector, pod_selector])}",
        kind="selector",
        name=f"{pods} in namespaces {namespaces}" if namespaces else f"{pods} in all namespaces",
        namespace_selector=namespace_selector,
        pod_selector=pod_selector,
    )


def _exact_namespace(namespace_selector: dict[str, Any] | None) -> str | None:
    """X when the selector picks exactly the namespace named X (by label or a one-value In)."""
    if namespace_selector is None:
        return None
    labels = namespace_selector.get("matchLabels", {})
    expressions = namespace_selector.get("matchExpressions", [])
    if list(labels) == [NAMESPACE_NAME_LABEL] and not expressions:
        name = labels[NAMESPACE_NAME_LABEL]
    elif not labels and len(expressions) == 1 and expressions[0]["key"] == NAMESPACE_NAME_LABEL:
        if expressions[0]["operator"] != "In" or len(expressions[0].get("values", [])) != 1:
            return None
        name = expressions[0]["values"][0]
    else:
        return None
    return None if validate_namespace_name(name) else name


def hosts_node(node_selector: dict[str, Any]) -> Node:
    return Node(
        id=f"hosts:{_digest(node_selector)}",
        kind="hosts",
        name=f"nodes {_selector_text(node_selector, '')}".strip() if node_selector else "all nodes",
        node_selector=node_selector,
    )


def entity_node(entity: str) -> Node:
    return Node(id=f"entity:{entity}", kind="entity", name=entity, entity=entity)


def cidr_node(cidr: str, excepts: list[str]) -> Node:
    if not excepts:
        return Node(id=f"cidr:{cidr}", kind="cidr", name=cidr, cidr=cidr)
    return Node(
        id=f"cidr:{cidr}-{_digest(sorted(excepts))}",
        kind="cidr",
        name=f"{cidr} except {', '.join(sorted(excepts))}",
        cidr=cidr,
        except_=sorted(excepts),
    )


def fqdn_node(match_name: str | None, match_pattern: str | None) -> Node:
    return Node(
        id=f"fqdn:{_digest([match_name, match_pattern])}",
        kind="fqdn",
        name=match_name or match_pattern or "",
        match_name=match_name,
        match_pattern=match_pattern,
    )


def _list(value: Any, path: _Path, report: Report) -> list[Any] | None:
    """A list field; None (after a warning) when it is something else. A missing/null field is []."""
    if value is None:
        return []
    if not isinstance(value, list):
        report(path, "must be a list; not imported")
        return None
    return value


def _terms(selector: Selector | None, report: Report) -> tuple[dict[str, str], list[Requirement]] | None:
    """matchLabels and matchExpressions of a label selector (absent: `{}`), or None (after a warning) when
    unreadable (`Selector.terms`: label syntax is not checked here; validate reports it)."""
    if selector is None:
        return {}, []
    terms = selector.terms()
    if terms.problem is not None:
        report(terms.problem[0], f"{terms.problem[1]}; selector not imported")
        return None
    return terms.labels, terms.requirements


def _namespace_ok(name: str, path: _Path, report: Report) -> bool:
    problem = validate_namespace_name(name)
    if problem:
        report(path, f"{problem}; not imported")
    return not problem


def _network(text: Any, path: _Path, report: Report, *, bare_ip: bool) -> str | None:
    """The canonical CIDR of `text` (host bits masked, as Cilium does; bare addresses only where allowed)."""
    if not isinstance(text, str) or ("/" not in text and not bare_ip):
        report(path, f"{text!r} is not a CIDR such as 10.0.0.0/8; not imported")
        return None
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        report(path, f"{text!r} is not a CIDR such as 10.0.0.0/8; not imported")
        return None


def _cidr_peer(block: IPBlock, report: Report, *, bare_ip: bool = False) -> Node | None:
    network = _network(block.cidr, block.cidr_path, report, bare_ip=bare_ip)
    if block.excepts is not None and not isinstance(block.excepts, list):
        report(block.excepts_path, "must be a list; not imported")
        return None
    if network is None:
        return None
    outer = ipaddress.ip_network(network)
    inner_texts = []
    for path, text in block.except_items:
        inner_text = _network(text, path, report, bare_ip=False)
        if inner_text is None:
            return None
        inner = ipaddress.ip_network(inner_text)
        if inner.version != outer.version or not inner.subnet_of(outer) or inner.prefixlen <= outer.prefixlen:  # type: ignore[arg-type]
            report(path, f"{inner} is not strictly inside {network}; peer not imported")
            return None
        inner_texts.append(inner_text)
    return cidr_node(network, inner_texts)
