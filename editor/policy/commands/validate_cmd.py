"""`fenceline validate FILE_OR_DIR...`: schema and semantic findings for every policy object in the inputs.

Exit 0 when there is no error-level finding, 1 when there is, 2 when an input cannot be read (raised as
InputError and printed by cli.py). Directories are searched recursively for .yaml, .yml and .json files.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import BinaryIO

from ..validate import KINDS, Finding, has_errors, validate_objects
from ..yamlio import DEFAULT_LIMITS, MIB, InputError, KubeObject, load_objects

SUFFIXES = (".yaml", ".yml", ".json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR", help="policy YAML/JSON; '-' reads stdin")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")


def run(args: argparse.Namespace) -> int:
    objects: list[KubeObject] = []
    findings: list[Finding] = []
    for source, data in _read_inputs(args.inputs):
        loaded, problems = load_objects(data, source)
        objects += loaded
        findings += [
            Finding("error", problem.message, source=problem.source, line=problem.line) for problem in problems
        ]
    findings += validate_objects(objects)
    checked = sum(1 for item in objects if item.kind in KINDS)
    if args.format == "json":
        report = {"checked": checked, "findings": [finding.to_dict() for finding in findings]}
        print(json.dumps(report, indent=2))
    else:
        for finding in findings:
            print(f"{finding.severity}: {finding}")
        errors = sum(finding.is_error for finding in findings)
        summary = f"{checked} policy object(s) checked: {errors} error(s), {len(findings) - errors} warning(s)"
        print(summary, file=sys.stderr)
    return 1 if has_errors(findings) else 0


def _read_inputs(inputs: list[str]) -> list[tuple[str, bytes]]:
    """(source name, bytes) for every input file, directories expanded in sorted order."""
    result: list[tuple[str, bytes]] = []
    for name in inputs:
        if name == "-":
            result.append(("<stdin>", _read_bounded(sys.stdin.buffer, "<stdin>")))
            continue
        path = Path(name)
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.suffix in SUFFIXES
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            files = [path]
        for file in files:
            try:
                with file.open("rb") as stream:
                    result.append((str(file), _read_bounded(stream, str(file))))
            except OSError as exc:
                raise InputError(f"cannot read: {exc.strerror or exc}", str(file)) from None
    return result


def _read_bounded(stream: BinaryIO, source: str) -> bytes:
    """At most the loader's size limit plus one byte, so an endless or huge input is refused without reading it."""
    limit = DEFAULT_LIMITS.max_bytes
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"input is more than the limit of {limit / MIB:.1f} MiB", source)
    return data
