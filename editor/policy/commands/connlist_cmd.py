"""`fenceline connlist PATH...`: the permitted connections in np-guard/netpol-analyzer's txt format.

The options and outputs are np-guard/netpol-analyzer's `list` command's, byte for byte in its txt format:
`--explain` (with `--explain-only allow|deny`) gives the reasons (which policy and rule allowed or denied what),
`--exposure` what each workload is open to whatever pods exist, `--focusworkload`, `--focusworkload-peer`,
`--focus-direction` and `--focus-conn` narrow the question. `--diff OTHER...` lists what changes from PATH (ref1)
to OTHER (ref2), like `fenceline diff`. Warnings (skipped objects, rules that cannot apply) go to stderr. A file
with a YAML syntax error contributes the documents before the error, with a warning, as upstream reads it.

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
from collections.abc import Iterable

from ..analysis import Analysis, Options, analyse, diff, format_connlist, format_diff
from ..analysis.explain_text import explain_chunks
from ..analysis.exposure import exposure, format_exposure
from ..analysis.focus import Focus, FocusConn
from ..check import add_observed, observations_from_document, replay
from ..flows import read_flow_paths
from ..manifests import Cluster, load_paths, read_cluster
from ..platform.connlist import analyse_tiers
from ..platform.inputs import split_objects
from ..platform.parse import is_platform_object
from ..yamlio import InputError, KubeObject
from .options import add_ipblock_matches_pods


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
        "--explain-only",
        choices=("allow", "deny"),
        help="with --explain: only the allowed, or only the denied, connections and their reasons",
    )
    parser.add_argument(
        "--exposure", action="store_true", help="what each workload is open to, whatever pods exist (exposure analysis)"
    )
    _add_focus_arguments(parser)
    parser.add_argument(
        "--flows",
        nargs="+",
        metavar="FILE",
        help="replay observed traffic (Hubble/Gadget logs, plain or gzip; - is stdin) against the policies; "
        "exit 1 when traffic that flowed when observed would now be denied",
    )
    add_ipblock_matches_pods(parser)
    parser.add_argument(
        "--node-selector-labels",
        action="store_true",
        help="the Cilium agent runs with --enable-node-selector-labels (default: off, and a Cilium policy with "
        "fromNodes/toNodes is refused and analysed as absent)",
    )


def _add_focus_arguments(parser: argparse.ArgumentParser) -> None:
    """netpol-analyzer's focus options: which workloads, with whom, on what connection, which direction."""
    focus = parser.add_argument_group("focus", "narrow the connections listed, explained or exposed")
    focus.add_argument(
        "--focusworkload",
        metavar="NAMES",
        help="comma-separated workloads (name or ns/name): only connections with one of them at one end",
    )
    focus.add_argument(
        "--focusworkload-peer",
        metavar="NAMES",
        help="with --focusworkload: only connections whose other end is one of these workloads",
    )
    focus.add_argument("--focus-conn", metavar="PROTOCOL-PORT", help="only connections allowing this, e.g. tcp-8080")
    focus.add_argument(
        "--focus-direction",
        choices=("ingress", "egress"),
        help="with --focusworkload: only the focus workloads' ingress or egress",
    )


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        print(f"fenceline connlist: warning: {warning}", file=sys.stderr)


def _analyse_cluster(cluster: Cluster, options: Options) -> Analysis:
    analysis = analyse(cluster, options)
    _warn([*cluster.warnings, *analysis.warnings])
    return analysis


def _has_cluster_network_policies(objects: list[KubeObject]) -> bool:
    """ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2) is analysed by the platform tiers around the
    NetworkPolicy evaluation (editor.policy.platform); AdminNetworkPolicy and BaselineAdminNetworkPolicy
    (v1alpha1) by the analyser itself (analysis.admin), in netpol-analyzer's words."""
    return any(item.kind == "ClusterNetworkPolicy" and is_platform_object(item) for item in objects)


def _analyse(paths: list[str], options: Options) -> Analysis:
    objects, warnings = load_paths(paths, keep_before_syntax_error=True)
    if _has_cluster_network_policies(objects):
        inputs = split_objects(objects, warnings)
        tiered = analyse_tiers(inputs, options)
        _warn([*inputs.cluster.warnings, *tiered.warnings])
        return tiered
    cluster = read_cluster(objects, warnings)
    read = [*cluster.workloads, *cluster.policies, *cluster.exposing, *cluster.admin_policies, *cluster.services]
    read += [ns for ns in cluster.namespaces.values() if ns.where is not None]
    if not read and cluster.warnings:
        # nothing could be read: the reason is in the first warning (netpol-analyzer fails the same way)
        raise InputError(f"no Kubernetes resources to analyse: {cluster.warnings[0]}", " ".join(paths))
    return _analyse_cluster(cluster, options)


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(name.strip() for name in (text or "").split(",") if name.strip())


def focus_of(args: argparse.Namespace) -> Focus:
    return Focus(
        _names(args.focusworkload),
        _names(args.focusworkload_peer),
        args.focus_direction,
        FocusConn.parse(args.focus_conn) if args.focus_conn else None,
    )


def _replay(args: argparse.Namespace, options: Options) -> int:
    if args.diff:
        raise InputError("--flows replays against one policy set; it cannot be combined with --diff", "connlist")
    flows = read_flow_paths(args.flows)
    for line in flows.summary.lines():
        print(f"fenceline connlist: flows: {line}", file=sys.stderr)
    objects, warnings = load_paths(args.paths)
    analysis: Analysis
    if _has_cluster_network_policies(objects):  # the v1alpha2 tiers decide too
        inputs = split_objects(objects, warnings)
        cluster = add_observed(inputs.cluster, flows.document)
        analysis = analyse_tiers(dataclasses.replace(inputs, cluster=cluster), options)
        _warn([*cluster.warnings, *analysis.warnings])
    else:
        analysis = _analyse_cluster(add_observed(read_cluster(objects, warnings), flows.document), options)
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
    focus = focus_of(args)
    if args.explain_only and not args.explain:
        raise InputError("--explain-only needs --explain", "connlist")
    if args.exposure and args.diff:
        raise InputError(
            "--exposure lists what one policy set leaves open; it cannot be combined with --diff", "connlist"
        )
    analysis = _analyse(args.paths, options)
    if args.diff:
        parts: Iterable[str] = [format_diff(diff(analysis, _analyse(args.diff, options)))]
    elif args.explain:  # written as it is worked out: it is hundreds of MB for a large cluster
        parts = explain_chunks(analysis, focus, args.explain_only)
    else:
        parts = [format_connlist(analysis, focus)]
    written = _write(parts, "")
    if args.exposure:
        written = _write([format_exposure(exposure(analysis, focus), focus)], "\n\n" if written else "") or written
    if written:
        sys.stdout.write("\n")
    return 0


def _write(parts: Iterable[str], before: str) -> bool:
    """Write the non-empty `parts` to stdout, `before` ahead of the first; whether anything was written."""
    written = False
    for part in parts:
        if part:
            sys.stdout.write(part if written else before + part)
            written = True
    return written
