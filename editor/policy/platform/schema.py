"""The platform kinds' CRD schemas (ClusterNetworkPolicy v1alpha2, AdminNetworkPolicy and
BaselineAdminNetworkPolicy v1alpha1) run as JSON Schema, plus their CEL rules run as Python.

The CRDs are shipped byte for byte (`editor/policy/schemas/`, README there). A JSON Schema validator ignores the
`x-kubernetes-validations` CEL rules, so each distinct rule text has its Python equivalent in `_CEL`; a rule text
missing from that table raises when the schema is loaded, so a new CRD cannot silently lose a check.
"""

from __future__ import annotations

import copy
import functools
import ipaddress
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

import yaml
from jsonschema import Draft202012Validator, ValidationError

Path = tuple[str | int, ...]

CRD_FILES: dict[tuple[str, str], str] = {
    ("policy.networking.k8s.io/v1alpha2", "ClusterNetworkPolicy"): (
        "network-policy-api-main-0eec1b0-experimental-policy.networking.k8s.io_clusternetworkpolicies.yaml"
    ),
    ("policy.networking.k8s.io/v1alpha1", "AdminNetworkPolicy"): (
        "network-policy-api-v0.1.8-experimental-policy.networking.k8s.io_adminnetworkpolicies.yaml"
    ),
    ("policy.networking.k8s.io/v1alpha1", "BaselineAdminNetworkPolicy"): (
        "network-policy-api-v0.1.8-experimental-policy.networking.k8s.io_baselineadminnetworkpolicies.yaml"
    ),
}
PLATFORM_KINDS = frozenset(kind for _, kind in CRD_FILES)


def _is_cidr(value: Any) -> bool:
    """CEL `isCIDR` (Kubernetes' library): an address and a prefix length, host bits allowed."""
    if not isinstance(value, str) or "/" not in value:
        return False
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _peer_has(rule: dict[str, Any], keys: tuple[str, ...]) -> bool:
    return any(isinstance(p, dict) and any(k in p for k in keys) for p in rule.get("to") or ())


def _named_port_with_ips(ports_key: str, named_key: str, peers: tuple[str, ...]) -> Callable[[Any], bool]:
    def check(rule: Any) -> bool:
        ports = rule.get(ports_key) if isinstance(rule, dict) else None
        named = any(isinstance(p, dict) and named_key in p for p in ports or ())
        return not (_peer_has(rule, peers) and named)

    return check


# CEL rule text -> (check of the value the rule sits on, message naming the field when it fails)
_CEL: dict[str, Callable[[Any], bool]] = {
    "isCIDR(self)": _is_cidr,
    # v0.1.5's weaker check; kept so that the older CRDs can be loaded too
    "self.contains(':') != self.contains('.')": lambda v: isinstance(v, str) and ((":" in v) != ("." in v)),
    "self.start < self.end": lambda v: (
        not isinstance(v, dict)
        or not (isinstance(v.get("start"), int) and isinstance(v.get("end"), int) and v["start"] >= v["end"])
    ),
    "self.metadata.name == 'default'": lambda v: (v.get("metadata") or {}).get("name") == "default",
    "!(self.to.exists(peer, has(peer.networks) || has(peer.nodes)) && has(self.ports) && "
    "self.ports.exists(port, has(port.namedPort)))": _named_port_with_ips("ports", "namedPort", ("networks", "nodes")),
    "!(self.to.exists(peer, has(peer.networks) || has(peer.nodes) || has(peer.domainNames)) && has(self.ports) && "
    "self.ports.exists(port, has(port.namedPort)))": _named_port_with_ips(
        "ports", "namedPort", ("networks", "nodes", "domainNames")
    ),
    "!(self.to.exists(peer, has(peer.networks) || has(peer.nodes) || has(peer.domainNames)) && has(self.protocols) "
    "&& self.protocols.exists(protocol, has(protocol.destinationNamedPort)))": _named_port_with_ips(
        "protocols", "destinationNamedPort", ("networks", "nodes", "domainNames")
    ),
}


# Required fields that netpol-analyzer (and its upstream test data) reads as defaulted instead: `pods` without
# `podSelector` is every pod of the namespaces, `portNumber` without `protocol` is TCP. The parser warns that the
# API server refuses such an object. Object field -> the required field read leniently.
_LENIENT_REQUIRED = {"pods": "podSelector", "portNumber": "protocol"}


class _Schema:
    """One CRD version: the strict JSON Schema and the CEL rules with the schema paths they sit on."""

    def __init__(self, crd: dict[str, Any]) -> None:
        version = crd["spec"]["versions"][0]
        schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
        self.rules: list[tuple[tuple[str, ...], str, str]] = []  # (schema path with "*" for items, rule, message)
        self._walk(schema, ())
        schema["properties"].pop("status", None)
        self.validator = Draft202012Validator(schema)

    def _walk(self, node: dict[str, Any], path: tuple[str, ...]) -> None:
        for validation in node.pop("x-kubernetes-validations", []):
            rule = " ".join(validation["rule"].split())
            if rule not in _CEL:
                raise KeyError(f"CEL rule without a Python equivalent: {rule}")
            self.rules.append((path, rule, " ".join(validation["message"].split())))
        lenient = _LENIENT_REQUIRED.get(path[-1]) if path else None
        if lenient in node.get("required", ()):
            node["required"] = [k for k in node["required"] if k != lenient]
        properties = node.get("properties")
        if isinstance(properties, dict):
            # the API server's strict field validation refuses unknown fields; the CRD schema alone prunes them
            if "additionalProperties" not in node and path != ("metadata",):
                node["additionalProperties"] = False
            for key, child in properties.items():
                self._walk(child, (*path, key))
        if isinstance(node.get("items"), dict):
            self._walk(node["items"], (*path, "*"))
        if isinstance(node.get("additionalProperties"), dict):
            self._walk(node["additionalProperties"], (*path, "*"))

    def errors(self, obj: dict[str, Any]) -> Iterator[tuple[Path, str]]:
        """(path, message) of every schema error, then of every CEL rule that fails."""
        body = {k: v for k, v in obj.items() if k != "status"}
        for error in sorted(self.validator.iter_errors(body), key=lambda e: list(map(str, e.absolute_path))):
            yield tuple(error.absolute_path), _message(error)
        for schema_path, rule, message in self.rules:
            for path, value in _values(obj, schema_path, ()):
                if not _cel_holds(rule, value):
                    yield path, f"{message} (CRD rule `{rule}`)"


def _cel_holds(rule: str, value: Any) -> bool:
    try:
        return _CEL[rule](value)
    except (TypeError, AttributeError, KeyError):
        return True  # a value of the wrong shape, which the schema has already reported


def _values(value: Any, schema_path: tuple[str, ...], at: Path) -> Iterator[tuple[Path, Any]]:
    if not schema_path:
        yield at, value
        return
    step, rest = schema_path[0], schema_path[1:]
    if step == "*":
        if isinstance(value, list):
            for index, item in enumerate(value):
                yield from _values(item, rest, (*at, index))
    elif isinstance(value, dict) and step in value:
        yield from _values(value[step], rest, (*at, step))


def _message(error: ValidationError) -> str:
    if error.validator == "additionalProperties":
        return f"{error.message} (unknown field: the API server refuses it)"
    message = str(error.message)  # jsonschema ships no type information
    if error.validator in ("minProperties", "maxProperties") and error.validator_value == 1:
        return "exactly one field must be set: " + message
    return message


@functools.cache
def schema_for(api_version: str, kind: str) -> _Schema | None:
    name = CRD_FILES.get((api_version, kind))
    if name is None:
        return None
    text = resources.files("editor.policy").joinpath("schemas", name).read_text()
    return _Schema(yaml.safe_load(text))


def supported_versions(kind: str) -> list[str]:
    return [version for version, found in CRD_FILES if found == kind]
