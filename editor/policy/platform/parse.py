"""Reading ClusterNetworkPolicy / AdminNetworkPolicy / BaselineAdminNetworkPolicy objects into the model.

Each object is first checked against its CRD schema and CEL rules (`schema.py`); the first problem stops the
reading with an InputError naming the file, the line and the field, as the API server would refuse the object.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal

from ..analysis.parse import _path_text
from ..selectors import LabelSelector, SelectorError, parse_selector
from ..shapes import mapping
from ..yamlio import InputError, KubeObject
from . import model
from .model import ADMIN, BASELINE, PlatformPeer, PlatformPolicy, PlatformPort, PlatformRef, PlatformRule, PodSet
from .schema import PLATFORM_KINDS, Path, schema_for, supported_versions

Severity = Literal["error", "warning"]
_OBJECT_NAME = re.compile(r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_PROTOCOL_KEYS = {"tcp": "TCP", "udp": "UDP", "sctp": "SCTP"}


def is_platform_object(item: KubeObject) -> bool:
    api_version = item.obj.get("apiVersion")
    return item.kind in PLATFORM_KINDS and isinstance(api_version, str) and api_version.startswith("policy.networking")


class _Reader:
    def __init__(self, item: KubeObject, warnings: list[str]) -> None:
        self.item = item
        self.warnings = warnings
        name = mapping(item.obj.get("metadata")).get("name")
        self.title = f"{item.kind} {name}" if isinstance(name, str) else item.kind

    def error(self, path: Path, message: str) -> InputError:
        field = _path_text(path)
        return InputError(f"{self.title}: {field + ': ' if field else ''}{message}", self.item.source, self.line(path))

    def warn(self, path: Path, message: str) -> None:
        self.warnings.append(f"{self.item.source}:{self.line(path)}: {self.title}: {_path_text(path)}: {message}")

    def line(self, path: Path) -> int:
        return self.item.line_of(path)

    def selector(self, obj: Any, path: Path) -> LabelSelector:
        try:
            return parse_selector(obj if obj is not None else {}, "")
        except SelectorError as exc:
            raise self.error((*path, *exc.path), f"selector error: {exc.detail}") from None


def read_platform_policy(item: KubeObject, warnings: list[str]) -> PlatformPolicy:
    """The model of one platform object; InputError (file:line, field) when the API server would refuse it."""
    reader = _Reader(item, warnings)
    api_version = item.obj.get("apiVersion")
    schema = schema_for(str(api_version), item.kind)
    if schema is None:
        raise reader.error(
            ("apiVersion",),
            f"{item.kind} {api_version} is not supported (use {' or '.join(supported_versions(item.kind))})",
        )
    for path, message in schema.errors(item.obj):
        raise reader.error(path, _in_words(path, message))
    metadata = item.obj["metadata"]
    name = metadata.get("name")
    if not isinstance(name, str) or not _OBJECT_NAME.fullmatch(name):
        raise reader.error(
            ("metadata", "name") if "name" in metadata else ("metadata",),
            f"metadata.name {name!r} is not an object name (a DNS subdomain: lowercase letters, digits, '-' and '.')",
        )
    spec = item.obj["spec"]
    if item.kind == "ClusterNetworkPolicy":
        tier, priority = spec["tier"], spec["priority"]
    elif item.kind == "AdminNetworkPolicy":
        tier, priority = ADMIN, spec["priority"]
    else:
        tier, priority = BASELINE, None
    ref = PlatformRef(item.kind, name, tier, priority, item.where())
    subject = _pod_set(reader, spec["subject"], ("spec", "subject"))
    v1alpha2 = item.kind == "ClusterNetworkPolicy"
    rules = {
        direction: tuple(
            _rule(reader, raw, ("spec", direction.lower(), index), direction, index + 1, v1alpha2)
            for index, raw in enumerate(spec.get(direction.lower()) or ())
        )
        for direction in ("Ingress", "Egress")
    }
    return PlatformPolicy(ref, subject, rules["Ingress"], rules["Egress"])


def check_platform_object(obj: dict[str, Any]) -> list[tuple[Severity, Path, str]]:
    """(severity, path, message) of every problem of a platform object, for `fenceline validate`: all schema and
    CEL errors (reading stops at the first), the inverted v1alpha1 port ranges, and the lenient readings."""
    api_version, kind = str(obj.get("apiVersion")), str(obj.get("kind"))
    schema = schema_for(api_version, kind)
    if schema is None:
        versions = " or ".join(supported_versions(kind))
        return [("error", ("apiVersion",), f"{kind} {api_version} is not supported (use {versions})")]
    found: list[tuple[Severity, Path, str]] = [("error", p, _in_words(p, m)) for p, m in schema.errors(obj)]
    if found:
        return found  # the checks below read the shapes the schema guarantees
    spec = obj["spec"]
    for direction, peer_key in (("ingress", "from"), ("egress", "to")):
        for index, rule in enumerate(spec.get(direction) or ()):
            if not isinstance(rule, dict):
                continue
            for p_index, port in enumerate(rule.get("ports") or ()):
                path = ("spec", direction, index, "ports", p_index)
                port_range = port.get("portRange") if isinstance(port, dict) else None
                start, end = (
                    (port_range.get("start"), port_range.get("end")) if isinstance(port_range, dict) else (0, 0)
                )
                if isinstance(start, int) and isinstance(end, int) and end < start:
                    found.append(("error", (*path, "portRange", "end"), "port range: end must not be less than start"))
                number = port.get("portNumber") if isinstance(port, dict) else None
                if isinstance(number, dict) and "protocol" not in number:
                    found.append(("warning", (*path, "portNumber"), "protocol is required by the API server"))
            for p_index, peer in enumerate(rule.get(peer_key) or ()):
                if isinstance(peer, dict) and isinstance(peer.get("pods"), dict) and "podSelector" not in peer["pods"]:
                    pods_path = ("spec", direction, index, peer_key, p_index, "pods")
                    found.append(("warning", pods_path, "podSelector is required by the API server"))
    return found


def _in_words(path: Path, message: str) -> str:
    """The schema's message, led by what it means in this API (netpol-analyzer's words where it has some)."""
    field = path[-1] if path else ""
    if path[-2:] == ("spec", "subject"):
        return "exactly one field must be set in a subject (namespaces or pods): " + message
    if message.startswith("exactly one field") and len(path) > 2:
        what = {"from": "a rule peer", "to": "a rule peer", "ports": "a port entry", "protocols": "a port entry"}
        if path[-2] in what:
            return message.replace(
                "exactly one field must be set", f"exactly one field must be set in {what[path[-2]]}"
            )
    if field == "action":
        return "unrecognized action: " + message
    if field == "priority":
        return "Priority value must be between 0-1000: " + message
    if "Invalid CIDR" in message or "contains(':')" in message:
        return "invalid CIDR address: " + message
    if field in ("from", "to") and "array" in message:
        return f"{field} field must be defined and contain at least one item: " + message
    return message


def _pod_set(reader: _Reader, raw: dict[str, Any], path: Path) -> PodSet:
    if "namespaces" in raw:
        return PodSet(reader.selector(raw["namespaces"], (*path, "namespaces")))
    pods = raw["pods"]
    if "podSelector" not in pods:
        reader.warn((*path, "pods"), "podSelector is required by the API server; read as {} (every pod)")
    return PodSet(
        reader.selector(pods.get("namespaceSelector"), (*path, "pods", "namespaceSelector")),
        reader.selector(pods.get("podSelector"), (*path, "pods", "podSelector")),
    )


def _rule(reader: _Reader, raw: dict[str, Any], path: Path, direction: str, index: int, v1alpha2: bool) -> PlatformRule:
    peer_key = "from" if direction == "Ingress" else "to"
    peers = tuple(_peer(reader, peer, (*path, peer_key, i)) for i, peer in enumerate(raw.get(peer_key) or ()))
    if v1alpha2:
        raw_ports = raw.get("protocols")
        ports = None if raw_ports is None else tuple(_protocol(e) for e in raw_ports)
    else:
        raw_ports = raw.get("ports")
        ports = (
            None
            if raw_ports is None
            else tuple(_v1alpha1_port(reader, e, (*path, "ports", i)) for i, e in enumerate(raw_ports))
        )
    action = raw["action"]
    if any(not char.isprintable() for char in raw.get("name") or ""):
        # names are printed in probe lines and explanations, one per line
        raise reader.error((*path, "name"), "a rule name may not hold control characters or line breaks")
    return PlatformRule(direction, index, raw.get("name") or "", action, model.VERDICTS[action], peers, ports)


def _peer(reader: _Reader, raw: dict[str, Any], path: Path) -> PlatformPeer:
    if "namespaces" in raw or "pods" in raw:
        return PlatformPeer(pods=_pod_set(reader, raw, path))
    if "networks" in raw:
        return PlatformPeer(networks=tuple(ipaddress.ip_network(n, strict=False) for n in raw["networks"]))
    if "nodes" in raw:
        return PlatformPeer(nodes=reader.selector(raw["nodes"], (*path, "nodes")))
    return PlatformPeer(domain_names=tuple(raw["domainNames"]))


def _protocol(raw: dict[str, Any]) -> PlatformPort:
    if "destinationNamedPort" in raw:
        return PlatformPort(None, name=raw["destinationNamedPort"])
    key = next(iter(raw))
    port = raw[key]["destinationPort"]
    if "number" in port:
        return PlatformPort(_PROTOCOL_KEYS[key], port["number"], port["number"])
    return PlatformPort(_PROTOCOL_KEYS[key], port["range"]["start"], port["range"]["end"])


def _v1alpha1_port(reader: _Reader, raw: dict[str, Any], path: Path) -> PlatformPort:
    if "namedPort" in raw:
        return PlatformPort(None, name=raw["namedPort"])
    if "portNumber" in raw:
        number = raw["portNumber"]
        if "protocol" not in number:
            reader.warn((*path, "portNumber"), "protocol is required by the API server; read as TCP")
        return PlatformPort(number.get("protocol") or "TCP", number["port"], number["port"])
    port_range = raw["portRange"]
    start, end = port_range["start"], port_range["end"]
    if end < start:
        # not a CEL rule in v1alpha1, but the field's documentation requires it and an inverted range is empty
        raise reader.error((*path, "portRange", "end"), f"port range {start}-{end}: end must not be less than start")
    return PlatformPort(port_range.get("protocol") or "TCP", start, end)
