"""`fenceline diff OLD NEW [--names A,B]`: the semantic connectivity diff, np-guard/netpol-analyzer's `diff`.

Lines added, removed or changed from OLD (upstream's dir1/ref1) to NEW, in its txt format; `--names` sets the
two labels the lines use (default `dir1,dir2`, as its CLI). `fenceline connlist OLD --diff NEW` is the same diff
with the library's labels `ref1`/`ref2`.
"""

from __future__ import annotations

import argparse

from ..analysis import Options, diff, format_diff
from ..yamlio import InputError
from .connlist_cmd import _analyse
from .options import add_ipblock_matches_pods


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH", help="OLD and NEW: two files or directories")
    parser.add_argument("--names", default="dir1,dir2", help="the labels of OLD and NEW in the output (A,B)")
    add_ipblock_matches_pods(parser)


def run(args: argparse.Namespace) -> int:
    if len(args.paths) != 2:
        raise InputError("both directory paths dir1 and dir2 are required: fenceline diff OLD NEW", "diff")
    names = tuple(name.strip() for name in args.names.split(","))
    if len(names) != 2 or not all(names):
        raise InputError(f"--names needs two labels separated by a comma, not {args.names!r}", "diff")
    options = Options(ipblock_matches_pods=args.ipblock_matches_pods)
    old, new = (_analyse([path], options) for path in args.paths)
    print(format_diff(diff(old, new), names))
    return 0
