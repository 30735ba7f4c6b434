"""`fenceline connlist PATH...`: the permitted connections in np-guard/netpol-analyzer's txt format.

`--explain` adds the reasons (which policy and rule allowed or denied what), `--diff OTHER...` lists what
changes from PATH (ref1) to OTHER (ref2). Warnings (skipped objects, rules that cannot apply) go to stderr.
"""

from __future__ import annotations

import argparse
import sys

from ..analysis import Analysis, Options, analyse, diff, format_connlist, format_diff, format_explanations
from ..manifests import read_paths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="manifest and policy files or directories (searched recursively); - is stdin",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--explain", action="store_true", help="explain every pair a policy has a say in")
    output.add_argument(
        "--diff",
        nargs="+",
        metavar="OTHER_PATH",
        help="list connections added, removed or changed from PATH (ref1) to OTHER_PATH (ref2)",
    )
    parser.add_argument(
        "--ipblock-matches-pods",
        action="store_true",
        help="let ipBlock CIDRs match pod IPs too (cyclonus/Calico behaviour; default: external IPs only)",
    )


def _analyse(paths: list[str], options: Options) -> Analysis:
    cluster = read_paths(paths)
    analysis = analyse(cluster, options)
    for warning in (*cluster.warnings, *analysis.warnings):
        print(f"fenceline connlist: warning: {warning}", file=sys.stderr)
    return analysis


def run(args: argparse.Namespace) -> int:
    options = Options(ipblock_matches_pods=args.ipblock_matches_pods)
    analysis = _analyse(args.paths, options)
    if args.diff:
        text = format_diff(diff(analysis, _analyse(args.diff, options)))
    elif args.explain:
        text = format_explanations(analysis)
    else:
        text = format_connlist(analysis)
    if text:
        print(text)
    return 0
