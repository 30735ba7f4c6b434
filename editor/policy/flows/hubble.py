"""Hubble flow records: the typed decoder and the rules for reading a flow (FLOWS.md Part 1).

The Structs declare only the fields an importer needs, so msgspec skips the rest of each line without
building it; that is what makes a typed decode cheaper than a full JSON parse. Endpoint labels stay raw
bytes until a pod is seen for the first time. Every record shape Hubble and its neighbours print is
accepted: the `GetFlowsResponse` wrapper (`-o jsonpb`, `-o json` since CLI v0.11, the exporter), the legacy
bare flow and bare lost event (`-o json` before v0.11), lowerCamelCase keys (protojson defaults, grpcurl)
and enums written as numbers.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import msgspec

EMPTY_LIST = msgspec.Raw(b"[]")


class TcpFlags(msgspec.Struct, gc=False):
    SYN: bool = False
    ACK: bool = False


class Ports(msgspec.Struct, gc=False):
    source_port: int = 0
    destination_port: int = 0
    flags: TcpFlags | None = None


class Icmp(msgspec.Struct, gc=False):
    type: int = 0


class Layer4(msgspec.Struct, gc=False):
    TCP: Ports | None = None
    UDP: Ports | None = None
    SCTP: Ports | None = None
    ICMPv4: Icmp | None = None
    ICMPv6: Icmp | None = None


class Workload(msgspec.Struct, gc=False):
    name: str = ""
    kind: str = ""


class Endpoint(msgspec.Struct, frozen=True, gc=False):
    identity: int = 0
    namespace: str = ""
    labels: msgspec.Raw = EMPTY_LIST  # decoded once per pod or identity, not once per flow
    pod_name: str = ""
    workloads: tuple[Workload, ...] = ()


NO_ENDPOINT = Endpoint()


class Addresses(msgspec.Struct, gc=False):
    source: str = ""
    destination: str = ""


class Dns(msgspec.Struct, gc=False):
    query: str = ""
    ips: tuple[str, ...] = ()


class Http(msgspec.Struct, gc=False):
    method: str = ""
    url: str = ""


class Kafka(msgspec.Struct, gc=False):
    api_key: str = ""
    topic: str = ""


class Layer7(msgspec.Struct, gc=False):
    type: str | int = ""
    dns: Dns | None = None
    http: Http | None = None
    kafka: Kafka | None = None


class Flow(msgspec.Struct, gc=False):
    time: str = ""
    verdict: str | int = ""
    drop_reason: int = 0
    drop_reason_desc: str | int = ""
    is_reply: bool | None = None
    reply: bool = False
    trace_reason: str | int = ""
    source: Endpoint = NO_ENDPOINT
    destination: Endpoint = NO_ENDPOINT
    IP: Addresses | None = None
    l4: Layer4 | None = None
    l7: Layer7 | None = None
    source_names: tuple[str, ...] = ()
    destination_names: tuple[str, ...] = ()
    # Set when the line spells its keys the other way (camelCase here; the camel family checks `node_name`):
    # every flow carries its node name, so one cheap field tells the reader to switch decoders.
    foreign: str = msgspec.field(default="", name="nodeName")


class LostEvents(msgspec.Struct, gc=False):
    source: str | int = ""
    num_events_lost: str | int = 0


class Response(msgspec.Struct, gc=False):
    """One `GetFlowsResponse` / `ExportEvent` line; other oneof members (node_status, agent_event) are ignored."""

    flow: Flow | None = None
    lost_events: LostEvents | None = None


def _camel(cls: type[msgspec.Struct], **nested: Any) -> Any:
    """The lowerCamelCase twin of a Struct (protojson defaults, grpcurl): the same fields under their
    json_name, nested Structs swapped for their twins. A subclass, so readers need not tell them apart."""
    fields = []
    for info in msgspec.structs.fields(cls):
        default: Any = (
            info.default
            if info.default_factory is msgspec.NODEFAULT
            else msgspec.field(default_factory=info.default_factory)
        )
        if info.name == "foreign":
            default = msgspec.field(default="", name="node_name")
        fields.append((info.name, nested.get(info.name, info.type), default))
    frozen = cls.__struct_config__.frozen
    return msgspec.defstruct(f"Camel{cls.__name__}", fields, bases=(cls,), rename="camel", frozen=frozen, gc=False)


CamelPorts = _camel(Ports)
CamelLayer4 = _camel(Layer4, TCP=CamelPorts | None, UDP=CamelPorts | None, SCTP=CamelPorts | None)
CamelEndpoint = _camel(Endpoint)
CamelLayer7 = _camel(Layer7, kafka=_camel(Kafka) | None)
CamelFlow = _camel(Flow, source=CamelEndpoint, destination=CamelEndpoint, l4=CamelLayer4 | None, l7=CamelLayer7 | None)
CamelLostEvents = _camel(LostEvents)
CamelResponse = _camel(Response, flow=CamelFlow | None, lost_events=CamelLostEvents | None)

_LOST_DECODERS = {False: msgspec.json.Decoder(LostEvents), True: msgspec.json.Decoder(CamelLostEvents)}
DECODERS: dict[tuple[bool, bool], msgspec.json.Decoder[Any]] = {
    # (wrapped in a GetFlowsResponse, lowerCamelCase) -> decoder
    (True, False): msgspec.json.Decoder(Response),
    (False, False): msgspec.json.Decoder(Flow),
    (True, True): msgspec.json.Decoder(CamelResponse),
    (False, True): msgspec.json.Decoder(CamelFlow),
}

VERDICTS = {
    0: "VERDICT_UNKNOWN", 1: "FORWARDED", 2: "DROPPED", 3: "ERROR", 4: "AUDIT", 5: "REDIRECTED", 6: "TRACED",
    7: "TRANSLATED",
}  # fmt: skip
POLICY_DROP_CODES = {133: "POLICY_DENIED", 181: "POLICY_DENY", 189: "AUTH_REQUIRED"}
DROP_REASONS = {
    130: "INVALID_SOURCE_MAC", 131: "INVALID_DESTINATION_MAC", 132: "INVALID_SOURCE_IP", 134: "INVALID_PACKET_DROPPED",
    135: "CT_TRUNCATED_OR_INVALID_HEADER", 136: "CT_MISSING_TCP_ACK_FLAG", 137: "CT_UNKNOWN_L4_PROTOCOL",
    151: "STALE_OR_UNROUTABLE_IP", 155: "CT_MAP_INSERTION_FAILED", 158: "SERVICE_BACKEND_NOT_FOUND",
    **POLICY_DROP_CODES,
}  # fmt: skip
L7_TYPES = {0: "UNKNOWN_L7_TYPE", 1: "REQUEST", 2: "RESPONSE", 3: "SAMPLE"}
TRACE_REASONS = {0: "TRACE_REASON_UNKNOWN", 1: "NEW", 2: "ESTABLISHED", 3: "REPLY", 4: "RELATED", 5: "REOPENED"}


def enum_name(value: str | int, names: dict[int, str]) -> str:
    if isinstance(value, int):
        return names.get(value, str(value))
    return value


def verdict_of(flow: Flow) -> str:
    """The verdict name, with a drop's reason: `DROPPED:POLICY_DENIED`."""
    verdict = enum_name(flow.verdict, VERDICTS) or "VERDICT_UNKNOWN"
    if verdict != "DROPPED":
        return verdict
    reason = enum_name(flow.drop_reason_desc, DROP_REASONS)
    if not reason and flow.drop_reason:
        reason = DROP_REASONS.get(flow.drop_reason, str(flow.drop_reason))
    return f"DROPPED:{reason or 'UNKNOWN'}"


_CAMEL_KEY = re.compile(r"[a-z0-9][A-Z]")
_KEEP_CASE = {"ipVersion", "ICMPv4", "ICMPv6"}  # proto names printed as written in both spellings
_IGNORED_RECORDS = ("node_status", "nodeStatus", "agent_event", "agentEvent", "debug_event", "debugEvent")


@dataclasses.dataclass
class Shape:
    """How a Hubble line is written: wrapped in a GetFlowsResponse or bare (legacy `-o json`), key spelling."""

    wrapped: bool
    camel: bool

    @property
    def name(self) -> str:
        base = "hubble jsonpb" if self.wrapped else "hubble legacy json"
        return base + (" (lowerCamelCase)" if self.camel else "")


def _is_camel(obj: dict[str, Any]) -> bool:
    inner = obj.get("flow")
    keys = list(obj) + (list(inner) if isinstance(inner, dict) else [])
    return any(_CAMEL_KEY.search(key) and key not in _KEEP_CASE for key in keys)


def classify(line: bytes, obj: Any) -> tuple[Shape, Flow | LostEvents | None]:
    """Read a line the fast path could not, given its generic decode `obj`: its shape and record.

    The record is a Flow, LostEvents, or None for a Hubble record that carries no flow (node_status, agent
    events). Raises ValueError for anything that is not a Hubble record, and msgspec.ValidationError for a
    Hubble record with a field of the wrong type.
    """
    if not isinstance(obj, dict):
        raise ValueError(f"a JSON {type(obj).__name__}, not an object")
    camel = _is_camel(obj)
    if "flow" in obj or "lost_events" in obj or "lostEvents" in obj:
        response = DECODERS[(True, camel)].decode(line)
        return Shape(True, camel), response.flow or response.lost_events
    if any(key in obj for key in _IGNORED_RECORDS):
        return Shape(True, camel), None
    if "num_events_lost" in obj or "numEventsLost" in obj:
        return Shape(False, camel), _LOST_DECODERS[camel].decode(line)
    if "verdict" in obj or "IP" in obj or "l4" in obj or "Type" in obj:
        return Shape(False, camel), DECODERS[(False, camel)].decode(line)
    keys = ", ".join(sorted(obj)[:6]) or "none"
    raise ValueError(f"not a Hubble flow or Gadget event (keys: {keys})")


def lost_count(lost: LostEvents) -> int:
    try:
        return int(lost.num_events_lost)
    except ValueError:
        return 0


# ---- identities and labels ----------------------------------------------------------------------------

RESERVED_IDENTITIES = {
    1: "host", 2: "world", 3: "unmanaged", 4: "health", 5: "init", 6: "remote-node", 7: "kube-apiserver",
    8: "ingress", 9: "world", 10: "world",
}  # fmt: skip
# When an identity carries several reserved labels (kube-apiserver + world, host + remote-node), the most
# specific one names the Cilium entity a policy needs.
_ENTITY_PRIORITY = ("kube-apiserver", "host", "remote-node", "health", "ingress", "init", "unmanaged", "world")
_RESERVED_ALIASES = {"world-ipv4": "world", "world-ipv6": "world"}
LOCAL_IDENTITY_SCOPE = 1 << 24  # CIDR and FQDN identities start here
_LABEL_SOURCES = {"k8s", "reserved", "cidr", "fqdn", "container", "unspec", "any", "cni"}
_POD_LABEL_SOURCES = {"k8s", "any", "unspec"}
NAMESPACE_LABEL_PREFIX = "io.cilium.k8s.namespace.labels."
POD_NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
_CILIUM_KEYS = ("io.cilium.k8s.policy.",)


_LABELS = msgspec.json.Decoder(list[str])  # a Decoder made once: decode(type=...) works out the type per call


def decode_labels(raw: msgspec.Raw) -> list[str]:
    try:
        return _LABELS.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return []


def reserved_entity(labels: list[str]) -> str | None:
    """The Cilium entity named by `reserved:` labels, or None when there is none."""
    names = {_RESERVED_ALIASES.get(label[9:], label[9:]) for label in labels if label.startswith("reserved:")}
    return next((name for name in _ENTITY_PRIORITY if name in names), None)


def split_labels(labels: list[str]) -> tuple[dict[str, str], dict[str, str], str]:
    """Hubble `source:key=value` labels -> (pod labels, namespace labels, namespace name or "").

    A pod whose labels carry no namespace labels (most logs) gets NO_LABELS, shared: read only.

    Cilium-added keys (namespace, service account, cluster) are not pod labels; namespace labels come from
    the `io.cilium.k8s.namespace.labels.` prefix. Only `k8s:` labels (and unprefixed ones) are pod labels.
    """
    pod: dict[str, str] = {}
    namespace: dict[str, str] = NO_LABELS
    namespace_name = ""
    roles = _LABEL_ROLES
    for label in labels:
        head, _, value = label.partition("=")
        found = roles.get(head) or remember_label_role(head)
        role, key = found
        if role == _POD_LABEL:
            pod[key] = value
        elif role == _NAMESPACE_LABEL:
            if namespace is NO_LABELS:
                namespace = {}
            namespace[key] = value
        elif role == _NAMESPACE_NAME:
            namespace_name = value
    return pod, namespace, namespace_name


NO_LABELS: dict[str, str] = {}  # shared by every pod without namespace labels: never written to
_POD_LABEL, _NAMESPACE_LABEL, _NAMESPACE_NAME, _OTHER_LABEL = range(4)
# What a label is depends only on what comes before its first "=" (`source:key`), and those repeat from pod to
# pod even where values do not (a bare pod's `run=<its name>`): each is taken apart once. Bounded, as a server
# reads stream after stream.
_LABEL_ROLES: dict[str, tuple[int, str]] = {}
_MAX_LABEL_ROLES = 100_000


def remember_label_role(head: str) -> tuple[int, str]:
    """_label_role(head), kept in _LABEL_ROLES for the next pod."""
    if len(_LABEL_ROLES) >= _MAX_LABEL_ROLES:
        _LABEL_ROLES.clear()
    found = _LABEL_ROLES[head] = _label_role(head)
    return found


def _label_role(head: str) -> tuple[int, str]:
    """(role, key) of a label whose text before its first "=" is `head`: a pod label, a namespace label, the
    namespace name, or other."""
    prefix, colon, key = head.partition(":")
    if not colon or prefix not in _LABEL_SOURCES:
        key = head
    elif prefix not in _POD_LABEL_SOURCES:
        return _OTHER_LABEL, ""
    if key.startswith(NAMESPACE_LABEL_PREFIX):
        return _NAMESPACE_LABEL, key[len(NAMESPACE_LABEL_PREFIX) :]
    if key == POD_NAMESPACE_LABEL:
        return _NAMESPACE_NAME, ""
    if key.startswith(_CILIUM_KEYS):
        return _OTHER_LABEL, ""
    return _POD_LABEL, key
