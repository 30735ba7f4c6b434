"""Validation of policy objects: the upstream JSON Schemas first, then the rules those schemas cannot express.

NetworkPolicy follows the API server's own checks (SEMANTICS §3.2, `pkg/apis/networking/validation`): an
object that fails them is refused by `kubectl apply`. CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy
follow the agent's rule sanitiser (SEMANTICS §4, `pkg/policy/api/rule_validation.go`): the CRD schema lets
such a policy in, but the agent then refuses to enforce it and only says so in its log, which is worse.
Anything that is accepted but probably not what was meant is a warning, not an error.

Every finding names the object, the field path (`spec.ingress[0].from[1].ipBlock.cidr`) and, when the object
came from a file, the line. The API:

* `validate_objects(kube_objects)` - findings for an input set (from `yamlio.load_objects`), with lines, plus
  duplicate kind/namespace/name across the set; kinds that are not policies are skipped.
* `validate_object(obj, where)` - the same for one decoded object (no lines); a non-policy kind is a warning.
* `schema_errors(obj, where)` - only the upstream schema's verdict (compilers assert their output has none).
* `Finding` (severity, message, path, source, line, document, kind, namespace, name; `str()`, `to_dict()`),
  `has_errors(findings)`, `format_path(path_tuple)`; the kinds come from kinds.py.
"""

from __future__ import annotations

import collections
import dataclasses
import difflib
import functools
import importlib.util
import ipaddress
import json
import marshal
import os
import pathlib
import re
import tempfile
import threading
import types
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from importlib import resources
from typing import Any, Literal, TypeGuard

import fastjsonschema
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match

from . import selectors
from .kinds import CILIUM_KINDS, KINDS, PolicyKind
from .model import IPBlock, Peer, Policy, Port, PortRule, Rule, Selector, read_policy
from .platform.parse import check_platform_object
from .platform.schema import PLATFORM_KINDS
from .yamlio import KubeObject

Severity = Literal["error", "warning"]
Path = tuple[str | int, ...]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclasses.dataclass(frozen=True)
class Finding:
    """One problem in one object. `str()` is `file:line: Kind ns/name: path: message`."""

    severity: Severity
    message: str
    path: str = ""  # e.g. spec.ingress[0].from[1].ipBlock.cidr; empty for the object as a whole
    source: str = "<object>"
    line: int | None = None
    document: int | None = None  # index of the YAML document in its source, from 0
    kind: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    @property
    def subject(self) -> str:
        """`Kind ns/name`, or empty for a finding about input that is not an object."""
        if not self.kind and not self.name:
            return ""
        name = f"{self.namespace}/{self.name}" if self.namespace else self.name or "<unnamed>"
        return f"{self.kind or 'object'} {name}"

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return ": ".join(part for part in (where, self.subject, self.path, self.message) if part)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# The datreeio root is not strict (SEMANTICS / corpus schemas README), so unknown top-level keys are ours to flag.
_ROOT_KEYS = ("apiVersion", "kind", "metadata", "spec", "specs", "status")


# Patterns written for Go's RE2 that Python's `re` cannot compile (jsonschema would raise on them), with an
# equivalent test. `\PC` is "no character of Unicode category Other" (Cilium's spec.log.value).
GO_ONLY_PATTERNS: dict[str, Callable[[str], bool]] = {
    r"^\PC*$": lambda text: not any(unicodedata.category(char).startswith("C") for char in text),
}


# Upstream patterns with nested quantifiers, which Python's backtracking `re` (jsonschema's and fastjsonschema's
# code both use it) takes exponential time to refuse a near miss with: 10 s of CPU for the toFQDNs matchName
# `payments-api.internal.example.com:443`, more than minutes for `payments-ledger-service.internal:8443`; the port
# pattern is cubic (9 s for 1,000 characters, and it has no maxLength). When a schema is loaded each is replaced
# by an equivalent that runs in linear time (tests/unit/test_validate.py compares the two on every short text of
# a small alphabet), keyed by the exact upstream text so that a changed upstream pattern is noticed (a test fails
# if a shipped schema has a nested quantifier this does not replace), with what it asks for in a reviewer's words.
LINEAR_PATTERNS: dict[str, tuple[str, str]] = {
    # toFQDNs and DNS rules' matchName: labels of letters, digits, `-` and `_`, single dots between, a last dot
    r"^([-a-zA-Z0-9_]+[.]?)+$": (
        r"^[-a-zA-Z0-9_]+(\.[-a-zA-Z0-9_]+)*\.?$",
        "must be a DNS name: letters, digits, '-' and '_', with single dots between the labels "
        "(no port or scheme: ports go in toPorts)",
    ),
    # matchPattern: the same with `*`
    r"^([-a-zA-Z0-9_*]+[.]?)+$": (
        r"^[-a-zA-Z0-9_*]+(\.[-a-zA-Z0-9_*]+)*\.?$",
        "must be a DNS name pattern: letters, digits, '-', '_' and '*', with single dots between the labels "
        "(no port or scheme: ports go in toPorts)",
    ),
    # serverNames: a DNS name, maybe after `*.` or `**.`
    r"^(\*?\*\.)?([-a-zA-Z0-9_]+\.?)+$": (
        r"^(\*?\*\.)?[-a-zA-Z0-9_]+(\.[-a-zA-Z0-9_]+)*\.?$",
        "must be a server name: a DNS name (letters, digits, '-' and '_', with single dots between the labels), "
        "maybe after '*.' or '**.'",
    ),
    # A port, number or name. As `re.search` reads it: the text starts with a digit, or ends with a letter
    # followed by letters and digits with single `-` between. The new form parses the text once from the start:
    # characters that are not letters, or runs that start with a letter and end at `--` or another character.
    r"^(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})|"
    r"([a-zA-Z0-9]-?)*[a-zA-Z](-?[a-zA-Z0-9])*$": (
        r"^[0-9]|^(?:[^a-zA-Z]|[a-zA-Z](?:-?[a-zA-Z0-9])*(?:--|-?[^a-zA-Z0-9-]))*[a-zA-Z](?:-?[a-zA-Z0-9])*$",
        "must be a port number or a port name (letters, digits and single '-' between them)",
    ),
}
_PATTERN_MEANINGS = {linear: meaning for linear, meaning in LINEAR_PATTERNS.values()}


def _pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    check = GO_ONLY_PATTERNS.get(pattern)
    if check is None:
        yield from Draft202012Validator.VALIDATORS["pattern"](validator, pattern, instance, schema)
    elif isinstance(instance, str) and not check(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


_Validator = validators.extend(Draft202012Validator, {"pattern": _pattern})


@functools.cache
def _validator(schema_file: str) -> Any:
    """The compiled schema; compiled once per process because the Cilium schemas are 400 KB each."""
    return _Validator(_schema(schema_file))


def _schema(schema_file: str) -> Any:
    """The shipped schema with LINEAR_PATTERNS in place of the upstream patterns that backtrack."""
    schema = json.loads(resources.files(__package__).joinpath("schemas", schema_file).read_bytes())

    def rewrite(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                rewrite(item)
        elif isinstance(node, dict):
            pattern = node.get("pattern")
            if isinstance(pattern, str) and pattern in LINEAR_PATTERNS:
                node["pattern"] = LINEAR_PATTERNS[pattern][0]
            for value in node.values():
                rewrite(value)

    rewrite(schema)
    return schema


# jsonschema walks a schema anew for every object: about 1 ms for a compiled NetworkPolicy, seconds for a whole
# cluster's policies. fastjsonschema turns the schema into Python code that checks one in a tenth of that. A
# process checks its first FAST_SCHEMA_AFTER objects of a schema with jsonschema alone, and the later ones with the
# code first. An object the code accepts has nothing for jsonschema to report; one it refuses goes on to
# jsonschema, whose errors are the findings, so the findings are the same either way.
#
# "The code is never more lenient than jsonschema" holds for what it is given here: objects of Python's JSON types
# (dict, list, str, int, float, bool, None: what yamlio and the compilers give) and tuples, which fastjsonschema
# reads as arrays and jsonschema does not (the code is edited to agree). It rests on the schema using only the
# keywords in _MIRRORED_KEYWORDS, which mean the same in fastjsonschema's draft-07 and jsonschema's 2020-12;
# formats are checked by neither; `$` is read as the end of the text (stricter than Python's `$`, which also
# matches before a last newline), so a pattern with a lookaround, where that could turn stricter into more
# lenient, keeps the schema to jsonschema alone. Any other keyword ($ref, $defs, const, if, prefixItems,
# uniqueItems, patternProperties, dependent*, unevaluated*, ...) does the same.
#
# Making the code costs 0.02 s (NetworkPolicy) to 0.25 s (the Cilium CRDs) of CPU and, compiled in the process,
# leaves it 50 MB larger for good (1.75 MB of source for each Cilium schema). So the compiled code is kept in
# files (schema_code_folder(), keyed by the schema as rewritten, fastjsonschema's version, our edit of its source and
# Python's bytecode magic): a process that finds the file loads it in 0.02 s for 5 MB (bench/bench_schema_code.py).
# `prepare_schema_code()` (scripts/setup.sh, the Dockerfile) writes them ahead; otherwise the first process to need
# one writes it. The folder is trusted like a __pycache__: whoever can write there can run code in the app.
FAST_SCHEMA_AFTER = 100
_schema_checks: collections.Counter[str] = collections.Counter()


def _code_accepts(schema_file: str, obj: dict[str, Any]) -> bool:
    _schema_checks[schema_file] += 1
    if _schema_checks[schema_file] <= FAST_SCHEMA_AFTER:
        return False
    check = _schema_code(schema_file)
    if check is None:
        return False
    try:
        check(obj)
    except (ValueError, TypeError):  # fastjsonschema.JsonSchemaValueException is a ValueError
        return False
    return True


_code_lock = threading.Lock()


def _schema_code(schema_file: str) -> Callable[[Any], Any] | None:
    """The schema as fastjsonschema code, or None when it cannot make one that means the same. Made once per
    process: under a lock, so that threads asking at the same time do not each make it."""
    with _code_lock:
        return _made_schema_code(schema_file)


@functools.cache
def _made_schema_code(schema_file: str) -> Callable[[Any], Any] | None:
    try:
        schema, formats = _fast_schema(_schema(schema_file))
        code = _code_object(schema, formats, schema_file)
    except (ValueError, re.error):  # fastjsonschema.JsonSchemaDefinitionException is a ValueError
        return None
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # the code fastjsonschema wrote for our own schema (or its kept form)
    return functools.partial(namespace["validate"], custom_formats=formats)


# The keywords whose meaning the code shares with jsonschema's draft 2020-12 (annotations `x-...` aside).
_MIRRORED_KEYWORDS = frozenset(
    {
        "type", "properties", "additionalProperties", "items", "required", "enum", "minimum", "maximum",
        "minLength", "maxLength", "minItems", "maxItems", "pattern", "format", "oneOf", "anyOf", "allOf", "not",
        "description", "default", "title", "$schema",
    }
)  # fmt: skip


def _fast_schema(schema: Any) -> tuple[Any, dict[str, Callable[[Any], bool]]]:
    """The schema as fastjsonschema is to read it, and its formats; ValueError when the code might not mirror it."""
    formats: dict[str, Callable[[Any], bool]] = {}

    def rewrite(node: Any) -> None:
        if isinstance(node, bool):
            return
        if not isinstance(node, dict):
            raise ValueError(f"not a schema: {node!r:.40}")
        unknown = [key for key in node if key not in _MIRRORED_KEYWORDS and not str(key).startswith("x-")]
        if unknown:
            raise ValueError(f"keyword {unknown[0]} is not mirrored")
        if not all(isinstance(value, str) for value in node.get("enum", ())):
            raise ValueError("enum")  # the code tests with `in`, where 1 == True == 1.0
        # Neither checks formats (jsonschema only with a format checker); a Go-only pattern becomes a format.
        if isinstance(node.get("format"), str):
            formats.setdefault(node["format"], _any_text)
        pattern = node.get("pattern")
        if isinstance(pattern, str) and ("(?!" in pattern or "(?<!" in pattern):
            raise ValueError(pattern)  # a `$` read as the end of the text would make it more lenient
        if isinstance(pattern, str) and pattern in GO_ONLY_PATTERNS:
            if "format" in node:
                raise ValueError(pattern)
            node["format"] = f"go-only-pattern-{list(GO_ONLY_PATTERNS).index(pattern)}"  # a name without `\`
            formats[node["format"]] = GO_ONLY_PATTERNS[node.pop("pattern")]
        for child in node.get("properties", {}).values():
            rewrite(child)
        for key in ("additionalProperties", "items", "not"):
            if key in node:
                rewrite(node[key])  # `items` as a list (tuple validation) means prefixItems in draft-07: refused
        for key in ("oneOf", "anyOf", "allOf"):
            for child in node.get(key, ()):
                rewrite(child)

    rewrite(schema)
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"  # these keywords mean the same in 2020-12
    return schema, formats


def _schema_source(schema: Any, formats: dict[str, Callable[[Any], bool]]) -> str:
    """The code as fastjsonschema writes it, but with a tuple not an array (as jsonschema reads it)."""
    source = fastjsonschema.compile_to_code(schema, formats=formats, use_default=False, detailed_exceptions=False)
    return source.replace(", (list, tuple))", ", list)")


def _code_object(schema: Any, formats: dict[str, Callable[[Any], bool]], schema_file: str) -> types.CodeType:
    """The compiled code, from schema_code_folder() when it is there, else made (and kept there if possible)."""
    import hashlib  # here: loading OpenSSL adds 3.5 MB to a process that never needs the code (the CLI on a file)

    # What the code depends on: the schema, fastjsonschema, our edit of its source and Python's bytecode.
    edit = _schema_source.__code__
    constants = repr([value for value in edit.co_consts if not isinstance(value, types.CodeType)])  # no addresses
    identity = json.dumps([schema, sorted(formats), fastjsonschema.VERSION, constants], sort_keys=True)
    key = hashlib.sha256(identity.encode() + edit.co_code + importlib.util.MAGIC_NUMBER).hexdigest()[:32]
    folder = schema_code_folder()
    path = folder / f"{schema_file.removesuffix('.json')}-{key}.marshal" if folder else None
    if path is not None:
        try:
            code = marshal.loads(path.read_bytes())
            if isinstance(code, types.CodeType):
                return code
        except (OSError, ValueError, EOFError, TypeError):
            pass
    code = compile(_schema_source(schema, formats), f"<{schema_file} as fastjsonschema code>", "exec")
    if path is not None:
        _keep(path, marshal.dumps(code))
    return code


def _keep(path: pathlib.Path, data: bytes) -> None:
    """Write `path` whole or not at all (a process that loads it meanwhile sees the old file or none)."""
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".", delete=False) as out:
            out.write(data)
    except OSError:
        return
    try:
        os.chmod(out.name, 0o644)  # workers may run as another user than the one who prepared it
        os.replace(out.name, path)
    except OSError:
        pathlib.Path(out.name).unlink(missing_ok=True)


def schema_code_folder() -> pathlib.Path | None:
    """Where the schemas' compiled code is kept: $FENCELINE_SCHEMA_CODE_DIR, else the user's cache folder
    (`~/.cache/fenceline/schema-code`); None when it cannot be made (the code is then made in each process)."""
    try:
        configured = os.environ.get("FENCELINE_SCHEMA_CODE_DIR")
        cache = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
        folder = pathlib.Path(configured) if configured else pathlib.Path(cache) / "fenceline" / "schema-code"
        folder.mkdir(parents=True, exist_ok=True)
    except (OSError, RuntimeError):  # RuntimeError: no home folder
        return None
    return folder


def prepare_schema_code() -> list[str]:
    """Make and keep the code of every policy schema (at set-up, so that no worker pays for it); returns the
    schemas that have code (all of them, unless one stops being mirrored)."""
    made = []
    for schema_file in sorted({kind.schema for kind in KINDS.values()}):
        if _schema_code(schema_file) is not None:
            made.append(schema_file)
    return made


def _any_text(_: Any) -> bool:
    return True


def format_path(path: Path) -> str:
    """`("spec", "ingress", 0, "from")` -> `spec.ingress[0].from`; keys that are not plain names get brackets."""
    out = ""
    for step in path:
        if isinstance(step, int) and not isinstance(step, bool):
            out += f"[{step}]"
        elif isinstance(step, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", step):
            out += f".{step}" if out else step
        else:  # YAML also allows keys such as `null:`, `yes:` (true) or `80:`
            out += f"[{json.dumps(step if isinstance(step, str) else str(step))}]"
    return out


class _Report:
    """Collects the findings about one object and knows how to name it and find lines in its source."""

    def __init__(
        self, obj: dict[str, Any], source: str, document: int | None, line_of: Callable[[Path], int] | None
    ) -> None:
        meta: dict[str, Any] = obj["metadata"] if isinstance(obj.get("metadata"), dict) else {}
        self.kind: str = obj["kind"] if isinstance(obj.get("kind"), str) else ""
        self.namespace: str = meta["namespace"] if isinstance(meta.get("namespace"), str) else ""
        self.name: str = meta["name"] if isinstance(meta.get("name"), str) else ""
        self.source = source
        self.document = document
        self.line_of = line_of
        self.findings: list[Finding] = []

    def add(self, severity: Severity, path: Path, message: str, line_path: Path | None = None) -> None:
        line = self.line_of(path if line_path is None else line_path) if self.line_of else None
        self.findings.append(
            Finding(
                severity,
                message,
                format_path(path),
                self.source,
                line,
                self.document,
                self.kind,
                self.namespace,
                self.name,
            )
        )

    def error(self, path: Path, message: str, line_path: Path | None = None) -> None:
        self.add("error", path, message, line_path)

    def warning(self, path: Path, message: str, line_path: Path | None = None) -> None:
        self.add("warning", path, message, line_path)

    def sorted(self) -> list[Finding]:
        return sorted(self.findings, key=lambda f: f.line or 0)


# ---------------------------------------------------------------------------------------------------------
# Public API


def validate_object(obj: dict[str, Any], where: str = "<object>") -> list[Finding]:
    """Schema and semantic findings for one object; `where` names it in messages (a file name, a node id)."""
    return _validate(obj, _Report(obj, where, None, None), skip_other_kinds=False)


def validate_objects(objects: list[KubeObject], written: Sequence[Policy | None] = ()) -> list[Finding]:
    """Findings for every policy object of an input set, with lines, plus duplicate names across the set.

    Objects of kinds that are not policies (Namespace, Deployment, ...) are skipped without a finding.
    `written`, when given, is each object's policy model as its caller already read it (model/), so that it is
    not read twice.
    """
    findings: list[Finding] = []
    first_seen: dict[tuple[str, str, str], KubeObject] = {}
    for index, item in enumerate(objects):
        report = _Report(item.obj, item.source, item.document.index, item.line_of)
        model = written[index] if written else None
        findings += _validate(item.obj, report, skip_other_kinds=True, written=model)
        if report.kind in KINDS and report.name:
            key = (report.kind, report.namespace, report.name)
            if key in first_seen:
                report.findings = []
                report.error(
                    ("metadata", "name"),
                    f"duplicate {report.kind} {report.name!r}"
                    + (f" in namespace {report.namespace!r}" if report.namespace else "")
                    + f": also defined at {first_seen[key].where()}; applying both keeps only the last",
                )
                findings += report.findings
            else:
                first_seen[key] = item
    return findings


def schema_errors(obj: dict[str, Any], where: str = "<object>") -> list[Finding]:
    """Only the upstream JSON Schema's verdict on a policy object (empty for other kinds)."""
    report = _Report(obj, where, None, None)
    kind = KINDS.get(report.kind)
    if kind is not None:
        _check_schema(obj, kind, report)
    return report.sorted()


def has_errors(findings: list[Finding]) -> bool:
    return any(finding.is_error for finding in findings)


def _validate(obj: Any, report: _Report, *, skip_other_kinds: bool, written: Policy | None = None) -> list[Finding]:
    if not isinstance(obj, dict):
        report.error((), f"expected a Kubernetes object (a mapping), found {_describe_value(obj)}")
        return report.sorted()
    kind_name = obj.get("kind")
    if not isinstance(kind_name, str) or not kind_name:
        report.error((), "missing kind: cannot tell what this object is")
        if not isinstance(obj.get("apiVersion"), str):
            report.error((), "missing apiVersion")
        return report.sorted()
    if kind_name in PLATFORM_KINDS:  # ClusterNetworkPolicy, ANP, BANP: their CRDs and CEL rules
        for severity, path, message in check_platform_object(obj):
            report.add(severity, path, message)
        return report.sorted()
    kind = KINDS.get(kind_name)
    if kind is None:
        near = [name for name in KINDS if name.lower() == kind_name.lower()]
        if near:
            report.error(("kind",), f"unknown kind {kind_name!r}; kinds are case-sensitive: did you mean {near[0]!r}?")
        elif not skip_other_kinds:
            report.warning(("kind",), f"kind {kind_name} is not a policy; only {', '.join(KINDS)} are validated")
        return report.sorted()
    _check_root(obj, kind, report)
    _check_schema(obj, kind, report)
    _check_metadata(obj, kind, report)
    policy = written or read_policy(obj)
    assert policy is not None  # a kind of kinds.py
    if policy.cilium:
        _check_cilium(policy, report)
    else:
        _check_network_policy(policy, report)
    return report.sorted()


# ---------------------------------------------------------------------------------------------------------
# Root, metadata and the schema


def _check_root(obj: dict[str, Any], kind: PolicyKind, report: _Report) -> None:
    api_version = obj.get("apiVersion")
    if api_version is None:
        typo = next((k for k in obj if isinstance(k, str) and k.lower() == "apiversion" and k != "apiVersion"), None)
        hint = f" (found {typo!r}: keys are case-sensitive)" if typo else ""
        report.error((), f"missing apiVersion; expected {kind.api_version}{hint}", line_path=(typo,) if typo else ())
    elif api_version != kind.api_version:
        report.error(("apiVersion",), f"{report.kind} must have apiVersion {kind.api_version}, found {api_version!r}")
    if report.kind not in CILIUM_KINDS:
        return  # the NetworkPolicy schema is strict at the root and reports unknown keys itself
    for key in obj:
        if key in _ROOT_KEYS:
            continue
        if key == "description":
            report.warning(
                (key,),
                "top-level description is not a Kubernetes field and the API server drops it; "
                "use spec.description or a metadata annotation",
            )
        else:
            report.warning((key,), _unknown_key_message((), str(key), list(_ROOT_KEYS)) + "; the API server drops it")


def _check_metadata(obj: dict[str, Any], kind: PolicyKind, report: _Report) -> None:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        if meta is None and report.kind not in CILIUM_KINDS:  # the Cilium schema requires metadata itself
            report.error((), "missing metadata.name")
        return
    name = meta.get("name")
    if not name and not meta.get("generateName"):
        report.error(("metadata",), "missing metadata.name")
    elif isinstance(name, str) and name:
        problem = _dns_subdomain_problem(name)
        if problem:
            report.error(("metadata", "name"), f"invalid name {name!r}: {problem}")
    namespace = meta.get("namespace")
    if isinstance(namespace, str) and namespace:
        if not kind.namespaced:
            report.warning(("metadata", "namespace"), f"{report.kind} is cluster-scoped: the namespace is ignored")
        else:
            problem = selectors.validate_namespace_name(namespace)
            if problem:
                report.error(("metadata", "namespace"), problem)
    _check_labels(meta.get("labels"), ("metadata", "labels"), report)


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def _dns_subdomain_problem(name: str) -> str | None:
    """Why `name` is not a DNS-1123 subdomain, or None."""
    if len(name) > 253:
        return "longer than 253 characters"
    if all(_DNS_LABEL.fullmatch(part) for part in name.split(".")):
        return None
    return "must consist of lower-case letters, digits, '-' and '.', and start and end with a letter or digit"


def _check_schema(obj: dict[str, Any], kind: PolicyKind, report: _Report) -> None:
    if "status" in obj and report.kind not in CILIUM_KINDS:
        obj = _without_status(obj, report)
    if _code_accepts(kind.schema, obj):
        return
    errors = list(_validator(kind.schema).iter_errors(obj))
    # A failed oneOf/anyOf beside a concrete error at the same place only repeats it less clearly.
    concrete = {tuple(e.absolute_path) for e in errors if e.validator not in ("oneOf", "anyOf")}
    for error in errors:
        path = tuple(error.absolute_path)
        if path[:1] in (("apiVersion",), ("kind",)):
            continue  # _check_root says it better
        if error.validator in ("oneOf", "anyOf") and path in concrete:
            continue
        for where, line_path, message in _describe_error(error):
            report.error(where, message, line_path)


def _without_status(obj: dict[str, Any], report: _Report) -> dict[str, Any]:
    """The object without the `status: {}` that `kubectl get -o yaml` prints: NetworkPolicy has no status in
    current Kubernetes (the alpha one was removed), so the strict schema refuses the key, but the API server
    ignores what a client sends as status (it is the cluster's to write), so a re-applied export works."""
    status = obj["status"]
    if status is not None and not isinstance(status, dict):
        report.error(("status",), f"must be a mapping, found {_describe_value(status)}")
    else:
        report.warning(("status",), "ignored when applying (the cluster writes status); it can be removed")
    return {key: value for key, value in obj.items() if key != "status"}


def _describe_error(error: ValidationError) -> Iterator[tuple[Path, Path, str]]:
    """(path, path of the line to show, message) for one jsonschema error, in the words of a reviewer."""
    path: Path = tuple(error.absolute_path)
    instance, expected = error.instance, error.validator_value
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        allowed = list(error.schema.get("properties", {}))
        for key in instance:
            if key not in allowed:
                yield path, (*path, key), _unknown_key_message(path, str(key), allowed)
    elif error.validator == "required" and isinstance(instance, dict):
        for key in expected:
            if key not in instance:
                yield path, path, f"missing required key {key!r}"
    elif error.validator == "type":
        yield path, path, _type_message(expected, instance)
    elif error.validator == "enum":
        choices = ", ".join(str(choice) for choice in expected)
        yield path, path, f"must be one of {choices}, found {instance!r}{_suggest(str(instance), expected)}"
    elif error.validator in ("oneOf", "anyOf"):
        yield from _describe_choice(error, path)
    elif error.validator in ("minimum", "maximum"):
        bound = "at least" if error.validator == "minimum" else "at most"
        yield path, path, f"must be {bound} {expected}, found {instance!r}"
    elif error.validator in ("minLength", "maxLength"):
        bound = "at least" if error.validator == "minLength" else "at most"
        yield path, path, f"must be {bound} {expected} characters long, found {len(instance)}"
    elif error.validator == "pattern" and expected in _PATTERN_MEANINGS:
        yield path, path, f"invalid value {instance!r}: {_PATTERN_MEANINGS[expected]}"
    elif error.validator == "pattern":
        yield path, path, f"invalid value {instance!r} (must match {expected})"
    else:
        yield path, path, error.message


def _describe_choice(error: ValidationError, path: Path) -> Iterator[tuple[Path, Path, str]]:
    instance = error.instance
    keys = [
        branch["required"][0]
        for branch in error.validator_value
        if isinstance(branch, dict) and set(branch) <= {"properties", "required"} and len(branch["required"]) == 1
    ]
    if len(keys) == len(error.validator_value) and isinstance(instance, dict):
        # The Cilium schemas use oneOf/anyOf only to say "exactly one / at least one of these keys".
        present = [key for key in keys if key in instance]
        if error.validator == "oneOf" and len(present) > 1:
            yield path, (*path, present[1]), f"set only one of {', '.join(present)}"
        else:
            quantity = "at least one" if error.validator == "anyOf" else "one"
            yield path, path, f"must set {quantity} of {', '.join(keys)}"
    elif instance is None:
        yield path, path, "must not be empty (null): give a value or remove the key"
    elif all(isinstance(branch, dict) and set(branch) == {"type"} for branch in error.validator_value):
        # IntOrString: name every accepted type rather than the first branch's.
        types = [t for branch in error.validator_value for t in _as_list(branch["type"])]
        yield path, path, _type_message(types, instance)
    elif error.context:
        yield from _describe_error(best_match(error.context))
    else:
        yield path, path, error.message


_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
}


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def _type_message(expected: str | list[str], instance: Any) -> str:
    types = [t for t in _as_list(expected) if t != "null"]
    if types == ["string"] and isinstance(instance, bool):
        return f'must be a string such as "{str(instance).lower()}" (quote it)'
    if types == ["string"] and isinstance(instance, int | float):
        return f'must be a string such as "{instance}"'
    return f"must be {' or '.join(_TYPE_NAMES.get(t, t) for t in types)}, found {_describe_value(instance)}"


def _describe_value(value: Any) -> str:
    if value is None:
        return "an empty value (null)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    return "a list" if isinstance(value, list) else "a mapping"


def _suggest(found: str, choices: list[Any] | tuple[Any, ...]) -> str:
    names = [str(choice) for choice in choices]
    same_case = [name for name in names if name.lower() == found.lower()]
    if same_case:
        return f"; did you mean {same_case[0]!r}? (case-sensitive)"
    close = difflib.get_close_matches(found, names, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


# Unknown keys with a known story, keyed by (enclosing section, key).
_KEY_NOTES: dict[tuple[str, str], str] = {
    ("egressDeny", "toFQDNs"): "deny rules cannot use toFQDNs",
    ("ingressDeny", "rules"): "deny rules cannot carry L7 rules",
    ("egressDeny", "rules"): "deny rules cannot carry L7 rules",
    ("ingress", "auth"): "'auth' is the old spelling of 'authentication: {mode: ...}'",
    ("egress", "auth"): "'auth' is the old spelling of 'authentication: {mode: ...}'",
}


def _unknown_key_message(path: Path, key: str, allowed: list[str]) -> str:
    section = next((step for step in reversed(path) if isinstance(step, str) and step != "toPorts"), "")
    note = _KEY_NOTES.get((section, key))
    if note:
        return f"unknown key {key!r}: {note}"
    hint = _suggest(key, allowed)
    if not hint and len(allowed) <= 8:
        hint = f" (allowed here: {', '.join(sorted(allowed))})"
    return f"unknown key {key!r}{hint}"


# ---------------------------------------------------------------------------------------------------------
# Shared semantic checks: CIDRs, ports, selectors and labels


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_cidr(text: Any, path: Path, report: _Report, *, cilium: bool, bare_ip: bool = False) -> IPNetwork | None:
    """The network a CIDR string denotes, reporting anything the target would refuse or read differently.

    Python's parser is laxer than Go's (it takes netmasks, bare addresses and zone ids), so the shape is
    checked first. Host bits are refused by the API server's strict CIDR validation (KEP-4858) but masked
    off by Cilium's netip parser, hence error there and warning here.
    """
    if not isinstance(text, str):
        return None
    address_text, slash, prefix_text = text.partition("/")
    if not slash:
        if bare_ip and _parse_address(text, path, report) is not None:
            return ipaddress.ip_network(text)
        if not bare_ip:
            report.error(path, f"{text!r} is not a CIDR: write address/prefix-length, e.g. {text}/32")
        return None
    address = _parse_address(address_text, path, report)
    if address is None:
        return None
    if not (prefix_text.isascii() and prefix_text.isdigit()) or (len(prefix_text) > 1 and prefix_text[0] == "0"):
        report.error(path, f"invalid prefix length {prefix_text!r} in {text!r}: must be a number without leading zeros")
        return None
    if int(prefix_text) > address.max_prefixlen:
        report.error(
            path, f"prefix length /{prefix_text} is too long for IPv{address.version} (at most {address.max_prefixlen})"
        )
        return None
    network = ipaddress.ip_network(f"{address}/{prefix_text}", strict=False)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None and not cilium:
        report.error(path, f"IPv4-mapped IPv6 address in {text!r}: write the IPv4 form")
    elif network.network_address != address:
        meant = f"{network} (or {address}/{address.max_prefixlen} for the single address)"
        if cilium:
            report.warning(path, f"host bits are set in {text!r}: Cilium uses {meant}")
        else:
            report.error(
                path, f"host bits are set in {text!r}, which the API server refuses as ambiguous: write {meant}"
            )
    elif address.version == 6 and text != str(network):
        report.warning(path, f"IPv6 CIDR {text!r} is not in canonical form: write {network}")
    return network


def _parse_address(text: str, path: Path, report: _Report) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if "%" in text:
        report.error(path, f"zone index not allowed in {text!r}")
        return None
    if re.search(r"(^|\.)0\d", text) and ":" not in text:
        report.error(path, f"leading zeros in {text!r} are ambiguous (octal to some parsers) and refused")
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        report.error(path, f"{text!r} is not an IPv4 or IPv6 address")
        return None


def _check_block(block: IPBlock, report: _Report, *, cilium: bool) -> None:
    """The cidr of an ipBlock or CIDRSet entry, and each `except`: within it, a strict subset (V2)."""
    network = _parse_cidr(block.cidr, block.cidr_path, report, cilium=cilium)
    if network is None:
        return
    for path, text in block.except_items:
        inner = _parse_cidr(text, path, report, cilium=cilium)
        if inner is None:
            continue
        if inner.version != network.version or not inner.subnet_of(network):  # type: ignore[arg-type]
            report.error(path, f"{text} is not inside {network}: every except must be within the cidr")
        elif inner.prefixlen == network.prefixlen:
            if cilium:
                report.warning(path, f"{text} excludes the whole of {network}: the rule matches nothing")
            else:
                report.error(path, f"{text} must be a strict subset of {network} (a longer prefix)")


def _port_name_problem(name: str, *, lower_only: bool) -> str | None:
    """Why `name` is not an IANA_SVC_NAME (RFC 6335: at most 15 characters, letters, digits, inner single
    hyphens, at least one letter), or None. Kubernetes wants lower case; Cilium lower-cases it first."""
    if name.isascii() and name.isdigit():
        return "a port number must be written without quotes"
    if len(name) > 15:
        return "a port name is at most 15 characters"
    letters = "a-z" if lower_only else "a-zA-Z"
    if not re.fullmatch(rf"[{letters}0-9]+(-[{letters}0-9]+)*", name):
        case = "lower-case " if lower_only else ""
        return f"a port name may contain only {case}letters, digits and single inner '-'"
    if not re.search(rf"[{letters}]", name):
        return "a port name must contain at least one letter"
    return None


def _check_selector(selector: Selector | None, report: _Report) -> None:
    """Label selector syntax (V5), unless the schema already found something wrong inside this selector."""
    if selector is None or not isinstance(selector.raw, dict) or selector.error is None:
        return
    inside = format_path(selector.path)
    if any(f.is_error and f.path.startswith(inside) for f in report.findings):
        return
    report.error((*selector.path, *selector.error.path), selector.error.detail)


def _check_labels(labels: Any, path: Path, report: _Report) -> None:
    if not isinstance(labels, dict):
        return
    for key, value in labels.items():
        problem = selectors.validate_label_key(str(key))
        if problem is None and isinstance(value, str):
            problem = selectors.validate_label_value(value)
        if problem:
            report.error((*path, str(key)), problem)


# ---------------------------------------------------------------------------------------------------------
# NetworkPolicy (SEMANTICS §3.2 V1-V5)


def _check_network_policy(policy: Policy, report: _Report) -> None:
    if not policy.specs or not policy.specs[0].is_mapping:
        return
    spec = policy.specs[0]
    _check_selector(spec.subject, report)
    for rule in spec.rules:
        if not isinstance(rule.raw, dict):
            continue
        for peer in rule.peers:
            _check_peer(peer, report)
        for port in rule.ports:
            if port.is_mapping:
                _check_port(port, report)
    _check_policy_types(spec.policy_types, ("spec", "policyTypes"), report)


def _check_peer(peer: Peer, report: _Report) -> None:
    if peer.raw is not None and not isinstance(peer.raw, dict):
        return  # `- ~` decodes to an empty peer, like `- {}`
    present = [part for part in (peer.pods, peer.namespaces, peer.block) if part is not None]
    if not present:
        report.error(
            peer.path,
            f"empty peer: set podSelector, namespaceSelector or ipBlock (the API server refuses `- {{}}`; "
            f"to allow all, leave out `{peer.field}`)",
        )
    elif peer.block is not None and len(present) > 1:
        report.error(peer.path, "ipBlock cannot be combined with podSelector or namespaceSelector; use separate peers")
    _check_selector(peer.pods, report)
    _check_selector(peer.namespaces, report)
    if peer.block is not None and isinstance(peer.block.raw, dict):  # a missing cidr is the schema's to report
        _check_block(peer.block, report, cilium=False)


def _check_port(port: Port, report: _Report) -> None:
    path, protocol = port.path, port.protocol
    protocols = ("TCP", "UDP", "SCTP")
    if isinstance(protocol, str) and protocol not in protocols:
        report.error(
            (*path, "protocol"), f"must be TCP, UDP or SCTP, found {protocol!r}{_suggest(protocol, protocols)}"
        )
    number, end = port.port, port.end_port
    if _is_int(number):
        if not 1 <= number <= 65535:
            report.error((*path, "port"), f"must be between 1 and 65535, found {number}")
        if _is_int(end):
            if end < number:
                report.error((*path, "endPort"), f"must be greater than or equal to port ({number}), found {end}")
            elif not 1 <= end <= 65535:
                report.error((*path, "endPort"), f"must be between 1 and 65535, found {end}")
    elif isinstance(number, str):
        problem = _port_name_problem(number, lower_only=True)
        if problem:
            report.error((*path, "port"), f"invalid port {number!r}: {problem}")
        if end is not None:
            report.error((*path, "endPort"), "not allowed with a named port")
    elif number is None and end is not None:
        report.error((*path, "endPort"), "not allowed without port")


def _check_policy_types(values: Any, path: Path, report: _Report) -> None:
    if not isinstance(values, list):
        return
    if len(values) > 2:
        report.error(path, f"at most two policyTypes (Ingress, Egress), found {len(values)}")
        return
    for i, value in enumerate(values):
        if isinstance(value, str) and value not in ("Ingress", "Egress"):
            report.error(
                (*path, i), f"must be Ingress or Egress, found {value!r}{_suggest(value, ('Ingress', 'Egress'))}"
            )
    if len(values) == 2 and values[0] == values[1]:
        report.warning((*path, 1), f"{values[1]} is listed twice")


# ---------------------------------------------------------------------------------------------------------
# CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy (SEMANTICS §4; Cilium's rule sanitiser)

# Peer fields of a rule; the agent refuses a rule that sets more than one (C10 for toFQDNs).
_L3_FIELDS = {
    True: ("fromEndpoints", "fromCIDR", "fromCIDRSet", "fromEntities", "fromNodes", "fromGroups"),
    False: ("toEndpoints", "toCIDR", "toCIDRSet", "toEntities", "toServices", "toFQDNs", "toGroups", "toNodes"),
}
_L7_KINDS = ("http", "kafka", "dns", "l7proto")
_MAX_PORTS = 40


def _check_cilium(policy: Policy, report: _Report) -> None:
    specs = [spec for spec in policy.specs if spec.is_mapping]
    if not specs and "spec" not in policy.obj and not policy.obj.get("specs"):
        report.error((), f"{report.kind} has no rules: set spec (or a non-empty specs list)")
    for spec in specs:
        _check_selector(spec.subject, report)
        _check_selector(spec.nodes, report)
        # the schema's anyOf asks for the keys; since 1.17 the agent also refuses them all empty (admission.py)
        hollow = spec.hollow_sections()
        if hollow and hollow == list(spec.written_sections):
            report.error(
                (*spec.path, hollow[0]),
                "every one of ingress, ingressDeny, egress, egressDeny is empty: Cilium 1.17+ refuses the policy "
                "(a default deny is `- {}`)",
            )
        for rule in spec.rules:
            if isinstance(rule.raw, dict):
                _check_cilium_rule(rule, report, host=spec.nodes is not None)


def _check_cilium_rule(rule: Rule, report: _Report, *, host: bool) -> None:
    path, ingress = rule.path, rule.direction == "ingress"
    written = {peer.field for peer in rule.peers}
    peers = [key for key in _L3_FIELDS[ingress] if key in written]
    if len(peers) > 1:
        first, second = (peers[1], peers[0]) if peers[1] == "toFQDNs" else peers[:2]
        reason = (
            f"{first} cannot be combined with {second}"
            if first == "toFQDNs"
            else (f"Cilium refuses to combine {first} and {second}")
        )
        report.error(path, f"{reason} in one rule; put them in separate rules", line_path=(*path, peers[1]))
    if "toServices" in peers and rule.port_rules:
        report.error((*path, "toPorts"), "toServices cannot be combined with toPorts (Cilium refuses it)")
    if rule.icmps and rule.port_rules:
        report.error((*path, "icmps"), "icmps and toPorts cannot be in one rule; put them in separate rules")
    prefix = "from" if ingress else "to"
    for peer in rule.peers:
        _check_selector(peer.pods, report)
        if peer.block is None:
            continue
        if peer.field.endswith("CIDR"):
            _parse_cidr(peer.block.cidr, peer.path, report, cilium=True, bare_ip=True)
        elif isinstance(peer.block.cidr, str):
            _check_block(peer.block, report, cilium=True)
    if f"{prefix}Nodes" in written:
        report.warning((*path, f"{prefix}Nodes"), "works only when the agent runs with --enable-node-selector-labels")
    if f"{prefix}Requires" in written:
        report.warning((*path, f"{prefix}Requires"), "deprecated in Cilium 1.17 and removed in 1.19")
    for port_rule in rule.port_rules:
        if port_rule.is_mapping:
            _check_cilium_port_rule(port_rule, report, ingress=ingress, host=host)


def _check_cilium_port_rule(rule: PortRule, report: _Report, *, ingress: bool, host: bool) -> None:
    path = rule.path
    l7: dict[str, Any] = rule.rules if isinstance(rule.rules, dict) else {}
    l7_kinds = [kind for kind in _L7_KINDS if l7.get(kind) is not None]
    dns = bool(l7.get("dns"))
    if dns and ingress:
        report.error((*path, "rules", "dns"), "DNS rules are only allowed on egress")
    if l7_kinds and host:
        report.error((*path, "rules"), "host policies (nodeSelector) cannot have L7 rules")
    if "l7" in l7 and not l7.get("l7proto"):
        report.error((*path, "rules", "l7"), "l7 rules need l7proto")
    if rule.server_names and l7_kinds and rule.raw.get("terminatingTLS") is None:
        report.error((*path, "serverNames"), "serverNames together with L7 rules need terminatingTLS")
    if len(rule.ports) > _MAX_PORTS:
        report.error((*path, "ports"), f"at most {_MAX_PORTS} ports in one toPorts entry, found {len(rule.ports)}")
    if dns and not rule.ports:
        report.error((*path, "rules", "dns"), "DNS rules need a port (53)")
    for port in rule.ports:
        if port.is_mapping:
            _check_cilium_port(port, report, l7_kinds=l7_kinds)


def _check_cilium_port(port: Port, report: _Report, *, l7_kinds: list[str]) -> None:
    path, number, end = port.path, port.port, port.end_port
    if isinstance(number, str) and number:
        if not (number.isascii() and number.isdigit()):
            problem = _port_name_problem(number, lower_only=False)
            if problem:
                report.error((*path, "port"), f"invalid port {number!r}: not a number, and {problem}")
            elif _is_int(end) and end:
                report.warning((*path, "endPort"), "ignored with a named port")
        elif len(number) > 1 and number[0] == "0":
            # The agent parses with strconv.ParseUint(port, 0, 16): a leading 0 means octal.
            report.error((*path, "port"), f"leading zero in {number!r}: Cilium would read it as octal")
        elif int(number) > 65535:
            report.error((*path, "port"), f"must be between 0 and 65535, found {number}")
        else:
            value = int(number)
            if value == 0 and l7_kinds:
                report.error((*path, "port"), "L7 rules cannot be used with port 0")
            if _is_int(end) and end and end < value:
                report.error((*path, "endPort"), f"must be greater than or equal to port ({value}), found {end}")
            if _is_int(end) and end > value and "dns" in l7_kinds:
                report.error((*path, "endPort"), "DNS rules do not support port ranges")
    protocol = port.protocol or "ANY"
    if l7_kinds and "dns" not in l7_kinds and protocol != "TCP":
        shown = "protocol is omitted (ANY)" if "protocol" not in port.raw else f"found {protocol}"
        report.error((*path, "protocol"), f"{'/'.join(l7_kinds)} rules apply only to TCP: set protocol: TCP ({shown})")
