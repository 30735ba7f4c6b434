"""What the reading of flows gathered -> the document: endpoints into nodes, entries into edges, and locks.

`build_document` turns endpoints into nodes (pods into workloads, reserved identities into Cilium entities,
world addresses into FQDN or CIDR nodes) and merges the entries that land on the same pair of nodes into
edges. Traffic between two ends outside the pod network (host to world) is counted and left out: no pod
policy governs it.

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

A graph of bare pods has about as many nodes as edges, 100,000s of each, so the work per node and per edge
is kept to plain ints, lists indexed by endpoint id and tuples until the rows of the nodes and edges are made,
once, in their final order (tables.py): `fenceline flows` writes the JSON from them, and the Node and Edge
objects are made only when the Document is asked for.

The usual import (a new document of Hubble pods known by name) is built by the compiled module _graphc.pyx
(Cython) when it is built, with C arrays and buffers instead of rows; this module stays the reference, and
builds everything else. FENCELINE_PURE_FLOWS=1 (read at import) leaves the compiled module out.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any, NamedTuple, cast

from ..document import SUBJECT_KINDS, Document, Node
from .aggregate import (
    DENIED_VERDICTS,
    ENDPOINT_MASK,
    MAX_L7_RULES,
    OUTSIDE,
    PROTOCOLS,
    PURE,
    VERDICTS,
    Aggregator,
    Key,
    PodInfo,
)
from .tables import EdgeTable, FlowGraph, NodeRow, NodeTable, ObservedRow, WorkloadSpec
from .workloads import name_from_labels, selector_labels, workload_of

_REGEX_SPECIAL = re.compile(r"([\\.^$|?*+()\[\]{}])")
# Protocol code -> its place among the protocol names in sorted order, so that an int sorts as the name does.
_PROTOCOL_RANK = [sorted(PROTOCOLS).index(name) for name in PROTOCOLS]
_SORTED_PROTOCOLS = sorted(PROTOCOLS)
_FIRST_DENIED = min(VERDICTS.index(verdict) for verdict in DENIED_VERDICTS)  # denials have the last codes
_RANK_MASK = (1 << 32) - 1
_PLACE_MASK = (1 << 32) - 1  # an entry's place in the reading's table, under its merged key (_merge)

# The compiled build of the usual case (_graphc.pyx), unless FENCELINE_PURE_FLOWS=1 or it was not built: this
# module is then the only one, as it is the reference either way. The variable is read as the reader reads it
# (aggregate.PURE), so that it leaves out both compiled modules or neither.
_compiled: Any = None
if not PURE:
    try:
        from . import _graphc

        _compiled = _graphc
    except ImportError:  # not built: pure Python
        _compiled = None


class EdgeStats:
    """What the flows of several entries between two nodes on one protocol and port showed."""

    __slots__ = ("count", "first", "last", "requests", "verdicts")

    def __init__(self) -> None:
        self.count = 0
        self.first = ""
        self.last = ""
        self.verdicts: dict[str, int] = {}
        self.requests: set[tuple[str, ...]] = set()  # L7 requests: ("http", method, path), ("dns", name), ...

    def add(self, verdict: str, entry: list[Any], requests: set[tuple[str, ...]] | None) -> None:
        count, first, last = entry[0], entry[1], entry[2]
        self.count += count
        if first and (not self.first or first < self.first):
            self.first = first
        self.last = max(self.last, last)
        if verdict:
            self.verdicts[verdict] = self.verdicts.get(verdict, 0) + count
        if requests:
            self.requests.update(requests)


def build_document(reading: Aggregator, into: Document | None) -> FlowGraph:
    """The document: a new one, or `into` extended in place (nodes matched by id or meaning, counts added).

    This consumes `reading`: what it read is let go of as soon as the graph no longer needs it, so that the
    reading tables and the document they become are not all held at once."""
    document = into if into is not None else Document(name="Observed traffic")
    if _compiled is not None and into is None and not reading.pod_info and not reading.monitored:
        # New, of Hubble pods known by name: compiled, unless the reading holds what only this module handles.
        built = _compiled.build(reading, document)
        if built is not None:
            compact, rows, used_flows, edge_count, denied_edges, workloads, node_count = built
            _summarise(reading, used_flows, edge_count, denied_edges, (workloads, node_count))
            return FlowGraph(document, rows, [], compact)
    endpoints = reading.endpoints
    edges = reading.edges
    reading.edges = {}
    # An entry's key is aggregate.edge_key(): source endpoint >> 67, target >> 27 & ENDPOINT_MASK, verdict
    # >> 19 & 0xFF, protocol >> 16 & 7, port & 0xFFFF; read inline, as this runs once per entry.
    outside = [key[0] in OUTSIDE for key in endpoints]
    # The endpoints the edges use, in the order the flows came (a dict, not a set): the nodes of entities and
    # addresses are made in that order, so the document is the same on every run, whatever the string hash seed.
    used: dict[int, None] = {}
    left_out = []
    for key in edges:
        source, target = key >> 67, key >> 27 & ENDPOINT_MASK
        if outside[source] and outside[target]:
            left_out.append(key)
        else:
            used[source] = used[target] = None
    if left_out:
        # No pod policy can allow or deny traffic between two places outside the pod network.
        reading.ignored["between two ends outside the pod network"] += sum(edges.pop(key)[0] for key in left_out)
    if into is None and any(key >> 19 & 0xFF for key in edges):
        document.settings.dialect = "cilium"
    nodes = NodeTable(document)
    node_ids = _resolve(reading, nodes, used)
    del used
    # Node ids as their rank in sorted order: an edge is then one int that sorts as its (source, target,
    # protocol, port) would, and merging and sorting 100,000s of them costs no tuple of strings.
    ranked, ranks = _rank(node_ids)
    del node_ids
    reading.forget_endpoints()
    merged = Merged(*_merge(edges, ranks, reading.requests))
    del ranks
    by_id = nodes.by_id
    rows = [by_id[node_id] for node_id in ranked]  # rank -> the node or row
    _lock(reading, nodes, rows, merged)
    table = EdgeTable(document)
    used_flows, denied_edges = _add_edges(reading, table, ranked, _locks(rows), merged)
    del rows
    edge_count = len(merged.keys)
    del merged, edges
    _summarise(reading, used_flows, edge_count, denied_edges, nodes.counts())
    graph = FlowGraph(document, nodes.rows, table.rows)
    if into is not None:
        graph.document()  # extended in place, as promised
    return graph


def _summarise(reading: Aggregator, used_flows: int, edges: int, denied_edges: int, counts: tuple[int, int]) -> None:
    """Put what the reading and the building found in the summary: flows used, merged edges, edges seen only as
    denied, and the (workloads, nodes) NodeTable.counts() gives."""
    summary = reading.summary
    summary.flows_used += used_flows
    summary.edges = edges
    summary.denied_edges = denied_edges
    reading.requests = {}
    summary.flows_read += reading.flows_read
    summary.replies += reading.replies
    for reason, count in reading.ignored.items():
        summary.ignored[reason] = summary.ignored.get(reason, 0) + count
    summary.warnings.extend(
        f"{warning} ({count}x)" if count > 1 else warning for warning, count in reading.warnings.items()
    )
    summary.workloads, summary.nodes = counts


def _rank(node_ids: list[str | None]) -> tuple[list[str], list[int]]:
    """(the distinct node ids in sorted order, each endpoint's rank in it or -1 for None). A sort of the endpoint
    indexes by their node id, then one pass: no set or dict of 100,000 strings."""
    order = [index for index, node_id in enumerate(node_ids) if node_id is not None]
    # The same list, read only at the indexes in `order`, which are those of the ids that are not None.
    present = cast("list[str]", node_ids)
    order.sort(key=present.__getitem__)
    ranks = [-1] * len(node_ids)
    ranked: list[str] = []
    previous = None
    rank = -1
    for index in order:
        node_id = present[index]
        if node_id != previous:
            ranked.append(node_id)
            previous = node_id
            rank += 1
        ranks[index] = rank
    return ranked, ranks


def _locks(rows: list[Node | NodeRow]) -> list[int]:
    """Per rank, the directions its node is locked in (a subject's isolate): 1 egress, 2 ingress; set by _lock."""
    locks = []
    for row in rows:
        isolate = row.isolate if row.kind in SUBJECT_KINDS else None
        locks.append(isolate.egress | isolate.ingress << 1 if isolate else 0)
    return locks


class Merged(NamedTuple):
    """The merged edges in order: each one's key (see _merge) and its one entry or its EdgeStats."""

    keys: list[int]
    values: list[list[Any] | EdgeStats]


def _merge(
    edges: dict[int, list[Any]], ranks: list[int], requests: dict[int, set[tuple[str, ...]]]
) -> tuple[list[int], list[list[Any] | EdgeStats]]:
    """Entries merged by (source node, target node, protocol, port) as one int: source rank << 51, target rank
    << 19, protocol rank << 16, port; in the order of that key. The value is the one entry (the usual case), or
    EdgeStats when several entries land there (replicas, verdicts).

    Each key is sorted with the entry's place in `edges` in its low 32 bits, so that the entries of one key come
    together, in the order they were read: no dict of 100,000s of merged keys to fill and look up again."""
    entries = list(edges.values())
    order: list[int] = []
    for place, key in enumerate(edges):
        source_rank, target_rank = ranks[key >> 67], ranks[key >> 27 & ENDPOINT_MASK]
        if source_rank < 0 or target_rank < 0:
            continue
        merged_key = (((source_rank << 32 | target_rank) << 3 | _PROTOCOL_RANK[key >> 16 & 7]) << 16) | key & 0xFFFF
        order.append(merged_key << 32 | place)
    order.sort()
    keys: list[int] = []
    values: list[list[Any] | EdgeStats] = []
    previous = -1
    for packed in order:
        merged_key, entry = packed >> 32, entries[packed & _PLACE_MASK]
        if merged_key != previous:
            keys.append(merged_key)
            values.append(entry)
            previous = merged_key
            continue
        found = values[-1]
        if isinstance(found, list):
            stats = values[-1] = EdgeStats()
            stats.add(VERDICTS[found[3] >> 19 & 0xFF], found, requests.get(found[3]))
        else:
            stats = found
        stats.add(VERDICTS[entry[3] >> 19 & 0xFF], entry, requests.get(entry[3]))
    return keys, values


def _add_edges(
    reading: Aggregator,
    table: EdgeTable,
    ranked: list[str],
    locks: list[int],
    merged: Merged,
) -> tuple[int, int]:
    """Add the merged edges to the document in order of (source, target, protocol, port); (flows, denied edges).
    `locks`: per rank, as _locks gives."""
    add_edge, requests = table.add, reading.requests
    used_flows = denied_edges = 0
    for merged_key, found in zip(*merged, strict=True):
        source_rank, target_rank = merged_key >> 51, merged_key >> 19 & _RANK_MASK
        source, target = ranked[source_rank], ranked[target_rank]
        protocol, port = _SORTED_PROTOCOLS[merged_key >> 16 & 7], merged_key & 0xFFFF
        if isinstance(found, list):
            count, first, last, key = found
            verdict = key >> 19 & 0xFF
            denied = verdict >= _FIRST_DENIED
            observed = ObservedRow(count, first or None, last or None, {VERDICTS[verdict]: count} if verdict else {})
            found_requests = requests.get(key) if requests else None
        else:
            count, verdicts = found.count, found.verdicts
            denied = bool(verdicts) and verdicts.keys() <= DENIED_VERDICTS
            if len(verdicts) > 1:
                verdicts = dict(sorted(verdicts.items()))
            observed = ObservedRow(count, found.first or None, found.last or None, verdicts)
            found_requests = found.requests
        used_flows += count
        denied_edges += denied
        l7 = _l7_rules(reading, source, target, port, found_requests) if found_requests else None
        add_edge(source, target, protocol, port, observed, denied, l7, locks[source_rank] & 1, locks[target_rank] & 2)
    return used_flows, denied_edges


def _resolve(reading: Aggregator, nodes: NodeTable, used: dict[int, None]) -> list[str | None]:
    """Endpoint id -> node id for the `used` endpoints (None for the others), creating the nodes."""
    endpoints = reading.endpoints
    node_of: list[str | None] = [None] * len(endpoints)
    workload_pods, pod_info = reading.workload_pods, reading.pod_info
    if not pod_info:
        # Hubble pods known by name only (no Gadget pod, no identity group or service): each workload has one
        # endpoint. Sorted as (namespace, name) would be, but as strings, which sort several times faster than
        # tuples: a namespace name holds no NUL, so "namespace NUL name" orders as the pair does.
        # Each workload's spec is worked out in the order its pods were read (and stored), then put in order.
        # Three lists in step (place, endpoint, spec) and one sort of their indexes: no dict of 100,000 places.
        places: list[str] = []
        indexes: list[int] = []
        specs: list[WorkloadSpec] = []
        for index in used:
            key = endpoints[index]
            kind = key[0]
            if kind == "workload":
                places.append(f"{key[1]}\0{key[2]}")
                indexes.append(index)
                specs.append(_workload_spec(key[1], key[2], workload_pods[index]))
            elif kind == "entity":
                node_of[index] = nodes.entity(key[1])
            elif kind == "world":
                node_of[index] = _world_node(reading, nodes, key[1])
        order = sorted(range(len(places)), key=places.__getitem__)
        del places
        for position, node_id in zip(order, nodes.workloads([specs[position] for position in order]), strict=True):
            node_of[indexes[position]] = node_id
        return node_of
    workloads: dict[tuple[str, str], list[int]] = {}
    infos_of: dict[tuple[str, str], list[PodInfo]] = {}
    for index in used:
        key = endpoints[index]
        kind = key[0]
        if kind == "workload":
            place = (key[1], key[2])
            members = workloads.get(place)
            if members is None:
                workloads[place] = [index]
                infos_of[place] = list(workload_pods[index])
            else:
                members.append(index)
                infos_of[place].extend(workload_pods[index])
        elif kind == "pod" or kind == "group":
            info = pod_info[key]
            place = (info.namespace, workload_name(key, info))
            workloads.setdefault(place, []).append(index)
            infos_of.setdefault(place, []).append(info)
        elif kind == "entity":
            node_of[index] = nodes.entity(key[1])
        elif kind == "world":
            node_of[index] = _world_node(reading, nodes, key[1])
    # Pods known by name make the workloads; pods known only by identity (on another node, no pod
    # name) join the workload whose labels they carry, else make one named after their labels.
    labelled: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
    by_labels = any(endpoints[index][0] in ("group", "svc") for index in used)  # whether `labelled` is ever read
    groups: list[tuple[int, PodInfo]] = []
    for (namespace, name), members in sorted(workloads.items()):
        infos = infos_of[(namespace, name)]
        if all(endpoints[index][0] == "group" for index in members):
            groups.extend(zip(members, infos, strict=True))
            continue
        spec = _workload_spec(namespace, name, infos)
        node_id, labels = nodes.workload(*spec), spec[2]
        for index in members:
            node_of[index] = node_id
        if labels and by_labels:
            labelled.setdefault((namespace, tuple(sorted(labels.items()))), node_id)
    for index, info in groups:
        labels = selector_labels(info.labels or {})
        found = labelled.get((info.namespace, tuple(sorted(labels.items()))))
        if found is None:
            name = workload_name(endpoints[index], info)
            found = nodes.workload(info.namespace, name, labels, None, info.namespace_labels)
            labelled[(info.namespace, tuple(sorted(labels.items())))] = found
        node_of[index] = found
    for index in used:
        key = endpoints[index]
        if key[0] == "svc":
            # A service whose selector is exactly a known workload's labels picks that workload's pods.
            node_of[index] = labelled.get((key[1], key[2])) or nodes.selector(
                key[1], reading.services[key], dict(key[2])
            )
    return node_of


def _workload_spec(namespace: str, name: str, infos: list[PodInfo]) -> WorkloadSpec:
    """What makes the workload of the pods `infos` describe (see NodeTable.workloads)."""
    if len(infos) == 1:  # a bare pod, or a workload seen through one replica
        info = infos[0]
        labels = None if info.labels is None else selector_labels(info.labels)
        kind, guess = info.owner_kind, info.guess
        if not kind and guess is not None:  # _owner_kind, for one pod whose name was read
            kind = guess[1] if info.name and guess[0] == name else None
        elif not kind:
            kind = _owner_kind(name, infos)
        return namespace, name, labels, kind, info.namespace_labels
    return namespace, name, _shared_labels(infos), _owner_kind(name, infos), _namespace_labels(infos)


def workload_name(key: Key, info: PodInfo) -> str:
    if info.owner:
        return info.owner
    if key[0] == "group":
        return name_from_labels(info.labels or {}) or f"identity-{key[2]}"
    return workload_of(info.name, info.labels or {})[0]


def _world_node(reading: Aggregator, nodes: NodeTable, address: str) -> str:
    name = reading.world_names.get(address)
    options = reading.options
    if name and options.fqdn:
        return nodes.fqdn(name)
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        reading.warnings[f"{address!r} is not an IP address; counted as the world entity"] += 1
        return nodes.entity("world")
    prefix = options.collapse_cidr if ip.version == 4 else options.collapse_cidr6
    network = ipaddress.ip_network(f"{ip}/{prefix if prefix is not None else ip.max_prefixlen}", strict=False)
    return nodes.cidr(str(network))


def _lock(reading: Aggregator, nodes: NodeTable, rows: list[Node | NodeRow], merged: Merged) -> None:
    """Set the default-deny locks of new workloads (see the module docstring for the rule)."""
    # Per node, not per edge: a graph of bare pods has as many nodes as edges. Hubble entries have a verdict;
    # only a Gadget connection (and a monitored pod with it) has none.
    seen: Iterable[int] = merged.keys
    if reading.monitored:
        seen = [
            key
            for key, found in zip(*merged, strict=True)
            if (found[3] >> 19 & 0xFF if isinstance(found, list) else found.verdicts)
        ]
    egress = {merged_key >> 51 for merged_key in seen}
    ingress = {merged_key >> 19 & _RANK_MASK for merged_key in seen}
    del seen
    namespaces = reading.options.namespaces
    labels_unknown = nodes.labels_unknown
    by_id = nodes.by_id
    for rank in egress | ingress:
        row = rows[rank]
        # Only a node made by this import has its locks set; a workload whose labels are unknown is never locked.
        if (
            isinstance(row, NodeRow)
            and row.kind == "workload"
            and row.id not in labels_unknown
            and not (namespaces and row.namespace not in namespaces)
        ):
            isolate = row.isolate
            assert isolate is not None  # a workload's
            if rank in egress:
                isolate.egress = True
            if rank in ingress:
                isolate.ingress = True
    for key in reading.monitored:
        node_id = _node_of_pod(reading, nodes, key)
        pod_row = by_id[node_id] if node_id else None
        if isinstance(pod_row, NodeRow) and pod_row.isolate is not None:
            pod_row.isolate.ingress = pod_row.isolate.egress = True


def _node_of_pod(reading: Aggregator, nodes: NodeTable, key: Key) -> str | None:
    info = reading.pod_info[key]
    return nodes.find_workload(info.namespace, workload_name(key, info))


def _l7_rules(
    reading: Aggregator, source: str, target: str, port: int, requests: set[tuple[str, ...]]
) -> dict[str, Any] | None:
    rules: dict[str, Any] = {}
    http = sorted(request[1:] for request in requests if request[0] == "http")
    if len(http) > MAX_L7_RULES:
        reading.warnings[
            f"{source} -> {target}:{port}: more than {MAX_L7_RULES} distinct HTTP requests, too many to list; "
            "no HTTP rules added, the port is allowed whole"
        ] += 1
    elif http:
        rules["http"] = [{"method": method, "path": path_regex(path)} for method, path in http]
    dns = sorted(request[1] for request in requests if request[0] == "dns")
    if len(dns) > MAX_L7_RULES:
        rules["dns"] = [{"matchPattern": "*"}]
    elif dns:
        rules["dns"] = [{"matchName": name} for name in dns]
    kafka = sorted(request[1:] for request in requests if request[0] == "kafka")
    if kafka:
        rules["kafka"] = [{"apiKey": key, **({"topic": topic} if topic else {})} for key, topic in kafka]
    return rules or None


def path_regex(path: str) -> str:
    """An anchored regular expression that matches exactly `path` (Cilium HTTP rules take regexes)."""
    return "^" + _REGEX_SPECIAL.sub(r"\\\1", path) + "$"


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
