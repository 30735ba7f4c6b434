"""The graph document: the one source of truth that the browser, CLI, API and database pass around.

A document says which traffic is intended: nodes are sets of pods (workloads, selectors) or places outside the
pod network (CIDR ranges, Cilium entities, FQDNs); an edge `source -> target` means "source may open
connections to target" on its ports. YAML is always derived from a document (see native.py, cilium.py).

The JSON form is versioned (`"schema": "fenceline/v1"`) and validated by DOCUMENT_SCHEMA (document_schema.py) plus
the reference checks a schema cannot make (ids unique, edges point at nodes, namespaces exist). Every error names
the path of the offending value, e.g. `edges[3].ports[0].endPort`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import ipaddress
import json
import operator
import re
from collections.abc import Iterator
from typing import Any, Literal

import msgspec

from .document_schema import APPLICATION, ID_CHARS, ID_PATTERN, SCHEMA_VERSION, SIDES, fast_validate, schema_errors
from .gcpause import paused_gc
from .layers import layer_errors
from .selectors import validate_namespace_name
from .sized_cache import SizedCache

NodeKind = Literal["workload", "selector", "hosts", "cidr", "entity", "fqdn"]
SUBJECT_KINDS = ("workload", "selector", "hosts")  # nodes that can carry a policy (pods or nodes)
POD_KINDS = ("workload", "selector")
EXTERNAL_KINDS = ("cidr", "entity", "fqdn")
_ORDERED_SIDES: tuple[list[str], ...] = (["source", "target"], ["source"], ["target"], [])
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


class DocumentError(ValueError):
    """A document that is not valid. `errors` holds every problem as (path, message)."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        first_path, first_message = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{first_path or 'document'}: {first_message}{more}")


@dataclasses.dataclass(slots=True)  # a flow import makes 100,000s: no __dict__ each
class Port:
    """One port condition: protocol plus a number, a named container port, or all ports (port None)."""

    protocol: str = "TCP"
    port: int | str | None = None
    end_port: int | None = None

    def to_json(self) -> dict[str, Any]:
        # One literal per case (same keys, same order as adding them one by one): a flow import writes many ports.
        if self.port is None:
            return (
                {"protocol": self.protocol}
                if self.end_port is None
                else {"protocol": self.protocol, "endPort": self.end_port}
            )
        if self.end_port is None:
            return {"protocol": self.protocol, "port": self.port}
        return {"protocol": self.protocol, "port": self.port, "endPort": self.end_port}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Port:
        return cls(data.get("protocol", "TCP"), data.get("port"), data.get("endPort"))


@dataclasses.dataclass
class ContainerPort:
    port: int
    name: str | None = None
    protocol: str = "TCP"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"port": self.port, "protocol": self.protocol}
        if self.name:
            data["name"] = self.name
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContainerPort:
        return cls(data["port"], data.get("name"), data.get("protocol", "TCP"))


@dataclasses.dataclass
class Namespace:
    name: str
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    position: dict[str, float] | None = None
    owners: list[str] = dataclasses.field(default_factory=list)  # who reviews its policies (CODEOWNERS)

    def __post_init__(self) -> None:
        self.labels = {**self.labels, NAMESPACE_NAME_LABEL: self.name}

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "labels": dict(sorted(self.labels.items()))}
        if self.owners:
            data["owners"] = list(self.owners)
        if self.position is not None:
            data["position"] = self.position
        return data


@dataclasses.dataclass(slots=True)  # a flow import makes 100,000s: no __dict__ each
class Isolation:
    """The default-deny locks of a subject: when set, only drawn edges are allowed in that direction."""

    ingress: bool = False
    egress: bool = False


# Node.to_json's optional fields that are written when not None: JSON key and attribute, in output order.
_NODE_SELECTOR_KEYS = ("podSelector", "namespaceSelector", "nodeSelector", "cidr")
_NODE_SELECTOR_VALUES = operator.attrgetter("pod_selector", "namespace_selector", "node_selector", "cidr")
_NO_SELECTOR_VALUES = (None,) * len(_NODE_SELECTOR_KEYS)
_NODE_OTHER_KEYS = ("entity", "matchName", "matchPattern", "policyName", "position", "note")
_NODE_OTHER_VALUES = operator.attrgetter("entity", "match_name", "match_pattern", "policy_name", "position", "note")
_NO_OTHER_VALUES = (None,) * len(_NODE_OTHER_KEYS)


def _set_present(data: dict[str, Any], keys: tuple[str, ...], values: tuple[Any, ...]) -> None:
    data.update((key, value) for key, value in zip(keys, values, strict=True) if value is not None)


@dataclasses.dataclass(slots=True)  # a flow import makes 100,000s: no __dict__ each
class Node:
    """A node of the graph. Which fields matter depends on `kind`:

    - workload: namespace, name, owner (Deployment, StatefulSet, ...), labels (pod labels), container_ports,
      and optionally `pod_selector`, the selector policies use to pick it (default: all its labels)
    - selector: pods chosen by selectors: `namespace` (one namespace) or `namespace_selector` (namespaces by
      label; `{}` = all namespaces, a cluster-wide subject), and `pod_selector` (`{}` = all pods there)
    - hosts: Cilium host policies, nodes chosen by `node_selector` (Cilium only)
    - cidr: `cidr` minus `except_`
    - entity: a Cilium entity (world, cluster, host, kube-apiserver, ...)
    - fqdn: `match_name` or `match_pattern` (Cilium only)
    Subjects (workload, selector, hosts) carry the isolation locks and an optional policy name.
    """

    id: str
    kind: str
    name: str = ""
    namespace: str | None = None
    owner: str | None = None
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    container_ports: list[ContainerPort] = dataclasses.field(default_factory=list)
    pod_selector: dict[str, Any] | None = None
    namespace_selector: dict[str, Any] | None = None
    node_selector: dict[str, Any] | None = None
    cidr: str | None = None
    except_: list[str] = dataclasses.field(default_factory=list)
    entity: str | None = None
    match_name: str | None = None
    match_pattern: str | None = None
    isolate: Isolation = dataclasses.field(default_factory=Isolation)
    policy_name: str | None = None
    position: dict[str, float] | None = None
    note: str | None = None
    layer: str = APPLICATION  # who drew it (layers.py): the application team, or the platform's admin/baseline tier

    @property
    def is_subject(self) -> bool:
        return self.kind in SUBJECT_KINDS

    @property
    def is_pod_set(self) -> bool:
        return self.kind in POD_KINDS

    def selector(self) -> dict[str, Any]:
        """The pod selector that picks this node's pods.

        A workload is picked by its `pod_selector` when one is set (kept from imported policies, so that
        re-rendering them selects the same pods), else by all its labels.
        """
        if self.pod_selector is not None:
            return self.pod_selector
        if self.kind == "workload":
            return {"matchLabels": dict(sorted(self.labels.items()))} if self.labels else {}
        return {}

    def display_name(self) -> str:
        if self.name:
            return self.name
        if self.kind == "cidr":
            return self.cidr or self.id
        if self.kind == "entity":
            return self.entity or self.id
        if self.kind == "fqdn":
            return self.match_name or self.match_pattern or self.id
        return self.id

    def to_json(self) -> dict[str, Any]:
        # Field by field rather than through a table of optional fields: a flow import writes 100,000 nodes.
        data: dict[str, Any] = {"id": self.id, "kind": self.kind}
        if self.name:
            data["name"] = self.name
        if self.namespace is not None:
            data["namespace"] = self.namespace
        if self.owner is not None:
            data["owner"] = self.owner
        labels = self.labels
        if labels:
            data["labels"] = dict(sorted(labels.items())) if len(labels) > 1 else dict(labels)
        if self.container_ports:
            data["containerPorts"] = [p.to_json() for p in self.container_ports]
        # The optional fields read in one C call, and walked only when one is set (most workloads have none).
        values = _NODE_SELECTOR_VALUES(self)
        if values != _NO_SELECTOR_VALUES:
            _set_present(data, _NODE_SELECTOR_KEYS, values)
        if self.except_:
            data["except"] = list(self.except_)
        values = _NODE_OTHER_VALUES(self)
        if values != _NO_OTHER_VALUES:
            _set_present(data, _NODE_OTHER_KEYS, values)
        if self.kind in SUBJECT_KINDS:
            data["isolate"] = {"ingress": self.isolate.ingress, "egress": self.isolate.egress}
        if self.layer != APPLICATION:
            data["layer"] = self.layer
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Node:
        isolate = data.get("isolate", {})
        return cls(
            id=data["id"],
            kind=data["kind"],
            name=data.get("name", ""),
            namespace=data.get("namespace"),
            owner=data.get("owner"),
            labels=dict(data.get("labels", {})),
            container_ports=[ContainerPort.from_json(p) for p in data.get("containerPorts", [])],
            pod_selector=data.get("podSelector"),
            namespace_selector=data.get("namespaceSelector"),
            node_selector=data.get("nodeSelector"),
            cidr=data.get("cidr"),
            except_=list(data.get("except", [])),
            entity=data.get("entity"),
            match_name=data.get("matchName"),
            match_pattern=data.get("matchPattern"),
            isolate=Isolation(bool(isolate.get("ingress", False)), bool(isolate.get("egress", False))),
            policy_name=data.get("policyName"),
            position=data.get("position"),
            note=data.get("note"),
            layer=data.get("layer", APPLICATION),
        )


@dataclasses.dataclass(slots=True)  # a flow import makes 100,000s: no __dict__ each
class Observed:
    """What flow logs showed for an edge."""

    count: int = 0
    first_seen: str | None = None
    last_seen: str | None = None
    verdicts: dict[str, int] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"count": self.count}
        if self.first_seen:
            data["firstSeen"] = self.first_seen
        if self.last_seen:
            data["lastSeen"] = self.last_seen
        verdicts = self.verdicts
        if verdicts:
            data["verdicts"] = dict(sorted(verdicts.items())) if len(verdicts) > 1 else dict(verdicts)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Observed:
        return cls(data.get("count", 0), data.get("firstSeen"), data.get("lastSeen"), dict(data.get("verdicts", {})))


@dataclasses.dataclass(slots=True)  # a flow import makes 100,000s: no __dict__ each
class Edge:
    """`source` may open connections to `target` on `ports` (empty = all ports and protocols).

    `enforce` says whose policy carries the rule: "source" (an egress rule of the source) and/or "target" (an
    ingress rule of the target). Drawn edges between two pod sets default to both; an edge to or from an
    external node can only be enforced on its pod side. `action: deny` is a Cilium deny rule. A `disabled`
    edge is shown but compiles to nothing (e.g. observed traffic that today's policies deny, not yet accepted).
    An edge of the `admin` or `baseline` layer is a platform rule instead (layers.py): `action` allow (Accept),
    deny or pass (admin only), a `priority` and optionally the rule's `name`.
    """

    id: str
    source: str
    target: str
    ports: list[Port] = dataclasses.field(default_factory=list)
    icmps: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    l7: dict[str, Any] | None = None
    server_names: list[str] = dataclasses.field(default_factory=list)
    enforce: list[str] = dataclasses.field(default_factory=lambda: ["source", "target"])
    action: str = "allow"
    disabled: bool = False
    observed: Observed | None = None
    note: str | None = None
    layer: str = APPLICATION
    priority: int | None = None  # platform layers only; None: 100 (layers.DEFAULT_PRIORITY)
    name: str | None = None  # a platform rule's name; None: the edge id, "": no name

    def to_json(self) -> dict[str, Any]:
        enforce = self.enforce
        data: dict[str, Any] = {
            "id": self.id,
            "source": self.source,
            "target": self.target,
            "ports": [p.to_json() for p in self.ports],
            # In SIDES order, each side once; the two usual lists are already so.
            "enforce": list(enforce) if enforce in _ORDERED_SIDES else [side for side in SIDES if side in enforce],
        }
        if self.icmps:
            data["icmps"] = self.icmps
        if self.l7:
            data["l7"] = self.l7
        if self.server_names:
            data["serverNames"] = list(self.server_names)
        if self.action != "allow":
            data["action"] = self.action
        if self.disabled:
            data["disabled"] = True
        if self.observed is not None:
            data["observed"] = self.observed.to_json()
        if self.note:
            data["note"] = self.note
        if self.layer != APPLICATION:
            data["layer"] = self.layer
        if self.priority is not None:
            data["priority"] = self.priority
        if self.name is not None:
            data["name"] = self.name
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Edge:
        observed = data.get("observed")
        return cls(
            id=data["id"],
            source=data["source"],
            target=data["target"],
            ports=[Port.from_json(p) for p in data.get("ports", [])],
            icmps=list(data.get("icmps", [])),
            l7=data.get("l7"),
            server_names=list(data.get("serverNames", [])),
            enforce=list(data.get("enforce", SIDES)),
            action=data.get("action", "allow"),
            disabled=bool(data.get("disabled", False)),
            observed=Observed.from_json(observed) if observed is not None else None,
            note=data.get("note"),
            layer=data.get("layer", APPLICATION),
            priority=data.get("priority"),
            name=data.get("name"),
        )


@dataclasses.dataclass
class DnsSettings:
    """Where the cluster DNS runs; used by the "allow DNS" template and the lint rules."""

    namespace: str = "kube-system"
    pod_labels: dict[str, str] = dataclasses.field(default_factory=lambda: {"k8s-app": "kube-dns"})
    port: int = 53


@dataclasses.dataclass
class Settings:
    dialect: str = "native"
    pod_cidrs: list[str] = dataclasses.field(default_factory=lambda: ["10.244.0.0/16"])
    service_cidrs: list[str] = dataclasses.field(default_factory=lambda: ["10.96.0.0/12"])
    dns: DnsSettings = dataclasses.field(default_factory=DnsSettings)
    ipblock_matches_pods: bool = False
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    platform_api: str = "v1alpha2"  # the platform layers as ClusterNetworkPolicy, or v1alpha1 ANP/BANP

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "dialect": self.dialect,
            "podCIDRs": list(self.pod_cidrs),
            "serviceCIDRs": list(self.service_cidrs),
            "dns": {
                "namespace": self.dns.namespace,
                "podLabels": dict(sorted(self.dns.pod_labels.items())),
                "port": self.dns.port,
            },
            "ipblockMatchesPods": self.ipblock_matches_pods,
        }
        if self.platform_api != "v1alpha2":
            data["platformApi"] = self.platform_api
        if self.extra:
            data["extra"] = self.extra
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Settings:
        defaults = cls()
        dns = data.get("dns", {})
        return cls(
            dialect=data.get("dialect", defaults.dialect),
            pod_cidrs=list(data.get("podCIDRs", defaults.pod_cidrs)),
            service_cidrs=list(data.get("serviceCIDRs", defaults.service_cidrs)),
            dns=DnsSettings(
                dns.get("namespace", defaults.dns.namespace),
                dict(dns.get("podLabels", defaults.dns.pod_labels)),
                dns.get("port", defaults.dns.port),
            ),
            ipblock_matches_pods=bool(data.get("ipblockMatchesPods", False)),
            extra=dict(data.get("extra", {})),
            platform_api=data.get("platformApi", defaults.platform_api),
        )


@dataclasses.dataclass
class Document:
    name: str = ""
    description: str = ""
    # Who reviews what concerns every namespace (the platform layer: DNS, cluster-wide rules, the bundle itself).
    platform_owners: list[str] = dataclasses.field(default_factory=list)
    settings: Settings = dataclasses.field(default_factory=Settings)
    namespaces: list[Namespace] = dataclasses.field(default_factory=list)
    nodes: list[Node] = dataclasses.field(default_factory=list)
    edges: list[Edge] = dataclasses.field(default_factory=list)

    # --- lookups -------------------------------------------------------------------------------------------

    def node(self, node_id: str) -> Node:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def node_map(self) -> dict[str, Node]:
        return {node.id: node for node in self.nodes}

    def namespace(self, name: str) -> Namespace | None:
        return next((ns for ns in self.namespaces if ns.name == name), None)

    def ensure_namespace(self, name: str, labels: dict[str, str] | None = None) -> Namespace:
        """The namespace called `name`, added (with `labels`) if the document does not have it yet."""
        existing = self.namespace(name)
        if existing is not None:
            if labels:
                existing.labels.update({k: v for k, v in labels.items() if k not in existing.labels})
            return existing
        namespace = Namespace(name, dict(labels or {}))
        self.namespaces.append(namespace)
        return namespace

    def add_node(self, node: Node) -> Node:
        """Add `node`, or return the node that already has its id."""
        for existing in self.nodes:
            if existing.id == node.id:
                return existing
        self.nodes.append(node)
        return node

    def new_edge_id(self) -> str:
        taken = {edge.id for edge in self.edges}
        number = len(self.edges) + 1
        while f"e{number}" in taken:
            number += 1
        return f"e{number}"

    def edges_from(self, node_id: str) -> list[Edge]:
        return [edge for edge in self.edges if edge.source == node_id]

    def edges_to(self, node_id: str) -> list[Edge]:
        return [edge for edge in self.edges if edge.target == node_id]

    # --- (de)serialisation ---------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        data = self.head_json()
        data["nodes"] = [node.to_json() for node in self.nodes]
        data["edges"] = [edge.to_json() for edge in self.edges]
        return data

    def head_json(self) -> dict[str, Any]:
        """to_json() up to the nodes and edges, which come last."""
        data: dict[str, Any] = {"schema": SCHEMA_VERSION}
        # Once per document: the optional fields, each written only when set.
        owners = list(self.platform_owners)
        optional = (("name", self.name), ("description", self.description), ("platformOwners", owners))
        data.update((key, value) for key, value in optional if value)
        data["settings"] = self.settings.to_json()
        data["namespaces"] = [ns.to_json() for ns in self.namespaces]
        return data

    def dumps(self, indent: int | None = 2) -> str:
        if not indent:
            return json.dumps(self.to_json(), ensure_ascii=False)
        return self.dump_bytes(indent).decode()

    def dump_bytes(self, indent: int = 2) -> bytes:
        """dumps() as UTF-8, for writing a large document without holding it twice more as text."""
        return b"".join(self.dump_chunks(indent))

    def dump_chunks(self, indent: int = 2, batch: int = 1000) -> Iterator[bytes]:
        """dump_bytes() in pieces, `batch` nodes or edges at a time, so that a graph of 100,000 nodes is never
        held whole as JSON values or text."""
        nodes: list[Any] = self.nodes
        edges: list[Any] = self.edges
        return json_chunks(self.head_json(), [(b'"nodes"', nodes), (b'"edges"', edges)], indent, batch)

    @classmethod
    def from_json(cls, data: Any, known_valid: SizedCache[bool] | None = None) -> Document:
        """Validate and build a document. Raises DocumentError listing every problem with its path.

        `known_valid` holds the nodes and edges that passed the schema before (fast_validate)."""
        import fastjsonschema  # here, not at the top: a command that only writes documents never imports it

        try:
            fast_validate(data, known_valid)
        except fastjsonschema.JsonSchemaValueException:
            raise DocumentError(schema_errors(data) or [("", "not a valid Fenceline document")]) from None
        document = cls(
            name=data.get("name", ""),
            description=data.get("description", ""),
            platform_owners=list(data.get("platformOwners", [])),
            settings=Settings.from_json(data.get("settings", {})),
            namespaces=[
                Namespace(ns["name"], dict(ns.get("labels", {})), ns.get("position"), list(ns.get("owners", [])))
                for ns in data.get("namespaces", [])
            ],
            nodes=[Node.from_json(node) for node in data.get("nodes", [])],
            edges=[Edge.from_json(edge) for edge in data.get("edges", [])],
        )
        errors = reference_errors(document)
        if errors:
            raise DocumentError(errors)
        return document

    @classmethod
    def loads(cls, text: str | bytes) -> Document:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DocumentError([("", f"not valid JSON: {exc}")]) from None
        except RecursionError:
            raise DocumentError([("", "not a Fenceline document: JSON nested too deeply")]) from None
        return cls.from_json(data)


_PORT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _cidr_error(text: str) -> str | None:
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return f"{text!r} is not a CIDR such as 10.0.0.0/8"
    if "/" not in text:
        return f"{text!r} has no prefix length; did you mean {network}?"
    if str(network) != text and network.compressed != text:
        return f"{text!r} has host bits set; the network is {network}"
    return None


def port_name_error(name: str) -> str | None:
    """Why `name` is not a valid IANA_SVC_NAME (<= 15 chars, lowercase alnum and '-', one letter)."""
    if len(name) > 15:
        return f"port name {name!r} is longer than 15 characters"
    return _short_port_name_error(name)


@functools.lru_cache(maxsize=4096)  # a drawing names a few ports thousands of times; 15 characters at most each
def _short_port_name_error(name: str) -> str | None:
    if not _PORT_NAME.match(name) or "--" in name:
        return f"port name {name!r} must be lowercase letters, digits and single '-', not at either end"
    if not re.search("[a-z]", name):
        return f"port name {name!r} must contain a letter"
    return None


def json_chunks(
    head: dict[str, Any], sections: list[tuple[bytes, list[Any]]], indent: int = 2, batch: int = 1000
) -> Iterator[bytes]:
    """The indented JSON of `head` followed by `sections` (key, items), in pieces of `batch` items: an item is a
    Node or Edge (written as its to_json()), or a value msgspec encodes as that would be (a flow import's rows,
    flows/tables.py)."""
    # The standard library's encoder drops to pure Python when indenting (half the time of a large flow
    # import went there); msgspec writes the same text, byte for byte, in C. A batch of items is formatted
    # as the array of a one-key object, which puts the items at the depth they have in the document, and
    # cut out of it.
    encode, format_ = msgspec.json.encode, msgspec.json.format
    yield format_(encode(head), indent=indent)[:-2]  # without the closing "\n}"
    pad, inner = b" " * indent, b"\n" + b" " * indent
    start, end = len(b"{\n" + pad + b'"": ['), -len(inner + b"]\n}")
    for key, values in sections:
        if not values:
            yield b",\n" + pad + key + b": []"
            continue
        yield b",\n" + pad + key + b": ["
        for first in range(0, len(values), batch):
            with paused_gc():  # to_json() makes a few containers per item, all alive until encoded
                items = [
                    item.to_json() if isinstance(item, Node | Edge) else item for item in values[first : first + batch]
                ]
                text = format_(encode({"": items}), indent=indent)
            yield (b"," if first else b"") + text[start:end]
        yield inner + b"]"
    yield b"\n}\n"


def icmp_protocol(icmp: dict[str, Any]) -> str:
    """ICMPv6 for an `icmps` entry of family IPv6, else ICMPv4 (Cilium's ICMPField: family defaults to IPv4)."""
    return "ICMPv6" if icmp.get("family") == "IPv6" else "ICMPv4"


def icmp_entry(protocol: str, kind: int | None) -> dict[str, Any]:
    """The `icmps` entry for ICMPv4 or ICMPv6 and an ICMP type (None: every type of the family)."""
    family = "IPv6" if protocol == "ICMPv6" else "IPv4"
    return {"family": family} if kind is None else {"family": family, "type": kind}


# The ICMP type names Cilium's ICMPField.type takes (its CRD schema, corpus/schemas), per family, and the numbers
# it turns them into (cilium/cilium pkg/policy/api/icmp.go: icmpIpv4TypeNameToCode, icmpIpv6TypeNameToCode). A
# name is a fixed number, unlike a named port; one its family lacks makes Cilium refuse the policy.
ICMP_TYPE_NAMES: dict[str, dict[str, int]] = {
    "IPv4": {
        "EchoReply": 0,
        "DestinationUnreachable": 3,
        "Redirect": 5,
        "Echo": 8,
        "EchoRequest": 8,
        "RouterAdvertisement": 9,
        "RouterSelection": 10,
        "TimeExceeded": 11,
        "ParameterProblem": 12,
        "Timestamp": 13,
        "TimestampReply": 14,
        "Photuris": 40,
        "ExtendedEchoRequest": 42,
        "ExtendedEchoReply": 43,
    },
    "IPv6": {
        "DestinationUnreachable": 1,
        "PacketTooBig": 2,
        "TimeExceeded": 3,
        "ParameterProblem": 4,
        "EchoRequest": 128,
        "EchoReply": 129,
        "MulticastListenerQuery": 130,
        "MulticastListenerReport": 131,
        "MulticastListenerDone": 132,
        "RouterSolicitation": 133,
        "RouterAdvertisement": 134,
        "NeighborSolicitation": 135,
        "NeighborAdvertisement": 136,
        "RedirectMessage": 137,
        "RouterRenumbering": 138,
        "ICMPNodeInformationQuery": 139,
        "ICMPNodeInformationResponse": 140,
        "InverseNeighborDiscoverySolicitation": 141,
        "InverseNeighborDiscoveryAdvertisement": 142,
        "HomeAgentAddressDiscoveryRequest": 144,
        "HomeAgentAddressDiscoveryReply": 145,
        "MobilePrefixSolicitation": 146,
        "MobilePrefixAdvertisement": 147,
        "DuplicateAddressRequestCodeSuffix": 157,
        "DuplicateAddressConfirmationCodeSuffix": 158,
        "ExtendedEchoRequest": 160,
        "ExtendedEchoReply": 161,
    },
}


def icmp_type_number(icmp: dict[str, Any]) -> int | None:
    """The ICMP type an `icmps` field allows, as a number: its number (also written as a string), or the number
    of its name in its family; None for a name the family does not have."""
    kind = icmp.get("type")
    if isinstance(kind, int) and not isinstance(kind, bool):
        return kind
    if not isinstance(kind, str):
        return None
    if kind.isdecimal() and kind.isascii():
        return int(kind)
    return ICMP_TYPE_NAMES["IPv6" if icmp.get("family") == "IPv6" else "IPv4"].get(kind)


def safe_id(text: str) -> str:
    """A valid node id for `text` (names from imported YAML or logs can hold any character): itself when it is
    one, else a readable form plus a short hash, so two texts never share an id."""
    if ID_PATTERN.fullmatch(text):
        return text
    digest = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:8]
    return re.sub(f"[^{ID_CHARS}]", "_", text)[:240] + "+" + digest


def reference_errors(document: Document) -> list[tuple[str, str]]:
    """The checks a JSON Schema cannot make: uniqueness, references, kind-specific fields, syntax."""
    errors: list[tuple[str, str]] = []
    namespaces = set()
    for i, ns in enumerate(document.namespaces):
        if ns.name in namespaces:
            errors.append((f"namespaces[{i}].name", f"namespace {ns.name!r} appears twice"))
        problem = validate_namespace_name(ns.name)
        if problem:
            errors.append((f"namespaces[{i}].name", problem))
        namespaces.add(ns.name)
    node_ids: dict[str, int] = {}
    for i, node in enumerate(document.nodes):
        path = f"nodes[{i}]"
        if node.id in node_ids:
            errors.append((f"{path}.id", f"id {node.id!r} is already used by nodes[{node_ids[node.id]}]"))
        node_ids.setdefault(node.id, i)
        errors.extend((f"{path}.{field}", message) for field, message in _node_errors(node, namespaces))
    edge_ids: set[str] = set()
    for i, edge in enumerate(document.edges):
        path = f"edges[{i}]"
        if edge.id in edge_ids:
            errors.append((f"{path}.id", f"edge id {edge.id!r} appears twice"))
        edge_ids.add(edge.id)
        for field in ("source", "target"):
            if getattr(edge, field) not in node_ids:
                errors.append((f"{path}.{field}", f"no node has the id {getattr(edge, field)!r}"))
        for j, port in enumerate(edge.ports):
            errors.extend((f"{path}.ports[{j}].{field}", message) for field, message in _port_errors(port))
    for j, cidr in enumerate(document.settings.pod_cidrs + document.settings.service_cidrs):
        message = _cidr_error(cidr)
        if message:
            key = "podCIDRs" if j < len(document.settings.pod_cidrs) else "serviceCIDRs"
            errors.append((f"settings.{key}", message))
    errors.extend(layer_errors(document))
    return errors


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _node_errors(node: Node, namespaces: set[str]) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    # Names end up in YAML comments, explanations and file names, where a line break could forge content.
    for field, value in (("name", node.name), ("owner", node.owner), ("policyName", node.policy_name),
                         ("matchName", node.match_name), ("matchPattern", node.match_pattern)):  # fmt: skip
        if value and _CONTROL.search(value):
            errors.append((field, f"{value!r} contains a control character or line break"))
    if node.kind in ("workload", "selector") and node.namespace is not None and node.namespace not in namespaces:
        errors.append(("namespace", f"namespace {node.namespace!r} is not in the document's namespaces"))
    if node.kind == "workload":
        if not node.namespace:
            errors.append(("namespace", "a workload needs a namespace"))
        if not node.name:
            errors.append(("name", "a workload needs a name"))
        for j, port in enumerate(node.container_ports):
            if port.name and (message := port_name_error(port.name)):
                errors.append((f"containerPorts[{j}].name", message))
    elif node.kind == "selector":
        if node.namespace is None and node.namespace_selector is None:
            errors.append(("namespace", "a selector needs a namespace or a namespaceSelector"))
        if node.namespace is not None and node.namespace_selector is not None:
            errors.append(("namespaceSelector", "give either namespace or namespaceSelector, not both"))
    elif node.kind == "hosts":
        if node.node_selector is None:
            errors.append(("nodeSelector", "a hosts node needs a nodeSelector"))
    elif node.kind == "cidr":
        if not node.cidr:
            errors.append(("cidr", "a cidr node needs a cidr"))
        elif message := _cidr_error(node.cidr):
            errors.append(("cidr", message))
        else:
            network = ipaddress.ip_network(node.cidr)
            for j, text in enumerate(node.except_):
                if message := _cidr_error(text):
                    errors.append((f"except[{j}]", message))
                    continue
                excluded = ipaddress.ip_network(text)
                if (
                    excluded.version != network.version
                    or not excluded.subnet_of(network)  # type: ignore[arg-type]
                    or excluded.prefixlen <= network.prefixlen
                ):
                    errors.append((f"except[{j}]", f"{text} is not strictly inside {node.cidr}"))
    elif node.kind == "entity":
        if not node.entity:
            errors.append(("entity", "an entity node needs an entity"))
    elif node.kind == "fqdn" and bool(node.match_name) == bool(node.match_pattern):
        errors.append(("matchName", "an fqdn node needs exactly one of matchName and matchPattern"))
    return errors


def _port_errors(port: Port) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    if isinstance(port.port, str):
        if port.port.isdigit():
            errors.append(("port", f"{port.port!r} is a number written as text; write {int(port.port)}"))
        elif message := port_name_error(port.port):
            errors.append(("port", message))
        if port.end_port is not None:
            errors.append(("endPort", "endPort needs a numeric port, not a named port"))
    elif port.end_port is not None:
        if port.port is None:
            errors.append(("endPort", "endPort needs a port"))
        elif port.end_port < port.port:
            errors.append(("endPort", f"endPort {port.end_port} is smaller than port {port.port}"))
    return errors
