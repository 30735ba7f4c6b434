"""Kubernetes label selectors with the semantics of apimachinery (`metav1.LabelSelectorAsSelector`).

The API, used by the analyser, the compilers, the linter and the flow importers:

* `LabelSelector` - a parsed selector: frozen, hashable and canonical (matchLabels sorted by key, expressions
  sorted, their values sorted and de-duplicated), so two selectors that mean the same text compare equal and can
  key a dict. `selector.matches(labels)` evaluates it; `selector.to_dict()` gives the canonical JSON form;
  `str(selector)` the apimachinery string form (`app=web,tier in (a,b),!legacy`). `EVERYTHING` is `{}`.
* `parse_selector(obj, where)` - a selector from a decoded YAML/JSON mapping; raises `SelectorError` (a
  ValueError whose `.path` locates the bad part inside `obj`, for line numbers) on invalid input.
* `validate_label_key(key)` / `validate_label_value(value)` - the reason a key or value is invalid, or None;
  `validate_namespace_name(name)` the same for a namespace name (its label, `kubernetes.io/metadata.name`).

A *nil* selector (the field is absent) is not a `LabelSelector`: callers keep `None` for it, because "absent"
and `{}` mean different things in NetworkPolicy peers (`namespaceSelector` absent = the policy's namespace,
`{}` = every namespace).

Matching follows `Requirement.Matches`: `In` needs the key present with a listed value, `NotIn` matches when
the key is absent or its value is not listed, `Exists` / `DoesNotExist` test the key only; matchLabels and all
expressions are ANDed; the empty selector matches everything.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")

_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
# Cilium selectors may prefix a key with the label source (`k8s:app`, `any:app`, `reserved:host`).
_SOURCE_PREFIX = re.compile(r"([a-z0-9-]+):(.*)", re.DOTALL)


class SelectorError(ValueError):
    """An invalid selector. `path` is where inside the selector object (for `line_of`), `detail` the reason."""

    def __init__(self, where: str, detail: str, path: tuple[str | int, ...] = ()) -> None:
        self.where = where
        self.detail = detail
        self.path = path
        super().__init__(f"{where}: {detail}" if where else detail)


@dataclasses.dataclass(frozen=True, order=True)
class Requirement:
    """One matchExpressions entry; `values` is sorted and free of duplicates."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return self.key in labels and labels[self.key] in self.values
        if self.operator == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels

    def __str__(self) -> str:
        if self.operator == "Exists":
            return self.key
        if self.operator == "DoesNotExist":
            return f"!{self.key}"
        word = "in" if self.operator == "In" else "notin"
        return f"{self.key} {word} ({','.join(self.values)})"


@dataclasses.dataclass(frozen=True)
class LabelSelector:
    """A label selector in canonical form. Build it with `parse_selector` (or from canonical parts)."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        for key, value in self.match_labels:
            if labels.get(key) != value:
                return False
        return all(requirement.matches(labels) for requirement in self.match_expressions)

    @property
    def is_empty(self) -> bool:
        """True for `{}`, which selects everything."""
        return not self.match_labels and not self.match_expressions

    def label_keys(self) -> frozenset[str]:
        """Every label key the selector looks at."""
        return frozenset([key for key, _ in self.match_labels] + [r.key for r in self.match_expressions])

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON/YAML form; `{}` for the empty selector."""
        result: dict[str, Any] = {}
        if self.match_labels:
            result["matchLabels"] = dict(self.match_labels)
        if self.match_expressions:
            result["matchExpressions"] = [
                {"key": r.key, "operator": r.operator, **({"values": list(r.values)} if r.values else {})}
                for r in self.match_expressions
            ]
        return result

    def __str__(self) -> str:
        parts = [f"{key}={value}" for key, value in self.match_labels]
        parts.extend(str(requirement) for requirement in self.match_expressions)
        return ",".join(parts)


EVERYTHING = LabelSelector()


def validate_label_key(key: str) -> str | None:
    """Why `key` is not a valid label key (a qualified name with an optional DNS-subdomain prefix), or None."""
    prefix, slash, name = key.rpartition("/")
    if slash:
        if not prefix:
            return f"invalid label key {key!r}: prefix part must not be empty"
        if len(prefix) > 253:
            return f"invalid label key {key!r}: prefix part must be no more than 253 characters"
        if not all(_DNS_LABEL.fullmatch(part) for part in prefix.split(".")):
            return (
                f"invalid label key {key!r}: prefix part must be a DNS subdomain "
                "(lowercase alphanumeric characters, '-' or '.', starting and ending with an alphanumeric)"
            )
    if not name:
        return f"invalid label key {key!r}: name part must not be empty"
    return _name_problem(f"invalid label key {key!r}: name part", name)


def validate_label_value(value: str) -> str | None:
    """Why `value` is not a valid label value (empty, or <= 63 chars of [A-Za-z0-9._-] with alphanumeric ends)."""
    if value == "":
        return None
    return _name_problem(f"invalid label value {value!r}:", value)


_LABEL_CHARS = "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
_DNS_CHARS = "lower-case letters, digits or '-', and must start and end with a letter or digit"


def _name_problem(what: str, text: str, pattern: re.Pattern[str] = _NAME, chars: str = _LABEL_CHARS) -> str | None:
    """Why `text` is not at most 63 characters matching `pattern` (described as `chars`), or None."""
    if len(text) > 63:
        return f"{what} must be no more than 63 characters"
    if not pattern.fullmatch(text):
        return f"{what} must consist of {chars}"
    return None


def validate_namespace_name(name: str) -> str | None:
    """Why `name` is not a valid namespace name (an RFC 1123 label: <= 63 chars of [a-z0-9-], alphanumeric
    ends), or None."""
    return _name_problem(f"invalid namespace name {name!r}:", name, _DNS_LABEL, _DNS_CHARS)


def _check_key(key: Any, where: str, path: tuple[str | int, ...], source_prefixes: bool) -> str:
    if not isinstance(key, str):
        raise SelectorError(where, f"label key {key!r} must be a string", path)
    bare = key
    if source_prefixes:
        prefixed = _SOURCE_PREFIX.fullmatch(key)
        if prefixed:
            bare = prefixed.group(2)
    problem = validate_label_key(bare)
    if problem:
        raise SelectorError(where, problem, path)
    return key


def _check_value(value: Any, where: str, path: tuple[str | int, ...]) -> str:
    if not isinstance(value, str):
        raise SelectorError(where, f'label value {value!r} must be a string (quote it in YAML, e.g. "{value}")', path)
    problem = validate_label_value(value)
    if problem:
        raise SelectorError(where, problem, path)
    return value


def parse_selector(obj: Any, where: str = "", *, source_prefixes: bool = False) -> LabelSelector:
    """A `LabelSelector` from `{matchLabels, matchExpressions}`; raises `SelectorError` naming what is wrong.

    `where` names the selector in messages ("NetworkPolicy default/web spec.podSelector"). With
    `source_prefixes` (Cilium endpoint selectors) a key may carry a label-source prefix such as `k8s:`.
    """
    if not isinstance(obj, Mapping):
        raise SelectorError(where, f"a label selector must be a mapping, not {type(obj).__name__}")
    labels = obj.get("matchLabels")
    expressions = obj.get("matchExpressions")
    match_labels: dict[str, str] = {}
    if labels is not None:
        if not isinstance(labels, Mapping):
            raise SelectorError(where, "matchLabels must be a mapping of label keys to values", ("matchLabels",))
        for key, value in labels.items():
            path: tuple[str | int, ...] = ("matchLabels", key)
            match_labels[_check_key(key, where, path, source_prefixes)] = _check_value(value, where, path)
    requirements: set[Requirement] = set()
    if expressions is not None:
        if not isinstance(expressions, list):
            raise SelectorError(where, "matchExpressions must be a list", ("matchExpressions",))
        for index, expression in enumerate(expressions):
            requirements.add(_parse_requirement(expression, where, ("matchExpressions", index), source_prefixes))
    return LabelSelector(tuple(sorted(match_labels.items())), tuple(sorted(requirements)))


def _parse_requirement(expression: Any, where: str, path: tuple[str | int, ...], source_prefixes: bool) -> Requirement:
    if not isinstance(expression, Mapping):
        raise SelectorError(where, "a matchExpressions entry must be a mapping with key and operator", path)
    key = _check_key(expression.get("key"), where, (*path, "key"), source_prefixes)
    operator = expression.get("operator")
    if operator not in OPERATORS:
        raise SelectorError(
            where, f"{operator!r} is not a valid label selector operator (use {', '.join(OPERATORS)})", path
        )
    values = expression.get("values")
    if values is not None and not isinstance(values, list):
        raise SelectorError(where, "values must be a list of strings", (*path, "values"))
    values = values or []
    if operator in ("In", "NotIn"):
        if not values:
            raise SelectorError(where, f"values must be non-empty when operator is {operator}", path)
        checked = {_check_value(value, where, (*path, "values", i)) for i, value in enumerate(values)}
        return Requirement(key, operator, tuple(sorted(checked)))
    if values:
        raise SelectorError(where, f"values must be empty when operator is {operator}", (*path, "values"))
    return Requirement(key, operator)
