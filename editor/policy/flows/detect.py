"""Opening one flow log: gzip found by its magic bytes, JSON lines or one JSON array, bounded memory.

A log is read in chunks of about a megabyte and handed on as batches of raw lines, so memory stays flat
however long the file is. A JSON array (the Gadget advisor's own format, or `jq -s` output) is streamed the
same way: its items are cut out one by one as the chunks arrive (strings skipped whole, brackets counted), so
a gzip array that expands to gigabytes never sits in memory. Nothing here decodes a flow: it only finds where
records start and end, and counts bytes for the progress bar and the size limit.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import re
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO

import msgspec

from ..input_error import MIB, InputError

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

    def seek(self, offset: int) -> int:
        """Not supported: the input is read once, forward. GzipFile wants the method (typeshed's
        _ReadableFileobj) but calls it only to seek backwards, which the reader never does."""
        raise io.UnsupportedOperation("the flow log is read once, forward only")


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
        line = head.count(b"\n", 0, len(head) - len(stripped)) + 1
        return Container(compression, "json-array", _array_batches(stripped[1:], line, read))
    return Container(compression, "lines", _line_batches(head, read))


class _gunzip:
    """A gzip stream over the counting reader that refuses to expand without bound."""

    def __init__(self, reader: _CountingReader, source: str, max_bytes: int | None) -> None:
        self._file = gzip.GzipFile(fileobj=reader, mode="rb")
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


# Inside an item: a whole string (escapes included), a bracket, or a quote whose string the chunk cuts off.
_ITEM_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]|"')
# Between items: the next character that is neither white space nor a comma.
_NEXT_ITEM = re.compile(rb"[^\s,]")
_SCALAR = re.compile(rb'"(?:[^"\\]|\\.)*"|[^\s,\]"]+')


def _array_batches(data: bytes, line: int, read: Callable[[int], bytes]) -> Iterator[Batch]:
    """The items of a JSON array, one batch each with the line it starts on, read chunk by chunk.

    `data` is what follows the opening bracket. Only the item being cut out is held (an item longer than
    MAX_LINE_BYTES becomes a BadRecord and its bytes are dropped as they pass). An array that ends inside an
    item (truncated, or a bracket missing) has that tail walked by `_damaged_tail`, so that the items after
    the damage are still read.
    """
    buffer, position, depth, start = data, 0, 0, -1
    skipping = False  # inside an over-long item
    dropped_lines = 0  # line breaks in the part of an over-long item already dropped
    more = True
    while True:
        if depth == 0:
            found = _NEXT_ITEM.search(buffer, position)
            if found is None:
                line += buffer.count(b"\n", position)
                buffer, position = b"", 0
                if not more:
                    return
                buffer, more = _refill(buffer, read)
                continue
            line += buffer.count(b"\n", position, found.start())
            position = found.start()
            opening = buffer[position : position + 1]
            if opening == b"]":
                while read(CHUNK_BYTES):  # what follows the array is not read as records, but is counted
                    yield line, []
                return
            if opening not in (b"{", b"["):
                scalar = _SCALAR.match(buffer, position)
                if scalar is None or (scalar.end() == len(buffer) and more):
                    buffer, more = _refill(buffer[position:], read)
                    position = 0
                    if scalar is None and not more:
                        yield line, [BadRecord("broken item in a JSON array: the array is cut off")]
                        return
                    continue
                yield line, [scalar.group()]
                position = scalar.end()
                continue
            start, depth, position = position, 1, position + 1
        token = None
        for token in _ITEM_TOKEN.finditer(buffer, position):
            bracket = token.group()
            if bracket == b'"':
                break  # a string cut by the chunk: read on from its opening quote
            if bracket in (b"{", b"["):
                depth += 1
            elif bracket in (b"}", b"]"):
                depth -= 1
                if depth == 0:
                    break
        else:
            token = None
        if token is not None and depth == 0:
            end = token.end()
            newlines = dropped_lines + buffer.count(b"\n", start, end)
            yield line, [_too_long() if skipping else buffer[start:end]]
            line += newlines
            skipping, dropped_lines, position, start = False, 0, end, -1
            continue
        resume = token.start() if token is not None else len(buffer)
        if not more:
            if skipping:
                yield line, [_too_long()]
            else:
                yield from _damaged_tail(buffer[start:], line)
            return
        if resume - start > MAX_LINE_BYTES:
            skipping = True
        if skipping:  # drop what was scanned: only the brackets still open matter
            dropped_lines += buffer.count(b"\n", start, resume)
            start = resume
        yield line, []  # no record yet, but the reader may stop here (a long item is not a long wait)
        buffer, more = _refill(buffer[start:], read)
        start, position = 0, resume - start


def _refill(rest: bytes, read: Callable[[int], bytes]) -> tuple[bytes, bool]:
    """`rest` followed by the next chunk, and whether there may be more after it."""
    chunk = read(CHUNK_BYTES)
    return rest + chunk, bool(chunk)


def _damaged_tail(data: bytes, line: int) -> Iterator[Batch]:
    """Item by item through the end of an array whose brackets do not balance, resyncing after each bad item.

    `data` starts at an item; it is at most MAX_LINE_BYTES plus a chunk, as longer items were dropped.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
    decoder = json.JSONDecoder()
    position = 0
    first_line = line - 1
    while True:
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text) or text[position] == "]":
            return
        line = first_line + text.count("\n", 0, position) + 1
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
        try:
            item = msgspec.json.encode(value)
        except UnicodeEncodeError:  # json reads "\\ud800" as a lone surrogate, which UTF-8 cannot hold
            reason = "broken item in a JSON array: a \\u escape of a lone surrogate, which is not Unicode"
            yield line, [BadRecord(reason)]
        else:
            yield line, [item]
        position = end
