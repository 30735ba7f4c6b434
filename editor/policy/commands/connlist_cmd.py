"""`fenceline connlist PATH...`: the permitted connections in np-guard/netpol-analyzer's txt format.

`--explain` adds the reasons (which policy and rule allowed or denied what), `--diff OTHER...` lists what
changes from PATH (ref1) to OTHER (ref2). Warnings (skipped objects, rules that cannot apply) go to stderr.

`--flows FILE...` replays observed traffic (Hubble or Gadget logs, as `fenceline flows` reads them) against the
policies of PATH: each observed connection is printed with allowed, DENIED (would break: it flowed when
observed) or denied (it was already dropped then), and a summary line; the exit code is 1 when some observed
connection would break, so the command can gate a merge request. Workloads the logs name but PATH lacks are
added from the logs (labels included), so PATH may hold policies only. With `--explain`, each denied
connection is followed by its reasons.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from ..analysis import Analysis, Options, analyse, diff, format_connlist, format_diff, format_explanations
from ..check import add_observed, observations_from_document, replay
from ..flows import read_flow_paths
from ..manifests import Cluster
from ..platform.connlist import analyse_tiers
from ..platform.inputs import read_platform_inputs
from ..yamlio import InputError


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
        "--flows",
        nargs="+",
        metavar="FILE",
        help="replay observed traffic (Hubble/Gadget logs, plain or gzip; - is stdin) against the policies; "
        "exit 1 when traffic that flowed when observed would now be denied",
    )
    parser.add_argument(
        "--ipblock-matches-pods",
        action="store_true",
        help="let ipBlock CIDRs match pod IPs too (cyclonus/Calico behaviour; default: external IPs only)",
    )
    parser.add_argument(
        "--node-selector-labels",
        action="store_true",
        help="the Cilium agent runs with --enable-node-selector-labels (default: off, and a Cilium policy with "
        "fromNodes/toNodes is refused and analysed as absent)",
    )


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        print(f"fenceline connlist: warning: {warning}", file=sys.stderr)


def _analyse_cluster(cluster: Cluster, options: Options) -> Analysis:
    analysis = analyse(cluster, options)
    _warn([*cluster.warnings, *analysis.warnings])
    return analysis


def _analyse(paths: list[str], options: Options) -> Analysis:
    inputs = read_platform_inputs(paths)
    if not inputs.policies:
        return _analyse_cluster(inputs.cluster, options)
    analysis = analyse_tiers(inputs, options)  # ClusterNetworkPolicy / ANP / BANP around NetworkPolicy
    _warn([*inputs.cluster.warnings, *analysis.warnings])
    return analysis


def _replay(args: argparse.Namespace, options: Options) -> int:
    if args.diff:
        raise InputError("--flows replays against one policy set; it cannot be combined with --diff", "connlist")
    flows = read_flow_paths(args.flows)
    for line in flows.summary.lines():
        print(f"fenceline connlist: flows: {line}", file=sys.stderr)
    inputs = read_platform_inputs(args.paths)
    cluster = add_observed(inputs.cluster, flows.document)
    if inputs.policies:  # the platform tiers decide too (explanations still name NetworkPolicy reasons only)
        analysis: Analysis = analyse_tiers(dataclasses.replace(inputs, cluster=cluster), options)
        _warn([*cluster.warnings, *analysis.warnings])
    else:
        analysis = _analyse_cluster(cluster, options)
    result = replay(observations_from_document(flows.document), analysis, explain=args.explain)
    for connection in result.connections:
        print(connection.line())
        for line in connection.explanation:
            print(f"    {line}")
    print(result.summary())
    return 1 if result.breaking else 0


def run(args: argparse.Namespace) -> int:
    options = Options(ipblock_matches_pods=args.ipblock_matches_pods, node_selector_labels=args.node_selector_labels)
    if args.flows:
        return _replay(args, options)
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
