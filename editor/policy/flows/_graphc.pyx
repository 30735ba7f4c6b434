# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""graph.build_document and FlowGraph.dump_chunks compiled, for the case that dominates: a new document of
Hubble pods known by name (no `into`, no Gadget pod, no identity group or service, no monitored pod).

The pure-Python code in graph.py and tables.py is the reference: this module does the same thing, in the same
order, and writes the same bytes; tests/unit/test_flows_compiled_build.py runs both on every fixture and on generated
captures. What it saves is the Python objects per node and per edge: the endpoints' node ids are ranked and the
entries merged by sorting C structs, a workload's texts and an entry's times are copied once as JSON into byte
buffers, an edge is a C struct, and the JSON of workloads and edges is written from those buffers (strings that
need escaping are encoded by msgspec, as the Python path's encoder does). The rare parts (entity, CIDR and FQDN nodes,
edges with L7 rules or ICMP, several entries merged into one edge) are made by the Python code itself (NodeTable,
EdgeTable, EdgeStats), and written through msgspec as the Python path writes them.

build() returns None, having changed nothing, when the reading is not of that case; graph.py then takes the
Python path.
"""

from cpython.long cimport PyLong_AsLongLong, PyLong_AsUnsignedLongLongMask
from cpython.object cimport PyObject
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdio cimport snprintf
from libc.stdlib cimport free, malloc, qsort, realloc
from libc.string cimport memchr, memcmp, memcpy, memset

import msgspec

from ..document import Edge, Isolation, Node, Observed, Port
from .aggregate import DENIED_VERDICTS, OUTSIDE, PROTOCOLS, VERDICTS

assert OUTSIDE == ("entity", "world")  # the endpoint kinds build() counts as outside (kinds 1 and 2)
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
_ENFORCE = (["source", "target"], ["source"], ["target"], [])  # by EdgeRec.enforce
cdef const char* _PROTOCOL_TEXT[8]
cdef Py_ssize_t _PROTOCOL_SIZE[8]
cdef list _PROTOCOL_BYTES = [name.encode() for name in PROTOCOLS]  # kept: _PROTOCOL_TEXT points into them


cdef void _protocol_texts():
    cdef bytes name
    for code in range(len(_PROTOCOL_BYTES)):
        name = _PROTOCOL_BYTES[code]
        _PROTOCOL_TEXT[code] = name
        _PROTOCOL_SIZE[code] = len(name)


_protocol_texts()
cdef frozenset _IGNORED_LABELS = IGNORED_LABELS


cdef inline bint _disjoint(dict labels) except -1:
    """IGNORED_LABELS.isdisjoint(labels), without the method call."""
    for key in labels:
        if key in _IGNORED_LABELS:
            return False
    return True


_MULTI = 255  # EdgeRec.verdict of an edge whose verdicts are in CompactGraph.merged


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


# ---- sorting: the comparison reads the keys' bytes from these (qsort, the fallback, passes no context) -------


cdef const char* _KEYS  # the sort keys' bytes, one after another
cdef int64_t* _KEY_START
cdef int32_t* _KEY_SIZE


cdef inline int _compare_text(const char* a, Py_ssize_t na, const char* b, Py_ssize_t nb) noexcept nogil:
    """UTF-8 byte order, which is code point order: the order of Python's str comparison."""
    cdef int found = memcmp(a, b, na if na < nb else nb)
    if found:
        return found
    return (na > nb) - (na < nb)


cdef struct SortKey:  # three numbers that compare in order, then (index >= 0) the bytes of key `index`
    uint64_t group
    uint64_t first
    uint64_t second
    int32_t index


cdef inline int _compare_keys(const SortKey* a, const SortKey* b) noexcept nogil:
    if a.group != b.group:
        return -1 if a.group < b.group else 1
    if a.first != b.first:
        return -1 if a.first < b.first else 1
    if a.second != b.second:
        return -1 if a.second < b.second else 1
    if a.index < 0:
        return 0
    return _compare_text(
        _KEYS + _KEY_START[a.index], _KEY_SIZE[a.index], _KEYS + _KEY_START[b.index], _KEY_SIZE[b.index]
    )


cdef int _by_key(const void* left, const void* right) noexcept nogil:
    return _compare_keys(<const SortKey*>left, <const SortKey*>right)


cdef void _sort(SortKey* keys, Py_ssize_t count, int depth) noexcept nogil:
    """Quicksort with the comparison inline (qsort calls it through a pointer, several times slower), insertion
    sort for short runs, and qsort itself past `depth` (the worst case stays n log n)."""
    cdef Py_ssize_t i, j, middle
    cdef SortKey pivot, swap
    while count > 16:
        if depth == 0:
            qsort(keys, count, sizeof(SortKey), _by_key)
            return
        depth -= 1
        middle = count // 2  # median of three to keys[0]
        if _compare_keys(&keys[middle], &keys[0]) < 0:
            keys[middle], keys[0] = keys[0], keys[middle]
        if _compare_keys(&keys[count - 1], &keys[middle]) < 0:
            keys[count - 1], keys[middle] = keys[middle], keys[count - 1]
            if _compare_keys(&keys[middle], &keys[0]) < 0:
                keys[middle], keys[0] = keys[0], keys[middle]
        pivot = keys[middle]
        i, j = 0, count - 1
        while True:
            while _compare_keys(&keys[i], &pivot) < 0:
                i += 1
            while _compare_keys(&pivot, &keys[j]) < 0:
                j -= 1
            if i >= j:
                break
            swap = keys[i]
            keys[i] = keys[j]
            keys[j] = swap
            i += 1
            j -= 1
        # keys[:j + 1] <= pivot <= keys[j + 1:]: the shorter side recursively, the longer in this loop
        if j + 1 < count - j - 1:
            _sort(keys, j + 1, depth)
            keys, count = keys + j + 1, count - j - 1
        else:
            _sort(keys + j + 1, count - j - 1, depth)
            count = j + 1
    for i in range(1, count):
        pivot = keys[i]
        j = i
        while j > 0 and _compare_keys(&pivot, &keys[j - 1]) < 0:
            keys[j] = keys[j - 1]
            j -= 1
        keys[j] = pivot


cdef void _sort_all(SortKey* keys, Py_ssize_t count) noexcept:
    cdef int depth = 2
    cdef Py_ssize_t left = count
    while left > 1:
        left >>= 1
        depth += 2
    _sort(keys, count, depth)


cdef inline uint64_t _big_endian(const unsigned char* key, Py_ssize_t size) noexcept nogil:
    """The first 8 of `size` bytes as a number that compares as they do (missing bytes as 0)."""
    cdef uint64_t value = 0
    cdef Py_ssize_t j
    for j in range(8):
        value = value << 8 | (key[j] if j < size else 0)
    return value


cdef bint _sort_keys(
    SortKey* keys, Py_ssize_t count, const uint16_t* group, const char* text, int64_t* start, int32_t* size
) noexcept:
    """Sort `keys` (index i: group[i], then the bytes text[start[i]:start[i] + size[i]]); whether no two are
    the same."""
    global _KEYS, _KEY_START, _KEY_SIZE
    cdef Py_ssize_t i
    cdef const unsigned char* key
    for i in range(count):
        key = <const unsigned char*>text + start[i]
        keys[i].group = group[i]
        keys[i].first = _big_endian(key, size[i])
        keys[i].second = _big_endian(key + 8, size[i] - 8) if size[i] > 8 else 0
        keys[i].index = <int32_t>i
    _KEYS, _KEY_START, _KEY_SIZE = text, start, size
    _sort_all(keys, count)
    cdef bint unique = True
    for i in range(1, count):
        if _compare_keys(&keys[i - 1], &keys[i]) == 0:
            unique = False
            break
    _KEYS = NULL
    return unique


cdef struct EdgeRec:  # an edge as EdgeTable.add would make it (see CompactGraph)
    int64_t count
    int64_t times  # where its first and last seen are in CompactGraph.text (see build)
    uint32_t source  # ranks
    uint32_t target
    int32_t place  # its entry in CompactGraph.entries, or -1 (several: in CompactGraph.merged)
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


cdef class _Buffer:
    """Bytes written in place: the JSON being written (`take` hands it over and starts again), or the texts a
    CompactGraph keeps (read back with `u32` and `at`)."""

    cdef char* data
    cdef Py_ssize_t size
    cdef Py_ssize_t capacity
    cdef int indent

    def __cinit__(self, int indent=0, Py_ssize_t capacity=1 << 17):
        self.capacity = capacity if capacity > 16 else 16
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
        if self.size + size > self.capacity:
            self.reserve(size)
        memcpy(self.data + self.size, text, size)
        self.size += size
        return 0

    cdef inline int byte(self, char value) except -1:
        if self.size + 1 > self.capacity:
            self.reserve(1)
        self.data[self.size] = value
        self.size += 1
        return 0

    cdef inline int u32(self, uint32_t value) except -1:
        return self.raw(<const char*>&value, 4)

    cdef inline int line(self, int depth) except -1:
        """A new line indented to `depth`."""
        cdef Py_ssize_t spaces = self.indent * depth
        if self.size + spaces + 1 > self.capacity:
            self.reserve(spaces + 1)
        self.data[self.size] = 10
        memset(self.data + self.size + 1, 32, spaces)
        self.size += spaces + 1
        return 0

    cdef inline int put(self, bytes text) except -1:
        return self.raw(text, len(text))

    cdef inline Py_ssize_t field(self, bytes key, _Buffer texts, Py_ssize_t at, bint observed) except -1:
        """`key` and the text at `at` in `texts` (see CompactGraph), nothing for size 0: a node's field (`key`
        holds its line, a comma follows) or an edge's observed time (a comma and the line before `key`). Returns
        where the next text is."""
        if not texts.at_u32(at):
            return at + 4
        if observed:
            self.byte(44)
            self.line(4)
        self.put(key)
        at = self.copy(texts, at)
        if not observed:
            self.byte(44)
        return at

    cdef inline Py_ssize_t copy(self, _Buffer texts, Py_ssize_t at) except -1:
        """The text at `at` in `texts` (after its size, see CompactGraph); where the next one is."""
        cdef uint32_t size = texts.at_u32(at)
        self.raw(texts.data + at + 4, size)
        return at + 4 + size

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
        cdef char digits[24]
        cdef int count = 0
        cdef unsigned long long rest
        if value < 0:
            self.reserve(24)
            self.size += snprintf(self.data + self.size, 24, "%lld", value)
            return 0
        rest = value
        while True:
            digits[23 - count] = <char>(48 + rest % 10)
            count += 1
            rest //= 10
            if not rest:
                break
        return self.raw(digits + 24 - count, count)

    cdef inline int boolean(self, bint value) except -1:
        if value:
            return self.raw("true", 4)
        return self.raw("false", 5)

    cdef inline uint32_t at_u32(self, Py_ssize_t offset) noexcept:
        cdef uint32_t value
        memcpy(&value, self.data + offset, 4)
        return value

    cdef bytes take(self):
        cdef bytes chunk = self.data[: self.size]
        self.size = 0
        return chunk


cdef int _times(_Buffer out, object first, object last) except -1:
    """First and last seen as _text writes them, size 0 for none ("")."""
    for text in (first, last):
        if text:
            _text(out, text)
        else:
            out.u32(0)
    return 0


cdef inline int _text(_Buffer out, object text) except -1:
    """`text`'s JSON after its size (u32) in `out`."""
    cdef Py_ssize_t at = out.size
    out.u32(0)
    out.string(text)
    cdef uint32_t size = <uint32_t>(out.size - at - 4)
    memcpy(out.data + at, &size, 4)
    return 0


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
        kind = endpoints[i][0]
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
    # Each entry's count, and its first and last seen as JSON (etext, from times[place]; see CompactGraph), read
    # here in the order the entries were made, which is about their order in memory.
    cdef int64_t* counts = <int64_t*>memory.get((n_entries + 1) * sizeof(int64_t))
    cdef int64_t* times = <int64_t*>malloc((n_entries + 1) * sizeof(int64_t))  # the CompactGraph's
    if times == NULL:
        raise MemoryError()
    cdef CompactGraph graph = CompactGraph()
    graph.times = times
    cdef _Buffer etext = _Buffer(0, n_entries * 72 + 64)
    for key, entry in edges.items():
        if type(entry) is not list or len(<list>entry) != 4:
            return None  # not an entry as the reading makes them: [flows, first seen, last seen, key]
        high = PyLong_AsUnsignedLongLongMask(key >> 64)
        low = PyLong_AsUnsignedLongLongMask(key)
        source, target = high >> 3, (low >> 27) | ((high & 7) << 37)
        if source >= <uint64_t>n_endpoints or target >= <uint64_t>n_endpoints or high >> 47:
            return None
        if kinds[source] and kinds[target]:  # both outside the pod network
            left_out.append(entry)
            continue
        sources[n_kept], targets[n_kept], codes[n_kept] = <uint32_t>source, <uint32_t>target, low & 0x7FFFFFF
        counts[n_kept] = PyLong_AsLongLong((<list>entry)[0])
        times[n_kept] = etext.size
        _times(etext, (<list>entry)[1], (<list>entry)[2])
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
    # The workloads (NodeTable.workloads, the usual case: new, under its own id), in the order of `used`: their
    # texts as JSON in `wtext` (see CompactGraph), and the bytes they sort by in `keys`.
    cdef list names = [], namespaces = [], labels_of = [], owners = [], notes = [], namespace_labels = []
    cdef int32_t* workload_endpoint = <int32_t*>memory.get((n_used + 1) * sizeof(int32_t))
    cdef int64_t* w_start = <int64_t*>malloc((n_used + 1) * sizeof(int64_t))  # the CompactGraph's
    if w_start == NULL:
        raise MemoryError()
    cdef int64_t* id_start = <int64_t*>memory.get((n_used + 1) * sizeof(int64_t))
    cdef int32_t* id_size = <int32_t*>memory.get((n_used + 1) * sizeof(int32_t))
    cdef int64_t* place_start = <int64_t*>memory.get((n_used + 1) * sizeof(int64_t))
    cdef int32_t* place_size = <int32_t*>memory.get((n_used + 1) * sizeof(int32_t))
    cdef _Buffer wtext = _Buffer(0, n_used * 96)
    cdef _Buffer keys = _Buffer(0, n_used * 32)
    graph.w_start = w_start
    # each workload endpoint's pods, read in the order the dict holds them (its order in memory), not looked up
    cdef PyObject** pods_of = <PyObject**>memory.get((n_endpoints + 1) * sizeof(PyObject*))
    memset(pods_of, 0, (n_endpoints + 1) * sizeof(PyObject*))
    for endpoint, infos in workload_pods.items():
        if not 0 <= endpoint < n_endpoints or not isinstance(infos, list):
            return None
        pods_of[<Py_ssize_t>endpoint] = <PyObject*>infos  # borrowed: workload_pods holds it
    for k in range(n_used):
        if not kinds[used_order[k]] and pods_of[used_order[k]] == NULL:
            return None  # a workload with no pods: not one the reading makes
    cdef Py_ssize_t n_workloads = 0
    cdef bint plain = True  # whether every workload's id is "namespace/name"
    cdef dict namespace_group = {}  # namespace -> its number, in the order first seen
    cdef uint16_t* groups = <uint16_t*>memory.get((n_used + 1) * sizeof(uint16_t))
    cdef const char* namespace_text
    cdef const char* name_text
    cdef Py_ssize_t namespace_size, name_size, at
    cdef uint32_t size
    for k in range(n_used):
        i = used_order[k]
        if kinds[i]:
            continue
        key = endpoints[i]
        namespace, name = key[1], key[2]
        infos = <object>pods_of[i]
        if len(infos) == 1:  # graph._workload_spec, inline for one pod
            info = infos[0]
            labels = info.labels
            if labels is not None and type(labels) is not dict:
                labels = dict(labels)
            if labels is not None and not _disjoint(labels):
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
            if len(labels) > 1:
                labels = dict(sorted(labels.items()))
            labels_of.append(labels)
            notes.append(None)
        else:
            notes.append(_NO_LABELS_NOTE if labels is not None else _UNKNOWN_LABELS_NOTE)
            labels = {}
            labels_of.append(labels)
        names.append(name)
        namespaces.append(namespace)
        owners.append(owner_kind)
        namespace_labels.append(ns_labels)
        try:
            namespace_text = PyUnicode_AsUTF8AndSize(namespace, &namespace_size)
            name_text = PyUnicode_AsUTF8AndSize(name, &name_size)
        except UnicodeEncodeError:  # a lone surrogate: Python compares it, UTF-8 cannot hold it
            free(w_start)
            graph.w_start = NULL
            return None
        # the id: "namespace/name" when that is a valid id, else safe_id's form of it
        w_start[n_workloads] = at = wtext.size
        if namespace_size + name_size + 1 <= 253 and _valid_id(namespace_text, namespace_size) and (
            name_size == 0 or _valid_id(name_text, name_size)
        ):
            wtext.u32(<uint32_t>(namespace_size + name_size + 3))
            wtext.byte(34)
            wtext.raw(namespace_text, namespace_size)
            wtext.byte(47)
            wtext.raw(name_text, name_size)
            wtext.byte(34)
        else:
            _text(wtext, _workload_id(namespace, name))  # only id characters: no escaping
            plain = False
        id_start[n_workloads] = at + 5  # inside the quotes
        id_size[n_workloads] = <int32_t>(wtext.size - at - 6)
        if name:
            _text(wtext, name)
        else:
            wtext.u32(0)
        _text(wtext, namespace)
        if owner_kind is not None:
            _text(wtext, owner_kind)
        else:
            wtext.u32(0)
        wtext.u32(<uint32_t>len(labels))
        for label, value in (<dict>labels).items():
            _text(wtext, label)
            _text(wtext, value)
        # Sorted by namespace, then by the rest of the id or by the name (see "Two orders" below).
        group = namespace_group.get(namespace)
        if group is None:
            group = namespace_group[namespace] = len(namespace_group)
            if (
                namespace_size > 63
                or not _valid_id(namespace_text, namespace_size)
                or memchr(namespace_text, 47, namespace_size) != NULL
            ):
                return None  # not a namespace name, which "Two orders" relies on
        groups[n_workloads] = <uint16_t>group
        id_start[n_workloads] += namespace_size + 1
        id_size[n_workloads] -= <int32_t>(namespace_size + 1)
        place_start[n_workloads] = keys.size
        place_size[n_workloads] = <int32_t>name_size
        keys.raw(name_text, name_size)
        workload_endpoint[n_workloads] = <int32_t>i
        n_workloads += 1
    # Two orders of the workloads: by id (their ranks) and by (namespace, name) (the nodes' order). A workload's
    # id is "namespace/rest" (safe_id keeps a namespace name, which has only id characters and no "/", and cuts
    # after 240), so ids sort by namespace + "/" and then by the rest; (namespace, name) by namespace, then name.
    # A namespace + "/" is never the prefix of another, so the order of ids is the order of (namespace + "/",
    # rest).
    cdef list namespace_list = list(namespace_group)
    cdef uint16_t* id_group = <uint16_t*>memory.get((n_workloads + 1) * sizeof(uint16_t))
    cdef uint16_t* place_group = <uint16_t*>memory.get((n_workloads + 1) * sizeof(uint16_t))
    cdef uint16_t* group_by_id = <uint16_t*>memory.get((len(namespace_list) + 1) * sizeof(uint16_t))
    cdef uint16_t* group_by_place = <uint16_t*>memory.get((len(namespace_list) + 1) * sizeof(uint16_t))
    if len(namespace_list) > 65535:
        return None
    for k, group in enumerate(sorted(range(len(namespace_list)), key=lambda g: namespace_list[g] + "/")):
        group_by_id[group] = <uint16_t>k
    for k, group in enumerate(sorted(range(len(namespace_list)), key=namespace_list.__getitem__)):
        group_by_place[group] = <uint16_t>k
    for i in range(n_workloads):
        id_group[i] = group_by_id[groups[i]]
        place_group[i] = group_by_place[groups[i]]
    cdef SortKey* by_id = <SortKey*>memory.get((n_workloads + 1) * sizeof(SortKey))
    cdef SortKey* by_place = <SortKey*>memory.get((n_workloads + 1) * sizeof(SortKey))
    _sort_keys(by_place, n_workloads, place_group, keys.data, place_start, place_size)
    del keys
    cdef Py_ssize_t n_groups = len(namespace_list)
    cdef int64_t* run_start = <int64_t*>memory.get((n_groups + 1) * sizeof(int64_t))  # by place group
    cdef uint16_t* id_order = <uint16_t*>memory.get((n_groups + 1) * sizeof(uint16_t))  # groups by id
    if plain:
        # The ids in order without a sort: the namespaces' runs of by_place in the order of namespace + "/", each
        # in the order of its names, which is the order of the rest of its ids.
        memset(run_start, 0, (n_groups + 1) * sizeof(int64_t))
        for i in range(n_workloads):
            run_start[place_group[i] + 1] += 1
        for k in range(n_groups):
            run_start[k + 1] += run_start[k]
            id_order[group_by_id[k]] = <uint16_t>k
        m = 0
        for k in range(n_groups):
            j = group_by_place[id_order[k]]
            n = run_start[j + 1] - run_start[j]
            memcpy(&by_id[m], &by_place[run_start[j]], n * sizeof(SortKey))
            m += n
    elif not _sort_keys(by_id, n_workloads, id_group, wtext.data, id_start, id_size):
        return None  # two workloads under one id: NodeTable._add renames one, left to the Python path
    # id_start and id_size from here on: the whole id, quotes excluded
    for i in range(n_workloads):
        id_start[i] = w_start[i] + 5
        id_size[i] = <int32_t>(wtext.at_u32(w_start[i]) - 2)

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
    cdef int32_t* order = <int32_t*>malloc((n_workloads + 1) * sizeof(int32_t))  # the CompactGraph's
    if order == NULL:
        raise MemoryError()
    graph.order = order
    for k in range(n_workloads):
        order[k] = i = by_place[k].index
        namespace, ns_labels = namespaces[i], namespace_labels[i]
        if ns_labels or namespace not in known_namespaces:  # else ensure_namespace would change nothing
            known_namespaces.add(document.ensure_namespace(namespace, ns_labels).name)
    del namespace_labels
    # Ranks: the node ids in sorted order, the workloads' (by_id) merged with the other nodes'. Each rank's id
    # as JSON in `rtext`.
    cdef list rows = nodes.rows
    cdef list other_ids = sorted(row.id for row in rows)
    cdef dict other_rank = {}
    cdef Py_ssize_t n_nodes = n_workloads + len(other_ids), n_others = len(other_ids)
    cdef int32_t* rank_node = <int32_t*>memory.get((n_nodes + 1) * sizeof(int32_t))  # >= 0 workload, < 0 row
    cdef int32_t* workload_rank = <int32_t*>memory.get((n_workloads + 1) * sizeof(int32_t))
    cdef int64_t* r_start = <int64_t*>malloc((n_nodes + 1) * sizeof(int64_t))  # the CompactGraph's
    if r_start == NULL:
        raise MemoryError()
    graph.r_start = r_start
    cdef _Buffer rtext = _Buffer(0, n_nodes * 32 + 64)
    cdef dict row_index = {row.id: index for index, row in enumerate(rows)}
    cdef Py_ssize_t other_size
    cdef const char* other_text
    j = 0
    k = 0
    for m in range(n_nodes):
        if j < n_others:
            other_text = PyUnicode_AsUTF8AndSize(other_ids[j], &other_size)
        r_start[m] = rtext.size
        if k < n_workloads and (
            j >= n_others
            or _compare_text(
                wtext.data + id_start[by_id[k].index], id_size[by_id[k].index], other_text, other_size
            ) < 0
        ):
            i = by_id[k].index
            rank_node[m] = <int32_t>i
            workload_rank[i] = <int32_t>m
            rtext.raw(wtext.data + id_start[i] - 1, id_size[i] + 2)
            k += 1
        else:
            node_id = other_ids[j]
            rank_node[m] = -1 - <int32_t>row_index[node_id]
            other_rank[node_id] = m
            rtext.string(node_id)
            j += 1
    r_start[n_nodes] = rtext.size
    cdef int32_t* endpoint_rank = <int32_t*>memory.get((n_endpoints + 1) * sizeof(int32_t))
    for i in range(n_workloads):
        endpoint_rank[workload_endpoint[i]] = workload_rank[i]
    for i, node_id in node_of_other.items():
        endpoint_rank[i] = other_rank[node_id]
    del node_of_other, other_rank
    reading.forget_endpoints()
    # Merge: the entries sorted by (source rank, target rank, protocol rank, port, place) (graph._merge).
    # An entry: (source rank << 32 | target rank, (protocol rank << 16 | port) << 32 | place).
    cdef SortKey* recs = <SortKey*>memory.get((n_kept + 1) * sizeof(SortKey))
    cdef uint32_t code
    for m in range(n_kept):
        code = codes[m]
        recs[m].group = (<uint64_t>endpoint_rank[sources[m]]) << 32 | <uint64_t>endpoint_rank[targets[m]]
        recs[m].first = ((<uint64_t>_PROTOCOL_RANK[(code >> 16) & 7] << 16 | (code & 0xFFFF)) << 32) | <uint64_t>m
        recs[m].second = 0
        recs[m].index = -1
    _sort_all(recs, n_kept)
    # The locks (graph._lock, with no monitored pod): a workload is locked in each direction it was seen in,
    # unless its labels are unknown or a namespace filter leaves its namespace out.
    cdef uint8_t* locks = <uint8_t*>memory.get(n_nodes + 1)  # per rank: 1 egress, 2 ingress
    memset(locks, 0, n_nodes)
    for m in range(n_kept):
        locks[recs[m].group >> 32] |= 1
        locks[recs[m].group & 0xFFFFFFFF] |= 2
    filter_namespaces = reading.options.namespaces
    cdef uint8_t* workload_locks = <uint8_t*>malloc(n_workloads + 1)  # the CompactGraph's
    if workload_locks == NULL:
        raise MemoryError()
    graph.workload_locks = workload_locks
    for m in range(n_nodes):
        i = rank_node[m]
        if i < 0:
            locks[m] = 0  # entity, CIDR, FQDN: not subjects
            continue
        if notes[i] is _UNKNOWN_LABELS_NOTE or (filter_namespaces and namespaces[i] not in filter_namespaces):
            locks[m] = 0
        workload_locks[i] = locks[m]
    # The edges, in order (graph._add_edges, EdgeTable.add); first and last seen as JSON in `etext`.
    requests = reading.requests
    cdef Py_ssize_t capacity = n_kept + 1
    graph.edges = <EdgeRec*>malloc(capacity * sizeof(EdgeRec))
    if graph.edges == NULL:
        raise MemoryError()
    table = None
    cdef dict special = graph.special, merged = graph.merged
    cdef int64_t used_flows = 0, count
    cdef Py_ssize_t denied_edges = 0, n_merged = 0, n_edges = 0, place
    cdef uint64_t merged_low, source_rank, target_rank
    cdef int verdict, protocol, port, source_locked, target_locked
    cdef bint denied
    cdef EdgeRec* edge
    m = 0
    while m < n_kept:
        high, merged_low = recs[m].group, recs[m].first >> 32
        n = m + 1
        while n < n_kept and recs[n].group == high and recs[n].first >> 32 == merged_low:
            n += 1
        place = <Py_ssize_t>(recs[m].first & 0xFFFFFFFF)
        code = codes[place]
        protocol, port = (code >> 16) & 7, code & 0xFFFF
        if n == m + 1:
            verdict = code >> 19
            count = counts[place]
            denied = verdict >= _FIRST_DENIED
            found_requests = requests.get(entries[place][3]) if requests else None
            first = last = None  # in etext
        else:
            stats = python.EdgeStats()
            for k in range(m, n):
                other = entries[<Py_ssize_t>(recs[k].first & 0xFFFFFFFF)]
                stats.add(_VERDICTS[(other[3] >> 19) & 0xFF], other, requests.get(other[3]))
            verdict = _MULTI
            count = stats.count
            first, last = stats.first, stats.last
            verdicts = stats.verdicts
            denied = bool(verdicts) and verdicts.keys() <= DENIED_VERDICTS
            if len(verdicts) > 1:
                verdicts = dict(sorted(verdicts.items()))
            found_requests = stats.requests
            place = -1
        m = n
        n_merged += 1
        used_flows += count
        denied_edges += denied
        source_rank, target_rank = high >> 32, high & 0xFFFFFFFF
        source_locked, target_locked = locks[source_rank] & 1, locks[target_rank] & 2
        if n_edges + 2 >= capacity:
            capacity = capacity * 2 + 16
            edge = <EdgeRec*>realloc(graph.edges, capacity * sizeof(EdgeRec))
            if edge == NULL:
                raise MemoryError()
            graph.edges = edge
        l7 = None
        if found_requests:
            l7 = python._l7_rules(
                reading, _rank_id(rank_node, rows, names, namespaces, source_rank),
                _rank_id(rank_node, rows, names, namespaces, target_rank), port, found_requests,
            )
        if l7 is not None or protocol >= _ICMP:
            # EdgeTable.add itself, numbering its rows where this table is
            if place >= 0:
                first, last = entries[place][1], entries[place][2]
            if verdict == _MULTI:
                observed = ObservedRow(count, first or None, last or None, verdicts)
            else:
                observed = ObservedRow(
                    count, first or None, last or None, {_VERDICTS[verdict]: count} if verdict else {}
                )
            if table is None:
                table = EdgeTable(document)
            table._next = n_edges + 1
            made = len(table.rows)
            table.add(
                _rank_id(rank_node, rows, names, namespaces, source_rank),
                _rank_id(rank_node, rows, names, namespaces, target_rank),
                _PROTOCOL_NAMES[protocol], port, observed, denied, l7, source_locked, target_locked,
            )
            for row in table.rows[made:]:
                special[n_edges] = row
                graph.edges[n_edges].special = 1
                n_edges += 1
            continue
        edge = &graph.edges[n_edges]
        edge.special = 0
        edge.source = <uint32_t>source_rank
        edge.target = <uint32_t>target_rank
        edge.count = count
        edge.port = <uint16_t>port
        edge.protocol = <uint8_t>protocol
        edge.verdict = <uint8_t>verdict
        edge.denied = denied
        edge.place = <int32_t>place
        if source_locked:
            edge.enforce = 0 if target_locked else 1
        else:
            edge.enforce = 2 if target_locked else 3
        if place >= 0:
            edge.times = times[place]
        else:
            merged[n_edges] = (first or None, last or None, verdicts)
            edge.times = etext.size
            _times(etext, first, last)
        n_edges += 1
    graph.n_edges = n_edges
    graph.entries = entries
    graph.rows = rows
    graph.n_workloads = n_workloads
    graph.names = names
    graph.namespaces = namespaces
    graph.owners = owners
    graph.labels = labels_of
    graph.notes = notes
    graph.wtext, graph.rtext, graph.etext = wtext, rtext, etext
    return graph, rows, used_flows, n_merged, denied_edges, n_workloads, len(rows) + n_workloads


cdef object _rank_id(int32_t* rank_node, list rows, list names, list namespaces, Py_ssize_t rank):
    """The id of the node of `rank`, as a str."""
    cdef int32_t i = rank_node[rank]
    if i < 0:
        return rows[-1 - i].id
    return _workload_id(namespaces[i], names[i])


def _workload_id(namespace, name):
    from .tables import safe_id

    return safe_id(f"{namespace}/{name}")


# ---- writing -----------------------------------------------------------------------------------------------


cdef bytes _items(list items, int indent, Py_ssize_t start, Py_ssize_t end):
    """The JSON of rows in the document (one after another, with commas), as json_chunks cuts it out of a
    one-key object."""
    cdef bytes text = _format(_encode({"": items}), indent=indent)
    return text[start : len(text) - end]


cdef class CompactGraph:
    """The nodes and edges build() made, as lists of references, C structs and their JSON texts: the JSON of the
    document is written from them, and the Node and Edge objects are made from them only when the document is
    asked for (`extend`).

    `wtext` holds per workload (from w_start[i]) its id, name (size 0: ""), namespace, owner kind (size 0:
    None), each as JSON after its size (u32), then its number of labels (u32) and each label's key and value
    so; `rtext` the JSON of each rank's node id (r_start[rank] to r_start[rank + 1]); `etext` per edge (from
    its `times`) its first and last seen so (size 0: None)."""

    cdef list rows  # NodeRows made by NodeTable (entities, CIDRs, FQDNs): they come first
    cdef Py_ssize_t n_workloads
    cdef list names, namespaces, owners, labels, notes  # per workload, in build()'s order
    cdef int32_t* order  # the workloads in the nodes' order
    cdef int64_t* w_start
    cdef uint8_t* workload_locks  # per workload: 1 egress, 2 ingress
    cdef int64_t* r_start
    cdef int64_t* times  # per place: where its entry's times are in etext
    cdef _Buffer wtext, rtext, etext
    cdef EdgeRec* edges
    cdef Py_ssize_t n_edges
    cdef list entries  # the reading's entries (EdgeRec.place)
    cdef dict merged  # edge index -> (first, last, verdicts) when several entries merged into it
    cdef dict special  # edge index -> its EdgeRow (made by EdgeTable)

    def __cinit__(self):
        self.special, self.merged = {}, {}
        self.rows, self.entries = [], []

    def __dealloc__(self):
        free(self.edges)
        free(self.order)
        free(self.workload_locks)
        free(self.w_start)
        free(self.r_start)
        free(self.times)

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
                    _workload_id(self.namespaces[i], self.names[i]), "workload", self.names[i], self.namespaces[i],
                    self.owners[i], dict(self.labels[i]), pod_selector=None, cidr=None, entity=None,
                    match_name=None, note=self.notes[i], isolate=Isolation(bool(lock & 2), bool(lock & 1)),
                )
            )
        ids = {}
        for k in range(self.n_edges):
            edge = &self.edges[k]
            if edge.special:
                edges.append(self.special[k].edge())
                continue
            count = edge.count
            if edge.place < 0:
                first, last, verdicts = self.merged[k]
                verdicts = dict(verdicts)
            else:
                entry = self.entries[edge.place]
                first, last = entry[1] or None, entry[2] or None
                verdicts = {_VERDICTS[edge.verdict]: count} if edge.verdict else {}
            edges.append(
                Edge(
                    f"e{k + 1}", self._id(ids, edge.source), self._id(ids, edge.target),
                    [Port(_PROTOCOL_NAMES[edge.protocol], edge.port)], [], None, [], list(_ENFORCE[edge.enforce]),
                    "allow", bool(edge.denied), Observed(count, first, last, verdicts),
                    _DENIED_NOTE if edge.denied else None,
                )
            )

    cdef object _id(self, dict ids, uint32_t rank):
        """The node id of `rank` (read back from its JSON, once per rank)."""
        found = ids.get(rank)
        if found is None:
            found = ids[rank] = msgspec.json.decode(
                self.rtext.data[self.r_start[rank] : self.r_start[rank + 1]]
            )
        return found

    def chunks(self, document, int indent):
        """document.dump_chunks(indent) of the document `extend` would make (indent >= 1), in pieces."""
        head = _format(_encode(document.head_json()), indent=indent)
        yield head[: len(head) - 2]  # without the closing "\n}", as json_chunks writes it
        cdef _Buffer out = _Buffer(indent, 1 << 17)
        cdef _Layout t = _Layout(indent)
        cdef Py_ssize_t k, i, j, at, labels
        cdef bint first = True
        cdef EdgeRec* edge
        cdef uint8_t lock
        cdef const char* rtext = self.rtext.data
        cdef int64_t* r_start = self.r_start
        cdef _Buffer wtext = self.wtext, etext = self.etext
        if not self.rows and not self.n_workloads:
            out.put(t.no_nodes)
        else:
            out.put(t.nodes)
            for k in range(0, len(self.rows), 1000):  # in batches, as json_chunks writes them
                if not first:
                    out.byte(44)
                first = False
                out.put(_items(self.rows[k : k + 1000], indent, t.item_start, t.item_end))
            for k in range(self.n_workloads):
                if not first:
                    out.byte(44)
                first = False
                i = self.order[k]
                at = self.w_start[i]
                out.put(t.node_id)
                at = out.copy(wtext, at)
                out.put(t.node_kind)
                at = out.field(t.node_name, wtext, at, False)
                at = out.field(t.node_namespace, wtext, at, False)
                at = out.field(t.node_owner, wtext, at, False)
                labels = wtext.at_u32(at)
                at += 4
                if labels:
                    out.put(t.node_labels)
                    for j in range(labels):
                        out.put(t.label_first if j == 0 else t.label_next)
                        at = out.copy(wtext, at)
                        out.raw(b": ", 2)
                        at = out.copy(wtext, at)
                    out.put(t.node_labels_end)
                else:  # a note says why there are none
                    out.put(t.node_note)
                    out.string(self.notes[i])
                    out.byte(44)
                lock = self.workload_locks[i]
                out.put(t.node_ingress)
                out.boolean(lock & 2)
                out.put(t.node_egress)
                out.boolean(lock & 1)
                out.put(t.node_end)
                if out.size >= 1 << 16:
                    yield out.take()
            out.put(t.section_end)
        if not self.n_edges:
            out.put(t.no_edges)
        else:
            out.put(t.edges)
            k = 0
            while k < self.n_edges:
                if k:
                    out.byte(44)
                edge = &self.edges[k]
                if edge.special:  # made by EdgeTable: through msgspec, the run of them up to 1000 at once
                    j = k + 1
                    while j < self.n_edges and j < k + 1000 and self.edges[j].special:
                        j += 1
                    out.put(_items([self.special[i] for i in range(k, j)], indent, t.item_start, t.item_end))
                    k = j
                    continue
                out.put(t.edge_id)
                out.integer(k + 1)
                out.put(t.edge_source)
                out.raw(rtext + r_start[edge.source], r_start[edge.source + 1] - r_start[edge.source])
                out.put(t.edge_target)
                out.raw(rtext + r_start[edge.target], r_start[edge.target + 1] - r_start[edge.target])
                out.put(t.edge_protocol)
                out.raw(_PROTOCOL_TEXT[edge.protocol], _PROTOCOL_SIZE[edge.protocol])
                out.put(t.edge_port)
                out.integer(edge.port)
                out.put(t.enforce[edge.enforce])
                if edge.denied:
                    out.put(t.edge_disabled)
                out.put(t.edge_count)
                out.integer(edge.count)
                at = out.field(t.edge_first, etext, edge.times, True)
                out.field(t.edge_last, etext, at, True)
                if edge.verdict == _MULTI:
                    verdicts = self.merged[k][2]
                    if verdicts:
                        first = True
                        for verdict_name, verdict_count in verdicts.items():
                            out.put(t.verdicts if first else t.verdict_next)
                            first = False
                            out.string(verdict_name)
                            out.raw(b": ", 2)
                            out.integer(verdict_count)
                        out.put(t.verdicts_end)
                elif edge.verdict:
                    out.put(t.verdict[edge.verdict])
                    out.integer(edge.count)
                    out.put(t.verdicts_end)
                out.put(t.edge_denied_end if edge.denied else t.edge_end)
                if out.size >= 1 << 16:
                    yield out.take()
                k += 1
            out.put(t.section_end)
        out.raw(b"\n}\n", 3)
        yield out.take()


cdef class _Layout:
    """The fixed text between the values of a workload's or an edge's JSON, indented as msgspec.json.format
    indents the document (items at depth 2)."""

    cdef bytes nodes, no_nodes, edges, no_edges, section_end
    cdef Py_ssize_t item_start, item_end
    cdef bytes node_id, node_kind, node_name, node_namespace, node_owner, node_labels, label_first, label_next
    cdef bytes node_labels_end, node_note, node_ingress, node_egress, node_end
    cdef bytes edge_id, edge_source, edge_target, edge_protocol, edge_port, edge_disabled, edge_count
    cdef bytes edge_first, edge_last, verdicts, verdict_next, verdicts_end, edge_end, edge_denied_end
    cdef list enforce, verdict

    def __cinit__(self, int indent):
        line = [b"\n" + b" " * (indent * depth) for depth in range(6)]
        self.nodes, self.no_nodes = b"," + line[1] + b'"nodes": [', b"," + line[1] + b'"nodes": []'
        self.edges, self.no_edges = b"," + line[1] + b'"edges": [', b"," + line[1] + b'"edges": []'
        self.section_end = line[1] + b"]"
        # json_chunks cuts an item out of a one-key object's array
        self.item_start, self.item_end = len(b"{" + line[1] + b'"": ['), len(line[1] + b"]\n}")
        self.node_id = line[2] + b"{" + line[3] + b'"id": '
        self.node_kind = b"," + line[3] + b'"kind": "workload",'
        self.node_name = line[3] + b'"name": '
        self.node_namespace = line[3] + b'"namespace": '
        self.node_owner = line[3] + b'"owner": '
        self.node_labels = line[3] + b'"labels": {'
        self.label_first, self.label_next = line[4], b"," + line[4]
        self.node_labels_end = line[3] + b"},"
        self.node_note = line[3] + b'"note": '
        self.node_ingress = line[3] + b'"isolate": {' + line[4] + b'"ingress": '
        self.node_egress = b"," + line[4] + b'"egress": '
        self.node_end = line[3] + b"}" + line[2] + b"}"
        self.edge_id = line[2] + b"{" + line[3] + b'"id": "e'
        self.edge_source = b'",' + line[3] + b'"source": '
        self.edge_target = b"," + line[3] + b'"target": '
        self.edge_protocol = b"," + line[3] + b'"ports": [' + line[4] + b"{" + line[5] + b'"protocol": "'
        self.edge_port = b'",' + line[5] + b'"port": '
        ports_end = line[4] + b"}" + line[3] + b"]," + line[3] + b'"enforce": '
        self.enforce = [
            ports_end + b"[" + b",".join(line[4] + _encode(side) for side in sides) + line[3] + b"]," if sides
            else ports_end + b"[],"
            for sides in _ENFORCE
        ]
        self.edge_disabled = line[3] + b'"disabled": true,'
        self.edge_count = line[3] + b'"observed": {' + line[4] + b'"count": '
        self.edge_first, self.edge_last = b'"firstSeen": ', b'"lastSeen": '
        self.verdicts = b"," + line[4] + b'"verdicts": {' + line[5]
        self.verdict_next = b"," + line[5]
        self.verdict = [self.verdicts + _encode(name) + b": " for name in _VERDICTS]
        self.verdicts_end = line[4] + b"}"
        self.edge_end = line[3] + b"}" + line[2] + b"}"
        self.edge_denied_end = line[3] + b"}," + line[3] + b'"note": ' + _encode(_DENIED_NOTE) + line[2] + b"}"
