"""Inspektor Gadget network-policy advisor logs: records -> connections (FLOWS.md Part 2).

Every generation that wrote a log is read, each line recognised on its own (a file may mix them): gen 1
(2020-2022, `connect`/`accept` events, a JSON array or one object per line), gen 2 as first released in 2022
(`networktrace.log` lines with flat snake_case keys: `"type":"normal"`, `pkt_type`, `remote_kind`
`svc|pod|other`, `remote_svc_*`, `remote_pod_*`) and gen 2 from 2023 to 2025 (`kubectl gadget advise
network-policy monitor`, trace-network events with nested `k8s` and `dst`). The current release (gen 3, the
`advise_networkpolicy` image gadget) writes no log: it prints the policies themselves as YAML.

The Go side decodes JSON case-insensitively (`podname` and `podName` both occur in upstream test data), so
keys of the event's own objects are matched without regard to case; label maps keep their keys as written.

Filtering follows the advisor: only `normal` events from the monitored pod, no hostNetwork pods, no ingress
from the pod's own node (kubelet probes cannot be blocked by a NetworkPolicy), no loopback peers. Unlike the
advisor, the protocol stays part of the connection, and a peer kind it does not know is a warning for that
record instead of the end of the run.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from ..selectors import validate_namespace_name


class GadgetRecordError(ValueError):
    """A Gadget record that cannot become a connection; the line is skipped with this reason."""


@dataclasses.dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    labels: dict[str, str]  # as logged, before dropping per-replica labels
    owner: str | None = None
    owner_kind: str | None = None


@dataclasses.dataclass(frozen=True)
class Peer:
    """The other end: a pod, a service (chosen by its selector) or a raw IP address."""

    kind: str  # "pod", "svc" or "raw"
    namespace: str = ""
    name: str = ""
    labels: dict[str, str] = dataclasses.field(default_factory=dict)  # pod labels, or the service's selector
    address: str = ""


@dataclasses.dataclass(frozen=True)
class Connection:
    local: Pod  # the monitored pod
    peer: Peer
    outgoing: bool  # True: local connected to peer (egress); False: peer connected to local (ingress)
    protocol: str
    port: int
    time: str | None = None


GEN1 = "gadget gen1 (connect/accept)"
GEN2_2022 = "gadget gen2 2022 (networktrace.log, flat keys)"
GEN2 = "gadget gen2 (networktrace.log)"


def is_gadget(obj: dict[str, Any]) -> bool:
    keys = {key.lower() for key in obj}
    return bool({"local_pod_namespace", "remote_kind", "pkt_type"} & keys) or ("k8s" in keys and "pkttype" in keys)


def _lower(value: Any) -> dict[str, Any]:
    return {str(key).lower(): item for key, item in value.items()} if isinstance(value, dict) else {}


def _labels(value: Any, field: str) -> dict[str, str]:
    """A label map as the advisor writes it (Go map[string]string); anything else is not its record."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise GadgetRecordError(f"{field} is a JSON {type(value).__name__}, not a map of labels")
    for key, item in value.items():
        if not isinstance(item, str):
            raise GadgetRecordError(f"{field}: label {key!r} has the value {item!r}, not a string")
    return dict(value)


def _text(value: Any, field: str) -> str:
    """A string field; absent, null and "" are all "" (Go's zero value), other JSON types end the record."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise GadgetRecordError(f"{field} is {value!r}, not a string")
    return value


def _namespace(value: Any, field: str) -> str:
    namespace = _text(value, field)
    if validate_namespace_name(namespace):
        raise GadgetRecordError(f"{field} {namespace!r} is not a namespace name (an RFC 1123 label)")
    return namespace


def parse(obj: dict[str, Any]) -> tuple[str, Connection | str]:
    """(format, connection) or (format, reason the record is ignored). Raises GadgetRecordError."""
    event = _lower(obj)
    # `pkt_type` is gen 2's first spelling; gen 1 has `remote_kind` too but no packet type.
    if "pkt_type" in event:
        return GEN2_2022, _gen2_2022(event)
    if "local_pod_namespace" in event or "remote_kind" in event:
        return GEN1, _gen1(event)
    return GEN2, _gen2(event)


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise GadgetRecordError(f"port {value!r} is not a number from 1 to 65535")
    return value


def _gen1(event: dict[str, Any]) -> Connection | str:
    kind = event.get("type")
    if kind not in ("connect", "accept"):
        return f"gen1 event type {kind!r}"
    local = _flat_pod(event, "local_pod_namespace", "local_pod_name", "local_pod_labels", "local_pod_owner")
    peer = _remote(event)
    return _checked(Connection(local, peer, kind == "connect", "TCP", _port(event.get("port"))))


def _flat_pod(event: dict[str, Any], namespace_key: str, name_key: str, labels_key: str, owner_key: str) -> Pod:
    """The monitored pod of an event whose keys are flat (gen 1, and gen 2 as of 2022), named by those keys."""
    namespace, name = event.get(namespace_key), _text(event.get(name_key), name_key)
    if not namespace or not name:
        raise GadgetRecordError(f"event without {namespace_key} / {name_key}")
    return Pod(
        _namespace(namespace, namespace_key),
        name,
        _labels(event.get(labels_key), labels_key),
        _text(event.get(owner_key), owner_key) or None,
    )


def _remote(event: dict[str, Any]) -> Peer:
    """The peer of a gen 1 or 2022 event: `remote_kind` with its `remote_pod_*`, `remote_svc_*` or `remote_other`."""
    remote = event.get("remote_kind")
    if remote in ("pod", "svc"):
        prefix = f"remote_{remote}_"
        labels = prefix + ("labels" if remote == "pod" else "label_selector")
        return Peer(
            str(remote),
            _text(event.get(prefix + "namespace"), prefix + "namespace"),
            _text(event.get(prefix + "name"), prefix + "name"),
            _labels(event.get(labels), labels),
        )
    if remote == "other":
        return Peer("raw", address=_text(event.get("remote_other") or event.get("ip"), "remote_other"))
    raise GadgetRecordError(f"unknown remote_kind {remote!r} (expected pod, svc or other)")


def _gen2_2022(event: dict[str, Any]) -> Connection | str:
    """The 2022 networktrace.log line: the trace-network event of that release, keys flat and snake_case."""
    if event.get("type") != "normal":
        return f"event type {event.get('type')!r}"
    direction = event.get("pkt_type")
    if direction not in ("OUTGOING", "HOST"):
        return f"packet type {direction!r}"
    local = _flat_pod(event, "namespace", "pod", "pod_labels", "pod_owner")
    peer = _remote(event)
    address = _text(event.get("ip"), "ip")
    if direction == "HOST" and address and address == event.get("pod_host_ip"):
        return "ingress from the pod's own node"
    protocol = _protocol(event.get("proto"))
    return _checked(Connection(local, peer, direction == "OUTGOING", protocol, _port(event.get("port"))))


def _protocol(value: Any) -> str:
    protocol = str(value or "").upper()
    if protocol not in ("TCP", "UDP", "SCTP"):
        raise GadgetRecordError(f"unknown proto {value!r}")
    return protocol


def _gen2(event: dict[str, Any]) -> Connection | str:
    if event.get("type") != "normal":
        return f"event type {event.get('type')!r}"
    k8s = _lower(event.get("k8s"))
    if k8s.get("hostnetwork") is True:
        return "hostNetwork pod"
    direction = event.get("pkttype")
    if direction not in ("OUTGOING", "HOST"):
        return f"packet type {direction!r}"
    namespace, name = k8s.get("namespace"), _text(k8s.get("podname") or k8s.get("pod"), "k8s.podName")
    if not namespace or not name:
        raise GadgetRecordError("event without k8s.namespace / k8s.podName")
    owner = _lower(k8s.get("owner"))
    local = Pod(
        _namespace(namespace, "k8s.namespace"),
        name,
        _labels(event.get("podlabels") or k8s.get("podlabels"), "podLabels"),
        _text(owner.get("name"), "k8s.owner.name") or _text(event.get("podowner"), "podOwner") or None,
        _text(owner.get("kind"), "k8s.owner.kind") or None,
    )
    dst = _lower(event.get("dst"))
    kind = dst.get("kind")
    address = _text(dst.get("addr"), "dst.addr")
    if kind in ("pod", "svc"):
        peer = Peer(
            kind,
            _text(dst.get("namespace"), "dst.namespace"),
            _text(dst.get("podname" if kind == "pod" else "name"), "dst.name"),
            _labels(dst.get("podlabels"), "dst.podLabels"),
        )
    elif kind == "raw":
        peer = Peer("raw", address=address)
    else:
        raise GadgetRecordError(f"unknown dst.kind {kind!r} (expected pod, svc or raw)")
    if direction == "HOST" and address and address == event.get("podhostip"):
        return "ingress from the pod's own node"
    protocol = _protocol(event.get("proto"))
    connection = Connection(local, peer, direction == "OUTGOING", protocol, _port(event.get("port")), _time(event))
    return _checked(connection)


def _time(event: dict[str, Any]) -> str | None:
    """RFC 3339 from the event's `timestamp` (nanoseconds since the epoch), when it has one."""
    stamp = event.get("timestamp")
    if isinstance(stamp, bool) or not isinstance(stamp, int) or stamp <= 0:
        return None
    seconds, nanoseconds = divmod(stamp, 1_000_000_000)
    try:
        moment = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{nanoseconds:09d}Z"


def _checked(connection: Connection) -> Connection | str:
    peer = connection.peer
    if peer.kind == "raw":
        if not peer.address:
            raise GadgetRecordError("raw peer without an address")
        if peer.address in ("127.0.0.1", "::1"):
            return "loopback peer"
    elif not peer.namespace:
        raise GadgetRecordError(f"{peer.kind} peer without a namespace")
    elif validate_namespace_name(peer.namespace):
        raise GadgetRecordError(f"{peer.kind} peer namespace {peer.namespace!r} is not a namespace name")
    return connection
