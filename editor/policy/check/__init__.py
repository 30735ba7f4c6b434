"""Does the YAML do what the drawing says? The Check view, the compiler proof and flow replay.

A drawing is compiled (compile.py) and the YAML analysed (analysis/) over a cluster made from the drawing
itself; separately, the drawing's own meaning is evaluated straight from its nodes and edges (`Intent`). The
two must agree everywhere -- that is the proof of the compilers -- and the Check view shows where the drawing
disagrees with itself: drawn edges that are not effectively allowed, and allowed connections nobody drew.

API:
* `analyse_document(doc, dialect=None) -> Bridge`: the cluster of the drawing (`document_cluster`), the compiled
  policies and the `Analysis` of that YAML over that cluster.
* `Intent(doc, pods)`: the drawing's meaning, evaluated independently of the compilers and the analyser;
  `intent.connection(src, dst)` for analyser peers. `mismatches(bridge, intent)` compares the two everywhere.
* `check_document(doc, dialect=None) -> CheckResult`: the matrix, flagged edges, undrawn connections,
  mismatches; `to_json()` for the editor, `cell_json(src, dst)` for the hover of one cell (the analyser's
  explanation and, per side, isolation and the edges that allow or deny the pair), `explain(src, dst)`.
* Flow replay: `observations_from_document(flow_doc)`, `add_observed(cluster, flow_doc)`,
  `replay(observations, analysis) -> ReplayResult`, `replay_document(doc, dialect=None, observed=None)`.
  Observed ICMP is judged where Cilium enforces the policies (`decides_icmp(dialect)`, or Cilium policies among
  the analysed ones; `analysis.icmp`), and undecided under NetworkPolicy, which leaves it to the implementation.

The cluster of a drawing:
* every document namespace with its labels (`kubernetes.io/metadata.name` included);
* every workload node is a workload `ns/name[Owner]` (`[Workload]` without an owner) with its labels and named
  container ports, standing for all its replicas (one pod class);
* a selector node that is used (an enabled edge touches it, or it is locked) and whose selector matches no
  workload's pods gets one representative pod `ns/<name or id>[Selector]`, labelled to satisfy its pod
  selector and placed in its namespace (for a namespaceSelector, the first matching document namespace by
  name). Without it, a drawing made only of selectors would show no traffic at all. A selector that no pod can
  satisfy (`app=a` and `app NotIn [a]`) or whose namespaceSelector matches no namespace gets none;
* pods carry no IPs, so `settings.ipblockMatchesPods` changes nothing: an ipBlock never matches them.

The drawing's meaning (`Intent`), SEMANTICS.md 3 and 4 applied to nodes and edges rather than to YAML:
* a node covers pods (workload and selector nodes: pods of their namespace(s) that their selector picks;
  entities `all` and `cluster`: every pod), external addresses (CIDR nodes: cidr minus except; `world`,
  `world-ipv4`, `world-ipv6`, `all`), entity peers (`all`, `cluster`, the entity itself) and FQDN peers (an FQDN
  node by name or pattern; `world`/`all`/`0.0.0.0/0` without except, whose addresses include any name's);
* a pod is isolated for egress iff a subject node covering it is locked for egress or an enabled edge is
  enforced on such a node as "source" (likewise ingress and "target");
* for a pod and a peer, a direction allows: everything when not isolated, else the union of the ports of the
  enabled allow edges enforced on a node covering the pod whose other end covers the peer; then minus the ports
  of such deny edges (Cilium deny wins). Named ports resolve on the receiving pod; towards addresses they
  match nothing. An edge without ports allows all ports, or nothing of TCP/UDP/SCTP when it has only ICMP;
* pod to pod = egress of the source AND ingress of the destination; to or from an address, entity or FQDN only
  the pod side counts; a pod's own node (`host`) may always reach it (S6); a workload to itself is not listed.

The package, one concept a module: `cluster` (the drawing's cluster), `observed` (flow observations and the
workloads they add), `bridge` (compile and analyse a drawing), `intent` (the drawing's own meaning), `proof`
(analyser and intent compared), `view` (the Check view), `replay` (flow replay) and `layers` (a drawing with
platform layers: the analysis through the tiers, and which tier decided each cell).
"""

from .bridge import Bridge, analyse_document, policy_objects
from .cluster import (
    REPRESENTATIVE_KIND,
    BridgePod,
    DocumentCluster,
    document_cluster,
    label_selector,
    satisfying_labels,
)
from .intent import End, Intent, SideRule, edge_connections
from .observed import DENIED_VERDICTS, Endpoint, Observation, add_observed, observations_from_document
from .proof import Mismatch, mismatches, peer_end
from .replay import Replayed, ReplayResult, decides_icmp, replay, replay_document
from .view import EXPLAINED_PAIRS, CheckPeer, CheckResult, EdgeFinding, PairFinding, Undrawn, check_document, status_of

__all__ = [
    "DENIED_VERDICTS",
    "EXPLAINED_PAIRS",
    "REPRESENTATIVE_KIND",
    "Bridge",
    "BridgePod",
    "CheckPeer",
    "CheckResult",
    "DocumentCluster",
    "EdgeFinding",
    "End",
    "Endpoint",
    "Intent",
    "Mismatch",
    "Observation",
    "PairFinding",
    "ReplayResult",
    "Replayed",
    "SideRule",
    "Undrawn",
    "add_observed",
    "analyse_document",
    "check_document",
    "decides_icmp",
    "document_cluster",
    "edge_connections",
    "label_selector",
    "mismatches",
    "observations_from_document",
    "peer_end",
    "policy_objects",
    "replay",
    "replay_document",
    "satisfying_labels",
    "status_of",
]
