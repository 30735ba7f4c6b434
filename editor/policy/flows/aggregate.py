"""Flows -> the graph document: endpoints grouped into nodes, one edge per (source, target, protocol, port).

Reading is split in two so that memory stays flat. While the log streams by, each flow is reduced to a
key of interned endpoint keys plus its protocol and port, and the edge under that key only counts (flows,
first and last seen, verdicts, L7 requests). Endpoint details (labels, owners, DNS names of world
addresses) are recorded once, the first time an endpoint is seen. At the end, `build` turns endpoints into
nodes (pods into workloads, reserved identities into Cilium entities, world addresses into FQDN or CIDR
nodes) and merges the edges that land on the same pair of nodes.

Which subjects get a default-deny lock (the goal: compiling the document allows the observed traffic, not
more; and never locks a direction on no evidence):
- a pod monitored by the Gadget advisor is locked in both directions, as the advisor does: it watched all
  of that pod's traffic, so a direction with nothing in it is known to be unused;
- a workload seen in a Hubble log is locked in each direction it was seen using (as a source: egress; as a
  target: ingress, policy-denied attempts included, since a denial shows the direction is locked today). A
  log is a sample of a cluster, so silence in a direction is not evidence; with a namespace filter, only
  workloads in those namespaces are locked, so a peer like kube-dns is never locked to the few clients in
  the log;
- a workload whose labels the log does not give (a field-masked export) is never locked: its selector
  would have to be `{}`, every pod in its namespace.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import re
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import msgspec

from ..document import EXTERNAL_KINDS, Document, Edge, Isolation, Node, Observed, Port
from . import gadget, hubble
from .model import NORMAL_TIME_LENGTH, FlowOptions, FlowSummary, normalize_time
from .workloads import name_from_labels, selector_labels, workload_of

ALLOWED_VERDICTS = frozenset({"FORWARDED", "REDIRECTED"})
DENIED_VERDICTS = frozenset({"DROPPED:POLICY_DENIED", "DROPPED:POLICY_DENY", "DROPPED:AUTH_REQUIRED", "AUDIT"})
EPHEMERAL_PORTS = 32768  # Linux's default ip_local_port_range starts here
ICMP_REPLIES = {"ICMPv4": 0, "ICMPv6": 129}  # echo reply
MAX_HTTP_RULES = 100  # beyond this many distinct requests on one edge, an L7 allow-list stops being useful
MAX_DNS_RULES = 100
_ID = re.compile(r"[A-Za-z0-9_.:/=@+-]{1,253}")
_REGEX_SPECIAL = re.compile(r"([\\.^$|?*+()\[\]{}])")

# Endpoint keys: ("pod", namespace, pod), ("group", namespace, identity), ("entity", name),
# ("world", address), ("svc", namespace, selector items). A world key stays an address until `build`.
Key = tuple[Any, ...]
EdgeKey = tuple[Key, Key, str, int]

HUBBLE, GADGET = 1, 2


class EdgeStats:
    """What the flows under one edge key showed. Slots keep a million-flow import small."""

    __slots__ = ("count", "first", "last", "origin", "requests", "verdicts")

    def __init__(self, time: str) -> None:
        self.count = 0
        self.first = time
        self.last = time
        self.verdicts: dict[str, int] = {}
        self.requests: set[tuple[str, ...]] | None = None  # L7 requests: ("http", method, path), ("dns", name)
        self.origin = 0  # HUBBLE | GADGET

    def merge(self, other: EdgeStats) -> None:
        self.count += other.count
        self.first = min(filter(None, (self.first, other.first)), default="")
        self.last = max(self.last, other.last)
        for verdict, count in other.verdicts.items():
            self.verdicts[verdict] = self.verdicts.get(verdict, 0) + count
        if other.requests:
            self.requests = (self.requests or set()) | other.requests
        self.origin |= other.origin

    @property
    def denied(self) -> bool:
        """Seen only as policy denials (never allowed): the edge is shown, disabled."""
        return bool(self.verdicts) and all(verdict in DENIED_VERDICTS for verdict in self.verdicts)


@dataclasses.dataclass
class PodInfo:
    namespace: str
    name: str
    labels: dict[str, str] | None  # None: the log does not say (field mask)
    owner: str | None = None
    owner_kind: str | None = None
    namespace_labels: dict[str, str] = dataclasses.field(default_factory=dict)


class Aggregator:
    """Accumulates flows from any number of files; `build` makes or extends a document."""

    def __init__(self, options: FlowOptions, summary: FlowSummary) -> None:
        self.options = options
        self.summary = summary
        self.edges: dict[EdgeKey, EdgeStats] = {}
        self.ignored: Counter[str] = Counter()
        self.replies = 0
        self.flows_read = 0
        self._pods: dict[tuple[str, str], Key] = {}
        self.pod_info: dict[Key, PodInfo] = {}
        self._identities: dict[int, Key | None] = {}
        self._label_sets: dict[bytes, Key | None] = {}
        self.world_names: dict[str, str] = {}  # address -> DNS name, from destination_names and DNS answers
        self.monitored: set[Key] = set()  # pods the Gadget advisor watched
        self.services: dict[Key, str] = {}  # service key -> first service name seen
        self.warnings: Counter[str] = Counter()

    # ---- Hubble ---------------------------------------------------------------------------------------

    def add_flow(self, flow: hubble.Flow) -> None:
        """Count one Hubble flow. This runs once per line of a log of millions: keep it lean."""
        self.flows_read += 1
        verdict = flow.verdict
        if verdict.__class__ is not str or verdict not in ALLOWED_VERDICTS:
            verdict = hubble.verdict_of(flow)
            if verdict not in ALLOWED_VERDICTS and verdict not in DENIED_VERDICTS:
                self.ignored[_ignored_verdict(verdict)] += 1
                return
        options = self.options
        if options.verdicts and verdict.partition(":")[0] not in options.verdicts:
            self.ignored["verdict not selected"] += 1
            return
        l7 = flow.l7
        if l7 is not None and l7.dns is not None and l7.dns.ips:
            self._learn_names(l7.dns)
        l4 = flow.l4
        if l4 is None:
            self.ignored["no layer-4 header"] += 1
            return
        ports = l4.TCP
        protocol = "TCP"
        if ports is None:
            ports = l4.UDP
            protocol = "UDP"
            if ports is None:
                ports = l4.SCTP
                protocol = "SCTP"
        reply = flow.is_reply
        if ports is not None:
            port = ports.destination_port
            if reply is None:
                reply = _guess_reply(flow, ports)
        else:
            icmp = l4.ICMPv4
            protocol = "ICMPv4"
            if icmp is None:
                icmp = l4.ICMPv6
                protocol = "ICMPv6"
                if icmp is None:
                    self.ignored["protocol other than TCP, UDP, SCTP, ICMP"] += 1
                    return
            port = icmp.type
            if reply is None:
                reply = flow.reply or ICMP_REPLIES[protocol] == port
        if reply:
            self.replies += 1
            return
        if protocol[0] != "I" and not port:
            self.ignored["no destination port"] += 1
            return
        time = flow.time
        if len(time) != NORMAL_TIME_LENGTH or time[-1] != "Z":
            time = normalize_time(time)
        if (options.since and time < options.since) or (options.until and time > options.until):
            self.ignored["outside the time window"] += 1
            return
        source = flow.source
        destination = flow.destination
        if options.namespaces and not (
            source.namespace in options.namespaces or destination.namespace in options.namespaces
        ):
            self.ignored["namespace not selected"] += 1
            return
        addresses = flow.IP
        src = self._endpoint(source, addresses.source if addresses else "", flow.source_names)
        dst = self._endpoint(destination, addresses.destination if addresses else "", flow.destination_names)
        if src is None or dst is None:
            self.ignored["an end Hubble did not identify"] += 1
            return
        key = (src, dst, protocol, port)
        stats = self.edges.get(key)
        if stats is None:
            stats = self.edges[key] = EdgeStats(time)
            stats.origin = HUBBLE
        stats.count += 1
        if time < stats.first:
            stats.first = time
        elif time > stats.last:
            stats.last = time
        verdicts = stats.verdicts
        verdicts[verdict] = verdicts.get(verdict, 0) + 1
        if l7 is not None:
            self._add_request(stats, l7)

    def _learn_names(self, dns: hubble.Dns) -> None:
        name = dns.query.rstrip(".")
        if name:
            for address in dns.ips:
                self.world_names.setdefault(address, name)

    def _add_request(self, stats: EdgeStats, l7: hubble.Layer7) -> None:
        if hubble.enum_name(l7.type, hubble.L7_TYPES) != "REQUEST":
            return
        request: tuple[str, ...]
        if l7.http is not None and l7.http.method:
            request = ("http", l7.http.method.upper(), urlsplit(l7.http.url).path or "/")
        elif l7.dns is not None and l7.dns.query.rstrip("."):
            request = ("dns", l7.dns.query.rstrip(".").lower())
        elif l7.kafka is not None and l7.kafka.api_key:
            request = ("kafka", l7.kafka.api_key, l7.kafka.topic)
        else:
            return
        if stats.requests is None:
            stats.requests = set()
        stats.requests.add(request)

    def _endpoint(self, endpoint: hubble.Endpoint, address: str, names: list[str]) -> Key | None:
        pod = endpoint.pod_name
        if pod:
            key = self._pods.get((endpoint.namespace, pod))
            return key if key is not None else self._new_pod(endpoint)
        identity = endpoint.identity
        if identity:
            if identity in self._identities:
                key = self._identities[identity]
            else:
                key = self._identities[identity] = self._identity_key(endpoint)
        elif endpoint.labels is hubble.EMPTY_LIST:
            return None
        else:
            raw = bytes(endpoint.labels)
            if raw in self._label_sets:
                key = self._label_sets[raw]
            else:
                key = self._label_sets[raw] = self._identity_key(endpoint)
        if key is not None and key[0] == "world":
            if not address:
                return ("entity", "world")
            if names:
                self.world_names.setdefault(address, names[0].rstrip("."))
            return ("world", address)
        return key

    def _new_pod(self, endpoint: hubble.Endpoint) -> Key:
        labels = hubble.decode_labels(endpoint.labels)
        pod_labels, namespace_labels, _ = hubble.split_labels(labels)
        owner = endpoint.workloads[0] if endpoint.workloads else None
        key = ("pod", endpoint.namespace, endpoint.pod_name)
        self._pods[(endpoint.namespace, endpoint.pod_name)] = key
        self.pod_info[key] = PodInfo(
            endpoint.namespace,
            endpoint.pod_name,
            pod_labels if pod_labels else None,
            owner.name if owner else None,
            owner.kind if owner else None,
            namespace_labels,
        )
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
        if not namespace or not pod_labels:
            return None
        key = ("group", namespace, endpoint.identity or len(self.pod_info))
        self.pod_info[key] = PodInfo(namespace, "", pod_labels, namespace_labels=namespace_labels)
        return key

    # ---- Gadget ---------------------------------------------------------------------------------------

    def add_connection(self, connection: gadget.Connection) -> None:
        self.flows_read += 1
        local = self._gadget_pod(connection.local.namespace, connection.local.name, connection.local)
        self.monitored.add(local)
        peer = self._gadget_peer(connection.peer)
        if peer is None:
            return
        options = self.options
        namespaces = {connection.local.namespace, connection.peer.namespace}
        if options.namespaces and not namespaces & options.namespaces:
            self.ignored["namespace not selected"] += 1
            return
        time = normalize_time(connection.time) if connection.time else ""
        if time and ((options.since and time < options.since) or (options.until and time > options.until)):
            self.ignored["outside the time window"] += 1
            return
        key = (local, peer, connection.protocol, connection.port)
        if not connection.outgoing:
            key = (peer, local, connection.protocol, connection.port)
        stats = self.edges.get(key)
        if stats is None:
            stats = self.edges[key] = EdgeStats(time)
        stats.origin |= GADGET
        stats.count += 1
        if time:
            stats.first = min(filter(None, (stats.first, time)))
            stats.last = max(stats.last, time)

    def _gadget_pod(
        self, namespace: str, name: str, pod: gadget.Pod | None, labels: dict[str, str] | None = None
    ) -> Key:
        key = self._pods.get((namespace, name))
        if key is None:
            key = self._pods[(namespace, name)] = ("pod", namespace, name)
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
        """The document: a new one, or `into` extended in place (nodes matched by id or meaning, counts added)."""
        document = into if into is not None else Document(name="Observed traffic")
        if into is None and any(stats.origin & HUBBLE for stats in self.edges.values()):
            document.settings.dialect = "cilium"
        nodes = _NodeTable(document)
        node_of = self._resolve(nodes)
        merged: dict[tuple[str, str, str, int], EdgeStats] = {}
        for (src, dst, protocol, port), stats in self.edges.items():
            source, target = node_of.get(src), node_of.get(dst)
            if source is None or target is None:
                continue
            key = (source, target, protocol, port)
            if key in merged:
                merged[key].merge(stats)
            else:
                merged[key] = stats
        for key in [key for key in merged if _external(nodes, key[0]) and _external(nodes, key[1])]:
            # No pod policy can allow or deny traffic between two places outside the pod network.
            self.ignored["between two ends outside the pod network"] += merged.pop(key).count
        self._lock(nodes, merged)
        edges = _EdgeTable(document)
        for (source, target, protocol, port), stats in sorted(merged.items()):
            edges.add(source, target, protocol, port, stats, self._l7_rules(source, target, port, stats))
        summary = self.summary
        summary.flows_read += self.flows_read
        summary.flows_used += sum(stats.count for stats in merged.values())
        summary.replies += self.replies
        for reason, count in self.ignored.items():
            summary.ignored[reason] = summary.ignored.get(reason, 0) + count
        summary.warnings.extend(
            f"{warning} ({count}x)" if count > 1 else warning for warning, count in self.warnings.items()
        )
        summary.workloads = sum(1 for node_id in nodes.touched if nodes.node(node_id).kind == "workload")
        summary.nodes = len(nodes.touched)
        summary.edges = len(merged)
        summary.denied_edges = sum(1 for stats in merged.values() if stats.denied)
        return document

    def _resolve(self, nodes: _NodeTable) -> dict[Key, str]:
        """Endpoint key -> node id, creating the nodes."""
        used = {key for edge_key in self.edges for key in edge_key[:2]}
        node_of: dict[Key, str] = {}
        workloads: dict[tuple[str, str], list[Key]] = {}
        for key in used:
            kind = key[0]
            if kind == "pod" or kind == "group":
                info = self.pod_info[key]
                workloads.setdefault((info.namespace, self._workload_name(key, info)), []).append(key)
            elif kind == "entity":
                node_of[key] = nodes.entity(key[1])
            elif kind == "world":
                node_of[key] = self._world_node(nodes, key[1])
        # Pods known by name make the workloads; pods known only by identity (on another node, no pod
        # name) join the workload whose labels they carry, else make one named after their labels.
        labelled: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
        groups: list[tuple[Key, PodInfo]] = []
        for (namespace, name), members in sorted(workloads.items()):
            infos = [self.pod_info[key] for key in members]
            if all(key[0] == "group" for key in members):
                groups.extend(zip(members, infos, strict=True))
                continue
            labels = _shared_labels(infos)
            node_id = nodes.workload(namespace, name, labels, _owner_kind(name, infos), _namespace_labels(infos))
            for key in members:
                node_of[key] = node_id
            if labels:
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
        locks: dict[str, Isolation] = {}
        monitored = {node_id for key in self.monitored if (node_id := self._node_of_pod(nodes, key))}
        for node_id in monitored:
            locks[node_id] = Isolation(ingress=True, egress=True)
        namespaces = self.options.namespaces
        for (source, target, _, _), stats in merged.items():
            if not stats.origin & HUBBLE:
                continue
            for node_id, direction in ((source, "egress"), (target, "ingress")):
                node = nodes.node(node_id)
                if node.kind != "workload" or not nodes.labels_known.get(node_id, False):
                    continue
                if namespaces and node.namespace not in namespaces:
                    continue
                setattr(locks.setdefault(node_id, Isolation()), direction, True)
        for node_id, lock in locks.items():
            if node_id in nodes.created:
                node = nodes.node(node_id)
                node.isolate = Isolation(node.isolate.ingress or lock.ingress, node.isolate.egress or lock.egress)

    def _node_of_pod(self, nodes: _NodeTable, key: Key) -> str | None:
        info = self.pod_info[key]
        return nodes.find_workload(info.namespace, self._workload_name(key, info))

    def _l7_rules(self, source: str, target: str, port: int, stats: EdgeStats) -> dict[str, Any] | None:
        if not stats.requests:
            return None
        rules: dict[str, Any] = {}
        http = sorted(request[1:] for request in stats.requests if request[0] == "http")
        if len(http) > MAX_HTTP_RULES:
            self.warnings[
                f"{source} -> {target}:{port}: {len(http)} distinct HTTP requests, too many to list; "
                "no HTTP rules added, the port is allowed whole"
            ] += 1
        elif http:
            rules["http"] = [{"method": method, "path": path_regex(path)} for method, path in http]
        dns = sorted(request[1] for request in stats.requests if request[0] == "dns")
        if len(dns) > MAX_DNS_RULES:
            rules["dns"] = [{"matchPattern": "*"}]
        elif dns:
            rules["dns"] = [{"matchName": name} for name in dns]
        kafka = sorted(request[1:] for request in stats.requests if request[0] == "kafka")
        if kafka:
            rules["kafka"] = [{"apiKey": key, **({"topic": topic} if topic else {})} for key, topic in kafka]
        return rules or None


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


def _external(nodes: _NodeTable, node_id: str) -> bool:
    return nodes.node(node_id).kind in EXTERNAL_KINDS


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
        guessed, kind = workload_of(info.name, info.labels or {})
        if info.name and guessed == name:
            return kind
    return None


def _namespace_labels(infos: list[PodInfo]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for info in infos:
        labels.update(info.namespace_labels)
    return labels


def node_id(text: str) -> str:
    """A document id for `text`: itself when it is a valid id, else a readable form plus a short hash."""
    if _ID.fullmatch(text):
        return text
    digest = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:8]
    return re.sub(r"[^A-Za-z0-9_.:/=@+-]", "_", text)[:240] + "+" + digest


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

    def node(self, node_id: str) -> Node:
        return self._by_id[node_id]

    def find_workload(self, namespace: str, name: str) -> str | None:
        return self._by_meaning.get(("workload", namespace, name))

    def _add(self, node: Node) -> str:
        existing = self._by_meaning.get(_meaning(node))
        if existing is None and node.id in self._by_id:
            existing = node.id if _meaning(self._by_id[node.id]) == _meaning(node) else None
            if existing is None:
                node.id = node_id(f"{node.id}+{len(self._by_id)}")
        if existing is not None:
            self.touched.add(existing)
            return existing
        self.document.nodes.append(node)
        self._by_id[node.id] = node
        self._by_meaning[_meaning(node)] = node.id
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
        self.document.ensure_namespace(namespace, ns_labels)
        node = Node(id=node_id(f"{namespace}/{name}"), kind="workload", name=name, namespace=namespace)
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
            id=node_id(f"{namespace}/svc:{service}"),
            kind="selector",
            name=service,
            namespace=namespace,
            pod_selector={"matchLabels": dict(sorted(selector.items()))},
        )
        return self._add(node)

    def entity(self, entity: str) -> str:
        return self._add(Node(id=f"entity:{entity}", kind="entity", entity=entity))

    def cidr(self, cidr: str) -> str:
        return self._add(Node(id=node_id(f"cidr:{cidr}"), kind="cidr", cidr=cidr))

    def fqdn(self, name: str) -> str:
        return self._add(Node(id=node_id(f"fqdn:{name}"), kind="fqdn", match_name=name))


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
    """The document's edges, matched by (source, target, single port) so that a re-import adds counts."""

    def __init__(self, document: Document) -> None:
        self.document = document
        self._ids = {edge.id for edge in document.edges}
        self._next = len(document.edges) + 1
        self._existing: dict[tuple[str, str, str, int], Edge] = {}
        for edge in document.edges:
            if len(edge.ports) == 1 and not edge.icmps and isinstance(edge.ports[0].port, int):
                port = edge.ports[0]
                self._existing.setdefault((edge.source, edge.target, port.protocol, port.port or 0), edge)
            elif len(edge.icmps) == 1 and not edge.ports:
                icmp = edge.icmps[0]
                protocol = "ICMPv6" if icmp.get("family") == "IPv6" else "ICMPv4"
                if isinstance(icmp.get("type"), int):
                    self._existing.setdefault((edge.source, edge.target, protocol, icmp["type"]), edge)

    def _new_id(self) -> str:
        while f"e{self._next}" in self._ids:
            self._next += 1
        self._ids.add(f"e{self._next}")
        return f"e{self._next}"

    def add(
        self, source: str, target: str, protocol: str, port: int, stats: EdgeStats, l7: dict[str, Any] | None
    ) -> None:
        observed = Observed(stats.count, stats.first or None, stats.last or None, dict(stats.verdicts))
        edge = self._existing.get((source, target, protocol, port))
        if edge is not None:
            _add_observed(edge, observed)
            if l7:
                edge.l7 = _merge_l7(edge.l7, l7)
            return
        nodes = {node.id: node for node in self.document.nodes if node.id in (source, target)}
        enforce = [
            side
            for side, node_id in (("source", source), ("target", target))
            if nodes[node_id].kind not in EXTERNAL_KINDS
        ]
        edge = Edge(id=self._new_id(), source=source, target=target, enforce=enforce, observed=observed)
        if protocol.startswith("ICMP"):
            edge.icmps = [{"family": "IPv6" if protocol == "ICMPv6" else "IPv4", "type": port}]
        else:
            edge.ports = [Port(protocol, port)]
        edge.l7 = l7
        if stats.denied:
            edge.disabled = True
            edge.note = "Observed only as denied by today's policies; enable it to allow this traffic."
        self.document.edges.append(edge)
        self._existing[(source, target, protocol, port)] = edge


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
