"""Opening one flow log: gzip found by its magic bytes, JSON lines or one JSON array, bounded memory.

A log is read in chunks of about a megabyte and handed on as batches of raw lines, so memory stays flat
however long the file is; only a JSON array (the Gadget advisor's own format, or `jq -s` output) is read
whole, up to the byte limit. Nothing here decodes a flow: it only finds where records start and end, and
counts bytes for the progress bar and the size limit.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO

import msgspec

from ..yamlio import MIB, InputError

GZIP_MAGIC = b"\x1f\x8b"
CHUNK_BYTES = MIB
MAX_LINE_BYTES = 16 * MIB
# A gzip bomb is refused when it expands past this many times the input limit.
GZIP_EXPANSION_LIMIT = 50


class BadRecord(bytes):
    """Stands in for a record the container layer already knows is bad. Its bytes never decode, so the
    decoder's error path (the only place that looks) finds it and reports `reason`."""

    reason: str

    def __new__(cls, reason: str) -> BadRecord:
        record = super().__new__(cls, b"\x00")
        record.reason = reason
        return record


Batch = tuple[int, list[bytes]]  # (line number of the first line, the raw lines)


@dataclasses.dataclass
class Container:
    """What a file turned out to be, before its records are decoded."""

    compression: str | None  # "gzip" or None
    layout: str  # "lines", "json-array" or "empty"
    batches: Iterator[Batch]


class _CountingReader:
    """The caller's file, counting the bytes read so progress and the size limit see compressed bytes."""

    def __init__(self, raw: BinaryIO, prefix: bytes, on_bytes: Callable[[int], None]) -> None:
        self._raw = raw
        self._prefix = prefix
        self._on_bytes = on_bytes

    def read(self, size: int = -1) -> bytes:
        if self._prefix:
            data = self._prefix if size < 0 else self._prefix[:size]
            self._prefix = self._prefix[len(data) :]
            return data
        data = self._raw.read(size if size >= 0 else CHUNK_BYTES)
        if data:
            self._on_bytes(len(data))
        return data


def open_container(raw: BinaryIO, source: str, on_bytes: Callable[[int], None], max_bytes: int | None) -> Container:
    """Sniff compression and layout from the first bytes and return the batches of records.

    `on_bytes(n)` is called with every chunk of input bytes read (compressed size for gzip).
    """
    first = raw.read(CHUNK_BYTES)
    if first:
        on_bytes(len(first))
    compression = "gzip" if first.startswith(GZIP_MAGIC) else None
    reader = _CountingReader(raw, first, on_bytes)
    read: Callable[[int], bytes] = reader.read
    if compression:
        read = _gunzip(reader, source, max_bytes).read
    head = read(CHUNK_BYTES)
    head = head.removeprefix(b"\xef\xbb\xbf")
    stripped = head.lstrip()
    while not stripped and head:
        head = read(CHUNK_BYTES)
        stripped = head.lstrip()
    if not stripped:
        return Container(compression, "empty", iter(()))
    if stripped.startswith(b"["):
        data = _read_all(head, read, source, max_bytes)
        return Container(compression, "json-array", _array_batches(data, source))
    return Container(compression, "lines", _line_batches(head, read))


class _gunzip:
    """A gzip stream over the counting reader that refuses to expand without bound."""

    def __init__(self, reader: _CountingReader, source: str, max_bytes: int | None) -> None:
        self._file = gzip.GzipFile(fileobj=reader, mode="rb")  # type: ignore[arg-type]
        self._source = source
        self._limit = None if max_bytes is None else max_bytes * GZIP_EXPANSION_LIMIT
        self._total = 0

    def read(self, size: int) -> bytes:
        try:
            data = self._file.read(size)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"damaged gzip data: {exc}", self._source) from None
        self._total += len(data)
        if self._limit is not None and self._total > self._limit:
            raise InputError(
                f"gzip data expands to more than {self._limit / MIB:.0f} MiB; refusing a possible gzip bomb",
                self._source,
            )
        return data


def _read_all(head: bytes, read: Callable[[int], bytes], source: str, max_bytes: int | None) -> bytes:
    parts = [head]
    size = len(head)
    while chunk := read(CHUNK_BYTES):
        parts.append(chunk)
        size += len(chunk)
        if max_bytes is not None and size > max_bytes * GZIP_EXPANSION_LIMIT:
            raise InputError(f"JSON array larger than {max_bytes * GZIP_EXPANSION_LIMIT / MIB:.0f} MiB", source)
    return b"".join(parts)


def _line_batches(head: bytes, read: Callable[[int], bytes]) -> Iterator[Batch]:
    """Split the stream into lines, one batch per chunk. A line longer than MAX_LINE_BYTES becomes a BadRecord."""
    line_number = 1
    pending = b""
    skipping = False  # inside an over-long line, dropping bytes until its end
    chunk = head
    while chunk:
        lines = chunk.split(b"\n")
        if skipping:
            if len(lines) == 1:
                chunk = read(CHUNK_BYTES)
                continue
            lines[0] = _too_long()
            skipping = False
        elif pending:
            lines[0] = pending + lines[0]
        pending = lines.pop()
        if len(pending) > MAX_LINE_BYTES:
            pending = b""
            skipping = True
        if lines:
            yield line_number, lines
            line_number += len(lines)
        chunk = read(CHUNK_BYTES)
    if skipping:
        yield line_number, [_too_long()]
    elif pending:
        yield line_number, [pending]


def _too_long() -> BadRecord:
    return BadRecord(f"line longer than {MAX_LINE_BYTES // MIB} MiB")


def _array_batches(data: bytes, source: str) -> Iterator[Batch]:
    """The items of a JSON array, each with the line it starts on.

    A well-formed array is split by msgspec without building the items; a damaged one (truncated, a bad
    item) is walked item by item so that every item before and after the damage is still read.
    """
    try:
        items = msgspec.json.decode(data, type=list[msgspec.Raw])
    except (msgspec.DecodeError, msgspec.ValidationError):
        yield from _damaged_array(data, source)
        return
    position = 0
    line = 1
    for item in items:
        text = bytes(item)
        found = data.find(text, position)
        line += data.count(b"\n", position, found)
        position = found
        yield line, [text]


def _damaged_array(data: bytes, source: str) -> Iterator[Batch]:
    """Item by item through an array that does not parse as a whole, resyncing after each bad item."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
    decoder = json.JSONDecoder()
    position = text.index("[") + 1
    while True:
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text) or text[position] == "]":
            return
        line = text.count("\n", 0, position) + 1
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            # Report the bad item, then restart at the next line that opens an item.
            yield line, [BadRecord(f"broken item in a JSON array: {exc.msg}")]
            resume = text.find("\n", position)
            while resume != -1 and not text[resume + 1 :].lstrip(" \t").startswith("{"):
                resume = text.find("\n", resume + 1)
            if resume == -1:
                return
            position = resume + 1
            continue
        yield line, [msgspec.json.encode(value)]
        position = end
