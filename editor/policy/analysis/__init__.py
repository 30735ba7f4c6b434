"""Who may talk to whom under a set of manifests and policies, why, and how two policy sets differ.

The semantics are SEMANTICS.md section 3 (Kubernetes NetworkPolicy, with the API server's defaulting applied
here because files are not defaulted) and section 4 (CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy).

API:
* `analyse(cluster, options=Options()) -> Analysis` validates every policy of a `manifests.Cluster` (raising
  `yamlio.InputError` naming policy, field and file:line) and computes the permitted connections.
* `Analysis.connections`: `{(src_peer, dst_peer): ConnectionSet}` for every pair with something allowed.
  Peers are `WorkloadPeer` (`ns/name[Kind]`), `ExternalPeer` (an IP interval, `a-b[External]`), `EntityPeer`
  (a Cilium entity such as `host[Entity]`, present only when a Cilium policy names it) and `FqdnPeer` (a
  `toFQDNs` name or pattern, an opaque external destination, `api.example.com[FQDN]`).
* `Analysis.connection(src, dst)`, `.explain(src, dst) -> Explanation` (which policy and rule allowed or denied
  what), `.peers()`, `.peer(text)`, `.workload_peer(workload)` and `.external_peer(ip, as_source)` to find
  peers, `.warnings` (rules that cannot apply, ambiguous Cilium rules, ignored fields).
* The peers outside the pods: `.external_ranges(as_source)` (address intervals per IP version), `.entities()`,
  `.fqdns()`, and all of them per side, `.external_sources()` and `.external_destinations()`.
* `format_connlist(analysis)`: np-guard/netpol-analyzer's txt connlist format; `format_explanations(analysis)`;
  `diff(a, b) -> list[DiffEntry]` and `format_diff(entries)` in netpol-analyzer's diff format.
* `ConnectionSet`: protocol -> disjoint port intervals for TCP, UDP and SCTP (the only protocols NetworkPolicy
  defines); `ALL_CONNECTIONS` and `NO_CONNECTIONS` are its extremes.

How it scales: pods with the same namespace, labels, container ports (and, with `ipblock_matches_pods`, the same
ipBlock membership) form one class and are evaluated once; rule peers are bitsets over classes and IP
intervals. External IPs are the disjoint intervals of the address space cut at every CIDR boundary that rules
use, separately for sources (ingress rules) and destinations (egress rules), as netpol-analyzer does.

The package, one concept a module: `connections` (ConnectionSet), `peers` (the ends of a connection, Options),
`parse` (policies read and validated; NetworkPolicy), `parse_cilium` (Cilium policies), `match` (pod classes and
rule peers as bitsets), `explain` (explanation records), `evaluate` (`Analysis`, `analyse`), `format` (output
formats, diff), `ingress` (Ingress/Route objects and the `{ingress-controller}` peer), `focus` (netpol-analyzer's
focus options), `exposure` (what each workload is open to whatever pods exist), `explain_text`
(netpol-analyzer's `--explain` report), `icmp` (observed ICMP where Cilium enforces the policies: connection sets
leave it out, NetworkPolicy does not define it) and `admin` (AdminNetworkPolicy and BaselineAdminNetworkPolicy, the
layers before and after NetworkPolicy).
"""

from .connections import ALL_CONNECTIONS, NO_CONNECTIONS, PROTOCOLS, ConnectionSet, Intervals
from .evaluate import Analysis, analyse
from .explain import DirectionExplanation, Explanation, RuleMatch
from .format import DiffEntry, diff, format_connlist, format_diff, format_explanations
from .match import fqdn_matches
from .parse import ENTITIES, ENTITY_PEERS, Block, PeerSel, PolicyRef
from .peers import EntityPeer, ExternalPeer, FqdnPeer, Options, Peer, WorkloadPeer

__all__ = [
    "ALL_CONNECTIONS",
    "ENTITIES",
    "ENTITY_PEERS",
    "NO_CONNECTIONS",
    "PROTOCOLS",
    "Analysis",
    "Block",
    "ConnectionSet",
    "DiffEntry",
    "DirectionExplanation",
    "EntityPeer",
    "Explanation",
    "ExternalPeer",
    "FqdnPeer",
    "Intervals",
    "Options",
    "Peer",
    "PeerSel",
    "PolicyRef",
    "RuleMatch",
    "WorkloadPeer",
    "analyse",
    "diff",
    "format_connlist",
    "format_diff",
    "format_explanations",
    "fqdn_matches",
]
