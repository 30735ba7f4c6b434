"""`fenceline import FILE_OR_DIR... [-o FILE] [--name NAME]`: policy YAML and/or workload manifests to a graph
document (JSON on stdout or in FILE); every warning on stderr, one per line. Directories are read recursively
(.yaml, .yml, .json); `-` reads stdin."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..importer import import_paths
from ..yamlio import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="FILE_OR_DIR", help="YAML/JSON files or directories; - is stdin")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the document here instead of stdout")
    parser.add_argument("--name", help="the document's name (default: the first file or directory name)")


def run(args: argparse.Namespace) -> int:
    result = import_paths(args.paths)
    first = args.paths[0]
    result.document.name = args.name or ("stdin" if first == "-" else Path(first).name)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    text = result.document.dumps()
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write: {exc.strerror}", args.output) from None
    else:
        sys.stdout.write(text)
    return 0
