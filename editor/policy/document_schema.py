"""The graph document's JSON Schema (`DOCUMENT_SCHEMA`) and its validators: the fast one the editor runs on every
change (`fast_validate`) and the readable one that lists every error with its path (`schema_errors`).

The vocabulary the schema fixes (the document version, protocols, entities, enforcement sides, layers, id and
owner patterns) lives here too; `document.py` builds the dataclasses on top and adds the checks a schema cannot make.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from .input_error import InputError
from .sized_cache import SizedCache

if TYPE_CHECKING:
    import jsonschema

SCHEMA_VERSION = "fenceline/v1"
PROTOCOLS = ("TCP", "UDP", "SCTP", "ANY")
ENTITIES = (
    "all", "world", "cluster", "host", "init", "ingress", "unmanaged", "remote-node", "health", "none",
    "kube-apiserver",
)  # fmt: skip
SIDES = ("source", "target")
# Who owns a node or an edge (layers.py): the application team, or the platform team's Admin or Baseline tier.
APPLICATION, ADMIN_LAYER, BASELINE_LAYER = "application", "admin", "baseline"
LAYERS = (APPLICATION, ADMIN_LAYER, BASELINE_LAYER)
PLATFORM_APIS = ("v1alpha2", "v1alpha1")  # ClusterNetworkPolicy, or AdminNetworkPolicy/BaselineAdminNetworkPolicy


def _closed(*required: str, properties: dict[str, Any]) -> dict[str, Any]:
    """An object that may have `properties` and no other, and must have the `required` ones."""
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    schema["properties"] = properties
    return schema


_LABEL_SELECTOR_SCHEMA: dict[str, Any] = _closed(
    properties={
        "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
        "matchExpressions": {
            "type": "array",
            "items": _closed(
                "key",
                "operator",
                properties={
                    "key": {"type": "string", "minLength": 1},
                    "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
                    "values": {"type": "array", "items": {"type": "string"}},
                },
            ),
        },
    }
)
_LABELS_SCHEMA: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}
ID_CHARS = "A-Za-z0-9_.:/=@+-"
ID_PATTERN = re.compile(f"[{ID_CHARS}]{{1,253}}")
_ID_SCHEMA: dict[str, Any] = {"type": "string", "pattern": f"^{ID_PATTERN.pattern}$"}
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
_PORT_SCHEMA: dict[str, Any] = _closed(
    properties={
        "protocol": {"enum": list(PROTOCOLS)},
        "port": {"oneOf": [{"type": "integer", "minimum": 1, "maximum": 65535}, {"type": "string", "minLength": 1}]},
        "endPort": {"type": "integer", "minimum": 1, "maximum": 65535},
    }
)

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
        "settings": _closed(
            properties={
                "dialect": {"enum": ["native", "cilium"]},
                "podCIDRs": {"type": "array", "items": {"type": "string"}},
                "serviceCIDRs": {"type": "array", "items": {"type": "string"}},
                "dns": _closed(
                    properties={
                        "namespace": {"type": "string"},
                        "podLabels": _LABELS_SCHEMA,
                        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                    }
                ),
                "ipblockMatchesPods": {"type": "boolean"},
                "platformApi": {"enum": list(PLATFORM_APIS)},
                "extra": _FREE_FORM_OBJECT,
            }
        ),
        "namespaces": {
            "type": "array",
            "items": _closed(
                "name",
                properties={
                    "name": {"type": "string", "minLength": 1},
                    "labels": _LABELS_SCHEMA,
                    "owners": _OWNERS_SCHEMA,
                    "position": {"$ref": "#/$defs/position"},
                },
            ),
        },
        "nodes": {"type": "array", "items": {"$ref": "#/$defs/node"}},
        "edges": {"type": "array", "items": {"$ref": "#/$defs/edge"}},
    },
    "$defs": {
        **_free_form_defs(),
        "position": _closed("x", "y", properties={"x": {"type": "number"}, "y": {"type": "number"}}),
        "node": _closed(
            "id",
            "kind",
            properties={
                "id": _ID_SCHEMA,
                "kind": {"enum": ["workload", "selector", "hosts", "cidr", "entity", "fqdn"]},
                "name": {"type": "string"},
                "namespace": {"type": "string"},
                "owner": {"type": "string"},
                "labels": _LABELS_SCHEMA,
                "containerPorts": {
                    "type": "array",
                    "items": _closed(
                        "port",
                        properties={
                            "name": {"type": "string"},
                            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                            "protocol": {"enum": ["TCP", "UDP", "SCTP"]},
                        },
                    ),
                },
                "podSelector": _LABEL_SELECTOR_SCHEMA,
                "namespaceSelector": _LABEL_SELECTOR_SCHEMA,
                "nodeSelector": _LABEL_SELECTOR_SCHEMA,
                "cidr": {"type": "string"},
                "except": {"type": "array", "items": {"type": "string"}},
                "entity": {"enum": list(ENTITIES)},
                "matchName": {"type": "string"},
                "matchPattern": {"type": "string"},
                "isolate": _closed(properties={"ingress": {"type": "boolean"}, "egress": {"type": "boolean"}}),
                "policyName": {"type": "string"},
                "layer": {"enum": list(LAYERS)},
                "position": {"$ref": "#/$defs/position"},
                "note": {"type": "string"},
            },
        ),
        "edge": _closed(
            "id",
            "source",
            "target",
            properties={
                "id": _ID_SCHEMA,
                "source": _ID_SCHEMA,
                "target": _ID_SCHEMA,
                "ports": {"type": "array", "items": _PORT_SCHEMA},
                "icmps": {
                    "type": "array",
                    "items": _closed(
                        "type",
                        properties={
                            "family": {"enum": ["IPv4", "IPv6"]},
                            "type": {"oneOf": [{"type": "integer", "minimum": 0, "maximum": 255}, {"type": "string"}]},
                        },
                    ),
                },
                "l7": _FREE_FORM_OBJECT,
                "serverNames": {"type": "array", "items": {"type": "string"}},
                "enforce": {"type": "array", "items": {"enum": list(SIDES)}, "uniqueItems": True},
                "action": {"enum": ["allow", "deny", "pass"]},
                "layer": {"enum": list(LAYERS)},
                "priority": {"type": "integer"},  # its range is checked with the layer (layers.py)
                "name": {"type": "string", "maxLength": 100},  # a platform rule's name (default: the edge id)
                "disabled": {"type": "boolean"},
                "observed": _closed(
                    properties={
                        "count": {"type": "integer", "minimum": 0},
                        "firstSeen": {"type": "string"},
                        "lastSeen": {"type": "string"},
                        "verdicts": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
                    }
                ),
                "note": {"type": "string"},
            },
        ),
    },
}


# Both validators are made on first use: importing jsonschema and compiling the schema cost a command that
# only writes documents (`fenceline flows`) a third of a second.
@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    import jsonschema

    return jsonschema.Draft202012Validator(DOCUMENT_SCHEMA)


# fastjsonschema too is imported on first use, as is the YAML loader's module for schema_errors: a command that
# only writes documents never needs them.
@functools.cache
def _fast_validator() -> Callable[[Any], Any]:
    import fastjsonschema

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
    import fastjsonschema

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

    from .yamlio import Limits, check_json_value

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
    message = str(error.message)  # jsonschema ships no type information
    if error.validator == "additionalProperties":
        return message.replace("Additional properties are not allowed", "unknown field")
    if error.validator == "required":
        return message.replace("is a required property", "is required")
    if error.validator == "enum":
        return f"{error.instance!r} is not one of {', '.join(map(str, error.validator_value))}"
    if error.validator == "const":
        return f"must be {error.validator_value!r}"
    return message
