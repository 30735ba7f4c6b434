"""Policy YAML and workload manifests -> graph document.

`import_paths(paths)`, `import_text(data, source)` and `import_objects(objects, into=None)` return an
`ImportResult(document, warnings)`. Input is read by yamlio (bounded, with lines) and manifests.read_cluster
(namespaces, workloads with labels and named container ports, policy objects); unreadable input raises
yamlio.InputError naming file and line. Every warning is one line: `file:line: <what>: <field path>: message`.

Policies (NetworkPolicy, CiliumNetworkPolicy with `spec` and/or `specs`, CiliumClusterwideNetworkPolicy):
* Each policy object is first checked by validate.py; its findings become warnings (errors say "invalid"), and
  the policy is then imported as far as it can be. Of two policies with the same kind, namespace and name only
  the last is imported, as `kubectl apply` would keep only the last.
* The subject becomes a selector node (namespace + podSelector; a CCNP without a namespace term: all
  namespaces, or the namespace labels it names), or a hosts node for a Cilium `nodeSelector`. Policies with the
  same subject share the node (policies are additive); the node keeps the first policy's name as `policyName`.
* Isolation: NetworkPolicy from the defaulted policyTypes (SEMANTICS D1: Ingress always, Egress when the policy
  has egress rules); Cilium from non-empty sections (C2). Rules of a direction that policyTypes does not list
  have no effect in Kubernetes: they become disabled edges, with a warning.
* Every rule x peer becomes an edge enforced on the subject's side; an edge that both ends enforce (the same
  source, target, ports and L7 rules from an ingress and an egress rule) is one edge with both sides.
  A missing or empty `from`/`to` (NetworkPolicy) or a Cilium rule without peer fields is the entity `all`.
* Peers: podSelector / namespaceSelector / both (a namespaceSelector that is exactly
  `kubernetes.io/metadata.name: X` is the namespace X); ipBlock -> cidr node. Cilium endpoint selectors lose
  their `k8s:`/`any:` prefixes; `io.kubernetes.pod.namespace` gives the namespace, `io.cilium.k8s.namespace.
  labels.<k>` a namespaceSelector; without either the peer is in the policy's namespace (CNP, C5) or in every
  namespace (CCNP, C6); `reserved:<entity>` is that entity. Entities, CIDR/CIDRSet, toFQDNs, from/toNodes
  (hosts nodes), toPorts (each entry its own edge; omitted protocol = ANY, port "0" = all ports), icmps,
  serverNames and ingressDeny/egressDeny (action deny) are imported.
* Never broader than the input: a rule whose peers, ports or ICMP fields cannot be read is dropped (not turned
  into "all"), an explicitly empty peer list (`fromEndpoints: []`) selects nothing and drops its rule; fields
  the document does not represent (toServices, to/fromRequires, cidrGroupRef, authentication,
  enableDefaultDeny: false, listener, TLS contexts, ...) are named in a warning.
* When a Cilium DNS L7 rule names a single DNS server other than `settings.dns`, the new document's
  `settings.dns` points at it, so FQDN edges re-render against that server.

Manifests: each workload becomes a workload node `w:<ns>/<Kind>/<name>`; namespaces keep their labels. When a
namespaced selector node (not `{}`) matches exactly one workload of its namespace, it is merged into that
workload, which keeps the selector as its `podSelector` so its policy re-renders identically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import manifests, validate
from .cilium import NAMESPACE_LABEL_PREFIX
from .compile import canonical, dns_slug, selector_of
from .document import ENTITIES, NAMESPACE_NAME_LABEL, PROTOCOLS, ContainerPort, Document, Edge, Node, Port, safe_id
from .document import port_name_error as document_port_name_error
from .selectors import OPERATORS, LabelSelector, Requirement, validate_namespace_name
from .yamlio import KubeObject, load_objects

_Path = tuple[str | int, ...]
Report = Callable[[_Path, str], None]
_POD_NAMESPACE = "io.kubernetes.pod.namespace"
_PREFIX_SOURCES = ("", "k8s", "any")  # label sources that mean "a Kubernetes label" in Cilium selectors


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


# --- entry points --------------------------------------------------------------------------------------------


def import_paths(paths: Sequence[str | Path], into: Document | None = None) -> ImportResult:
    """Import files and directories (recursively .yaml/.yml/.json); `-` reads stdin."""
    return _import_cluster(manifests.read_paths(paths), into)


def import_text(data: bytes | str, source: str = "<input>", into: Document | None = None) -> ImportResult:
    objects, problems = load_objects(data, source)
    return import_objects(objects, into, [f"{problem.one_line()}; skipped" for problem in problems])


def import_objects(
    objects: Sequence[KubeObject], into: Document | None = None, warnings: Sequence[str] = ()
) -> ImportResult:
    """Import already loaded objects into `into` (changed in place) or a new document."""
    return _import_cluster(manifests.read_cluster(objects, warnings), into)


def workload_node_id(namespace: str, kind: str, name: str) -> str:
    return safe_id(f"w:{namespace}/{kind}/{name}")


def _import_cluster(cluster: manifests.Cluster, into: Document | None) -> ImportResult:
    warnings = list(cluster.warnings)
    # read for the analysis (the ingress controller peer, the admin layers), but a drawing has no place for them
    warnings += [f"{item.where()}: kind {item.kind} is not drawn; skipped" for item in cluster.exposing]
    warnings += [f"{policy.where()}: kind {policy.kind} is not drawn; skipped" for policy in cluster.admin_policies]
    warnings.extend(_finding_text(f) for f in validate.validate_objects([p.source for p in cluster.policies]))
    last = {(p.kind, p.namespace, p.name): p for p in cluster.policies}
    policies: list[_Policy] = []
    for policy in cluster.policies:
        if last[(policy.kind, policy.namespace, policy.name)] is not policy:
            continue
        report = _reporter(policy, warnings)
        if policy.kind == "NetworkPolicy":
            read = _read_network_policy(policy, report)
            policies.extend([read] if read else [])
        else:
            policies.extend(_read_cilium_policy(policy, report))
    document = into if into is not None else Document()
    builder = _Builder(document, warnings)
    for namespace in cluster.namespaces.values():
        builder.namespace(namespace.name, namespace.labels)
    for workload in cluster.workloads:
        builder.workload(workload)
    for read in policies:
        builder.policy(read)
    if cluster.workloads:
        builder.merge_selectors_into_workloads()
    if into is None:
        _adopt_dns_server(document, policies)
    return ImportResult(document, warnings)


def _finding_text(finding: validate.Finding) -> str:
    if not finding.is_error:
        return str(finding)
    where = finding.source if finding.line is None else f"{finding.source}:{finding.line}"
    parts = [where, f"invalid {finding.subject}" if finding.subject else "invalid", finding.path, finding.message]
    return ": ".join(part for part in parts if part)


def _reporter(policy: manifests.PolicyObject, warnings: list[str]) -> Report:
    def report(path: _Path, message: str) -> None:
        where = f"{policy.source.source}:{policy.source.line_of(path)}"
        field = validate.format_path(path)
        warnings.append(f"{where}: {policy}: {field}: {message}" if field else f"{where}: {policy}: {message}")

    return report


# --- nodes ---------------------------------------------------------------------------------------------------


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


# --- shared readers ------------------------------------------------------------------------------------------


def _list(value: Any, path: _Path, report: Report) -> list[Any] | None:
    """A list field; None (after a warning) when it is something else. A missing/null field is []."""
    if value is None:
        return []
    if not isinstance(value, list):
        report(path, "must be a list; not imported")
        return None
    return value


def _terms(raw: Any, path: _Path, report: Report) -> tuple[dict[str, str], list[Requirement]] | None:
    """matchLabels and matchExpressions of a label selector, or None (after a warning) when unreadable.

    Unknown keys make a selector unreadable rather than ignored: a mis-indented `matchLabels` leaves its labels
    as siblings, and ignoring them would select every pod.
    """
    if raw is None:
        return {}, []
    if not isinstance(raw, dict):
        report(path, "a label selector must be a mapping; not imported")
        return None
    unknown = [key for key in raw if key not in ("matchLabels", "matchExpressions")]
    if unknown:
        report(path, f"unknown selector key {unknown[0]!r} (mis-indented matchLabels?); selector not imported")
        return None
    labels = raw.get("matchLabels") or {}
    if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        report((*path, "matchLabels"), "matchLabels must map strings to strings (quote numbers and booleans)")
        return None
    requirements = []
    expressions = _list(raw.get("matchExpressions"), (*path, "matchExpressions"), report)
    if expressions is None:
        return None
    for i, expression in enumerate(expressions):
        requirement = _requirement(expression)
        if requirement is None:
            report((*path, "matchExpressions", i), "not a valid label selector requirement; selector not imported")
            return None
        requirements.append(requirement)
    return dict(labels), requirements


def _requirement(expression: Any) -> Requirement | None:
    if not isinstance(expression, dict) or not isinstance(expression.get("key"), str):
        return None
    operator, values = expression.get("operator"), expression.get("values") or []
    if operator not in OPERATORS or not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return None
    if (operator in ("In", "NotIn")) != bool(values):
        return None
    return Requirement(expression["key"], operator, tuple(sorted(set(values))))


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


def _cidr_peer(cidr: Any, excepts: Any, path: _Path, report: Report, *, bare_ip: bool = False) -> Node | None:
    network = _network(cidr, (*path, "cidr"), report, bare_ip=bare_ip)
    items = _list(excepts, (*path, "except"), report)
    if network is None or items is None:
        return None
    outer = ipaddress.ip_network(network)
    inner_texts = []
    for i, text in enumerate(items):
        inner_text = _network(text, (*path, "except", i), report, bare_ip=False)
        if inner_text is None:
            return None
        inner = ipaddress.ip_network(inner_text)
        if inner.version != outer.version or not inner.subnet_of(outer) or inner.prefixlen <= outer.prefixlen:  # type: ignore[arg-type]
            report((*path, "except", i), f"{inner} is not strictly inside {network}; peer not imported")
            return None
        inner_texts.append(inner_text)
    return cidr_node(network, inner_texts)


# --- NetworkPolicy -------------------------------------------------------------------------------------------


def _read_network_policy(policy: manifests.PolicyObject, report: Report) -> _Policy | None:
    spec = policy.obj.get("spec")
    if not isinstance(spec, dict):
        report(("spec",), "no spec; policy not imported")
        return None
    namespace = policy.namespace or manifests.DEFAULT_NAMESPACE
    terms = _terms(spec.get("podSelector"), ("spec", "podSelector"), report)
    if terms is None or not _namespace_ok(namespace, ("metadata", "namespace"), report):
        return None
    result = _Policy(policy.name, pods_node(namespace, None, _selector_dict(*terms)))
    ingress = _list(spec.get("ingress"), ("spec", "ingress"), report)
    egress = _list(spec.get("egress"), ("spec", "egress"), report)
    types = spec.get("policyTypes")
    if isinstance(types, list) and types:
        types = [t for t in types if t in ("Ingress", "Egress")]
    else:
        types = ["Ingress", *(["Egress"] if egress else [])]
    result.isolate_ingress, result.isolate_egress = "Ingress" in types, "Egress" in types
    for direction, rules, peers_key in (("ingress", ingress or [], "from"), ("egress", egress or [], "to")):
        active = direction.capitalize() in types
        if rules and not active:
            report(
                ("spec", direction),
                f"policyTypes does not list {direction.capitalize()}, so these rules have no effect in Kubernetes "
                "(Cilium enforces them anyway, cilium#48703); imported as disabled edges",
            )
        for i, rule in enumerate(rules):
            for peer, ports in _network_policy_rule(rule, ("spec", direction, i), peers_key, namespace, report):
                result.rules.append(_Rule(direction, peer, ports, disabled=not active))
    return result


def _network_policy_rule(
    rule: Any, path: _Path, peers_key: str, namespace: str, report: Report
) -> list[tuple[Node, list[Port]]]:
    if not isinstance(rule, dict):
        report(path, "a rule must be a mapping; rule not imported")
        return []
    ports = _ports(rule.get("ports"), (*path, "ports"), report, _network_policy_port, "rule")
    raw_peers = _list(rule.get(peers_key), (*path, peers_key), report)
    if ports is None or raw_peers is None:
        return []
    if not raw_peers:
        return [(entity_node("all"), ports)]
    peers = [_network_policy_peer(raw, namespace, (*path, peers_key, j), report) for j, raw in enumerate(raw_peers)]
    found = [(peer, ports) for peer in peers if peer is not None]
    if not found:
        report(path, "no peer of this rule could be imported; rule not imported")
    return found


def _network_policy_peer(raw: Any, namespace: str, path: _Path, report: Report) -> Node | None:
    if not isinstance(raw, dict):
        report(path, "a peer must be a mapping; peer not imported")
        return None
    block, pods, namespaces = raw.get("ipBlock"), raw.get("podSelector"), raw.get("namespaceSelector")
    if block is not None:
        if pods is not None or namespaces is not None:
            report(path, "ipBlock cannot be combined with a selector; peer not imported")
            return None
        if not isinstance(block, dict):
            report((*path, "ipBlock"), "must be a mapping; peer not imported")
            return None
        return _cidr_peer(block.get("cidr"), block.get("except"), (*path, "ipBlock"), report)
    if pods is None and namespaces is None:
        report(path, "an empty peer selects nothing the API server accepts; peer not imported")
        return None
    pod_terms = _terms(pods, (*path, "podSelector"), report)
    if pod_terms is None:
        return None
    if namespaces is None:
        return pods_node(namespace, None, _selector_dict(*pod_terms))
    namespace_terms = _terms(namespaces, (*path, "namespaceSelector"), report)
    if namespace_terms is None:
        return None
    return pods_node(None, _selector_dict(*namespace_terms), _selector_dict(*pod_terms))


def _ports(
    raw: Any, path: _Path, report: Report, read: Callable[[Any, _Path, Report], Port | None], dropped: str
) -> list[Port] | None:
    """The readable ports of a list, sorted; None when there were entries but none could be read, because
    dropping them all would turn "these ports" into "all ports"."""
    entries = _list(raw, path, report)
    if entries is None:
        return None
    ports = [port for i, entry in enumerate(entries) if (port := read(entry, (*path, i), report)) is not None]
    if entries and not ports:
        report(path, f"no port could be imported; {dropped} not imported")
        return None
    unique = {canonical(p.to_json()): p for p in ports}
    return sorted(unique.values(), key=_port_order)


def _port_order(port: Port) -> tuple[int, int, int | str, int]:
    """Protocol (TCP, UDP, SCTP, ANY), then all ports, numbers, names."""
    shape = 0 if port.port is None else (1 if isinstance(port.port, int) else 2)
    return (PROTOCOLS.index(port.protocol), shape, port.port if port.port is not None else 0, port.end_port or 0)


def _network_policy_port(entry: Any, path: _Path, report: Report) -> Port | None:
    if not isinstance(entry, dict):
        report(path, "a port must be a mapping; port not imported")
        return None
    protocol = entry.get("protocol") or "TCP"
    number, end = entry.get("port"), entry.get("endPort")
    problem = None
    if protocol not in ("TCP", "UDP", "SCTP"):
        problem = f"protocol {protocol!r} is not TCP, UDP or SCTP"
    elif isinstance(number, bool) or not (number is None or isinstance(number, int | str)):
        problem = f"port {number!r} is neither a number nor a name"
    elif isinstance(number, int) and not 1 <= number <= 65535:
        problem = f"port {number} is not between 1 and 65535"
    elif isinstance(number, str) and (message := document_port_name_error(number)):
        problem = message
    elif end is not None and (
        not isinstance(number, int) or isinstance(end, bool) or not isinstance(end, int) or not number <= end <= 65535
    ):
        problem = f"endPort {end!r} needs a numeric port not above it"
    if problem:
        report(path, f"{problem}; port not imported")
        return None
    return Port(protocol, number, end)


# --- CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy ----------------------------------------------------

_CILIUM_PEER_FIELDS = {
    "ingress": ("fromEndpoints", "fromCIDR", "fromCIDRSet", "fromEntities", "fromNodes"),
    "egress": ("toEndpoints", "toCIDR", "toCIDRSet", "toEntities", "toFQDNs", "toNodes"),
}
_CILIUM_UNREPRESENTED = {
    "fromRequires": "fromRequires (deprecated in 1.17, removed in 1.19) is not represented; the document allows more",
    "toRequires": "toRequires (deprecated in 1.17, removed in 1.19) is not represented; the document allows more",
    "toServices": "toServices is not represented; draw the service's pods instead",
    "toGroups": "toGroups (cloud provider groups) is not represented",
    "fromGroups": "fromGroups (cloud provider groups) is not represented",
}
_CILIUM_IGNORED = {
    "authentication": "authentication (mutual auth) is not represented; ignored",
    "auth": "auth (old spelling of authentication) is not represented; ignored",
}
_CILIUM_SECTIONS = (("ingress", "ingress", "allow"), ("ingressDeny", "ingress", "deny"))
_CILIUM_SECTIONS += (("egress", "egress", "allow"), ("egressDeny", "egress", "deny"))


def _read_cilium_policy(policy: manifests.PolicyObject, report: Report) -> list[_Policy]:
    rules: list[tuple[_Path, Any]] = []
    if "spec" in policy.obj:
        rules.append((("spec",), policy.obj["spec"]))
    if "specs" in policy.obj:
        specs = _list(policy.obj["specs"], ("specs",), report) or []
        rules.extend((("specs", i), rule) for i, rule in enumerate(specs))
    if not rules:
        report((), "no spec or specs; policy not imported")
    results = []
    for path, rule in rules:
        if not isinstance(rule, dict):
            report(path, "a rule must be a mapping; not imported")
            continue
        result = _read_cilium_rule(policy, path, rule, report)
        if result is not None:
            results.append(result)
    return results


def _read_cilium_rule(
    policy: manifests.PolicyObject, path: _Path, rule: dict[str, Any], report: Report
) -> _Policy | None:
    endpoints, nodes = rule.get("endpointSelector"), rule.get("nodeSelector")
    if (endpoints is None) == (nodes is None):
        report(path, "needs exactly one of endpointSelector and nodeSelector; rule not imported")
        return None
    if nodes is not None:
        terms = _terms(nodes, (*path, "nodeSelector"), report)
        subject = hosts_node(_selector_dict(*_strip_sources(*terms))) if terms else None
    else:
        subject = _cilium_endpoints(endpoints, (*path, "endpointSelector"), policy.namespace, report, subject=True)
    if subject is None:
        report(path, "the subject cannot be read; rule not imported")
        return None
    default_deny = rule.get("enableDefaultDeny")
    if isinstance(default_deny, dict) and False in (default_deny.get("ingress"), default_deny.get("egress")):
        report(
            (*path, "enableDefaultDeny"),
            "enableDefaultDeny: false (allow without isolating) is not represented; imported as an isolating policy",
        )
    if rule.get("log") is not None:
        report((*path, "log"), "policy logging is not represented; ignored")
    result = _Policy(policy.name, subject)
    for section, direction, action in _CILIUM_SECTIONS:
        if section not in rule:
            continue
        if rule[section] is None:
            report((*path, section), "empty (null): Cilium reads it as no rules, which isolates nothing (C2)")
            continue
        items = _list(rule[section], (*path, section), report)
        if not items:
            continue
        if direction == "ingress":
            result.isolate_ingress = True
        else:
            result.isolate_egress = True
        for i, item in enumerate(items):
            _read_cilium_entry(policy, item, (*path, section, i), direction, action, result, report)
    return result


def _read_cilium_entry(
    policy: manifests.PolicyObject,
    item: Any,
    path: _Path,
    direction: str,
    action: str,
    result: _Policy,
    report: Report,
) -> None:
    if item is None or item == {}:
        report(
            path,
            "an empty rule `{}` matches everything in current Cilium (nothing in releases up to 1.16, SEMANTICS C4); "
            "imported as matching everything (the entity all). If it was meant as default-deny, delete that edge: "
            "the lock stays",
        )
        item = {}
    if not isinstance(item, dict):
        report(path, "a rule must be a mapping; rule not imported")
        return
    peers: list[Node] = []
    has_peer_field = False
    for key in _CILIUM_PEER_FIELDS[direction]:
        if key not in item:
            continue
        if action == "deny" and key == "toFQDNs":
            has_peer_field = True
            report((*path, key), "deny rules cannot use toFQDNs; not imported")
            continue
        if item[key] is None:
            report((*path, key), "empty (null): Cilium reads it as absent")
            continue
        has_peer_field = True
        values = _list(item[key], (*path, key), report)
        if values is None:
            return
        if not values:
            report((*path, key), "an explicitly empty list selects nothing (SEMANTICS C4); rule not imported")
            return
        for j, value in enumerate(values):
            peer = _cilium_peer(key, value, (*path, key, j), policy.namespace, report)
            if peer is not None:
                peers.append(peer)
    for key, message in _CILIUM_UNREPRESENTED.items():
        if item.get(key) is not None:
            has_peer_field = True
            report((*path, key), message)
    for key, message in _CILIUM_IGNORED.items():
        if key in item:
            report((*path, key), message)
    if has_peer_field and not peers:
        report(path, "no peer of this rule could be imported; rule not imported")
        return
    port_rules = _cilium_port_rules(item.get("toPorts"), (*path, "toPorts"), action, report)
    icmps = _icmps(item.get("icmps"), (*path, "icmps"), report)
    if port_rules is None or icmps is None:
        return
    for peer in peers or [entity_node("all")]:
        for ports, l7, server_names in port_rules:
            result.rules.append(_Rule(direction, peer, ports, [], l7, server_names, action))
            if l7 and l7.get("dns") and peer.kind == "selector" and peer.namespace is not None:
                labels = (peer.pod_selector or {}).get("matchLabels", {})
                if labels and list(peer.pod_selector or {}) == ["matchLabels"]:
                    numbers = [p.port for p in ports if isinstance(p.port, int)]
                    result.dns_servers.append((peer.namespace, tuple(sorted(labels.items())), min(numbers or [53])))
        if icmps:
            result.rules.append(_Rule(direction, peer, [], icmps, action=action))
        if not port_rules and not icmps:
            result.rules.append(_Rule(direction, peer, [], action=action))


def _cilium_peer(key: str, value: Any, path: _Path, namespace: str | None, report: Report) -> Node | None:
    field = key.removeprefix("from").removeprefix("to")
    if field == "Endpoints":
        return _cilium_endpoints(value, path, namespace, report, subject=False)
    if field == "Nodes":
        terms = _terms(value, path, report)
        return hosts_node(_selector_dict(*_strip_sources(*terms))) if terms else None
    if field == "CIDR":
        network = _network(value, path, report, bare_ip=True)
        return cidr_node(network, []) if network else None
    if field == "CIDRSet":
        if not isinstance(value, dict):
            report(path, "must be a mapping; peer not imported")
            return None
        if value.get("cidrGroupRef") is not None or value.get("cidrGroupSelector") is not None:
            report(path, "CIDR groups are not represented; peer not imported")
            return None
        return _cidr_peer(value.get("cidr"), value.get("except"), path, report, bare_ip=True)
    if field == "Entities":
        if value not in ENTITIES:
            report(path, f"entity {value!r} is not represented (known: {', '.join(ENTITIES)}); peer not imported")
            return None
        return entity_node(value)
    if isinstance(value, dict) and isinstance(value.get("matchName"), str) != isinstance(
        value.get("matchPattern"), str
    ):
        return fqdn_node(value.get("matchName"), value.get("matchPattern"))
    report(path, "an FQDN selector needs exactly one of matchName and matchPattern; peer not imported")
    return None


def _split_source(key: str) -> tuple[str, str]:
    """`k8s:app` -> (`k8s`, `app`); `app` -> (``, `app`). Kubernetes label keys cannot contain ':'."""
    source, colon, bare = key.partition(":")
    return (source, bare) if colon else ("", key)


def _strip_sources(labels: dict[str, str], requirements: list[Requirement]) -> tuple[dict[str, str], list[Requirement]]:
    """Drop the `k8s:`/`any:` label-source prefixes (unprefixed keys already mean `any:`)."""

    def bare(key: str) -> str:
        source, rest = _split_source(key)
        return rest if source in _PREFIX_SOURCES else key

    return {bare(k): v for k, v in labels.items()}, [dataclasses.replace(r, key=bare(r.key)) for r in requirements]


def _cilium_endpoints(raw: Any, path: _Path, namespace: str | None, report: Report, *, subject: bool) -> Node | None:
    """A Cilium endpoint selector as a node. `namespace` is the policy's (None for a CCNP)."""
    terms = _terms(raw, path, report)
    if terms is None:
        return None
    labels, requirements = terms
    if not subject:
        reserved = [key for key in list(labels) + [r.key for r in requirements] if key.startswith("reserved:")]
        if reserved:
            entity = reserved[0].removeprefix("reserved:")
            if len(labels) + len(requirements) == 1 and reserved[0] in labels and entity in ENTITIES:
                return entity_node(entity)
            report(path, f"{reserved[0]!r} together with other terms is not represented; peer not imported")
            return None
    labels, requirements = _strip_sources(labels, requirements)
    pod_labels = {k: v for k, v in labels.items() if not _is_namespace_key(k)}
    pod_requirements = [r for r in requirements if not _is_namespace_key(r.key)]
    namespace_labels = {_namespace_label(k): v for k, v in labels.items() if _is_namespace_key(k)}
    namespace_requirements = [
        dataclasses.replace(r, key=_namespace_label(r.key)) for r in requirements if _is_namespace_key(r.key)
    ]
    if subject and namespace is not None:
        named = namespace_labels.pop(NAMESPACE_NAME_LABEL, namespace)
        on_name = [r for r in namespace_requirements if r.key == NAMESPACE_NAME_LABEL]
        # Cilium overwrites a namespace in matchLabels but ANDs the expressions with the policy's namespace (C1).
        if not all(r.matches({NAMESPACE_NAME_LABEL: namespace}) for r in on_name):
            report(path, f"selects no pod: its namespace expression excludes the policy's namespace {namespace!r}")
            return None
        if named != namespace or on_name:
            report(path, f"Cilium always limits a CiliumNetworkPolicy to its own namespace {namespace!r}")
            namespace_requirements = [r for r in namespace_requirements if r.key != NAMESPACE_NAME_LABEL]
        if namespace_labels or namespace_requirements:
            namespace_labels[NAMESPACE_NAME_LABEL] = namespace
    pod_selector = _selector_dict(pod_labels, pod_requirements)
    if not namespace_labels and not namespace_requirements:
        if namespace is None:
            return pods_node(None, {}, pod_selector)
        return pods_node(namespace, None, pod_selector)
    if NAMESPACE_NAME_LABEL in namespace_labels and not _namespace_ok(
        namespace_labels[NAMESPACE_NAME_LABEL], path, report
    ):
        return None
    return pods_node(None, _selector_dict(namespace_labels, namespace_requirements), pod_selector)


def _is_namespace_key(key: str) -> bool:
    return key == _POD_NAMESPACE or key.startswith(NAMESPACE_LABEL_PREFIX)


def _namespace_label(key: str) -> str:
    return NAMESPACE_NAME_LABEL if key == _POD_NAMESPACE else key.removeprefix(NAMESPACE_LABEL_PREFIX)


def _cilium_port_rules(
    raw: Any, path: _Path, action: str, report: Report
) -> list[tuple[list[Port], dict[str, Any] | None, list[str]]] | None:
    entries = _list(raw, path, report)
    if entries is None:
        return None
    rules = []
    for i, entry in enumerate(entries):
        entry_path = (*path, i)
        if not isinstance(entry, dict):
            report(entry_path, "a toPorts entry must be a mapping; not imported")
            continue
        for key in ("listener", "originatingTLS", "terminatingTLS"):
            if entry.get(key) is not None:
                report((*entry_path, key), f"{key} is not represented; ignored")
        ports = _ports(entry.get("ports"), (*entry_path, "ports"), report, _cilium_port, "toPorts entry")
        l7 = entry.get("rules")
        names = entry.get("serverNames") or []
        if l7 is not None and not isinstance(l7, dict):
            report((*entry_path, "rules"), "must be a mapping; toPorts entry not imported")
            continue
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            report((*entry_path, "serverNames"), "must be a list of names; toPorts entry not imported")
            continue
        if ports is not None:
            rules.append((ports, dict(l7) if l7 else None, sorted(names)))
    if entries and not rules:
        report(path, "no toPorts entry could be imported; rule not imported")
        return None
    return rules


def _cilium_port(entry: Any, path: _Path, report: Report) -> Port | None:
    if not isinstance(entry, dict):
        report(path, "a port must be a mapping; port not imported")
        return None
    protocol = str(entry.get("protocol") or "ANY").upper()
    number, end = entry.get("port"), entry.get("endPort")
    port: int | str | None = None
    problem = None
    if isinstance(number, str) and number.isdigit():
        number = int(number)
    if protocol not in PROTOCOLS:
        problem = f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}"
    elif isinstance(number, bool) or not (number is None or isinstance(number, int | str)):
        problem = f"port {number!r} is neither a number nor a name"
    elif isinstance(number, int) and not 0 <= number <= 65535:
        problem = f"port {number} is not between 0 and 65535"
    elif isinstance(number, str) and (message := document_port_name_error(number.lower())):
        problem = message
    else:
        port = number.lower() if isinstance(number, str) else (number or None)
    invalid_end = (
        isinstance(end, bool) or not isinstance(end, int) or not (isinstance(port, int) and port <= end <= 65535)
    )
    if problem is None and end not in (None, 0) and isinstance(port, int) and invalid_end:
        problem = f"endPort {end!r} must be a number from port to 65535"
    if problem:
        report(path, f"{problem}; port not imported")
        return None
    return Port(protocol, port, end if isinstance(port, int) and end not in (None, 0) else None)


def _icmps(raw: Any, path: _Path, report: Report) -> list[dict[str, Any]] | None:
    rules = _list(raw, path, report)
    if rules is None:
        return None
    fields: list[dict[str, Any]] = []
    for i, rule in enumerate(rules):
        items = rule.get("fields") if isinstance(rule, dict) else None
        for j, item in enumerate(items if isinstance(items, list) else []):
            kind = item.get("type") if isinstance(item, dict) else None
            family = item.get("family") if isinstance(item, dict) else None
            valid_type = (isinstance(kind, int) and not isinstance(kind, bool) and 0 <= kind <= 255) or (
                isinstance(kind, str) and kind != ""
            )
            if not valid_type or family not in (None, "IPv4", "IPv6"):
                report((*path, i, "fields", j), "not an ICMP type with family IPv4 or IPv6; not imported")
                continue
            field = {"type": kind} if family is None else {"family": family, "type": kind}
            if field not in fields:
                fields.append(field)
    if rules and not fields:
        report(path, "no ICMP field could be imported; rule not imported")
        return None
    return fields


# --- building the document -----------------------------------------------------------------------------------


def _edge_key(edge: Edge) -> str:
    return canonical(
        [
            edge.source,
            edge.target,
            [p.to_json() for p in edge.ports],
            edge.icmps,
            edge.l7,
            sorted(edge.server_names),
            edge.action,
            edge.disabled,
        ]
    )


class _Builder:
    def __init__(self, document: Document, warnings: list[str]) -> None:
        self.document = document
        self.warnings = warnings
        self.nodes = {node.id: node for node in document.nodes}
        self.edges = {_edge_key(edge): edge for edge in document.edges}
        self.edge_ids = {edge.id for edge in document.edges}
        self.next_edge = len(document.edges) + 1

    def namespace(self, name: str, labels: dict[str, str]) -> bool:
        problem = validate_namespace_name(name)
        if problem:
            self.warnings.append(f"{problem}; what is in it is skipped")
            return False
        self.document.ensure_namespace(name, labels)
        return True

    def add_node(self, node: Node) -> Node:
        """`node`, or the node that already has its id."""
        existing = self.nodes.get(node.id)
        if existing is not None:
            return existing
        if node.namespace is not None:
            self.namespace(node.namespace, {})
        self.nodes[node.id] = node
        self.document.nodes.append(node)
        return node

    def workload(self, workload: manifests.Workload) -> None:
        if not self.namespace(workload.namespace, {}):
            return
        ports = []
        for port in workload.ports:
            name = port.name
            if name and document_port_name_error(name):
                self.warnings.append(f"{workload.where}: {workload}: {document_port_name_error(name)}; name dropped")
                name = None
            ports.append(ContainerPort(port.port, name, port.protocol))
        self.add_node(
            Node(
                id=workload_node_id(workload.namespace, workload.kind, workload.name),
                kind="workload",
                name=workload.name,
                namespace=workload.namespace,
                owner=workload.kind,
                labels=dict(workload.labels),
                container_ports=ports,
            )
        )

    def policy(self, policy: _Policy) -> None:
        subject = self.add_node(policy.subject)
        subject.isolate.ingress |= policy.isolate_ingress
        subject.isolate.egress |= policy.isolate_egress
        if subject.policy_name is None:
            # An unprintable name (refused by the API server anyway, and reported by validate) is not kept.
            subject.policy_name = policy.name if policy.name.isprintable() else dns_slug(policy.name)
        for rule in policy.rules:
            peer = self.add_node(rule.peer)
            ingress = rule.direction == "ingress"
            edge = Edge(
                id="",
                source=peer.id if ingress else subject.id,
                target=subject.id if ingress else peer.id,
                ports=rule.ports,
                icmps=rule.icmps,
                l7=rule.l7,
                server_names=rule.server_names,
                enforce=["target" if ingress else "source"],
                action=rule.action,
                disabled=rule.disabled,
            )
            self.add_edge(edge)

    def add_edge(self, edge: Edge) -> None:
        key = _edge_key(edge)
        existing = self.edges.get(key)
        if existing is not None:
            existing.enforce = [side for side in ("source", "target") if side in existing.enforce + edge.enforce]
            return
        while f"e{self.next_edge}" in self.edge_ids:
            self.next_edge += 1
        edge.id = f"e{self.next_edge}"
        self.edge_ids.add(edge.id)
        self.edges[key] = edge
        self.document.edges.append(edge)

    def merge_selectors_into_workloads(self) -> None:
        """Merge each namespaced, non-empty selector that picks exactly one workload into that workload."""
        workloads: dict[str, list[Node]] = {}
        for node in self.document.nodes:
            if node.kind == "workload" and node.namespace:
                workloads.setdefault(node.namespace, []).append(node)
        renamed: dict[str, str] = {}
        for node in sorted(self.document.nodes, key=lambda n: n.id):
            if node.kind != "selector" or node.namespace is None or not node.pod_selector:
                continue
            selector = selector_of(node.pod_selector)
            picked = [w for w in workloads.get(node.namespace, []) if selector and selector.matches(w.labels)]
            if len(picked) != 1 or picked[0].id in renamed.values():
                continue
            workload = picked[0]
            if workload.pod_selector is not None and workload.pod_selector != node.pod_selector:
                continue
            workload.pod_selector = node.pod_selector
            workload.isolate.ingress |= node.isolate.ingress
            workload.isolate.egress |= node.isolate.egress
            workload.policy_name = workload.policy_name or node.policy_name
            renamed[node.id] = workload.id
        if not renamed:
            return
        self.document.nodes = [node for node in self.document.nodes if node.id not in renamed]
        self.nodes = {node.id: node for node in self.document.nodes}
        edges, self.document.edges, self.edges = self.document.edges, [], {}
        for edge in edges:
            edge.source = renamed.get(edge.source, edge.source)
            edge.target = renamed.get(edge.target, edge.target)
            key = _edge_key(edge)
            if key in self.edges:
                existing = self.edges[key]
                existing.enforce = [side for side in ("source", "target") if side in existing.enforce + edge.enforce]
                continue
            self.edges[key] = edge
            self.document.edges.append(edge)


def _adopt_dns_server(document: Document, policies: list[_Policy]) -> None:
    """Point settings.dns at the one DNS server the imported Cilium DNS rules name, if they name one."""
    servers = {(namespace, labels): port for p in policies for namespace, labels, port in p.dns_servers}
    if len(servers) != 1:
        return
    (namespace, labels), port = next(iter(servers.items()))
    document.settings.dns.namespace = namespace
    document.settings.dns.pod_labels = dict(labels)
    document.settings.dns.port = port
