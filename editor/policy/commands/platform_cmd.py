"""`fenceline platform [PATH...] [--template NAME...] [--api v1alpha2|v1alpha1|cilium]`: platform policies written
for a cluster's API.

Reads ClusterNetworkPolicy / AdminNetworkPolicy / BaselineAdminNetworkPolicy objects from PATH (validated against
their CRDs and CEL rules) and adds the named templates, then prints them as ClusterNetworkPolicy v1alpha2 (the
default), ANP/BANP v1alpha1 (clusters on CNIs that implement only those) or CiliumClusterwideNetworkPolicy. What
the target cannot express is listed on stderr and the exit code is 1; caveats are listed without failing.
"""

from __future__ import annotations

import argparse
import sys

from ..platform import emit
from ..platform.inputs import read_platform_inputs
from ..platform.templates import TEMPLATES
from ..yamlio import InputError, dump_yaml_documents

_TARGETS = {"v1alpha2": emit.to_v1alpha2, "v1alpha1": emit.to_v1alpha1, "cilium": emit.to_cilium}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH", help="platform policy YAML (files or directories)")
    parser.add_argument(
        "--template",
        action="append",
        default=[],
        choices=sorted(TEMPLATES),
        help="add a platform template (repeatable): "
        + "; ".join(f"{name}: {text}" for name, (text, _) in TEMPLATES.items()),
    )
    parser.add_argument("--api", choices=sorted(_TARGETS), default="v1alpha2", help="output API (default v1alpha2)")


def run(args: argparse.Namespace) -> int:
    if not args.paths and not args.template:
        raise InputError("give platform policy files and/or --template NAME", "platform")
    policies = list(read_platform_inputs(args.paths).policies) if args.paths else []
    for name in args.template:
        policies.extend(TEMPLATES[name][1]())
    names = [p.ref.name for p in policies]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputError(f"two platform policies are named {', '.join(duplicates)}; names must be unique", "platform")
    compiled = _TARGETS[args.api](policies)
    if compiled.objects:
        print(dump_yaml_documents(compiled.objects), end="")
    for note in compiled.caveats:
        print(f"fenceline platform: caveat: {note}", file=sys.stderr)
    for note in compiled.not_expressed:
        print(f"fenceline platform: not expressed in {args.api}: {note}", file=sys.stderr)
    return 1 if compiled.not_expressed else 0
