"""Policy YAML and workload manifests -> graph document.

`import_paths(paths)`, `import_text(data, source)` and `import_objects(objects, into=None)` return an
`ImportResult(document, warnings)`. Input is read by yamlio (bounded, with lines) and manifests.read_cluster
(namespaces, workloads with labels and named container ports, policy objects); unreadable input raises
yamlio.InputError naming file and line. Every warning is one line: `file:line: <what>: <field path>: message`.

Policies (NetworkPolicy, CiliumNetworkPolicy with `spec` and/or `specs`, CiliumClusterwideNetworkPolicy):
* Each policy object is first checked by validate.py; its findings become warnings (errors say "invalid"), and
  the policy is then imported as far as it can be. Of two policies with the same kind, namespace and name only
  the last is imported, as `kubectl apply` would keep only the last.
* The subject becomes a selector node (namespace + podSelector; a CCNP without a namespace term: all
  namespaces, or the namespace labels it names), or a hosts node for a Cilium `nodeSelector`. Policies with the
  same subject share the node (policies are additive); the node keeps the first policy's name as `policyName`.
* Isolation: NetworkPolicy from the defaulted policyTypes (SEMANTICS D1: Ingress always, Egress when the policy
  has egress rules); Cilium from non-empty sections (C2). Rules of a direction that policyTypes does not list
  have no effect in Kubernetes: they become disabled edges, with a warning.
* Every rule x peer becomes an edge enforced on the subject's side; an edge that both ends enforce (the same
  source, target, ports and L7 rules from an ingress and an egress rule) is one edge with both sides.
  A missing or empty `from`/`to` (NetworkPolicy) or a Cilium rule without peer fields but with `toPorts` is the
  entity `all`. A Cilium rule with neither peers nor ports (`- {}`) is Cilium's default deny (C4): the lock
  without an edge. A `toPorts` entry without ports allows nothing and is dropped. A Cilium policy the API server
  refuses (unknown L7 kind, entity world-ipv4/-ipv6, a rule with four empty sections, C4a) is not imported.
* Peers: podSelector / namespaceSelector / both (a namespaceSelector that is exactly
  `kubernetes.io/metadata.name: X` is the namespace X); ipBlock -> cidr node. Cilium endpoint selectors lose
  their `k8s:`/`any:` prefixes; `io.kubernetes.pod.namespace` gives the namespace, `io.cilium.k8s.namespace.
  labels.<k>` a namespaceSelector; without either the peer is in the policy's namespace (CNP, C5) or in every
  namespace (CCNP, C6); `reserved:<entity>` is that entity. Entities, CIDR/CIDRSet, toFQDNs, from/toNodes
  (hosts nodes), toPorts (each entry its own edge; omitted protocol = ANY, port "0" = all ports), icmps,
  serverNames and ingressDeny/egressDeny (action deny) are imported.
* Never broader than the input: a rule whose peers, ports or ICMP fields cannot be read is dropped (not turned
  into "all"), an explicitly empty peer list (`fromEndpoints: []`) selects nothing and drops its rule; fields
  the document does not represent (toServices, to/fromRequires, cidrGroupRef, authentication,
  enableDefaultDeny: false, listener, TLS contexts, ...) are named in a warning.
* When a Cilium DNS L7 rule names a single DNS server other than `settings.dns`, the new document's
  `settings.dns` points at it, so FQDN edges re-render against that server.

Manifests: each workload becomes a workload node `w:<ns>/<Kind>/<name>`; namespaces keep their labels. When a
namespaced selector node (not `{}`) matches exactly one workload of its namespace, it is merged into that
workload, which keeps the selector as its `podSelector` so its policy re-renders identically.

The package: `common` (imported policies, nodes, field readers), `native` (NetworkPolicy), `cilium`
(CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy) and `build` (entry points, the document).
"""

from .build import import_objects, import_paths, import_text, workload_node_id
from .common import ImportResult, cidr_node, entity_node, fqdn_node, hosts_node, pods_node

__all__ = [
    "ImportResult",
    "cidr_node",
    "entity_node",
    "fqdn_node",
    "hosts_node",
    "import_objects",
    "import_paths",
    "import_text",
    "pods_node",
    "workload_node_id",
]
