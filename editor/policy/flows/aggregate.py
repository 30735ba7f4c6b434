"""Reading flows: each Hubble flow or Gadget connection counted under one int, endpoints recorded once.

Reading is split from building the graph (graph.py) so that memory stays flat. While the log streams by,
each flow is reduced to one int (endpoint ids, verdict, protocol, port) and the entry under it only counts
flows and keeps first and last seen; L7 requests are kept per entry, up to a cap. Endpoint details (labels,
owners, DNS names of world addresses) are recorded once, the first time an endpoint is seen: a Hubble pod
is keyed by its workload from the start, so the replicas of a Deployment share their entries.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache
from itertools import islice
from typing import Any
from urllib.parse import urlsplit

import msgspec

from ..selectors import validate_namespace_name
from . import gadget, hubble
from .model import NORMAL_TIME_LENGTH, FlowOptions, FlowSummary, normalize_time
from .workloads import workload_of

EPHEMERAL_PORTS = 32768  # Linux's default ip_local_port_range starts here
ICMP_REPLIES = {"ICMPv4": 0, "ICMPv6": 129}  # echo reply
# Beyond this many distinct requests on one edge an L7 allow-list stops being useful; counting stops one
# past it, so that memory stays flat on a log of endless distinct URLs or names.
MAX_L7_RULES = 100

# Endpoint keys: ("workload", namespace, name) for Hubble pods (grouped as they arrive, since the log names
# their owner or their names tell it), ("pod", namespace, pod) for Gadget pods (an owner may be named only on
# a later record), ("group", namespace, identity), ("entity", name), ("world", address), ("svc", namespace,
# selector items). While reading, an endpoint is a small int, its index in Aggregator.endpoints; a world key
# stays an address until graph.build_document decides FQDN or CIDR.
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
ENDPOINT_MASK = (1 << 40) - 1
OUTSIDE = ("entity", "world")  # endpoint key kinds outside the pod network


def edge_key(source: int, target: int, verdict: int, protocol: int, port: int) -> int:
    """One int for (source, target, verdict, protocol, port): hashing it is the cheapest dict key there is."""
    return ((((source << 40 | target) << 8 | verdict) << 3 | protocol) << 16) | port


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
    """Accumulates flows from any number of files; graph.build_document makes or extends a document."""

    def __init__(self, options: FlowOptions, summary: FlowSummary) -> None:
        self.options = options
        self.summary = summary
        self.edges: dict[int, list[Any]] = {}  # edge_key -> [flows, first seen, last seen, edge_key]
        self.requests: dict[int, set[tuple[str, ...]]] = {}  # edge_key -> L7 requests
        self.ignored: Counter[str] = Counter()
        self.replies = 0
        self.flows_read = 0
        self.endpoints: list[Key] = []  # endpoint id -> key
        self._endpoint_ids: dict[Key, int] = {}
        self._pods: dict[str, tuple[str, int]] = {}  # pod name -> (namespace, id) of the first pod so named
        # (namespace, pod name) -> id of the other pods: one whose name another namespace had first, or one in no
        # valid namespace (-1)
        self._pod_ids: dict[tuple[str, str], int] = {}
        self.workload_pods: dict[int, list[PodInfo]] = {}  # Hubble pods by their workload's endpoint id
        self.pod_info: dict[Key, PodInfo] = {}  # Gadget pods and identity groups
        self._identities: dict[int, Key | None] = {}
        self._label_sets: dict[bytes, Key | None] = {}
        # namespace name -> itself when a graph can hold it (the first string read, shared by its pods), else ""
        self._namespaces: dict[str, str] = {}
        self.world_names: dict[str, str] = {}  # address -> DNS name, from destination_names and DNS answers
        self.monitored: set[Key] = set()  # pods the Gadget advisor watched
        self.services: dict[Key, str] = {}  # service key -> first service name seen
        self.warnings: Counter[str] = Counter()
        self.compiled_state: Any = None  # the compiled reader's own index of the pods it has seen (_read.pyx)
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
        """Count one Hubble flow (the caller counts it as read)."""
        self.add_records((flow,), 0, _same, False, strict=False)

    def add_records(
        self,
        records: Sequence[Any],
        start: int,
        decode: Callable[[Any], Any],
        wrapped: bool,
        strict: bool = True,
    ) -> int:
        """Count the Hubble flows of records[start:] (lines that `decode` makes GetFlowsResponses of when `wrapped`,
        else flows; the caller counts them as read) up to the first one the typed decoder cannot take: one that does
        not decode, or, when `strict`, one with no flow, keys spelt the other way or no layer-4 header. Returns
        its index, or len(records) when every one was counted.

        This runs once per line of a log of millions: every attribute lookup shows in the benchmark, so the loop
        works on locals and the filters are skipped as a block when unset."""
        ignored, edges, pods, filtering, endpoint_of = (
            self.ignored,
            self.edges,
            self._pods,
            self._filtering,
            self._endpoint,
        )
        replies = 0
        position = start - 1
        for record in islice(records, start, None):
            position += 1
            try:
                flow = decode(record)
            except msgspec.DecodeError:
                self.replies += replies
                return position
            if wrapped:
                flow = flow.flow
            if strict and (flow is None or flow.foreign or flow.l4 is None):
                self.replies += replies
                return position
            verdict = _ALLOWED_CODES.get(flow.verdict)
            if verdict is None:
                name = hubble.verdict_of(flow)
                verdict = VERDICT_CODES.get(name)
                if not verdict:
                    ignored[_ignored_verdict(name)] += 1
                    continue
            l7 = flow.l7
            if l7 is not None and l7.dns is not None and l7.dns.ips:
                self._learn_names(l7.dns)
            l4 = flow.l4
            if l4 is None:
                ignored["no layer-4 header"] += 1
                continue
            header: hubble.Ports | hubble.Icmp | None = l4.TCP
            protocol = 0
            if header is None:  # UDP (DNS lookups) next, then the rest
                header = l4.UDP
                protocol = 1
                if header is None:
                    protocol, header = _layer4(l4)
            reply = flow.is_reply
            if isinstance(header, hubble.Ports):
                port = header.destination_port
                if reply is None:
                    reply = _guess_reply(flow, header)
            elif header is not None:
                port = header.type & 0xFFFF
                if reply is None:
                    reply = flow.reply or ICMP_REPLIES[PROTOCOLS[protocol]] == port
            else:
                ignored["protocol other than TCP, UDP, SCTP, ICMP"] += 1
                continue
            if reply:
                replies += 1
                continue
            if protocol < 3 and not 0 < port < 65536:
                ignored["no destination port"] += 1
                continue
            time = flow.time
            if len(time) != NORMAL_TIME_LENGTH or time[-1] != "Z":
                time = normalize_time(time)
            source = flow.source
            destination = flow.destination
            if filtering and self._filtered_out(verdict, time, source.namespace, destination.namespace):
                continue
            pod = source.pod_name
            if pod and (known := pods.get(pod)) is not None and known[0] == source.namespace:
                src: int | None = known[1]
            else:
                src = endpoint_of(source, flow.IP.source if flow.IP else "", flow.source_names)
            pod = destination.pod_name
            if pod and (known := pods.get(pod)) is not None and known[0] == destination.namespace:
                dst: int | None = known[1]
            else:
                dst = endpoint_of(destination, flow.IP.destination if flow.IP else "", flow.destination_names)
            if src is None or dst is None:
                ignored["an end Hubble did not identify"] += 1
                continue
            key = ((((src << 40 | dst) << 8 | verdict) << 3 | protocol) << 16) | port  # edge_key(), inlined
            entry = edges.get(key)
            if entry is None:
                edges[key] = [1, time, time, key]
            else:
                entry[0] += 1
                if time < entry[1]:
                    entry[1] = time
                elif time > entry[2]:
                    entry[2] = time
            if l7 is not None:
                self._add_request(key, l7)
        self.replies += replies
        return len(records)

    # The compiled reader (_read.pyx) takes the place of add_records when it is built; it hands every line it
    # does not read itself to this one.
    _python_add_records = add_records

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
            # add_flow found no pod of this name in this namespace among the first ones so named
            endpoint_id = self._pod_ids.get((endpoint.namespace, endpoint.pod_name)) if self._pod_ids else None
            if endpoint_id is None:
                endpoint_id = self._new_pod(endpoint)
                if endpoint_id >= 0 and endpoint.pod_name not in self._pods:
                    self._pods[endpoint.pod_name] = (endpoint.namespace, endpoint_id)
                else:
                    self._pod_ids[(endpoint.namespace, endpoint.pod_name)] = endpoint_id
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

    def _new_pod(self, endpoint: hubble.Endpoint) -> int:
        """Record a pod seen for the first time; its endpoint is its workload's, so replicas share edges. -1
        for a pod in no usable namespace (a field-masked or hand-edited log): the graph has no place for it,
        so its flows are left out, with a warning naming it."""
        labels = hubble.decode_labels(endpoint.labels)
        pod_labels, namespace_labels, labelled_namespace = hubble.split_labels(labels)
        namespace = endpoint.namespace or labelled_namespace
        known = self._namespaces.get(namespace)
        if known is None:
            known = self._namespaces[namespace] = "" if validate_namespace_name(namespace) else namespace
        if not known:  # a graph holds no node outside a valid namespace
            where = f"namespace {namespace!r}"
            self.warnings[f"pod {endpoint.pod_name!r} is in no valid namespace ({where}); its flows were left out"] += 1
            return -1
        namespace = known  # one string per namespace, not one per pod
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
        endpoint_id = self._id(key)
        pods = self.workload_pods.get(endpoint_id)
        if pods is None:
            self.workload_pods[endpoint_id] = [info]
        else:
            pods.append(info)
        return endpoint_id

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
        entry = self.edges.setdefault(key, [0, time, time, key])
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

    def forget_endpoints(self) -> None:
        """Let go of the endpoint tables once every endpoint has its node (Gadget pod details stay: the locks
        of monitored pods need them)."""
        self.endpoints = []
        self._endpoint_ids = {}
        self._pods = {}
        self._pod_ids = {}
        self.workload_pods = {}
        self._identities = {}
        self._label_sets = {}
        self.compiled_state = None


def _same(record: Any) -> Any:
    return record


@lru_cache(maxsize=4096)
def _url_path(url: str) -> str:
    """The path of an HTTP request URL (Hubble prints the full URL); the query is not part of a rule."""
    return urlsplit(url).path or "/"


def _layer4(l4: hubble.Layer4) -> tuple[int, hubble.Ports | hubble.Icmp | None]:
    """(protocol code, header) of the protocol a layer-4 header holds, in PROTOCOLS order; (-1, None) for none."""
    for protocol, header in enumerate((l4.TCP, l4.UDP, l4.SCTP, l4.ICMPv4, l4.ICMPv6)):
        if header is not None:
            return protocol, header
    return -1, None


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


# The compiled reader, chosen once at import: FENCELINE_PURE_FLOWS=1 (or an unbuilt extension) keeps the Python one.
PURE = os.environ.get("FENCELINE_PURE_FLOWS", "") not in ("", "0")
COMPILED = False
if not PURE:
    try:
        from . import _read
    except ImportError:
        pass
    else:
        Aggregator.add_records = _read.add_records  # type: ignore[method-assign]
        COMPILED = True
