"""Safe, bounded loading of YAML and JSON input.

Every byte that comes from a user (a file, stdin, an upload, an API body) passes through here. The loader
uses PyYAML's safe C loader, but composes each document into a node graph first and measures it before
anything is constructed, so that an alias bomb ("billion laughs") is refused after reading a few kilobytes
instead of after exhausting memory, and a recursive alias never reaches code that walks the result.
"""

from __future__ import annotations

import dataclasses
import gc
import io
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from .input_error import MIB as MIB
from .input_error import InputError as InputError

try:
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader


@dataclasses.dataclass(frozen=True)
class Limits:
    """Bounds on what one input may cost. Defaults suit a hand-written or exported manifest set."""

    max_bytes: int = 10 * MIB
    max_depth: int = 64
    max_aliases: int = 1000
    max_nodes: int = 2_000_000  # scalars, sequences and mappings after alias expansion


DEFAULT_LIMITS = Limits()


class _NodeTrees:
    """The composed node trees of one input, built only when somebody asks for a line.

    Keeping node trees alive for every load makes the cyclic garbage collector crawl them again and again
    (a 2 MB manifest loads three times slower), and lines are only needed for messages, so they are recomposed
    from the text on first use.
    """

    def __init__(self, text: str) -> None:
        self._text = text
        self._trees: list[yaml.Node] | None = None

    def tree(self, index: int) -> yaml.Node | None:
        if self._trees is None:
            loader = _Loader(self._text)
            trees: list[yaml.Node] = []
            try:
                while loader.check_node():
                    trees.append(loader.get_node())
            except yaml.YAMLError:
                pass  # a syntax error further on (`before_error`): the documents before it have their trees
            finally:
                loader.dispose()
            self._trees = trees
        return self._trees[index] if index < len(self._trees) else None


@dataclasses.dataclass
class LoadedDocument:
    """One YAML document of an input: the constructed value plus a way to find the line of any path in it."""

    value: Any
    source: str
    index: int  # position among the documents of the source, from 0
    line: int  # 1-based line where the document starts
    trees: _NodeTrees | None = dataclasses.field(default=None, repr=False, compare=False)

    def line_of(self, path: tuple[str | int, ...]) -> int:
        """The 1-based line of the value at `path` (keys and list indexes), or of its nearest parent."""
        if not path:
            return self.line
        node = self.trees.tree(self.index) if self.trees is not None else None
        line = self.line
        for step in path:
            if node is None:
                break
            child: yaml.Node | None = None
            if isinstance(node, yaml.MappingNode):
                for key_node, value_node in node.value:
                    if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(step):
                        child = value_node
                        line = key_node.start_mark.line + 1
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
                child = node.value[step]
                line = child.start_mark.line + 1
            node = child
        return line


def decode(data: bytes | str, source: str, limits: Limits = DEFAULT_LIMITS) -> str:
    """Bytes to text, refusing oversized input and naming the line of the first byte that is not UTF-8."""
    size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
    if size > limits.max_bytes:
        raise InputError(
            f"input is {size / MIB:.1f} MiB, more than the limit of {limits.max_bytes / MIB:.1f} MiB", source
        )
    if isinstance(data, str):
        return data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})", source, line) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise InputError("binary data (NUL byte) where YAML or JSON text was expected", source, line)
    return text.removeprefix("\ufeff")


# In JSON text a NUL or a surrogate can only be written as an escape (\u0000, \ud800-\udfff): without one, no
# string of the parsed value needs looking at.
_SUSPICIOUS_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def check_json_value(value: Any, source: str, limits: Limits = DEFAULT_LIMITS, text: str | None = None) -> int:
    """Refuse a parsed JSON value that is nested deeper than the limit or holds text no store or YAML reader can
    take: a lone surrogate (JSON can escape one, `"\\ud800"`, but it is no Unicode scalar value, so UTF-8 and
    PostgreSQL refuse it) or a NUL. The message names the path of the first such value. Iterative, so a value
    nested as deep as the parser allows is refused, not a RecursionError. With the JSON `text` it was parsed from,
    strings are only looked at when the text has an escape that could be one of those. Returns the number of
    object keys in the value."""
    strings = text is None or _SUSPICIOUS_ESCAPE.search(text) is not None
    keys = _containers_fine(value, strings, limits.max_depth)
    if keys < 0:
        _locate_problem(value, source, limits)
    return keys


def _containers_fine(value: Any, strings: bool, max_depth: int) -> int:
    """The fast pass: containers only (and strings when asked), no paths; the number of object keys, or -1 at the
    first problem."""
    if type(value) is not dict and type(value) is not list:
        return -1 if strings and type(value) is str and not _plain(value) else 0
    keys = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth >= max_depth:
            return -1
        if type(item) is dict:
            if strings and not all(_plain(key) for key in item):
                return -1
            keys += len(item)
            children = item.values()
        else:
            children = item
        for child in children:
            kind = type(child)
            if kind is dict or kind is list:
                stack.append((child, depth + 1))
            elif strings and kind is str and not _plain(child):
                return -1
    return keys


def _plain(text: str) -> bool:
    return "\x00" not in text and (text.isascii() or _encodable(text))


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _locate_problem(value: Any, source: str, limits: Limits) -> None:
    """The slow pass: every value with its path, raising InputError for the first problem."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item, path, source)
            continue
        if not isinstance(item, dict | list):
            continue
        if depth >= limits.max_depth:
            raise InputError(f"{path or 'the value'} is nested deeper than {limits.max_depth} levels", source)
        if isinstance(item, list):
            stack.extend((child, f"{path}[{index}]", depth + 1) for index, child in reversed(list(enumerate(item))))
            continue
        for key, child in reversed(list(item.items())):
            child_path = f"{path}.{key}" if path else str(key)
            _check_text(key, child_path, source, "the key of ")
            stack.append((child, child_path, depth + 1))


def _check_text(text: str, path: str, source: str, what: str = "") -> None:
    # The path itself may hold the offending key: written with escapes, so that the message is valid text.
    where = f"{what}{path or 'the value'}".encode("utf-8", "backslashreplace").decode("utf-8")
    if "\x00" in text:
        raise InputError(f"{where}: text holds a NUL character (\\u0000), which no field accepts", source)
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(
            f"{where}: text holds a lone surrogate (\\u{ord(text[exc.start]):04x}), which is not a Unicode "
            "character; send text as valid Unicode",
            source,
        ) from None


def _measure(root: yaml.Node, source: str, limits: Limits) -> None:
    """Refuse documents that are too deep, use too many aliases, or expand to too many nodes.

    Aliased nodes are the same Python object in the composed graph, so the expanded size of each node is
    memoised by identity: the cost is linear in the text even for an exponential alias bomb.
    """
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()
    aliases = 0

    def size_of(node: yaml.Node, depth: int) -> int:
        nonlocal aliases
        key = id(node)
        if key in sizes:
            aliases += 1
            if aliases > limits.max_aliases:
                raise InputError(
                    f"more than {limits.max_aliases} YAML alias uses; refusing a possible alias bomb",
                    source,
                    node.start_mark.line + 1,
                )
            return sizes[key]
        if key in in_progress:
            raise InputError("recursive YAML alias", source, node.start_mark.line + 1)
        if depth > limits.max_depth:
            raise InputError(f"nested deeper than {limits.max_depth} levels", source, node.start_mark.line + 1)
        total = 1
        if isinstance(node, yaml.SequenceNode | yaml.MappingNode):
            in_progress.add(key)
            children = node.value if isinstance(node, yaml.SequenceNode) else [v for kv in node.value for v in kv]
            for child in children:
                if child.__class__ is yaml.ScalarNode and id(child) not in sizes and depth < limits.max_depth:
                    sizes[id(child)] = 1  # a leaf seen for the first time, as size_of counts it (most of a manifest)
                    total += 1
                else:
                    total += size_of(child, depth + 1)
                if total > limits.max_nodes:
                    raise InputError(
                        f"expands to more than {limits.max_nodes:,} values; refusing a possible alias bomb",
                        source,
                        node.start_mark.line + 1,
                    )
            in_progress.discard(key)
            if isinstance(node, yaml.MappingNode):
                _check_duplicate_keys(node, source)
        sizes[key] = total
        return total

    size_of(root, 0)


def _check_duplicate_keys(node: yaml.MappingNode, source: str) -> None:
    seen: set[str] = set()
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode):
            if key_node.value in seen and key_node.value != "<<":
                raise InputError(f"duplicate key {key_node.value!r}", source, key_node.start_mark.line + 1)
            seen.add(key_node.value)


def load_documents(
    data: bytes | str,
    source: str = "<input>",
    limits: Limits = DEFAULT_LIMITS,
    before_error: list[InputError] | None = None,
) -> list[LoadedDocument]:
    """Every document of a YAML (or JSON) stream. Empty documents are dropped. Raises InputError.

    With `before_error` (a list), a YAML syntax error ends the stream instead: the documents read before it are
    returned and the error is appended to the list, as netpol-analyzer reads a file with a broken document."""
    text = decode(data, source, limits)
    loader = _Loader(text)
    trees = _NodeTrees(text)
    documents: list[LoadedDocument] = []
    # The loader allocates many small objects that all stay alive; collecting during the load only costs time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            _measure(node, source, limits)
            value = loader.construct_document(node)
            if value is not None:
                documents.append(LoadedDocument(value, source, index, node.start_mark.line + 1, trees))
            index += 1
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        error = InputError(f"invalid YAML: {problem}", source, mark.line + 1 if mark else None)
        if before_error is None:
            raise error from None
        before_error.append(error)
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", source) from None
    except RecursionError:
        raise InputError(f"nested deeper than {limits.max_depth} levels", source) from None
    except InputError:
        raise
    except ValueError as exc:  # e.g. an integer longer than Python converts (int_max_str_digits)
        raise InputError(f"a value cannot be read: {exc}", source) from None
    finally:
        loader.dispose()
        if collecting:
            gc.enable()
    return documents


@dataclasses.dataclass
class KubeObject:
    """A Kubernetes object found in an input, with where it came from (for messages)."""

    obj: dict[str, Any]
    document: LoadedDocument
    path: tuple[str | int, ...] = ()  # where inside the document (non-empty for items of a List)

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind") or "")

    @property
    def source(self) -> str:
        return self.document.source

    @property
    def line(self) -> int:
        return self.document.line_of(self.path)

    def line_of(self, path: tuple[str | int, ...]) -> int:
        return self.document.line_of(self.path + path)

    def where(self) -> str:
        return f"{self.source}:{self.line}"


def iter_objects(documents: list[LoadedDocument]) -> Iterator[KubeObject | InputError]:
    """Kubernetes objects in documents, with `List`/`*List` kinds flattened.

    A document that is not an object (a bare string, a list) yields an InputError instead of an object, so a
    caller can warn about it and go on with the rest.
    """
    for document in documents:
        yield from _flatten(document.value, document, ())


def _flatten(value: Any, document: LoadedDocument, path: tuple[str | int, ...]) -> Iterator[KubeObject | InputError]:
    if isinstance(value, list) and not path:
        # A JSON array of objects at the top level: accept it like a List.
        for i, item in enumerate(value):
            yield from _flatten(item, document, (i,))
        return
    if not isinstance(value, dict):
        yield InputError(
            f"expected a Kubernetes object, found {type(value).__name__}", document.source, document.line_of(path)
        )
        return
    kind = value.get("kind")
    items = value.get("items")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
        for i, item in enumerate(items):
            yield from _flatten(item, document, (*path, "items", i))
        return
    yield KubeObject(value, document, path)


def load_objects(
    data: bytes | str, source: str = "<input>", limits: Limits = DEFAULT_LIMITS, *, keep_before_error: bool = False
) -> tuple[list[KubeObject], list[InputError]]:
    """Objects of a YAML/JSON input and the per-document problems (non-object documents; with
    `keep_before_error`, also a syntax error, after which the rest of the input is not read)."""
    objects: list[KubeObject] = []
    problems: list[InputError] = []
    documents = load_documents(data, source, limits, problems if keep_before_error else None)
    for item in iter_objects(documents):
        if isinstance(item, InputError):
            problems.append(item)
        else:
            objects.append(item)
    return objects, problems


def objects_as_written(objects: list[dict[str, Any]], source: str) -> list[KubeObject]:
    """`objects` as KubeObjects whose lines point into `dump_yaml_documents(objects)`, without parsing that text
    again: a document's first line is counted from the text, and the lines inside it are only worked out (by
    composing the text) when a message asks for one."""
    text = dump_yaml_documents(objects)
    trees = _NodeTrees(text)
    result = []
    line = 1
    for index, (obj, part) in enumerate(zip(objects, text.split("---\n")[1:], strict=True)):
        document = LoadedDocument(obj, source, index, line + 1, trees)
        result.append(KubeObject(obj, document))
        line += 1 + part.count("\n")
    return result


def dump_yaml_documents(objects: list[dict[str, Any]]) -> str:
    """Multi-document YAML in a stable, readable form (block style, keys in the order given, lists indented).

    The output is byte for byte what PyYAML's SafeDumper writes with these settings (a property test holds the
    two together), but the common case is written by `_emit` below, about ten times faster, because the editor
    re-renders the whole YAML on every change. Objects with scalars `_emit` does not handle (multi-line or
    non-printable text, floats, long keys) go through PyYAML.
    """
    parts = []
    for obj in objects:
        lines: list[str] = []
        try:
            _emit_mapping(obj, 0, lines) if obj else lines.append("{}")
        except _NeedsPyYAML:
            parts.append("---\n" + _pyyaml_dump(obj))
            continue
        parts.append("---\n" + "\n".join(lines) + "\n")
    return "".join(parts)


def _pyyaml_dump(obj: Any) -> str:
    return yaml.dump(
        obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=float("inf")
    )


# Plain scalars that some YAML reader takes for something other than a string. PyYAML quotes what its own YAML 1.1
# resolver reads as non-string, but kubectl reads YAML with sigs.k8s.io/yaml (go-yaml), which also takes `1e3`,
# `0o17`, `0b101` or `1_000` for numbers, and YAML 1.2 readers differ again. Rather than follow each reader's
# rules, a string is quoted whenever any of them could read it as a number (every notation starts with a digit,
# a sign or a dot: 1e3, 0x1F, 1:20, .5, -.inf, +12), a timestamp (starts with a digit), a boolean of any
# spelling or case (y, n, yes, no, on, off, true, false), null (null, ~, empty) or the merge and value keys.
_NOT_STRINGS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "", "<<", "="})
_NUMBER_START = frozenset("0123456789")
_SIGNS = frozenset("+-.")


def could_read_as_non_string(text: str) -> bool:
    """True when some YAML 1.1 or 1.2 reader could read `text`, written plain, as other than this string."""
    if text.lower() in _NOT_STRINGS or text[0] in _NUMBER_START:
        return True
    # go-yaml (kubectl's reader) drops every "_" of a signed scalar before parsing it as a Go number: -_0 is 0.
    rest = text[1:].lstrip("_")
    return text[0] in _SIGNS and bool(rest) and (rest[0] in _NUMBER_START or rest[0] in ".iInN")


class _Dumper(yaml.SafeDumper):
    """SafeDumper that never emits anchors/aliases, indents list items under their key and quotes every string
    that a YAML reader could take for another type."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def represent_str(self, data: str) -> yaml.ScalarNode:
        return self.represent_scalar(_STR_TAG, data, style="'" if could_read_as_non_string(data) else None)

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


_Dumper.add_representer(str, _Dumper.represent_str)


class _NeedsPyYAML(Exception):
    """A value the fast emitter leaves to PyYAML."""


_ANALYSER = yaml.emitter.Emitter(io.StringIO(), allow_unicode=True)  # only analyses scalars; writes nothing
_RESOLVER = yaml.resolver.Resolver()
_STR_TAG = "tag:yaml.org,2002:str"
_scalars: dict[tuple[str, bool], str] = {}
# Bounded by the characters it holds, not by count: a free-form string may be 8 KiB long.
_SCALAR_CACHE_CHARS = 4 * 1024 * 1024
_scalar_chars = 0


def _string(text: str, key: bool) -> str:
    """`text` as PyYAML's emitter writes it in block context: plain when that reads back as the same string,
    else single-quoted (the choice made by `Emitter.choose_scalar_style`)."""
    cached = _scalars.get((text, key))
    if cached is not None:
        return cached
    analysis = _ANALYSER.analyze_scalar(text)
    if analysis.multiline or not analysis.allow_single_quoted or (key and (analysis.empty or len(text) >= 128)):
        raise _NeedsPyYAML  # PyYAML writes these as complex keys ("? ...") or double-quoted scalars
    # types-PyYAML leaves BaseResolver.resolve unannotated (it returns the tag, a str).
    resolved: str = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    implicit = resolved == _STR_TAG and not could_read_as_non_string(text)
    rendered = text if implicit and analysis.allow_block_plain else "'" + text.replace("'", "''") + "'"
    global _scalar_chars
    if _scalar_chars > _SCALAR_CACHE_CHARS:
        _scalars.clear()
        _scalar_chars = 0
    _scalars[(text, key)] = rendered
    _scalar_chars += len(text) + len(rendered)
    return rendered


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return _string(value, False)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict | list) and not value:
        return "{}" if isinstance(value, dict) else "[]"
    raise _NeedsPyYAML


def _emit_mapping(mapping: dict[str, Any], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for key, value in mapping.items():
        if not isinstance(key, str):
            raise _NeedsPyYAML
        head = f"{pad}{_string(key, True)}:"
        if isinstance(value, dict) and value:
            lines.append(head)
            _emit_mapping(value, indent + 2, lines)
        elif isinstance(value, list) and value:
            lines.append(head)
            _emit_sequence(value, indent + 2, lines)
        else:
            lines.append(f"{head} {_scalar(value)}")


def _emit_sequence(items: list[Any], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for item in items:
        if isinstance(item, dict | list) and item:
            first = len(lines)
            if isinstance(item, dict):
                _emit_mapping(item, indent + 2, lines)
            else:
                _emit_sequence(item, indent + 2, lines)
            # The item's first line goes right after the dash: "- key: value", as PyYAML writes it.
            lines[first] = f"{pad}- {lines[first][indent + 2 :]}"
        else:
            lines.append(f"{pad}- {_scalar(item)}")


INPUT_SUFFIXES = (".yaml", ".yml", ".json")


def read_sources(inputs: Iterable[str | Path], suffixes: tuple[str, ...] = INPUT_SUFFIXES) -> list[tuple[str, bytes]]:
    """(source name, bytes) for every input: `-` is stdin, directories are searched recursively in sorted order
    (hidden folders skipped) for files with `suffixes`. Each read stops at the size limit plus one byte, so a huge
    file or an endless stdin is refused without being read whole."""
    result: list[tuple[str, bytes]] = []
    for name in inputs:
        if str(name) == "-":
            result.append(("<stdin>", _read_bounded(sys.stdin.buffer, "<stdin>")))
            continue
        path = Path(name)
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.suffix.lower() in suffixes
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.exists():
            files = [path]
        else:
            raise InputError("cannot read: no such file or directory", str(path))
        for file in files:
            try:
                with file.open("rb") as stream:
                    result.append((str(file), _read_bounded(stream, str(file))))
            except OSError as exc:
                raise InputError(f"cannot read: {exc.strerror or exc}", str(file)) from None
    return result


def _read_bounded(stream: BinaryIO, source: str, limits: Limits = DEFAULT_LIMITS) -> bytes:
    data = stream.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise InputError(f"input is more than the limit of {limits.max_bytes / MIB:.1f} MiB", source)
    return data
