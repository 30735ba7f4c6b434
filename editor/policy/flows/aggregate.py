"""Flows -> the graph document: endpoints grouped into nodes, one edge per (source, target, protocol, port).

Reading is split in two so that memory stays flat. While the log streams by, each flow is reduced to one
int (endpoint ids, verdict, protocol, port) and the entry under it only counts flows and keeps first and
last seen; L7 requests are kept per entry, up to a cap. Endpoint details (labels, owners, DNS names of world
addresses) are recorded once, the first time an endpoint is seen. At the end, `build` turns endpoints into
nodes (pods into workloads, reserved identities into Cilium entities, world addresses into FQDN or CIDR
nodes) and merges the entries that land on the same pair of nodes into edges. Traffic between two ends
outside the pod network (host to world) is counted and left out: no pod policy governs it.

Which subjects get a default-deny lock (the goal: compiling the document allows the observed traffic, not
more, and never locks a direction on no evidence):
- a pod monitored by the Gadget advisor is locked in both directions, as the advisor does: it watched all
  of that pod's traffic, so a direction with nothing in it is known to be unused;
- a workload seen in a Hubble log is locked in each direction it was seen using (as a source: egress; as a
  target: ingress, policy-denied attempts included, since a denial shows the direction is locked today). A
  log is a sample of a cluster, so silence in a direction is not evidence; with a namespace filter, only
  workloads in those namespaces are locked, so a peer like kube-dns is never locked to the few clients in
  the log;
- a workload whose labels the log does not give (a field-masked export) is never locked: its selector
  would have to be `{}`, every pod in its namespace.
An edge is enforced on exactly the sides that are locked in its direction (so "both" when both ends are
observed pods), because the compiler isolates every subject an enabled edge is enforced on.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections import Counter
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import msgspec

from ..document import SUBJECT_KINDS, Document, Edge, Isolation, Node, Observed, Port, safe_id
from ..selectors import validate_namespace_name
from . import gadget, hubble
from .model import NORMAL_TIME_LENGTH, FlowOptions, FlowSummary, normalize_time
from .workloads import name_from_labels, selector_labels, workload_of

EPHEMERAL_PORTS = 32768  # Linux's default ip_local_port_range starts here
ICMP_REPLIES = {"ICMPv4": 0, "ICMPv6": 129}  # echo reply
# Beyond this many distinct requests on one edge an L7 allow-list stops being useful; counting stops one
# past it, so that memory stays flat on a log of endless distinct URLs or names.
MAX_L7_RULES = 100
_REGEX_SPECIAL = re.compile(r"([\\.^$|?*+()\[\]{}])")

# Endpoint keys: ("workload", namespace, name) for Hubble pods (grouped as they arrive, since the log names
# their owner or their names tell it), ("pod", namespace, pod) for Gadget pods (an owner may be named only on
# a later record), ("group", namespace, identity), ("entity", name), ("world", address), ("svc", namespace,
# selector items). While reading, an endpoint is a small int, its index in Aggregator.endpoints; a world key
# stays an address until `build` decides FQDN or CIDR.
Key = tuple[Any, ...]

# The verdicts that make an edge, as small codes; "" is a Gadget connection (no verdict).
VERDICTS = (
    "",
    "FORWARDED",
    "REDIRECTED",
    "DROPPED:POLICY_DENIED",
    "DROPPED:POLICY_DENY",
    "DROPPED:AUTH_REQUIRED",
    "AUDIT",
)
VERDICT_CODES = {name: code for code, name in enumerate(VERDICTS)}
DENIED_VERDICTS = frozenset(VERDICTS[3:])
_ALLOWED_CODES = {"FORWARDED": 1, "REDIRECTED": 2}
PROTOCOLS = ("TCP", "UDP", "SCTP", "ICMPv4", "ICMPv6")
_ENDPOINT_MASK = (1 << 40) - 1
_OUTSIDE = ("entity", "world")  # endpoint key kinds outside the pod network


def edge_key(source: int, target: int, verdict: int, protocol: int, port: int) -> int:
    """One int for (source, target, verdict, protocol, port): hashing it is the cheapest dict key there is."""
    return ((((source << 40 | target) << 8 | verdict) << 3 | protocol) << 16) | port


def split_edge_key(key: int) -> tuple[int, int, int, int, int]:
    return key >> 67, key >> 27 & _ENDPOINT_MASK, key >> 19 & 0xFF, key >> 16 & 7, key & 0xFFFF


class EdgeStats:
    """What the flows between two nodes on one protocol and port showed (assembled in `build`)."""

    __slots__ = ("count", "first", "last", "origin", "requests", "verdicts")

    def __init__(self) -> None:
        self.count = 0
        self.first = ""
        self.last = ""
        self.verdicts: dict[str, int] = {}
        # L7 requests: ("http", method, path), ("dns", name), ...; shared and empty until an entry brings some
        self.requests: frozenset[tuple[str, ...]] = _NO_REQUESTS
        self.origin = 0  # HUBBLE | GADGET

    def add(self, verdict: str, count: int, first: str, last: str) -> None:
        self.count += count
        if first and (not self.first or first < self.first):
            self.first = first
        self.last = max(self.last, last)
        if verdict:
            self.verdicts[verdict] = self.verdicts.get(verdict, 0) + count
            self.origin |= HUBBLE
        else:
            self.origin |= GADGET

    @property
    def denied(self) -> bool:
        """Seen only as policy denials (never allowed): the edge is shown, disabled."""
        return bool(self.verdicts) and self.verdicts.keys() <= DENIED_VERDICTS


HUBBLE, GADGET = 1, 2
_NO_REQUESTS: frozenset[tuple[str, ...]] = frozenset()


@dataclasses.dataclass(slots=True)
class PodInfo:
    namespace: str
    name: str
    labels: dict[str, str] | None  # None: the log does not say (field mask)
    owner: str | None = None
    owner_kind: str | None = None
    namespace_labels: dict[str, str] = dataclasses.field(default_factory=dict)
    guess: tuple[str, str | None] | None = None  # workload_of(name, labels), once made


class Aggregator:
    """Accumulates flows from any number of files; `build` makes or extends a document."""

    def __init__(self, options: FlowOptions, summary: FlowSummary) -> None:
        self.options = options
        self.summary = summary
        self.edges: dict[int, list[Any]] = {}  # edge_key -> [flows, first seen, last seen]
        self.requests: dict[int, set[tuple[str, ...]]] = {}  # edge_key -> L7 requests
        self.ignored: Counter[str] = Counter()
        self.replies = 0
        self.flows_read = 0
        self.endpoints: list[Key] = []  # endpoint id -> key
        self._endpoint_ids: dict[Key, int] = {}
        self._pods: dict[str, tuple[str, int]] = {}  # pod name -> (namespace, id) of the first pod so named
        self._pod_ids: dict[tuple[str, str], int] = {}  # (namespace, pod name) -> id, for every pod
        self.workload_pods: dict[Key, list[PodInfo]] = {}  # Hubble pods by workload key
        self.pod_info: dict[Key, PodInfo] = {}  # Gadget pods and identity groups
        self._identities: dict[int, Key | None] = {}
        self._label_sets: dict[bytes, Key | None] = {}
        self._valid_namespaces: dict[str, bool] = {}  # namespace name -> whether a graph can hold it
        self.world_names: dict[str, str] = {}  # address -> DNS name, from destination_names and DNS answers
        self.monitored: set[Key] = set()  # pods the Gadget advisor watched
        self.services: dict[Key, str] = {}  # service key -> first service name seen
        self.warnings: Counter[str] = Counter()
        self._verdict_filter = {
            code for code, name in enumerate(VERDICTS) if name.partition(":")[0] in options.verdicts
        }
        self._filtering = bool(options.verdicts or options.since or options.until or options.namespaces)

    def _id(self, key: Key) -> int:
        found = self._endpoint_ids.get(key)
        if found is None:
            found = self._endpoint_ids[key] = len(self.endpoints)
            self.endpoints.append(key)
        return found

    # ---- Hubble ---------------------------------------------------------------------------------------

    def add_flow(self, flow: hubble.Flow) -> None:
        """Count one Hubble flow (the caller counts it as read). This runs once per line of a log of millions:
        every attribute lookup shows in the benchmark, so the filters are skipped as a block when unset."""
        verdict = _ALLOWED_CODES.get(flow.verdict)  # type: ignore[call-overload]
        if verdict is None:
            name = hubble.verdict_of(flow)
            verdict = VERDICT_CODES.get(name)
            if not verdict:
                self.ignored[_ignored_verdict(name)] += 1
                return
        l7 = flow.l7
        if l7 is not None and l7.dns is not None and l7.dns.ips:
            self._learn_names(l7.dns)
        l4 = flow.l4
        if l4 is None:
            self.ignored["no layer-4 header"] += 1
            return
        ports = l4.TCP
        protocol = 0
        if ports is None:
            ports = l4.UDP
            protocol = 1
            if ports is None:
                ports = l4.SCTP
                protocol = 2
        reply = flow.is_reply
        if ports is not None:
            port = ports.destination_port
            if reply is None:
                reply = _guess_reply(flow, ports)
        else:
            icmp = l4.ICMPv4
            protocol = 3
            if icmp is None:
                icmp = l4.ICMPv6
                protocol = 4
                if icmp is None:
                    self.ignored["protocol other than TCP, UDP, SCTP, ICMP"] += 1
                    return
            port = icmp.type & 0xFFFF
            if reply is None:
                reply = flow.reply or ICMP_REPLIES[PROTOCOLS[protocol]] == port
        if reply:
            self.replies += 1
            return
        if protocol < 3 and not 0 < port < 65536:
            self.ignored["no destination port"] += 1
            return
        time = flow.time
        if len(time) != NORMAL_TIME_LENGTH or time[-1] != "Z":
            time = normalize_time(time)
        source = flow.source
        destination = flow.destination
        if self._filtering and self._filtered_out(verdict, time, source.namespace, destination.namespace):
            return
        pods = self._pods
        pod = source.pod_name
        if pod and (known := pods.get(pod)) is not None and known[0] == source.namespace:
            src: int | None = known[1]
        else:
            src = self._endpoint(source, flow.IP.source if flow.IP else "", flow.source_names)
        pod = destination.pod_name
        if pod and (known := pods.get(pod)) is not None and known[0] == destination.namespace:
            dst: int | None = known[1]
        else:
            dst = self._endpoint(destination, flow.IP.destination if flow.IP else "", flow.destination_names)
        if src is None or dst is None:
            self.ignored["an end Hubble did not identify"] += 1
            return
        key = ((((src << 40 | dst) << 8 | verdict) << 3 | protocol) << 16) | port  # edge_key(), inlined
        entry = self.edges.get(key)
        if entry is None:
            self.edges[key] = [1, time, time]
        else:
            entry[0] += 1
            if time < entry[1]:
                entry[1] = time
            elif time > entry[2]:
                entry[2] = time
        if l7 is not None:
            self._add_request(key, l7)

    def _filtered_out(self, verdict: int, time: str, *namespaces: str) -> bool:
        """Whether the user's filters leave this flow out (counted under the first filter that does)."""
        options = self.options
        if options.verdicts and verdict and verdict not in self._verdict_filter:
            self.ignored["verdict not selected"] += 1
        elif time and ((options.since and time < options.since) or (options.until and time > options.until)):
            self.ignored["outside the time window"] += 1
        elif options.namespaces and options.namespaces.isdisjoint(namespaces):
            self.ignored["namespace not selected"] += 1
        else:
            return False
        return True

    def _learn_names(self, dns: hubble.Dns) -> None:
        name = dns.query.rstrip(".")
        if name:
            for address in dns.ips:
                self.world_names.setdefault(address, name)

    def _add_request(self, key: int, l7: hubble.Layer7) -> None:
        if hubble.enum_name(l7.type, hubble.L7_TYPES) != "REQUEST":
            return
        request: tuple[str, ...]
        if l7.http is not None and l7.http.method:
            request = ("http", l7.http.method.upper(), _url_path(l7.http.url))
        elif l7.dns is not None and l7.dns.query.rstrip("."):
            request = ("dns", l7.dns.query.rstrip(".").lower())
        elif l7.kafka is not None and l7.kafka.api_key:
            request = ("kafka", l7.kafka.api_key, l7.kafka.topic)
        else:
            return
        requests = self.requests.get(key)
        if requests is None:
            requests = self.requests[key] = set()
        if len(requests) <= MAX_L7_RULES:
            requests.add(request)

    def _endpoint(self, endpoint: hubble.Endpoint, address: str, names: tuple[str, ...]) -> int | None:
        """The id of an endpoint the fast pod lookup in add_flow did not find."""
        if endpoint.pod_name:
            pod = (endpoint.namespace, endpoint.pod_name)
            endpoint_id = self._pod_ids.get(pod)
            if endpoint_id is None:
                key = self._new_pod(endpoint)
                endpoint_id = self._pod_ids[pod] = -1 if key is None else self._id(key)
                if key is not None:
                    self._pods.setdefault(endpoint.pod_name, (endpoint.namespace, endpoint_id))
            return None if endpoint_id < 0 else endpoint_id
        identity = endpoint.identity
        if identity:
            if identity in self._identities:
                found = self._identities[identity]
            else:
                found = self._identities[identity] = self._identity_key(endpoint)
        elif endpoint.labels is hubble.EMPTY_LIST:
            return None
        else:
            raw = bytes(endpoint.labels)
            if raw in self._label_sets:
                found = self._label_sets[raw]
            else:
                found = self._label_sets[raw] = self._identity_key(endpoint)
        if found is None:
            return None
        if found[0] == "world":
            if not address:
                return self._id(("entity", "world"))
            if names:
                self.world_names.setdefault(address, names[0].rstrip("."))
            return self._id(("world", address))
        return self._id(found)

    def _new_pod(self, endpoint: hubble.Endpoint) -> Key | None:
        """Record a pod seen for the first time; its key is its workload's, so replicas share edges. None
        for a pod in no usable namespace (a field-masked or hand-edited log): the graph has no place for it,
        so its flows are left out, with a warning naming it."""
        labels = hubble.decode_labels(endpoint.labels)
        pod_labels, namespace_labels, labelled_namespace = hubble.split_labels(labels)
        namespace = endpoint.namespace or labelled_namespace
        valid = self._valid_namespaces.get(namespace)
        if valid is None:
            valid = self._valid_namespaces[namespace] = not validate_namespace_name(namespace)
        if not valid:  # a graph holds no node outside a valid namespace
            where = f"namespace {namespace!r}"
            self.warnings[f"pod {endpoint.pod_name!r} is in no valid namespace ({where}); its flows were left out"] += 1
            return None
        owner = endpoint.workloads[0] if endpoint.workloads else None
        info = PodInfo(
            namespace,
            endpoint.pod_name,
            pod_labels if pod_labels else None,
            owner.name if owner else None,
            owner.kind if owner else None,
            namespace_labels,
        )
        if info.owner:
            key = ("workload", namespace, info.owner)
        else:
            info.guess = workload_of(info.name, pod_labels)
            key = ("workload", namespace, info.guess[0])
        self.workload_pods.setdefault(key, []).append(info)
        return key

    def _identity_key(self, endpoint: hubble.Endpoint) -> Key | None:
        """The key of an endpoint known by identity and labels but not by pod name."""
        labels = hubble.decode_labels(endpoint.labels)
        entity = hubble.reserved_entity(labels)
        if entity is None and 0 < endpoint.identity < 256:
            entity = hubble.RESERVED_IDENTITIES.get(endpoint.identity)
        if entity is None and endpoint.identity >= hubble.LOCAL_IDENTITY_SCOPE:
            entity = "world"  # a CIDR or FQDN identity: outside the cluster
        if entity == "world":
            return ("world", "")
        if entity is not None:
            return ("entity", entity)
        pod_labels, namespace_labels, namespace = hubble.split_labels(labels)
        namespace = endpoint.namespace or namespace
        if validate_namespace_name(namespace) or not pod_labels:
            return None
        key = ("group", namespace, endpoint.identity or len(self.pod_info))
        self.pod_info[key] = PodInfo(namespace, "", pod_labels, namespace_labels=namespace_labels)
        return key

    # ---- Gadget ---------------------------------------------------------------------------------------

    def add_connection(self, connection: gadget.Connection) -> None:
        self.flows_read += 1
        local_key = self._gadget_pod(connection.local.namespace, connection.local.name, connection.local)
        self.monitored.add(local_key)
        peer_key = self._gadget_peer(connection.peer)
        if peer_key is None:
            return
        time = normalize_time(connection.time) if connection.time else ""
        if self._filtered_out(0, time, connection.local.namespace, connection.peer.namespace):
            return
        local, peer = self._id(local_key), self._id(peer_key)
        source, target = (local, peer) if connection.outgoing else (peer, local)
        key = edge_key(source, target, 0, PROTOCOLS.index(connection.protocol), connection.port)
        entry = self.edges.setdefault(key, [0, time, time])
        entry[0] += 1
        if time:
            entry[1] = min(filter(None, (entry[1], time)))
            entry[2] = max(entry[2], time)

    def _gadget_pod(
        self, namespace: str, name: str, pod: gadget.Pod | None, labels: dict[str, str] | None = None
    ) -> Key:
        key = ("pod", namespace, name)
        if key not in self.pod_info:
            self.pod_info[key] = PodInfo(namespace, name, dict(pod.labels if pod else labels or {}))
        if pod is not None and pod.owner:
            info = self.pod_info[key]
            info.owner, info.owner_kind = pod.owner, pod.owner_kind or info.owner_kind
        return key

    def _gadget_peer(self, peer: gadget.Peer) -> Key | None:
        if peer.kind == "pod":
            return self._gadget_pod(peer.namespace, peer.name or "unnamed", None, peer.labels)
        if peer.kind == "svc":
            if not peer.labels:
                if (peer.namespace, peer.name) == ("default", "kubernetes"):
                    return ("entity", "kube-apiserver")
                self.warnings[
                    f"service {peer.namespace}/{peer.name} has no selector, so no policy can name its endpoints "
                    "by labels; its connections were left out (draw its endpoints as a CIDR or workload)"
                ] += 1
                return None
            key = ("svc", peer.namespace, tuple(sorted(peer.labels.items())))
            self.services.setdefault(key, peer.name)
            return key
        return ("world", peer.address)

    # ---- the document ---------------------------------------------------------------------------------

    def build(self, into: Document | None) -> Document:
        """The document: a new one, or `into` extended in place (nodes matched by id or meaning, counts added).

        This consumes the aggregator: what it read is let go of as soon as the graph no longer needs it, so
        that the reading tables and the document it becomes are not all held at once."""
        document = into if into is not None else Document(name="Observed traffic")
        outside = [key[0] in _OUTSIDE for key in self.endpoints]
        kept: list[tuple[int, int, int, int, int, list[Any], int]] = []
        for key, entry in self.edges.items():
            src, dst, verdict, protocol, port = split_edge_key(key)
            if outside[src] and outside[dst]:
                # No pod policy can allow or deny traffic between two places outside the pod network.
                self.ignored["between two ends outside the pod network"] += entry[0]
            else:
                kept.append((src, dst, verdict, protocol, port, entry, key))
        self.edges = {}
        if into is None and any(edge[2] for edge in kept):
            document.settings.dialect = "cilium"
        nodes = _NodeTable(document)
        # In the order the flows came (a dict, not a set): the nodes of entities and addresses are made in that
        # order, so the document is the same on every run, whatever the string hash seed.
        node_of = self._resolve(nodes, dict.fromkeys(self.endpoints[edge[i]] for edge in kept for i in (0, 1)))
        node_ids = [node_of.get(key) for key in self.endpoints]
        del node_of
        self._forget_endpoints()
        merged: dict[tuple[str, str, str, int], EdgeStats] = {}
        requests = self.requests
        for src, dst, verdict, protocol, port, (count, first, last), key in kept:
            source, target = node_ids[src], node_ids[dst]
            if source is None or target is None:
                continue
            merged_key = (source, target, PROTOCOLS[protocol], port)
            stats = merged.get(merged_key)
            if stats is None:
                stats = merged[merged_key] = EdgeStats()
            stats.add(VERDICTS[verdict], count, first, last)
            if key in requests:
                stats.requests = stats.requests.union(requests[key])
        del kept, node_ids
        self.requests = {}
        self._lock(nodes, merged)
        summary = self.summary
        summary.flows_used += sum(stats.count for stats in merged.values())
        summary.edges = len(merged)
        summary.denied_edges = sum(1 for stats in merged.values() if stats.denied)
        # In order of (source, target, protocol, port), popped from the end so each is let go once it is an edge.
        ordered = sorted(merged.items(), reverse=True)
        del merged
        edges = _EdgeTable(document, nodes)
        while ordered:
            (source, target, protocol, port), stats = ordered.pop()
            edges.add(source, target, protocol, port, stats, self._l7_rules(source, target, port, stats))
        summary.flows_read += self.flows_read
        summary.replies += self.replies
        for reason, count in self.ignored.items():
            summary.ignored[reason] = summary.ignored.get(reason, 0) + count
        summary.warnings.extend(
            f"{warning} ({count}x)" if count > 1 else warning for warning, count in self.warnings.items()
        )
        summary.workloads = sum(1 for node_id in nodes.touched if nodes.node(node_id).kind == "workload")
        summary.nodes = len(nodes.touched)
        return document

    def _forget_endpoints(self) -> None:
        """Let go of the endpoint tables once every endpoint has its node (Gadget pod details stay: the locks
        of monitored pods need them)."""
        self.endpoints = []
        self._endpoint_ids = {}
        self._pods = {}
        self._pod_ids = {}
        self.workload_pods = {}
        self._identities = {}
        self._label_sets = {}

    def _resolve(self, nodes: _NodeTable, used: dict[Key, None]) -> dict[Key, str]:
        """Endpoint key -> node id for the `used` keys, creating the nodes."""
        node_of: dict[Key, str] = {}
        workloads: dict[tuple[str, str], list[Key]] = {}
        infos_of: dict[tuple[str, str], list[PodInfo]] = {}
        for key in used:
            kind = key[0]
            if kind == "workload":
                workloads.setdefault(key[1:], []).append(key)
                infos_of.setdefault(key[1:], []).extend(self.workload_pods[key])
            elif kind == "pod" or kind == "group":
                info = self.pod_info[key]
                name = (info.namespace, self._workload_name(key, info))
                workloads.setdefault(name, []).append(key)
                infos_of.setdefault(name, []).append(info)
            elif kind == "entity":
                node_of[key] = nodes.entity(key[1])
            elif kind == "world":
                node_of[key] = self._world_node(nodes, key[1])
        # Pods known by name make the workloads; pods known only by identity (on another node, no pod
        # name) join the workload whose labels they carry, else make one named after their labels.
        labelled: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
        by_labels = any(key[0] in ("group", "svc") for key in used)  # whether `labelled` is ever read
        groups: list[tuple[Key, PodInfo]] = []
        for (namespace, name), members in sorted(workloads.items()):
            infos = infos_of[(namespace, name)]
            if all(key[0] == "group" for key in members):
                groups.extend(zip(members, infos, strict=True))
                continue
            labels = _shared_labels(infos)
            node_id = nodes.workload(namespace, name, labels, _owner_kind(name, infos), _namespace_labels(infos))
            for key in members:
                node_of[key] = node_id
            if labels and by_labels:
                labelled.setdefault((namespace, tuple(sorted(labels.items()))), node_id)
        for key, info in groups:
            labels = selector_labels(info.labels or {})
            found = labelled.get((info.namespace, tuple(sorted(labels.items()))))
            if found is None:
                name = self._workload_name(key, info)
                found = nodes.workload(info.namespace, name, labels, None, info.namespace_labels)
                labelled[(info.namespace, tuple(sorted(labels.items())))] = found
            node_of[key] = found
        for key in used:
            if key[0] == "svc":
                # A service whose selector is exactly a known workload's labels picks that workload's pods.
                node_of[key] = labelled.get((key[1], key[2])) or nodes.selector(
                    key[1], self.services[key], dict(key[2])
                )
        return node_of

    def _workload_name(self, key: Key, info: PodInfo) -> str:
        if info.owner:
            return info.owner
        if key[0] == "group":
            return name_from_labels(info.labels or {}) or f"identity-{key[2]}"
        return workload_of(info.name, info.labels or {})[0]

    def _world_node(self, nodes: _NodeTable, address: str) -> str:
        name = self.world_names.get(address)
        if name and self.options.fqdn:
            return nodes.fqdn(name)
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            self.warnings[f"{address!r} is not an IP address; counted as the world entity"] += 1
            return nodes.entity("world")
        prefix = self.options.collapse_cidr if ip.version == 4 else self.options.collapse_cidr6
        network = ipaddress.ip_network(f"{ip}/{prefix if prefix is not None else ip.max_prefixlen}", strict=False)
        return nodes.cidr(str(network))

    def _lock(self, nodes: _NodeTable, merged: dict[tuple[str, str, str, int], EdgeStats]) -> None:
        """Set the default-deny locks of new workloads (see the module docstring for the rule)."""
        # Per node, not per edge: a graph of bare pods has as many nodes as edges.
        egress: set[str] = set()
        ingress: set[str] = set()
        monitored = {node_id for key in self.monitored if (node_id := self._node_of_pod(nodes, key))}
        namespaces = self.options.namespaces
        lockable: dict[str, bool] = {}
        for (source, target, _, _), stats in merged.items():
            if not stats.origin & HUBBLE:
                continue
            for node_id, direction in ((source, egress), (target, ingress)):
                locked = lockable.get(node_id)
                if locked is None:
                    node = nodes.node(node_id)
                    locked = lockable[node_id] = (
                        node.kind == "workload"
                        and nodes.labels_known.get(node_id, False)
                        and not (namespaces and node.namespace not in namespaces)
                    )
                if locked:
                    direction.add(node_id)
        created = nodes.created
        for node_id in monitored | egress | ingress:
            if node_id in created:
                node = nodes.node(node_id)
                node.isolate = Isolation(
                    node.isolate.ingress or node_id in monitored or node_id in ingress,
                    node.isolate.egress or node_id in monitored or node_id in egress,
                )

    def _node_of_pod(self, nodes: _NodeTable, key: Key) -> str | None:
        info = self.pod_info[key]
        return nodes.find_workload(info.namespace, self._workload_name(key, info))

    def _l7_rules(self, source: str, target: str, port: int, stats: EdgeStats) -> dict[str, Any] | None:
        if not stats.requests:
            return None
        rules: dict[str, Any] = {}
        http = sorted(request[1:] for request in stats.requests if request[0] == "http")
        if len(http) > MAX_L7_RULES:
            self.warnings[
                f"{source} -> {target}:{port}: more than {MAX_L7_RULES} distinct HTTP requests, too many to list; "
                "no HTTP rules added, the port is allowed whole"
            ] += 1
        elif http:
            rules["http"] = [{"method": method, "path": path_regex(path)} for method, path in http]
        dns = sorted(request[1] for request in stats.requests if request[0] == "dns")
        if len(dns) > MAX_L7_RULES:
            rules["dns"] = [{"matchPattern": "*"}]
        elif dns:
            rules["dns"] = [{"matchName": name} for name in dns]
        kafka = sorted(request[1:] for request in stats.requests if request[0] == "kafka")
        if kafka:
            rules["kafka"] = [{"apiKey": key, **({"topic": topic} if topic else {})} for key, topic in kafka]
        return rules or None


@lru_cache(maxsize=4096)
def _url_path(url: str) -> str:
    """The path of an HTTP request URL (Hubble prints the full URL); the query is not part of a rule."""
    return urlsplit(url).path or "/"


def path_regex(path: str) -> str:
    """An anchored regular expression that matches exactly `path` (Cilium HTTP rules take regexes)."""
    return "^" + _REGEX_SPECIAL.sub(r"\\\1", path) + "$"


def _ignored_verdict(verdict: str) -> str:
    if verdict.startswith("DROPPED:"):
        return f"dropped, not by policy ({verdict[8:]})"
    return f"verdict {verdict}"


def _guess_reply(flow: hubble.Flow, ports: hubble.Ports) -> bool:
    """Whether a flow whose is_reply Hubble left unset is a reply.

    Old captures print only the deprecated `reply` when true (so absent = request); a SYN+ACK answers a
    SYN; conntrack may call it a reply; and failing all that, a packet from a low port to an ephemeral one
    is taken as the answer to a connection the other way (never a rule to an ephemeral port).
    """
    if flow.reply:
        return True
    flags = ports.flags
    if flags is not None and flags.SYN:
        return flags.ACK
    if hubble.enum_name(flow.trace_reason, hubble.TRACE_REASONS) == "REPLY":
        return True
    return ports.destination_port >= EPHEMERAL_PORTS > ports.source_port


def _shared_labels(infos: list[PodInfo]) -> dict[str, str] | None:
    """The selector labels every replica has; None when no replica's labels are known."""
    known = [selector_labels(info.labels) for info in infos if info.labels is not None]
    if not known:
        return None
    shared = dict(known[0])
    for labels in known[1:]:
        shared = {key: value for key, value in shared.items() if labels.get(key) == value}
    return shared or known[0]


def _owner_kind(name: str, infos: list[PodInfo]) -> str | None:
    """The controller kind the log names, else the one the pod names point to when they agree with `name`."""
    for info in infos:
        if info.owner_kind:
            return info.owner_kind
    for info in infos:
        guessed, kind = info.guess or workload_of(info.name, info.labels or {})
        if info.name and guessed == name:
            return kind
    return None


def _namespace_labels(infos: list[PodInfo]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for info in infos:
        labels.update(info.namespace_labels)
    return labels


class _NodeTable:
    """The document's nodes, found by id or by what they stand for, and the ones this import touched."""

    def __init__(self, document: Document) -> None:
        self.document = document
        self._by_id = document.node_map()
        self._by_meaning: dict[tuple[Any, ...], str] = {}
        for node in document.nodes:
            self._by_meaning.setdefault(_meaning(node), node.id)
        self.created: set[str] = set()
        self.touched: set[str] = set()
        self.labels_known: dict[str, bool] = {}
        self._namespaces: set[str] = set()  # namespaces the document is known to have

    def node(self, node_id: str) -> Node:
        return self._by_id[node_id]

    def find_workload(self, namespace: str, name: str) -> str | None:
        return self._by_meaning.get(("workload", namespace, name))

    def _add(self, node: Node) -> str:
        meaning = _meaning(node)
        existing = self._by_meaning.get(meaning)
        if existing is None and node.id in self._by_id:
            existing = node.id if _meaning(self._by_id[node.id]) == meaning else None
            if existing is None:
                node.id = safe_id(f"{node.id}+{len(self._by_id)}")
                meaning = _meaning(node)
        if existing is not None:
            self.touched.add(existing)
            return existing
        self.document.nodes.append(node)
        self._by_id[node.id] = node
        self._by_meaning[meaning] = node.id
        self.created.add(node.id)
        self.touched.add(node.id)
        return node.id

    def workload(
        self,
        namespace: str,
        name: str,
        labels: dict[str, str] | None,
        owner_kind: str | None,
        ns_labels: dict[str, str],
    ) -> str:
        if ns_labels or namespace not in self._namespaces:  # else ensure_namespace would change nothing
            self._namespaces.add(self.document.ensure_namespace(namespace, ns_labels).name)
        node = Node(id=safe_id(f"{namespace}/{name}"), kind="workload", name=name, namespace=namespace)
        node.owner = owner_kind
        node.labels = dict(labels or {})
        if labels == {}:
            node.note = "This workload's pods have no labels, so its policies select every pod in its namespace."
        elif labels is None:
            node.note = (
                "The flow log did not record this workload's labels, so it is not locked and policies select it "
                "by no label (every pod in its namespace): add its labels."
            )
        result = self._add(node)
        self.labels_known[result] = self.labels_known.get(result, False) or labels is not None
        return result

    def selector(self, namespace: str, service: str, selector: dict[str, str]) -> str:
        self.document.ensure_namespace(namespace)
        node = Node(
            id=safe_id(f"{namespace}/svc:{service}"),
            kind="selector",
            name=service,
            namespace=namespace,
            pod_selector={"matchLabels": dict(sorted(selector.items()))},
        )
        return self._add(node)

    def entity(self, entity: str) -> str:
        return self._add(Node(id=f"entity:{entity}", kind="entity", entity=entity))

    def cidr(self, cidr: str) -> str:
        return self._add(Node(id=safe_id(f"cidr:{cidr}"), kind="cidr", cidr=cidr))

    def fqdn(self, name: str) -> str:
        return self._add(Node(id=safe_id(f"fqdn:{name}"), kind="fqdn", match_name=name))


def _meaning(node: Node) -> tuple[Any, ...]:
    """What makes two nodes the same thing, whatever their ids."""
    if node.kind == "workload":
        return ("workload", node.namespace, node.name)
    if node.kind == "selector":
        return ("selector", node.namespace, msgspec.json.encode(node.pod_selector or {}, order="sorted"))
    if node.kind == "entity":
        return ("entity", node.entity)
    if node.kind == "cidr":
        return ("cidr", node.cidr, tuple(node.except_))
    if node.kind == "fqdn":
        return ("fqdn", node.match_name, node.match_pattern)
    return (node.kind, node.id)


class _EdgeTable:
    """The document's edges, matched by (source, target, single port) so that a re-import adds counts.

    Only the edges the document had are matched: `add` is called once per (source, target, protocol, port)."""

    def __init__(self, document: Document, nodes: _NodeTable) -> None:
        self.document = document
        self.nodes = nodes
        self._ids = {edge.id for edge in document.edges}
        self._next = len(document.edges) + 1
        self._existing: dict[tuple[str, str, str, int], list[Edge]] = {}
        for edge in document.edges:
            if len(edge.ports) == 1 and not edge.icmps and isinstance(edge.ports[0].port, int):
                port = edge.ports[0]
                self._existing.setdefault((edge.source, edge.target, port.protocol, port.port or 0), []).append(edge)
            elif len(edge.icmps) == 1 and not edge.ports:
                icmp = edge.icmps[0]
                protocol = "ICMPv6" if icmp.get("family") == "IPv6" else "ICMPv4"
                if isinstance(icmp.get("type"), int):
                    self._existing.setdefault((edge.source, edge.target, protocol, icmp["type"]), []).append(edge)

    def _new_id(self) -> str:
        edge_id = f"e{self._next}"
        while edge_id in self._ids:
            self._next += 1
            edge_id = f"e{self._next}"
        self._ids.add(edge_id)
        return edge_id

    def add(
        self, source: str, target: str, protocol: str, port: int, stats: EdgeStats, l7: dict[str, Any] | None
    ) -> None:
        # The stats are not used again: their verdicts become the edge's.
        observed = Observed(stats.count, stats.first or None, stats.last or None, stats.verdicts)
        existing = self._existing.get((source, target, protocol, port))
        if existing:
            for edge in existing:
                _add_observed(edge, dataclasses.replace(observed, verdicts=dict(observed.verdicts)))
                # New requests join rules of their kind; an edge without L7 rules is never narrowed to them.
                if l7 and edge.l7:
                    edge.l7 = _merge_l7(edge.l7, {kind: rules for kind, rules in l7.items() if kind in edge.l7})
            return
        # A side enforces the edge only where that node is locked: the compiler isolates any subject an
        # enabled edge is enforced on, and a peer (kube-dns, a service of another team) must not be locked
        # to the few clients a log happened to show.
        source_node, target_node = self.nodes.node(source), self.nodes.node(target)
        enforce = []
        if source_node.isolate.egress and source_node.kind in SUBJECT_KINDS:
            enforce.append("source")
        if target_node.isolate.ingress and target_node.kind in SUBJECT_KINDS:
            enforce.append("target")
        dns_ingress = bool(l7 and "dns" in l7 and "target" in enforce)
        if dns_ingress:
            enforce.remove("target")
        edge = self._new_edge(source, target, protocol, port, enforce, observed)
        edge.l7 = l7
        if stats.denied:
            edge.disabled = True
            edge.note = "Observed only as denied by today's policies; enable it to allow this traffic."
        if dns_ingress:
            # Cilium applies DNS rules on egress only, so the DNS server's side admits the traffic at L4 in
            # an edge of its own.
            twin_observed = dataclasses.replace(observed, verdicts=dict(observed.verdicts))
            twin = self._new_edge(source, target, protocol, port, ["target"], twin_observed)
            twin.disabled = edge.disabled
            twin.note = f"The DNS server's side of edge {edge.id} (Cilium applies DNS rules on egress only)."

    def _new_edge(
        self, source: str, target: str, protocol: str, port: int, enforce: list[str], observed: Observed
    ) -> Edge:
        if protocol.startswith("ICMP"):
            ports, icmps = [], [{"family": "IPv6" if protocol == "ICMPv6" else "IPv4", "type": port}]
        else:
            ports, icmps = [Port(protocol, port)], []
        edge = Edge(self._new_id(), source, target, ports, icmps, enforce=enforce, observed=observed)
        self.document.edges.append(edge)
        return edge


def _add_observed(edge: Edge, observed: Observed) -> None:
    if edge.observed is None:
        edge.observed = observed
        return
    old = edge.observed
    old.count += observed.count
    firsts = [time for time in (old.first_seen, observed.first_seen) if time]
    lasts = [time for time in (old.last_seen, observed.last_seen) if time]
    old.first_seen = min(firsts, key=normalize_time) if firsts else None
    old.last_seen = max(lasts, key=normalize_time) if lasts else None
    for verdict, count in observed.verdicts.items():
        old.verdicts[verdict] = old.verdicts.get(verdict, 0) + count


def _merge_l7(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    merged = dict(old or {})
    for kind, rules in new.items():
        present = list(merged.get(kind, []))
        present.extend(rule for rule in rules if rule not in present)
        merged[kind] = present
    return merged
