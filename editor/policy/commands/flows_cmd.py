"""`fenceline flows FILE...`: Hubble flow logs or Inspektor Gadget advisor logs to a graph document.

The document (JSON) goes to stdout, the summary (formats found, flows used, lines skipped with reasons,
events lost) to stderr. Files may be plain or gzip-compressed, in any Hubble JSON output mode or Gadget log
format, mixed; `-` reads stdin as a stream.
"""

from __future__ import annotations

import argparse
import sys

from ..document import Document, DocumentError
from ..flows import VERDICT_NAMES, FlowOptions, read_flow_paths
from ..gcpause import paused_gc
from ..input_error import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="flow log files (plain or gzip); - is stdin")
    parser.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=[],
        metavar="NS",
        help="keep flows with either end in NS (repeatable); only workloads in these namespaces are locked",
    )
    parser.add_argument("--since", metavar="TIME", help="leave out flows before TIME (RFC 3339)")
    parser.add_argument("--until", metavar="TIME", help="leave out flows after TIME (RFC 3339)")
    parser.add_argument(
        "--verdict",
        action="append",
        default=[],
        choices=VERDICT_NAMES,
        metavar="VERDICT",
        help=f"keep only flows with this verdict (repeatable): {', '.join(VERDICT_NAMES)}",
    )
    parser.add_argument(
        "--collapse-cidr",
        type=int,
        metavar="N",
        help="widen external IPv4 addresses without a DNS name to /N networks (e.g. 24)",
    )
    parser.add_argument("--collapse-cidr6", type=int, metavar="N", help="the same for IPv6 addresses (e.g. 64)")
    parser.add_argument(
        "--no-fqdn",
        action="store_true",
        help="keep external peers as CIDRs even when the log names them (FQDN rules need Cilium)",
    )
    parser.add_argument(
        "--into", metavar="DOC.json", help="add the flows to this graph document instead of starting a new one"
    )


def _options(args: argparse.Namespace) -> FlowOptions:
    try:
        return FlowOptions(
            namespaces=frozenset(args.namespace),
            since=args.since,
            until=args.until,
            verdicts=frozenset(args.verdict),
            collapse_cidr=args.collapse_cidr,
            collapse_cidr6=args.collapse_cidr6,
            fqdn=not args.no_fqdn,
        )
    except ValueError as exc:
        raise InputError(str(exc), "options") from None


def _load_document(path: str) -> Document:
    try:
        with open(path, "rb") as handle:
            return Document.loads(handle.read())
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path) from None
    except DocumentError as exc:
        raise InputError(f"not a valid Fenceline document: {exc}", path) from None


def run(args: argparse.Namespace) -> int:
    # Everything this command makes lives until it writes the document, then the process ends: a collection
    # after the import (when read_flows would turn the collector back on) would only walk the whole graph.
    with paused_gc():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    options = _options(args)
    into = _load_document(args.into) if args.into else None
    result = read_flow_paths(args.files, options, into=into)
    for line in result.summary.lines():
        print(f"fenceline flows: {line}", file=sys.stderr)
    sys.stdout.flush()
    sys.stdout.buffer.writelines(result.dump_chunks())
    return 0
