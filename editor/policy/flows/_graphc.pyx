# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""graph.build_document and FlowGraph.dump_chunks compiled, for the case that dominates: a new document of
Hubble pods known by name (no `into`, no Gadget pod, no identity group or service, no monitored pod).

The pure-Python code in graph.py and tables.py is the reference: this module does the same thing, in the same
order, and writes the same bytes; tests/unit/test_flows_compiled.py runs both on every fixture and on generated
captures. What it saves is the Python objects per node and per edge: the endpoints' node ids are ranked and the
entries merged by sorting C arrays (qsort), a workload is a few references in lists and a byte of locks, an edge
is a C struct, and the JSON of workloads and edges is written straight into a byte buffer (strings that need
escaping are encoded by msgspec, as the Python path's encoder does). The rare parts (entity, CIDR and FQDN nodes,
edges with L7 rules or ICMP, several entries merged into one edge) are made by the Python code itself (NodeTable,
EdgeTable, EdgeStats), and written through msgspec as the Python path writes them.

build() returns None, having changed nothing, when the reading is not of that case; graph.py then takes the
Python path.
"""

from cpython.long cimport PyLong_AsLongLong, PyLong_AsUnsignedLongLongMask
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdio cimport snprintf
from libc.stdlib cimport free, malloc, qsort, realloc
from libc.string cimport memcmp, memcpy, memset

import msgspec

from ..document import Edge, Isolation, Node, Observed, Port
from .aggregate import DENIED_VERDICTS, OUTSIDE, PROTOCOLS, VERDICTS
from .tables import _DENIED_NOTE, _NO_LABELS_NOTE, _UNKNOWN_LABELS_NOTE, EdgeTable, NodeTable, ObservedRow
from .workloads import IGNORED_LABELS


cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object text, Py_ssize_t* size) except NULL


_encode = msgspec.json.encode
_format = msgspec.json.format
_SORTED_PROTOCOLS = sorted(PROTOCOLS)
cdef uint8_t _PROTOCOL_RANK[8]
for _code, _name in enumerate(PROTOCOLS):
    _PROTOCOL_RANK[_code] = _SORTED_PROTOCOLS.index(_name)
cdef int _FIRST_DENIED = min(VERDICTS.index(verdict) for verdict in DENIED_VERDICTS)
cdef int _ICMP = PROTOCOLS.index("ICMPv4")  # ICMPv4 and ICMPv6 have the last codes
_VERDICTS = list(VERDICTS)
_PROTOCOL_NAMES = list(PROTOCOLS)
_ENFORCE = (["source", "target"], ["source"], ["target"], [])  # by enforce code (see _enforce)
_ENFORCE_JSON = (b'[\n"source",\n"target"\n]', b'[\n"source"\n]', b'[\n"target"\n]', b"[]")
_IGNORED_DISJOINT = IGNORED_LABELS.isdisjoint
_MULTI = 255  # EdgeRec.verdict of an edge whose verdicts are in CompactGraph.verdicts


# ---- scratch memory, freed with its owner ---------------------------------------------------------------


cdef class _Memory:
    cdef list pointers

    def __cinit__(self):
        self.pointers = []

    cdef void* get(self, size_t size) except NULL:
        cdef void* pointer = malloc(size if size else 1)
        if pointer == NULL:
            raise MemoryError()
        self.pointers.append(<size_t>pointer)
        return pointer

    def __dealloc__(self):
        for pointer in self.pointers:
            free(<void*><size_t>pointer)


# ---- sorting: qsort has no context argument, so the comparators read these ---------------------------------


cdef const char** _TEXT_A
cdef Py_ssize_t* _SIZE_A
cdef const char** _TEXT_B
cdef Py_ssize_t* _SIZE_B


cdef inline int _compare_text(const char* a, Py_ssize_t na, const char* b, Py_ssize_t nb) noexcept nogil:
    """UTF-8 byte order, which is code point order: the order of Python's str comparison."""
    cdef int found = memcmp(a, b, na if na < nb else nb)
    if found:
        return found
    return (na > nb) - (na < nb)


cdef int _by_one_text(const void* left, const void* right) noexcept nogil:
    cdef int32_t a = (<int32_t*>left)[0], b = (<int32_t*>right)[0]
    return _compare_text(_TEXT_A[a], _SIZE_A[a], _TEXT_A[b], _SIZE_A[b])


cdef int _by_two_texts(const void* left, const void* right) noexcept nogil:
    cdef int32_t a = (<int32_t*>left)[0], b = (<int32_t*>right)[0]
    cdef int found = _compare_text(_TEXT_A[a], _SIZE_A[a], _TEXT_A[b], _SIZE_A[b])
    if found:
        return found
    return _compare_text(_TEXT_B[a], _SIZE_B[a], _TEXT_B[b], _SIZE_B[b])


cdef struct Rec:  # an entry under its merged key: (source rank, target rank), (protocol rank, port, place)
    uint64_t high
    uint64_t low


cdef int _by_rec(const void* left, const void* right) noexcept nogil:
    cdef const Rec* a = <const Rec*>left
    cdef const Rec* b = <const Rec*>right
    if a.high != b.high:
        return -1 if a.high < b.high else 1
    if a.low != b.low:
        return -1 if a.low < b.low else 1
    return 0


cdef struct EdgeRec:  # an edge as EdgeTable.add would make it (see CompactGraph)
    uint32_t source  # ranks
    uint32_t target
    int64_t count
    uint16_t port
    uint8_t protocol  # code, PROTOCOLS order
    uint8_t verdict  # code, or _MULTI
    uint8_t denied
    uint8_t enforce  # index in _ENFORCE
    uint8_t special  # made by EdgeTable (CompactGraph.special)


cdef inline bint _valid_id(const char* text, Py_ssize_t size) noexcept nogil:
    """document.ID_PATTERN.fullmatch: 1 to 253 of A-Za-z0-9_.:/=@+- (ASCII, so bytes are characters)."""
    cdef Py_ssize_t i
    cdef unsigned char c
    if size < 1 or size > 253:
        return False
    for i in range(size):
        c = text[i]
        if not (
            (c >= 97 and c <= 122) or (c >= 65 and c <= 90) or (c >= 47 and c <= 58)  # a-z A-Z / 0-9 :
            or c == 95 or c == 46 or c == 61 or c == 64 or c == 43 or c == 45  # _ . = @ + -
        ):
            return False
    return True


def build(reading, document):
    """(CompactGraph, node rows made by NodeTable, flows used, edges, denied edges, workloads, nodes) for the
    reading `graph.build_document(reading, None)` would turn into `document` (new, empty), or None, having
    changed nothing, when the reading is not of the case this handles."""
    from . import graph as python  # graph imports this module: not at the top

    cdef list endpoints = reading.endpoints
    cdef dict edges = reading.edges
    cdef dict workload_pods = reading.workload_pods
    cdef Py_ssize_t n_endpoints = len(endpoints), n_entries = len(edges)
    cdef Py_ssize_t i, j, k, m, n
    cdef _Memory memory = _Memory()
    cdef uint8_t* kinds = <uint8_t*>memory.get(n_endpoints)  # 0 workload, 1 entity, 2 world
    for i in range(n_endpoints):
        kind = (<tuple>endpoints[i])[0]
        if kind == "workload":
            kinds[i] = 0
        elif kind == "entity":
            kinds[i] = 1
        elif kind == "world":
            kinds[i] = 2
        else:
            return None
    # The entries: an entry's key is aggregate.edge_key(), source << 67 | target << 27 | verdict << 19 |
    # protocol << 16 | port: read as its high and low 64 bits.
    cdef uint32_t* sources = <uint32_t*>memory.get(n_entries * sizeof(uint32_t))
    cdef uint32_t* targets = <uint32_t*>memory.get(n_entries * sizeof(uint32_t))
    cdef uint32_t* codes = <uint32_t*>memory.get(n_entries * sizeof(uint32_t))  # verdict << 19 | protocol << 16 | port
    cdef uint8_t* used = <uint8_t*>memory.get(n_endpoints)
    cdef int32_t* used_order = <int32_t*>memory.get((n_endpoints + 1) * sizeof(int32_t))
    memset(used, 0, n_endpoints)
    cdef Py_ssize_t n_used = 0, n_kept = 0
    cdef uint64_t high, low, source, target
    cdef list entries = []  # the entries kept, in order: their place
    cdef list left_out = []
    cdef bint cilium = False
    for key, entry in edges.items():
        high = PyLong_AsUnsignedLongLongMask(key >> 64)
        low = PyLong_AsUnsignedLongLongMask(key)
        source, target = high >> 3, (low >> 27) | ((high & 7) << 37)
        if source >= <uint64_t>n_endpoints or target >= <uint64_t>n_endpoints or high >> 47:
            return None
        if kinds[source] and kinds[target]:  # both outside the pod network
            left_out.append(entry)
            continue
        sources[n_kept], targets[n_kept], codes[n_kept] = <uint32_t>source, <uint32_t>target, low & 0x7FFFFFF
        n_kept += 1
        entries.append(entry)
        if (low >> 19) & 0xFF:
            cilium = True
        if not used[source]:
            used[source] = 1
            used_order[n_used] = <int32_t>source
            n_used += 1
        if not used[target]:
            used[target] = 1
            used_order[n_used] = <int32_t>target
            n_used += 1
    # The workloads (NodeTable.workloads, the usual case: new, under its own id), in the order of `used`.
    cdef list names = [], namespaces = [], labels_of = [], owners = [], notes = [], ids = [], namespace_labels = []
    cdef int32_t* workload_endpoint = <int32_t*>memory.get((n_used + 1) * sizeof(int32_t))
    cdef Py_ssize_t n_workloads = 0
    cdef const char* text
    cdef Py_ssize_t size
    for k in range(n_used):
        i = used_order[k]
        if kinds[i]:
            continue
        key = endpoints[i]
        namespace, name = key[1], key[2]
        infos = workload_pods[i]
        if len(infos) == 1:  # graph._workload_spec, inline for one pod
            info = infos[0]
            labels = info.labels
            if labels is not None and not _IGNORED_DISJOINT(labels):
                labels = python.selector_labels(labels)
            owner_kind, guess = info.owner_kind, info.guess
            if not owner_kind and guess is not None:
                owner_kind = guess[1] if info.name and guess[0] == name else None
            elif not owner_kind:
                owner_kind = python._owner_kind(name, infos)
            ns_labels = info.namespace_labels
        else:
            namespace, name, labels, owner_kind, ns_labels = python._workload_spec(namespace, name, infos)
        if labels:
            labels_of.append(dict(sorted(labels.items())) if len(labels) > 1 else labels)
            notes.append(None)
        else:
            labels_of.append({})
            notes.append(_NO_LABELS_NOTE if labels is not None else _UNKNOWN_LABELS_NOTE)
        node_id = f"{namespace}/{name}"
        try:
            text = PyUnicode_AsUTF8AndSize(node_id, &size)
        except UnicodeEncodeError:  # a lone surrogate: left to the Python path
            return None
        if not _valid_id(text, size):
            node_id = python.safe_id(node_id)
        names.append(name)
        namespaces.append(namespace)
        owners.append(owner_kind)
        ids.append(node_id)
        namespace_labels.append(ns_labels)
        workload_endpoint[n_workloads] = <int32_t>i
        n_workloads += 1
    # Two orders of the workloads: by id (their ranks) and by (namespace, name) (the nodes' order).
    global _TEXT_A, _SIZE_A, _TEXT_B, _SIZE_B
    cdef const char** id_text = <const char**>memory.get((n_workloads + 1) * sizeof(char*))
    cdef Py_ssize_t* id_size = <Py_ssize_t*>memory.get((n_workloads + 1) * sizeof(Py_ssize_t))
    cdef const char** namespace_text = <const char**>memory.get((n_workloads + 1) * sizeof(char*))
    cdef Py_ssize_t* namespace_size = <Py_ssize_t*>memory.get((n_workloads + 1) * sizeof(Py_ssize_t))
    cdef const char** name_text = <const char**>memory.get((n_workloads + 1) * sizeof(char*))
    cdef Py_ssize_t* name_size = <Py_ssize_t*>memory.get((n_workloads + 1) * sizeof(Py_ssize_t))
    cdef int32_t* by_id = <int32_t*>memory.get((n_workloads + 1) * sizeof(int32_t))
    cdef int32_t* by_place = <int32_t*>memory.get((n_workloads + 1) * sizeof(int32_t))
    try:
        for i in range(n_workloads):
            id_text[i] = PyUnicode_AsUTF8AndSize(ids[i], &id_size[i])
            namespace_text[i] = PyUnicode_AsUTF8AndSize(namespaces[i], &namespace_size[i])
            name_text[i] = PyUnicode_AsUTF8AndSize(names[i], &name_size[i])
            by_id[i] = by_place[i] = <int32_t>i
    except UnicodeEncodeError:  # a lone surrogate: Python compares it, UTF-8 cannot hold it
        return None
    _TEXT_A, _SIZE_A = id_text, id_size
    qsort(by_id, n_workloads, sizeof(int32_t), _by_one_text)
    for k in range(1, n_workloads):
        i, j = by_id[k - 1], by_id[k]
        if _compare_text(id_text[i], id_size[i], id_text[j], id_size[j]) == 0:
            return None  # two workloads under one id: NodeTable._add renames one, left to the Python path
    _TEXT_A, _SIZE_A, _TEXT_B, _SIZE_B = namespace_text, namespace_size, name_text, name_size
    qsort(by_place, n_workloads, sizeof(int32_t), _by_two_texts)
    _TEXT_A = _TEXT_B = NULL

    # From here on the reading and the document change, as the Python path changes them.
    reading.edges = {}
    if left_out:
        # No pod policy can allow or deny traffic between two places outside the pod network.
        reading.ignored["between two ends outside the pod network"] += sum(entry[0] for entry in left_out)
    del left_out
    if cilium:
        document.settings.dialect = "cilium"
    nodes = NodeTable(document)
    cdef dict node_of_other = {}  # endpoint -> node id, for entities and world addresses
    for k in range(n_used):
        i = used_order[k]
        if kinds[i] == 1:
            node_of_other[i] = nodes.entity(endpoints[i][1])
        elif kinds[i] == 2:
            node_of_other[i] = python._world_node(reading, nodes, endpoints[i][1])
    cdef set known_namespaces = set()
    for k in range(n_workloads):
        i = by_place[k]
        namespace, ns_labels = namespaces[i], namespace_labels[i]
        if ns_labels or namespace not in known_namespaces:  # else ensure_namespace would change nothing
            known_namespaces.add(document.ensure_namespace(namespace, ns_labels).name)
    del namespace_labels
    # Ranks: the node ids in sorted order, the workloads' (by_id) merged with the other nodes'.
    cdef list rows = nodes.rows
    cdef list other_ids = sorted(row.id for row in rows)
    cdef dict other_rank = {}
    cdef list ranked = []
    cdef Py_ssize_t n_nodes = n_workloads + len(other_ids)
    cdef int32_t* rank_node = <int32_t*>memory.get((n_nodes + 1) * sizeof(int32_t))  # >= 0 workload, < 0 row
    cdef int32_t* workload_rank = <int32_t*>memory.get((n_workloads + 1) * sizeof(int32_t))
    cdef dict row_index = {row.id: index for index, row in enumerate(rows)}
    cdef Py_ssize_t other_size
    cdef const char* other_text
    j = 0
    k = 0
    for m in range(n_nodes):
        if j < len(other_ids):
            other_text = PyUnicode_AsUTF8AndSize(other_ids[j], &other_size)
        if k < n_workloads and (
            j >= len(other_ids)
            or _compare_text(id_text[by_id[k]], id_size[by_id[k]], other_text, other_size) < 0
        ):
            i = by_id[k]
            ranked.append(ids[i])
            rank_node[m] = <int32_t>i
            workload_rank[i] = <int32_t>m
            k += 1
        else:
            node_id = other_ids[j]
            ranked.append(node_id)
            rank_node[m] = -1 - <int32_t>row_index[node_id]
            other_rank[node_id] = m
            j += 1
    cdef int32_t* endpoint_rank = <int32_t*>memory.get((n_endpoints + 1) * sizeof(int32_t))
    for i in range(n_workloads):
        endpoint_rank[workload_endpoint[i]] = workload_rank[i]
    for i, node_id in node_of_other.items():
        endpoint_rank[i] = other_rank[node_id]
    del node_of_other, other_rank
    reading.forget_endpoints()
    # Merge: the entries sorted by (source rank, target rank, protocol rank, port, place) (graph._merge).
    cdef Rec* recs = <Rec*>memory.get((n_kept + 1) * sizeof(Rec))
    cdef uint32_t code
    for m in range(n_kept):
        code = codes[m]
        recs[m].high = (<uint64_t>endpoint_rank[sources[m]]) << 32 | <uint64_t>endpoint_rank[targets[m]]
        recs[m].low = ((<uint64_t>_PROTOCOL_RANK[(code >> 16) & 7] << 16 | (code & 0xFFFF)) << 32) | <uint64_t>m
    qsort(recs, n_kept, sizeof(Rec), _by_rec)
    # The locks (graph._lock, with no monitored pod): a workload is locked in each direction it was seen in,
    # unless its labels are unknown or a namespace filter leaves its namespace out.
    cdef uint8_t* locks = <uint8_t*>memory.get(n_nodes + 1)  # per rank: 1 egress, 2 ingress
    memset(locks, 0, n_nodes)
    for m in range(n_kept):
        locks[recs[m].high >> 32] |= 1
        locks[recs[m].high & 0xFFFFFFFF] |= 2
    filter_namespaces = reading.options.namespaces
    cdef uint8_t* workload_locks = <uint8_t*>memory.get(n_workloads + 1)
    for m in range(n_nodes):
        i = rank_node[m]
        if i < 0:
            locks[m] = 0  # entity, CIDR, FQDN: not subjects
            continue
        if notes[i] is _UNKNOWN_LABELS_NOTE or (filter_namespaces and namespaces[i] not in filter_namespaces):
            locks[m] = 0
        workload_locks[i] = locks[m]
    # The edges, in order (graph._add_edges, EdgeTable.add).
    requests = reading.requests
    cdef CompactGraph graph = CompactGraph()
    cdef Py_ssize_t capacity = n_kept + 1
    graph.edges = <EdgeRec*>malloc(capacity * sizeof(EdgeRec))
    if graph.edges == NULL:
        raise MemoryError()
    table = EdgeTable(document)
    cdef list firsts = graph.firsts, lasts = graph.lasts
    cdef dict special = graph.special, verdicts_of = graph.verdicts
    cdef int64_t used_flows = 0, count
    cdef Py_ssize_t denied_edges = 0, n_merged = 0, n_edges = 0, place
    cdef uint64_t merged_low
    cdef int verdict, protocol, port, source_locked, target_locked
    cdef uint64_t source_rank, target_rank
    cdef bint denied
    m = 0
    while m < n_kept:
        high, merged_low = recs[m].high, recs[m].low >> 32
        n = m + 1
        while n < n_kept and recs[n].high == high and recs[n].low >> 32 == merged_low:
            n += 1
        place = <Py_ssize_t>(recs[m].low & 0xFFFFFFFF)
        code = codes[place]
        protocol, port = (code >> 16) & 7, code & 0xFFFF
        entry = entries[place]
        if n == m + 1:
            verdict = code >> 19
            count = PyLong_AsLongLong(entry[0])
            first, last = entry[1] or None, entry[2] or None
            denied = verdict >= _FIRST_DENIED
            found_requests = requests.get(entry[3]) if requests else None
            verdicts = None
        else:
            stats = python.EdgeStats()
            for k in range(m, n):
                other = entries[<Py_ssize_t>(recs[k].low & 0xFFFFFFFF)]
                stats.add(_VERDICTS[(other[3] >> 19) & 0xFF], other, requests.get(other[3]))
            verdict = _MULTI
            count = stats.count
            first, last = stats.first or None, stats.last or None
            verdicts = stats.verdicts
            denied = bool(verdicts) and verdicts.keys() <= DENIED_VERDICTS
            if len(verdicts) > 1:
                verdicts = dict(sorted(verdicts.items()))
            found_requests = stats.requests
        m = n
        n_merged += 1
        used_flows += count
        denied_edges += denied
        source_rank, target_rank = high >> 32, high & 0xFFFFFFFF
        source_locked, target_locked = locks[source_rank] & 1, locks[target_rank] & 2
        source_id, target_id = ranked[source_rank], ranked[target_rank]
        if n_edges + 2 >= capacity:
            capacity = capacity * 2 + 16
            graph.edges = <EdgeRec*>realloc(graph.edges, capacity * sizeof(EdgeRec))
            if graph.edges == NULL:
                raise MemoryError()
        l7 = python._l7_rules(reading, source_id, target_id, port, found_requests) if found_requests else None
        if l7 is not None or protocol >= _ICMP:
            # EdgeTable.add itself, numbering its rows where this table is
            if verdict == _MULTI:
                observed = ObservedRow(count, first, last, verdicts)
            else:
                observed = ObservedRow(count, first, last, {_VERDICTS[verdict]: count} if verdict else {})
            table._next = n_edges + 1
            made = len(table.rows)
            table.add(
                source_id, target_id, _PROTOCOL_NAMES[protocol], port, observed, denied, l7, source_locked,
                target_locked,
            )
            for row in table.rows[made:]:
                special[n_edges] = row
                graph.edges[n_edges].special = 1
                firsts.append(None)
                lasts.append(None)
                n_edges += 1
            continue
        graph.edges[n_edges].special = 0
        graph.edges[n_edges].source = <uint32_t>source_rank
        graph.edges[n_edges].target = <uint32_t>target_rank
        graph.edges[n_edges].count = count
        graph.edges[n_edges].port = <uint16_t>port
        graph.edges[n_edges].protocol = <uint8_t>protocol
        graph.edges[n_edges].verdict = <uint8_t>verdict
        graph.edges[n_edges].denied = denied
        if source_locked:
            graph.edges[n_edges].enforce = 0 if target_locked else 1
        else:
            graph.edges[n_edges].enforce = 2 if target_locked else 3
        if verdict == _MULTI:
            verdicts_of[n_edges] = verdicts
        firsts.append(first)
        lasts.append(last)
        n_edges += 1
    graph.n_edges = n_edges
    graph.ranked = ranked
    graph.rows = rows
    graph.n_workloads = n_workloads
    graph.ids = ids
    graph.names = names
    graph.namespaces = namespaces
    graph.owners = owners
    graph.labels = labels_of
    graph.notes = notes
    graph.order = <int32_t*>malloc((n_workloads + 1) * sizeof(int32_t))
    graph.workload_locks = <uint8_t*>malloc(n_workloads + 1)
    if graph.order == NULL or graph.workload_locks == NULL:
        raise MemoryError()
    memcpy(graph.order, by_place, n_workloads * sizeof(int32_t))
    memcpy(graph.workload_locks, workload_locks, n_workloads)
    return graph, rows, used_flows, n_merged, denied_edges, n_workloads, len(rows) + n_workloads


# ---- writing -----------------------------------------------------------------------------------------------


cdef class _Buffer:
    """Bytes written in place; `take` hands them over and starts again."""

    cdef char* data
    cdef Py_ssize_t size
    cdef Py_ssize_t capacity
    cdef int indent

    def __cinit__(self, int indent):
        self.capacity = 1 << 17
        self.data = <char*>malloc(self.capacity)
        if self.data == NULL:
            raise MemoryError()
        self.size = 0
        self.indent = indent

    def __dealloc__(self):
        free(self.data)

    cdef int reserve(self, Py_ssize_t more) except -1:
        cdef Py_ssize_t capacity = self.capacity
        cdef char* data
        if self.size + more <= capacity:
            return 0
        while self.size + more > capacity:
            capacity *= 2
        data = <char*>realloc(self.data, capacity)
        if data == NULL:
            raise MemoryError()
        self.data, self.capacity = data, capacity
        return 0

    cdef inline int raw(self, const char* text, Py_ssize_t size) except -1:
        self.reserve(size)
        memcpy(self.data + self.size, text, size)
        self.size += size
        return 0

    cdef inline int line(self, int depth) except -1:
        """A new line indented to `depth`."""
        cdef Py_ssize_t spaces = self.indent * depth
        self.reserve(spaces + 1)
        self.data[self.size] = 10
        memset(self.data + self.size + 1, 32, spaces)
        self.size += spaces + 1
        return 0

    cdef inline int key(self, int depth, const char* quoted) except -1:
        """A new line at `depth`, then `"key": ` (`quoted` holds the quotes and the colon and space)."""
        self.line(depth)
        self.raw(quoted, len(quoted))
        return 0

    cdef int string(self, object text) except -1:
        """A JSON string as msgspec writes it: UTF-8, only '"', '\\' and control characters escaped (by
        msgspec itself, on the rare string that has one)."""
        cdef Py_ssize_t size, i
        cdef const char* data
        cdef unsigned char c
        try:
            data = PyUnicode_AsUTF8AndSize(text, &size)
        except (UnicodeEncodeError, TypeError):
            encoded = _encode(text)
            return self.raw(encoded, len(encoded))
        for i in range(size):
            c = data[i]
            if c < 32 or c == 34 or c == 92:
                encoded = _encode(text)
                return self.raw(encoded, len(encoded))
        self.reserve(size + 2)
        self.data[self.size] = 34
        memcpy(self.data + self.size + 1, data, size)
        self.data[self.size + size + 1] = 34
        self.size += size + 2
        return 0

    cdef int integer(self, long long value) except -1:
        self.reserve(24)
        self.size += snprintf(self.data + self.size, 24, "%lld", value)
        return 0

    cdef int boolean(self, bint value) except -1:
        if value:
            return self.raw("true", 4)
        return self.raw("false", 5)

    cdef int indented(self, bytes compact, int depth) except -1:
        """`compact` (lines of b'[\\n...\\n]' as _ENFORCE_JSON holds them) with each line after the first at
        `depth` (inner lines one deeper)."""
        cdef list lines = compact.split(b"\n")
        cdef Py_ssize_t i, last = len(lines) - 1
        self.raw(lines[0], len(lines[0]))
        for i in range(1, last + 1):
            self.line(depth + (0 if i == last else 1))
            self.raw(lines[i], len(lines[i]))
        return 0

    cdef bytes take(self):
        cdef bytes chunk = self.data[: self.size]
        self.size = 0
        return chunk


cdef class CompactGraph:
    """The nodes and edges build() made, as lists of references and C structs: the JSON is written from them,
    and the Node and Edge objects are made from them only when the document is asked for (`extend`)."""

    cdef list rows  # NodeRows made by NodeTable (entities, CIDRs, FQDNs): they come first
    cdef Py_ssize_t n_workloads
    cdef list ids, names, namespaces, owners, labels, notes  # per workload, in build()'s order
    cdef int32_t* order  # the workloads in the nodes' order
    cdef uint8_t* workload_locks  # per workload: 1 egress, 2 ingress
    cdef list ranked  # node ids by rank
    cdef EdgeRec* edges
    cdef Py_ssize_t n_edges
    cdef list firsts, lasts  # per edge: first and last seen, or None
    cdef dict special  # edge index -> its EdgeRow (made by EdgeTable)
    cdef dict verdicts  # edge index -> its verdicts, when several entries merged

    def __cinit__(self):
        self.firsts, self.lasts, self.special, self.verdicts = [], [], {}, {}
        self.rows, self.ids, self.ranked = [], [], []

    def __dealloc__(self):
        free(self.edges)
        free(self.order)
        free(self.workload_locks)

    def extend(self, document):
        """Add the Node and Edge objects to `document`, as FlowGraph.document() makes them from rows."""
        nodes, edges = document.nodes, document.edges
        cdef Py_ssize_t k, i
        cdef uint8_t lock
        cdef EdgeRec* edge
        for row in self.rows:
            nodes.append(row.node())
        for k in range(self.n_workloads):
            i = self.order[k]
            lock = self.workload_locks[i]
            nodes.append(
                Node(
                    self.ids[i], "workload", self.names[i], self.namespaces[i], self.owners[i], dict(self.labels[i]),
                    pod_selector=None, cidr=None, entity=None, match_name=None, note=self.notes[i],
                    isolate=Isolation(bool(lock & 2), bool(lock & 1)),
                )
            )
        for k in range(self.n_edges):
            edge = &self.edges[k]
            if edge.special:
                edges.append(self.special[k].edge())
                continue
            count = edge.count
            if edge.verdict == _MULTI:
                verdicts = dict(self.verdicts[k])
            else:
                verdicts = {_VERDICTS[edge.verdict]: count} if edge.verdict else {}
            edges.append(
                Edge(
                    f"e{k + 1}", self.ranked[edge.source], self.ranked[edge.target],
                    [Port(_PROTOCOL_NAMES[edge.protocol], edge.port)], [], None, [], list(_ENFORCE[edge.enforce]),
                    "allow", bool(edge.denied), Observed(count, self.firsts[k], self.lasts[k], verdicts),
                    _DENIED_NOTE if edge.denied else None,
                )
            )

    def chunks(self, document, int indent):
        """document.dump_chunks(indent) of the document `extend` would make (indent >= 1), in pieces."""
        head = _format(_encode(document.head_json()), indent=indent)[:-2]  # as json_chunks writes it
        yield head
        cdef _Buffer out = _Buffer(indent)
        pad = b" " * indent
        start, end = len(b"{\n" + pad + b'"": ['), -len(b"\n" + pad + b"]\n}")
        cdef Py_ssize_t k, i
        cdef bint first = True
        cdef EdgeRec* edge
        cdef uint8_t lock
        cdef list labels
        out.raw(b",", 1)
        out.line(1)
        if not self.rows and not self.n_workloads:
            out.raw(b'"nodes": []', 11)
        else:
            out.raw(b'"nodes": [', 10)
            for row in self.rows:
                if not first:
                    out.raw(b",", 1)
                first = False
                text = _format(_encode({"": [row]}), indent=indent)[start:end]
                out.raw(text, len(text))
            for k in range(self.n_workloads):
                if not first:
                    out.raw(b",", 1)
                first = False
                i = self.order[k]
                out.line(2)
                out.raw(b"{", 1)
                out.key(3, b'"id": ')
                out.string(self.ids[i])
                out.raw(b",", 1)
                out.key(3, b'"kind": "workload",')
                name = self.names[i]
                if name:
                    out.key(3, b'"name": ')
                    out.string(name)
                    out.raw(b",", 1)
                out.key(3, b'"namespace": ')
                out.string(self.namespaces[i])
                out.raw(b",", 1)
                owner = self.owners[i]
                if owner is not None:
                    out.key(3, b'"owner": ')
                    out.string(owner)
                    out.raw(b",", 1)
                workload_labels = self.labels[i]
                if workload_labels:
                    out.key(3, b'"labels": {')
                    labels = list((<dict>workload_labels).items())
                    for j in range(len(labels)):
                        if j:
                            out.raw(b",", 1)
                        out.line(4)
                        out.string(labels[j][0])
                        out.raw(b": ", 2)
                        out.string(labels[j][1])
                    out.line(3)
                    out.raw(b"},", 2)
                note = self.notes[i]
                if note is not None:
                    out.key(3, b'"note": ')
                    out.string(note)
                    out.raw(b",", 1)
                lock = self.workload_locks[i]
                out.key(3, b'"isolate": {')
                out.key(4, b'"ingress": ')
                out.boolean(lock & 2)
                out.raw(b",", 1)
                out.key(4, b'"egress": ')
                out.boolean(lock & 1)
                out.line(3)
                out.raw(b"}", 1)
                out.line(2)
                out.raw(b"}", 1)
                if out.size >= 1 << 16:
                    yield out.take()
            out.line(1)
            out.raw(b"]", 1)
        out.raw(b",", 1)
        out.line(1)
        if not self.n_edges:
            out.raw(b'"edges": []', 11)
        else:
            out.raw(b'"edges": [', 10)
            for k in range(self.n_edges):
                if k:
                    out.raw(b",", 1)
                edge = &self.edges[k]
                if edge.special:
                    text = _format(_encode({"": [self.special[k]]}), indent=indent)[start:end]
                    out.raw(text, len(text))
                    continue
                out.line(2)
                out.raw(b'{', 1)
                out.key(3, b'"id": "e')
                out.integer(k + 1)
                out.raw(b'",', 2)
                out.key(3, b'"source": ')
                out.string(self.ranked[edge.source])
                out.raw(b",", 1)
                out.key(3, b'"target": ')
                out.string(self.ranked[edge.target])
                out.raw(b",", 1)
                out.key(3, b'"ports": [')
                out.line(4)
                out.raw(b"{", 1)
                out.key(5, b'"protocol": ')
                out.string(_PROTOCOL_NAMES[edge.protocol])
                out.raw(b",", 1)
                out.key(5, b'"port": ')
                out.integer(edge.port)
                out.line(4)
                out.raw(b"}", 1)
                out.line(3)
                out.raw(b"],", 2)
                out.key(3, b'"enforce": ')
                out.indented(_ENFORCE_JSON[edge.enforce], 3)
                out.raw(b",", 1)
                if edge.denied:
                    out.key(3, b'"disabled": true,')
                out.key(3, b'"observed": {')
                out.key(4, b'"count": ')
                out.integer(edge.count)
                first_seen, last_seen = self.firsts[k], self.lasts[k]
                if first_seen is not None:
                    out.raw(b",", 1)
                    out.key(4, b'"firstSeen": ')
                    out.string(first_seen)
                if last_seen is not None:
                    out.raw(b",", 1)
                    out.key(4, b'"lastSeen": ')
                    out.string(last_seen)
                if edge.verdict == _MULTI:
                    verdicts = self.verdicts[k]
                    if verdicts:
                        out.raw(b",", 1)
                        out.key(4, b'"verdicts": {')
                        first = True
                        for verdict_name, verdict_count in verdicts.items():
                            if not first:
                                out.raw(b",", 1)
                            first = False
                            out.line(5)
                            out.string(verdict_name)
                            out.raw(b": ", 2)
                            out.integer(verdict_count)
                        out.line(4)
                        out.raw(b"}", 1)
                elif edge.verdict:
                    out.raw(b",", 1)
                    out.key(4, b'"verdicts": {')
                    out.line(5)
                    out.string(_VERDICTS[edge.verdict])
                    out.raw(b": ", 2)
                    out.integer(edge.count)
                    out.line(4)
                    out.raw(b"}", 1)
                out.line(3)
                out.raw(b"}", 1)
                if edge.denied:
                    out.raw(b",", 1)
                    out.key(3, b'"note": ')
                    out.string(_DENIED_NOTE)
                out.line(2)
                out.raw(b"}", 1)
                if out.size >= 1 << 16:
                    yield out.take()
            out.line(1)
            out.raw(b"]", 1)
        out.raw(b"\n}\n", 3)
        yield out.take()
