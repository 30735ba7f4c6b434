"""`fenceline probe PATH... --from NS/POD --to NS/POD|IP --protocol P --port N` (or `--probes FILE`).

One line per probe, starting `allowed` or `denied`, then the deciding tier, policy and rule of each direction
(egress of the source, ingress of the destination), through the tiers of ClusterNetworkPolicy /
AdminNetworkPolicy / BaselineAdminNetworkPolicy and NetworkPolicy (`editor.policy.platform`). Exit 0.
"""

from __future__ import annotations

import argparse
import sys

from ..analysis import Options
from ..platform.inputs import read_platform_inputs
from ..platform.probe import Prober, check_probe, load_probes_file
from ..yamlio import InputError, decode, read_sources
from .options import add_ipblock_matches_pods


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="manifests and policies (files or directories)")
    parser.add_argument("--from", dest="source", metavar="NS/POD", help="the pod that opens the connection")
    parser.add_argument("--to", dest="target", metavar="NS/POD|IP", help="the pod or address it connects to")
    parser.add_argument("--protocol", default="TCP", type=str.upper, choices=("TCP", "UDP", "SCTP"))
    parser.add_argument("--port", type=int, metavar="N", help="destination port")
    parser.add_argument("--probes", metavar="FILE", help='JSON list of {"from", "to", "protocol", "port"}')
    add_ipblock_matches_pods(
        parser, "let NetworkPolicy ipBlock CIDRs match pod IPs too (platform `networks` peers always do)"
    )


def run(args: argparse.Namespace) -> int:
    if args.probes:
        if args.source or args.target or args.port is not None:
            raise InputError("give either --probes FILE or --from/--to/--port, not both", "probe")
        ((source, data),) = read_sources([args.probes], suffixes=())
        probes = load_probes_file(decode(data, source), source)
    else:
        if not args.source or not args.target or args.port is None:
            raise InputError("a probe needs --from, --to and --port (or --probes FILE)", "probe")
        probes = [
            check_probe({"from": args.source, "to": args.target, "protocol": args.protocol, "port": args.port}, "probe")
        ]
    prober = Prober(read_platform_inputs(args.paths), Options(ipblock_matches_pods=args.ipblock_matches_pods))
    for warning in [*prober.inputs.cluster.warnings, *prober.warnings]:
        print(f"fenceline probe: warning: {warning}", file=sys.stderr)
    for probe in probes:
        print(prober.run(probe).line())
    return 0
