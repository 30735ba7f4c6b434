"""The graph document: the one source of truth that the browser, CLI, API and database pass around.

A document says which traffic is intended: nodes are sets of pods (workloads, selectors) or places outside the
pod network (CIDR ranges, Cilium entities, FQDNs); an edge `source -> target` means "source may open
connections to target" on its ports. YAML is always derived from a document (see native.py, cilium.py).

The JSON form is versioned (`"schema": "fenceline/v1"`) and validated by DOCUMENT_SCHEMA plus the reference
checks a schema cannot make (ids unique, edges point at nodes, namespaces exist). Every error names the path
of the offending value, e.g. `edges[3].ports[0].endPort`.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import ipaddress
import json
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal

import fastjsonschema
import msgspec

from .gcpause import paused_gc
from .selectors import validate_namespace_name
from .sized_cache import SizedCache
from .yamlio import InputError, Limits, check_json_value

if TYPE_CHECKING:
    import jsonschema

SCHEMA_VERSION = "fenceline/v1"

NodeKind = Literal["workload", "selector", "hosts", "cidr", "entity", "fqdn"]
SUBJECT_KINDS = ("workload", "selector", "hosts")  # nodes that can carry a policy (pods or nodes)
POD_KINDS = ("workload", "selector")
EXTERNAL_KINDS = ("cidr", "entity", "fqdn")
PROTOCOLS = ("TCP", "UDP", "SCTP", "ANY")
ENTITIES = (
    "all", "world", "cluster", "host", "init", "ingress", "unmanaged", "remote-node", "health", "none",
    "kube-apiserver",
)  # fmt: skip
SIDES = ("source", "target")
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


class DocumentError(ValueError):
    """A document that is not valid. `errors` holds every problem as (path, message)."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        first_path, first_message = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{first_path or 'document'}: {first_message}{more}")


_LABEL_SELECTOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
        "matchExpressions": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["key", "operator"],
                "properties": {
                    "key": {"type": "string", "minLength": 1},
                    "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
                    "values": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}
_LABELS_SCHEMA: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}
_ID_CHARS = "A-Za-z0-9_.:/=@+-"
_ID = re.compile(f"[{_ID_CHARS}]{{1,253}}")
_ID_SCHEMA: dict[str, Any] = {"type": "string", "pattern": f"^{_ID.pattern}$"}
# A code owner as GitHub and GitLab CODEOWNERS files name one: @user, @org/team (GitLab: @group/subgroup) or an
# e-mail address. Nothing else may reach a CODEOWNERS line (a space or # would change what the line means).
OWNER_PATTERN = (
    r"^(@[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*"  # @user, @org/team
    r"|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})$"  # an e-mail address
)
_OWNERS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string", "maxLength": 200, "pattern": OWNER_PATTERN},
    "uniqueItems": True,
}
_PORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "protocol": {"enum": list(PROTOCOLS)},
        "port": {"oneOf": [{"type": "integer", "minimum": 1, "maximum": 65535}, {"type": "string", "minLength": 1}]},
        "endPort": {"type": "integer", "minimum": 1, "maximum": 65535},
    },
}

# Free-form fields (an edge's Cilium L7 rules, settings.extra) are bounded like everything else: their depth keeps
# every walk over a drawing (deepcopy, the YAML writer, json) far from the recursion limit and keeps the emitted
# YAML, which indents each level, linear in the input; their widths and string lengths bound what one field can
# make the compiler repeat. The deepest upstream L7 rule (rules.http[].headerMatches[].secret.name) has 6 levels.
FREE_FORM_MAX_DEPTH = 8
FREE_FORM_MAX_ITEMS = 1000
FREE_FORM_MAX_PROPERTIES = 100
FREE_FORM_MAX_STRING = 8192
FREE_FORM_MAX_KEY = 253
_TOO_DEEP = "too deep"
_SCALAR_TYPES = ["string", "number", "boolean", "null"]


def _free_form_defs() -> dict[str, Any]:
    """`freeForm<N>`: any JSON value at most N containers deep, with bounded widths and strings."""
    defs: dict[str, Any] = {
        "freeForm0": {"title": _TOO_DEEP, "type": _SCALAR_TYPES, "maxLength": FREE_FORM_MAX_STRING},
    }
    for depth in range(1, FREE_FORM_MAX_DEPTH + 1):
        defs[f"freeForm{depth}"] = {
            "type": [*_SCALAR_TYPES, "object", "array"],
            "maxLength": FREE_FORM_MAX_STRING,
            "maxItems": FREE_FORM_MAX_ITEMS,
            "maxProperties": FREE_FORM_MAX_PROPERTIES,
            "propertyNames": {"maxLength": FREE_FORM_MAX_KEY},
            "items": {"$ref": f"#/$defs/freeForm{depth - 1}"},
            "additionalProperties": {"$ref": f"#/$defs/freeForm{depth - 1}"},
        }
    return defs


_FREE_FORM_OBJECT: dict[str, Any] = {"allOf": [{"type": "object"}, {"$ref": f"#/$defs/freeForm{FREE_FORM_MAX_DEPTH}"}]}

DOCUMENT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://fenceline.invalid/schemas/fenceline-v1.json",
    "title": "Fenceline graph document",
    "type": "object",
    "additionalProperties": False,
    "required": ["schema"],
    "properties": {
        "schema": {"const": SCHEMA_VERSION},
        "name": {"type": "string", "maxLength": 200},
        "description": {"type": "string", "maxLength": 10000},
        "platformOwners": _OWNERS_SCHEMA,
        "settings": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "dialect": {"enum": ["native", "cilium"]},
                "podCIDRs": {"type": "array", "items": {"type": "string"}},
                "serviceCIDRs": {"type": "array", "items": {"type": "string"}},
                "dns": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "namespace": {"type": "string"},
                        "podLabels": _LABELS_SCHEMA,
                        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                    },
                },
                "ipblockMatchesPods": {"type": "boolean"},
                "extra": _FREE_FORM_OBJECT,
            },
        },
        "namespaces": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "labels": _LABELS_SCHEMA,
                    "owners": _OWNERS_SCHEMA,
                    "position": {"$ref": "#/$defs/position"},
                },
            },
        },
        "nodes": {"type": "array", "items": {"$ref": "#/$defs/node"}},
        "edges": {"type": "array", "items": {"$ref": "#/$defs/edge"}},
    },
    "$defs": {
        **_free_form_defs(),
        "position": {
            "type": "object",
            "additionalProperties": False,
            "required": ["x", "y"],
            "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
        },
        "node": {
            "type": "object",
            "additionalProperties": False,
            "required": ["id", "kind"],
            "properties": {
                "id": _ID_SCHEMA,
                "kind": {"enum": ["workload", "selector", "hosts", "cidr", "entity", "fqdn"]},
                "name": {"type": "string"},
                "namespace": {"type": "string"},
                "owner": {"type": "string"},
                "labels": _LABELS_SCHEMA,
                "containerPorts": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["port"],
                        "properties": {
                            "name": {"type": "string"},
                            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                            "protocol": {"enum": ["TCP", "UDP", "SCTP"]},
                        },
                    },
                },
                "podSelector": _LABEL_SELECTOR_SCHEMA,
                "namespaceSelector": _LABEL_SELECTOR_SCHEMA,
                "nodeSelector": _LABEL_SELECTOR_SCHEMA,
                "cidr": {"type": "string"},
                "except": {"type": "array", "items": {"type": "string"}},
                "entity": {"enum": list(ENTITIES)},
                "matchName": {"type": "string"},
                "matchPattern": {"type": "string"},
                "isolate": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"ingress": {"type": "boolean"}, "egress": {"type": "boolean"}},
                },
                "policyName": {"type": "string"},
                "position": {"$ref": "#/$defs/position"},
                "note": {"type": "string"},
            },
        },
        "edge": {
            "type": "object",
            "additionalProperties": False,
            "required": ["id", "source", "target"],
            "properties": {
                "id": _ID_SCHEMA,
                "source": _ID_SCHEMA,
                "target": _ID_SCHEMA,
                "ports": {"type": "array", "items": _PORT_SCHEMA},
                "icmps": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["type"],
                        "properties": {
                            "family": {"enum": ["IPv4", "IPv6"]},
                            "type": {"oneOf": [{"type": "integer", "minimum": 0, "maximum": 255}, {"type": "string"}]},
                        },
                    },
                },
                "l7": _FREE_FORM_OBJECT,
                "serverNames": {"type": "array", "items": {"type": "string"}},
                "enforce": {"type": "array", "items": {"enum": list(SIDES)}, "uniqueItems": True},
                "action": {"enum": ["allow", "deny"]},
                "disabled": {"type": "boolean"},
                "observed": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "count": {"type": "integer", "minimum": 0},
                        "firstSeen": {"type": "string"},
                        "lastSeen": {"type": "string"},
                        "verdicts": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
                    },
                },
                "note": {"type": "string"},
            },
        },
    },
}


# Both validators are made on first use: importing jsonschema and compiling the schema cost a command that
# only writes documents (`fenceline flows`) a third of a second.
@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    import jsonschema

    return jsonschema.Draft202012Validator(DOCUMENT_SCHEMA)


@functools.cache
def _fast_validator() -> Callable[[Any], Any]:
    # The same schema compiled to Python code: about seven times faster on the valid documents the editor
    # posts on every change. It stops at the first error, so an invalid document is re-checked by jsonschema
    # for the full list with readable paths. The schema uses nothing that differs between draft 7 and 2020-12.
    return fastjsonschema.compile({**DOCUMENT_SCHEMA, "$schema": "http://json-schema.org/draft-07/schema#"})


def fast_validate(data: Any, known_valid: SizedCache[bool] | None = None) -> None:
    """Raise fastjsonschema.JsonSchemaValueException at the first way `data` is not a valid document.

    With `known_valid`, the nodes and edges found valid before (by their exact JSON) are not checked again: the
    editor posts the whole drawing after each edit, and checking its 2,000 edges was most of the time a compile
    took."""
    parts = _fast_part_validators()
    if known_valid is None or parts is None or type(data) is not dict:
        _fast_validator()(data)
        return
    head, item_validators = parts
    head(data)
    for field, validate in item_validators.items():
        for item in data.get(field, ()):
            try:
                key = field + _ITEM_ENCODER.encode(item).decode()
            except (TypeError, UnicodeError, msgspec.EncodeError):  # not JSON (a caller's Python value)
                validate(item)
                continue
            known_valid.get(key, functools.partial(_passes, validate, item), _bool_size)


_ITEM_ENCODER = msgspec.json.Encoder()


def _passes(validate: Callable[[Any], Any], item: Any, _: str) -> bool:
    validate(item)  # raises when it does not
    return True


def _bool_size(_: bool) -> int:
    return 1


@functools.cache
def _fast_part_validators() -> tuple[Callable[[Any], Any], dict[str, Callable[[Any], Any]]] | None:
    """The schema in parts: the document with its nodes and edges only checked to be arrays, and one node, one
    edge; a document is valid when every part is. None when the nodes and edges have more to them than a schema
    for each item (e.g. a maximum count), which the parts would miss."""
    items = {"nodes": "node", "edges": "edge"}
    properties = dict(DOCUMENT_SCHEMA["properties"])
    if any(not _only_items(properties[field], name) for field, name in items.items()):
        return None
    properties.update({field: {"type": "array"} for field in items})
    # Copies: fastjsonschema rewrites the references of what it compiles in place. Each part keeps the document's
    # $id, against which its "#/$defs/..." references resolve.
    draft_7 = {"$schema": "http://json-schema.org/draft-07/schema#"}
    head = fastjsonschema.compile(copy.deepcopy({**DOCUMENT_SCHEMA, **draft_7, "properties": properties}))
    defs = DOCUMENT_SCHEMA["$defs"]
    item_validators = {
        field: fastjsonschema.compile(
            copy.deepcopy({**defs[name], **draft_7, "$id": DOCUMENT_SCHEMA["$id"], "$defs": defs})
        )
        for field, name in items.items()
    }
    return head, item_validators


def _only_items(schema: dict[str, Any], name: str) -> bool:
    """True when `schema` is an array of `$defs/<name>` and nothing more (a reference may have been made absolute
    by fastjsonschema, which rewrites the schemas it compiles)."""
    reference = schema.get("items", {}).get("$ref", "")
    return set(schema) == {"type", "items"} and schema["type"] == "array" and reference.endswith(f"#/$defs/{name}")


@dataclasses.dataclass(slots=True)  # a flow import makes 100,000s: no __dict__ each
class Port:
    """One port condition: protocol plus a number, a named container port, or all ports (port None)."""

    protocol: str = "TCP"
    port: int | str | None = None
    end_port: int | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"protocol": self.protocol}
        if self.port is not None:
            data["port"] = self.port
        if self.end_port is not None:
            data["endPort"] = self.end_port
        return data

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
        if self.labels:
            data["labels"] = dict(sorted(self.labels.items()))
        if self.container_ports:
            data["containerPorts"] = [p.to_json() for p in self.container_ports]
        for key, value in (
            ("podSelector", self.pod_selector),
            ("namespaceSelector", self.namespace_selector),
            ("nodeSelector", self.node_selector),
            ("cidr", self.cidr),
        ):
            if value is not None:
                data[key] = value
        if self.except_:
            data["except"] = list(self.except_)
        for key, value in (
            ("entity", self.entity),
            ("matchName", self.match_name),
            ("matchPattern", self.match_pattern),
            ("policyName", self.policy_name),
            ("position", self.position),
            ("note", self.note),
        ):
            if value is not None:
                data[key] = value
        if self.kind in SUBJECT_KINDS:
            data["isolate"] = {"ingress": self.isolate.ingress, "egress": self.isolate.egress}
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
        if self.verdicts:
            data["verdicts"] = dict(sorted(self.verdicts.items()))
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

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "source": self.source,
            "target": self.target,
            "ports": [p.to_json() for p in self.ports],
            "enforce": [side for side in SIDES if side in self.enforce],
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
        data = self._head_json()
        data["nodes"] = [node.to_json() for node in self.nodes]
        data["edges"] = [edge.to_json() for edge in self.edges]
        return data

    def _head_json(self) -> dict[str, Any]:
        """to_json() up to the nodes and edges, which come last."""
        data: dict[str, Any] = {"schema": SCHEMA_VERSION}
        if self.name:
            data["name"] = self.name
        if self.description:
            data["description"] = self.description
        if self.platform_owners:
            data["platformOwners"] = list(self.platform_owners)
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
        # The standard library's encoder drops to pure Python when indenting (half the time of a large flow
        # import went there); msgspec writes the same text, byte for byte, in C. A batch of items is
        # formatted as a top-level array and moved two levels in: JSON strings hold no raw newline, so every
        # newline in the text is one the formatter put there.
        encode, format_ = msgspec.json.encode, msgspec.json.format
        yield format_(encode(self._head_json()), indent=indent)[:-2]  # without the closing "\n}"
        pad, inner = b" " * indent, b"\n" + b" " * indent
        values: list[Node] | list[Edge]
        for key, values in ((b'"nodes"', self.nodes), (b'"edges"', self.edges)):
            if not values:
                yield b",\n" + pad + key + b": []"
                continue
            yield b",\n" + pad + key + b": ["
            for first in range(0, len(values), batch):
                with paused_gc():  # to_json() makes a few containers per item, all alive until encoded
                    items = [item.to_json() for item in values[first : first + batch]]
                    text = format_(encode(items), indent=indent)
                yield (b"," if first else b"") + text[1:-2].replace(b"\n", inner)
            yield inner + b"]"
        yield b"\n}\n"

    @classmethod
    def from_json(cls, data: Any, known_valid: SizedCache[bool] | None = None) -> Document:
        """Validate and build a document. Raises DocumentError listing every problem with its path.

        `known_valid` holds the nodes and edges that passed the schema before (fast_validate)."""
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


def format_path(path: Any) -> str:
    """`['edges', 3, 'ports', 0, 'endPort']` -> `edges[3].ports[0].endPort`."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def schema_errors(data: Any) -> list[tuple[str, str]]:
    """JSON Schema errors of a document as (path, message), the most specific error of each branch."""
    if isinstance(data, dict) and data.get("schema") not in (None, SCHEMA_VERSION):
        return [
            ("schema", f"unsupported document version {data.get('schema')!r}; this Fenceline reads {SCHEMA_VERSION}")
        ]
    import jsonschema  # only when a document is refused: its import and schema compile cost a start-up

    try:
        found = sorted(_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    except RecursionError:
        # jsonschema writes the value it refuses into its message, and repr() of a value nested hundreds of levels
        # (a drawing stored before the free-form bound) recurses too deep: name where it is too deep instead.
        try:
            check_json_value(data, "document", Limits(max_depth=FREE_FORM_MAX_DEPTH + 4))
        except InputError as exc:
            return [("", exc.message)]
        raise
    errors = []
    for error in found:
        best = jsonschema.exceptions.best_match([error])
        errors.append((format_path(best.absolute_path), _schema_message(best)))
    return errors


def _schema_message(error: jsonschema.ValidationError) -> str:
    if error.validator == "type" and error.schema.get("title") == _TOO_DEEP:
        return (
            f"nested deeper than {FREE_FORM_MAX_DEPTH} levels; a free-form field (l7, extra) holds at most "
            f"{FREE_FORM_MAX_DEPTH} levels of objects and lists"
        )
    if error.validator == "additionalProperties":
        return error.message.replace("Additional properties are not allowed", "unknown field")
    if error.validator == "required":
        return error.message.replace("is a required property", "is required")
    if error.validator == "enum":
        return f"{error.instance!r} is not one of {', '.join(map(str, error.validator_value))}"
    if error.validator == "const":
        return f"must be {error.validator_value!r}"
    return error.message


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


def safe_id(text: str) -> str:
    """A valid node id for `text` (names from imported YAML or logs can hold any character): itself when it is
    one, else a readable form plus a short hash, so two texts never share an id."""
    if _ID.fullmatch(text):
        return text
    digest = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:8]
    return re.sub(f"[^{_ID_CHARS}]", "_", text)[:240] + "+" + digest


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
