"""read_flows: flow log files in, a graph document and a summary out, streaming, with progress.

Each line is first tried with the typed decoder that read the previous line (wrapped or bare, snake_case or
lowerCamelCase), which is right for nearly every line of a real log. Anything else takes the slow path: a
generic decode, then the line is recognised (Hubble record of another shape, Gadget event, or neither) and
the fast path switches to the new shape. A line that cannot be read is skipped and reported with its line
number; it never stops the import or costs the lines around it.
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from typing import BinaryIO

import msgspec

from ..document import Document
from ..gcpause import paused_gc
from ..input_error import MIB, InputError
from . import gadget, hubble
from .aggregate import Aggregator
from .detect import BadRecord, open_container
from .graph import build_document
from .model import FileReport, FlowImport, FlowOptions, FlowSummary, ReadStopped

Progress = Callable[[int, int], None]  # (bytes read so far, total bytes or 0 when unknown)


def read_flows(
    files: Iterable[tuple[str, BinaryIO]],
    options: FlowOptions | None = None,
    progress: Progress | None = None,
    into: Document | None = None,
    stop: Callable[[], bool] | None = None,
) -> FlowImport:
    """Import Hubble and Gadget logs (any mix of formats, plain or gzip) into a document.

    `files` are (name, binary file object) pairs; names appear in the summary and in skipped-line reports.
    `progress(done, total)` is called about once per megabyte read and once at the end. With `into`, that
    document is extended in place (nodes matched by id or meaning, counts added to matching edges; the
    locks of its existing nodes are left alone), else a new document is made. Raises InputError only for
    input that cannot be read at all (over the size limit, damaged gzip). `stop()` is asked before every
    batch of records (a megabyte of lines, or one array item): when it says True the read ends at once with
    ReadStopped, however little of the input the compressed bytes read so far amount to.
    """
    options = options or FlowOptions()
    pairs = list(files)
    total = sum(_remaining_size(stream) for _, stream in pairs)
    if options.max_bytes is not None and total > options.max_bytes:
        raise InputError(
            f"the flow logs are {total / MIB:.1f} MiB, more than the limit of {options.max_bytes / MIB:.1f} MiB",
            pairs[0][0] if len(pairs) == 1 else "upload",
        )
    summary = FlowSummary()
    aggregator = Aggregator(options, summary)
    done = 0

    def on_bytes(count: int) -> None:
        nonlocal done
        done += count
        if options.max_bytes is not None and done > options.max_bytes:
            raise InputError(f"more than the limit of {options.max_bytes / MIB:.1f} MiB of flow logs", name)
        if progress is not None:
            progress(done, total)

    # What the aggregator holds (endpoints, edges, then nodes) stays alive until the end: see paused_gc.
    with paused_gc():
        for name, stream in pairs:
            report = FileReport(name)
            summary.files.append(report)
            container = open_container(stream, name, on_bytes, options.max_bytes)
            report.compression, report.layout = container.compression, container.layout
            reader = _FileReader(name, aggregator, report, summary)
            for first_line, lines in container.batches:
                if stop is not None and stop():
                    raise ReadStopped(name)
                reader.feed(first_line, lines)
            report.bytes_read = done - sum(other.bytes_read for other in summary.files[:-1])
        graph = build_document(aggregator, into)
    if progress is not None:
        progress(done, total or done)
    return FlowImport(graph, summary)


def read_flow_paths(
    paths: Sequence[str], options: FlowOptions | None = None, into: Document | None = None
) -> FlowImport:
    """`read_flows` on files named by path (`-` is stdin, named `<stdin>`); a file that cannot be opened is an
    InputError naming it, before any is read."""
    with ExitStack() as stack:
        files: list[tuple[str, BinaryIO]] = []
        for path in paths:
            if path == "-":
                files.append(("<stdin>", sys.stdin.buffer))
                continue
            try:
                files.append((path, stack.enter_context(open(path, "rb"))))
            except OSError as exc:
                raise InputError(f"cannot read: {exc.strerror or exc}", path) from None
        return read_flows(files, options, into=into)


def _remaining_size(stream: BinaryIO) -> int:
    """Bytes left in `stream`, or 0 when it cannot tell (a pipe)."""
    try:
        status = os.fstat(stream.fileno())
        if status.st_size:
            return max(status.st_size - stream.tell(), 0)
    except (OSError, AttributeError, io.UnsupportedOperation):
        pass
    try:
        position = stream.tell()
        end = stream.seek(0, io.SEEK_END)
        stream.seek(position)
    except (OSError, AttributeError, io.UnsupportedOperation):
        return 0
    return max(end - position, 0)


class _FileReader:
    """Decodes the lines of one file, remembering the record shape the last line had."""

    def __init__(self, name: str, aggregator: Aggregator, report: FileReport, summary: FlowSummary) -> None:
        self.name = name
        self.aggregator = aggregator
        self.report = report
        self.summary = summary
        self.shape = hubble.Shape(wrapped=True, camel=False)
        self.decode = hubble.DECODERS[(True, False)].decode

    def feed(self, first_line: int, lines: list[bytes]) -> None:
        add_records, position, end = self.aggregator.add_records, 0, len(lines)
        while position < end:
            stop = add_records(lines, position, self.decode, self.shape.wrapped)
            if stop > position:
                self._count(self.shape.name, stop - position)
                self.aggregator.flows_read += stop - position
            if stop < end:
                self._slow(first_line + stop, lines[stop])
            position = stop + 1

    def _count(self, record_format: str, records: int = 1) -> None:
        formats = self.report.formats
        formats[record_format] = formats.get(record_format, 0) + records
        self.report.records += records

    def _skip(self, number: int, reason: str) -> None:
        self.report.skipped += 1
        self.summary.skip(self.name, number, reason)

    def _slow(self, number: int, line: bytes) -> None:
        """A line the current fast decoder could not take: find out what it is."""
        if isinstance(line, BadRecord):
            self._skip(number, line.reason)
            return
        try:
            value = msgspec.json.decode(line)
        except msgspec.DecodeError as exc:
            if not line.strip():
                return
            reason = _why_not_json(line, exc)
            in_array = self.report.layout == "json-array"
            self._skip(number, f"broken item in a JSON array: {reason}" if in_array else reason)
            return
        if isinstance(value, dict) and gadget.is_gadget(value):
            self._gadget(number, value)
            return
        try:
            shape, record = hubble.classify(line, value)
        except ValueError as exc:
            self._skip(number, str(exc))
            return
        except msgspec.ValidationError as exc:
            self._skip(number, f"a Hubble record with a field of the wrong type: {exc}")
            return
        self.shape = shape
        self.decode = hubble.DECODERS[(shape.wrapped, shape.camel)].decode
        self._count(shape.name)
        if isinstance(record, hubble.Flow):
            self.aggregator.flows_read += 1
            self.aggregator.add_flow(record)
        elif isinstance(record, hubble.LostEvents):
            self.summary.events_lost += hubble.lost_count(record)
            self.summary.lost_records += 1

    def _gadget(self, number: int, event: dict[str, object]) -> None:
        try:
            record_format, result = gadget.parse(event)
        except gadget.GadgetRecordError as exc:
            self._skip(number, f"Gadget event: {exc}")
            return
        self._count(record_format)
        if isinstance(result, gadget.Connection):
            self.aggregator.add_connection(result)
        else:
            self.aggregator.ignored[result] += 1


# A YAML line: a document marker, a list item, or a `key:` followed by a space or the end of the line.
_YAML_LINE = re.compile(rb"\s*(---|\.\.\.|- .*|[A-Za-z0-9_./-]+:( .*)?)\s*")
GADGET_YAML = (
    "YAML, not JSON: Kubernetes policies such as the current Inspektor Gadget (advise_networkpolicy) prints "
    "are imported as YAML (Import YAML, `fenceline import`), not as a flow log"
)


def _why_not_json(line: bytes, error: msgspec.DecodeError) -> str:
    if b"\x00" in line:
        return "binary data, not JSON"
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data (not UTF-8), not JSON"
    if _YAML_LINE.fullmatch(line):
        return GADGET_YAML
    message = str(error)
    if "truncated" in message:
        return "truncated line (the JSON object is cut off)"
    return f"not valid JSON: {message}"
