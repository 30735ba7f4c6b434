# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The compiled twin of Aggregator.add_records (aggregate.py), for snake_case Hubble lines.

The Python reader decodes each line into msgspec Structs (a Flow, two Endpoints, their strings: about
seventeen objects) and then reads them back. Here a line is scanned in C for the fields a flow needs, which
stay pointers into the line's bytes; a Python object is made only where the Aggregator keeps one (an edge's
key and times, a new pod's records). The scan accepts a narrow, common form: ASCII strings without escapes in
the fields it reads, integers, a Hubble verdict FORWARDED or REDIRECTED, `is_reply` set, no L7, no DNS names;
whatever it skips must be JSON msgspec would skip too. Any line outside it (or any doubt: a duplicate key, a
float, an unknown value shape) is handed to the Python loop, one line at a time, with the same Aggregator:
the Python code stays the reference for every case, and tests/unit/test_flows_compiled.py checks both give
the same bytes.

Pods already seen are found in a C table (PodIndex); a pod seen for the first time is recorded here as
Aggregator._endpoint and _new_pod record it (PodInfo, workload key, _pods or _pod_ids), or, when its labels
or namespace are out of the common form, by those methods themselves from an Endpoint of the scanned fields.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_GetItem
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.tuple cimport PyTuple_GET_ITEM
from libc.stdint cimport int32_t, uint16_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memchr, memcmp, memcpy

import msgspec

from ..selectors import validate_namespace_name
from . import hubble
from .aggregate import PodInfo
from .model import NORMAL_TIME_LENGTH, normalize_time
from .workloads import workload_of

cdef extern from "Python.h":
    object PyUnicode_DecodeASCII(const char *s, Py_ssize_t size, const char *errors)
    object _PyLong_FromByteArray(const unsigned char *bytes, size_t n, int little_endian, int is_signed)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    int PyUnicode_KIND(object o)
    void *PyUnicode_DATA(object o)
    int PyUnicode_1BYTE_KIND

cdef extern from *:
    ctypedef unsigned long long u128 "unsigned __int128"
    void __builtin_prefetch(const void *address) noexcept nogil
    ctypedef long Py_hash_t
    Py_hash_t _Py_HashBytes(const void *data, Py_ssize_t size)

ctypedef unsigned char uchar

# What a scan found: each string a span of the line (n = -1: absent).
cdef struct Span:
    const uchar *p
    Py_ssize_t n

cdef struct PortsSeen:  # also an ICMP header: its type in destination_port
    bint present
    long long destination_port

cdef struct EndpointSeen:
    long long identity
    Span namespace
    Span pod_name
    Span labels  # the raw JSON value, as msgspec.Raw keeps it
    bint workloads  # a non-empty `workloads` list
    uint64_t hash  # PodIndex's, once made (0: not yet)

cdef struct FlowSeen:
    Span time
    Span verdict
    int is_reply  # -1: absent or null
    EndpointSeen source
    EndpointSeen destination
    Span ip_source
    Span ip_destination
    bint l4
    PortsSeen headers[5]  # TCP, UDP, SCTP, ICMPv4, ICMPv6: aggregate.PROTOCOLS order

cdef enum:
    MAX_DEPTH = 64  # deeper values are the Python loop's (msgspec's own limit is higher)
    FALLBACK = 1
    PROTOCOL_ICMP4 = 3  # aggregate.PROTOCOLS: TCP, UDP, SCTP have ports, ICMPv4 and ICMPv6 a type

_DECODERS = {True: hubble.DECODERS[(True, False)], False: hubble.DECODERS[(False, False)]}
_Endpoint = hubble.Endpoint
_EMPTY_LIST = hubble.EMPTY_LIST
_Raw = msgspec.Raw
cdef Py_ssize_t _NORMAL_TIME_LENGTH = NORMAL_TIME_LENGTH


# ---- the scanner: each returns the position after what it read, or NULL to hand the line to Python ----------

cdef inline const uchar *_ws(const uchar *p, const uchar *e) noexcept nogil:
    while p < e and (p[0] == 32 or p[0] == 10 or p[0] == 13 or p[0] == 9):
        p += 1
    return p


cdef inline const uchar *_plain(const uchar *p, const uchar *e, bint ascii) noexcept nogil:
    """The first byte from p on that ends a run of plain string text: a quote, a backslash, a control character
    or (when `ascii`) a byte over 127; e when there is none. Eight bytes at a time while none of them is one
    (each test says exactly whether a word holds such a byte, not which)."""
    cdef uint64_t word, quotes, slashes, special
    cdef uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL
    while e - p >= 8:
        memcpy(&word, p, 8)
        quotes = word ^ (ones * 34)
        slashes = word ^ (ones * 92)
        special = ((quotes - ones) & ~quotes) | ((slashes - ones) & ~slashes) | ((word - ones * 32) & ~word)
        if ascii:
            special |= word
        if special & highs:
            break
        p += 8
    while p < e and not (p[0] == 34 or p[0] == 92 or p[0] < 32 or (ascii and p[0] >= 128)):
        p += 1
    return p


cdef const uchar *_string(const uchar *p, const uchar *e, Span *out) noexcept nogil:
    """A string of printable ASCII without escapes (p at its quote)."""
    if p >= e or p[0] != 34:
        return NULL
    cdef const uchar *start = p + 1
    p = _plain(start, e, True)
    if p >= e or p[0] != 34:
        return NULL
    out.p = start
    out.n = p - start
    return p + 1


cdef inline int _hex(uchar c) noexcept nogil:
    if 48 <= c <= 57:
        return c - 48
    if 97 <= c <= 102:
        return c - 87
    if 65 <= c <= 70:
        return c - 55
    return -1


cdef const uchar *_skip_string(const uchar *p, const uchar *e) noexcept nogil:
    """A string msgspec skips: no control characters, valid escapes; \\u escapes of surrogates are left to
    msgspec (it checks their pairs). Bytes over 127 pass, as msgspec does not check UTF-8 in what it skips."""
    if p >= e or p[0] != 34:
        return NULL
    p += 1
    cdef uchar c
    cdef int digit, code, index
    while True:
        p = _plain(p, e, False)
        if p >= e:
            return NULL
        c = p[0]
        if c == 34:
            return p + 1
        if c < 32:
            return NULL
        if c == 92:
            p += 1
            if p >= e:
                return NULL
            c = p[0]
            if c == 117:  # \\uXXXX
                if e - p < 5:
                    return NULL
                code = 0
                for index in range(1, 5):
                    digit = _hex(p[index])
                    if digit < 0:
                        return NULL
                    code = code * 16 + digit
                if 0xD800 <= code <= 0xDFFF:
                    return NULL
                p += 4
            elif not (c == 34 or c == 92 or c == 47 or c == 98 or c == 102 or c == 110 or c == 114 or c == 116):
                return NULL
        p += 1


cdef const uchar *_integer(const uchar *p, const uchar *e, long long *out) noexcept nogil:
    """-?(0|[1-9][0-9]*), at most 18 digits, not followed by a fraction or exponent."""
    cdef bint negative = False
    cdef long long value = 0
    cdef int digits = 0
    if p < e and p[0] == 45:
        negative = True
        p += 1
    if p >= e or not (48 <= p[0] <= 57):
        return NULL
    if p[0] == 48:
        p += 1
        digits = 1
    else:
        while p < e and 48 <= p[0] <= 57:
            value = value * 10 + (p[0] - 48)
            digits += 1
            if digits > 18:
                return NULL
            p += 1
    if p < e and (p[0] == 46 or p[0] == 101 or p[0] == 69 or 48 <= p[0] <= 57):
        return NULL
    out[0] = -value if negative else value
    return p


cdef const uchar *_literal(const uchar *p, const uchar *e, int *out) noexcept nogil:
    """true (1), false (0) or null (-1)."""
    if e - p >= 4 and memcmp(p, b"true", 4) == 0:
        out[0] = 1
        return p + 4
    if e - p >= 5 and memcmp(p, b"false", 5) == 0:
        out[0] = 0
        return p + 5
    if e - p >= 4 and memcmp(p, b"null", 4) == 0:
        out[0] = -1
        return p + 4
    return NULL


cdef const uchar *_skip(const uchar *p, const uchar *e, int depth) noexcept nogil:
    """Any JSON value (p at its first byte)."""
    cdef long long number
    cdef int flag, end = 0
    if p >= e or depth > MAX_DEPTH:
        return NULL
    cdef uchar c = p[0]
    if c == 34:
        return _skip_string(p, e)
    if c == 123 or c == 91:  # { [
        p = _ws(p + 1, e)
        if p < e and p[0] == c + 2:  # } ]
            return p + 1
        while True:
            if c == 123:
                p = _skip_string(p, e)
                if p == NULL:
                    return NULL
                p = _ws(p, e)
                if p >= e or p[0] != 58:
                    return NULL
                p = _ws(p + 1, e)
            p = _skip(p, e, depth + 1)
            if p == NULL:
                return NULL
            p = _next(p, e, c + 2, &end)
            if p == NULL or end:
                return p
    if c == 116 or c == 102 or c == 110:
        return _literal(p, e, &flag)
    return _integer(p, e, &number)


cdef const char *_PROTOCOL_NAMES[5]
_PROTOCOL_NAMES[:] = [b"TCP", b"UDP", b"SCTP", b"ICMPv4", b"ICMPv6"]
cdef Py_ssize_t _PROTOCOL_LENGTHS[5]
_PROTOCOL_LENGTHS[:] = [3, 3, 4, 6, 6]


cdef inline bint _is(Span key, const char *name, Py_ssize_t size) noexcept nogil:
    return key.n == size and memcmp(key.p, name, size) == 0


# An object's members are read by one loop in each reader below: `_key` reads `"key":` (p after `{` or `,`),
# `_next` the `,` or `}` after a value (0: another member, 1: the end, -1: neither).

cdef inline const uchar *_key(const uchar *p, const uchar *e, Span *key) noexcept nogil:
    p = _string(_ws(p, e), e, key)
    if p == NULL:
        return NULL
    p = _ws(p, e)
    if p >= e or p[0] != 58:
        return NULL
    return _ws(p + 1, e)


cdef inline const uchar *_next(const uchar *p, const uchar *e, uchar closing, int *end) noexcept nogil:
    """After a member or item: `,` (end 0; white space after it skipped) or the closing bracket (end 1)."""
    p = _ws(p, e)
    if p >= e:
        return NULL
    if p[0] == 44:
        end[0] = 0
        return _ws(p + 1, e)
    if p[0] == closing:
        end[0] = 1
        return p + 1
    return NULL


cdef inline const uchar *_open(const uchar *p, const uchar *e, bint *empty) noexcept nogil:
    """p at `{`: the position after it, `empty` when `}` follows."""
    if p >= e or p[0] != 123:
        return NULL
    p = _ws(p + 1, e)
    empty[0] = p < e and p[0] == 125
    return p + 1 if empty[0] else p


cdef inline const uchar *_null(const uchar *p, const uchar *e) noexcept nogil:
    cdef int flag = 0
    p = _literal(p, e, &flag)
    return p if p != NULL and flag < 0 else NULL


cdef const uchar *_string_or_int(const uchar *p, const uchar *e) noexcept nogil:
    """An enum written as its name or its number. msgspec decodes these (Flow declares them `str | int`), so it
    refuses invalid UTF-8 in them: a name with escapes or bytes over 127 is left to the Python loop."""
    cdef long long number
    cdef Span name
    if p < e and p[0] == 34:
        return _string(p, e, &name)
    return _integer(p, e, &number)


cdef const uchar *_bool(const uchar *p, const uchar *e, bint nullable, int *out) noexcept nogil:
    p = _literal(p, e, out)
    if p == NULL or (out[0] < 0 and not nullable):
        return NULL
    return p


cdef const uchar *_empty_list(const uchar *p, const uchar *e) noexcept nogil:
    """`[]`: source_names and destination_names are read by the Python loop when there are any."""
    if p >= e or p[0] != 91:
        return NULL
    p = _ws(p + 1, e)
    return p + 1 if p < e and p[0] == 93 else NULL


# The objects of a Hubble line, each read by _object with the member reader of its kind.
cdef enum Kind:
    RESPONSE
    FLOW
    ENDPOINT
    ADDRESSES
    LAYER4
    PORTS
    FLAGS
    ICMP
    WORKLOAD


cdef const uchar *_object(const uchar *p, const uchar *e, Kind kind, void *out) noexcept nogil:
    """An object (p at `{`): each member read by _member; a key _member knows may come only once."""
    cdef Span key
    cdef bint empty
    cdef int end = 0, seen = 0, bit
    p = _open(p, e, &empty)
    if p == NULL or empty:
        return p
    while True:
        p = _key(p, e, &key)
        if p == NULL:
            return NULL
        bit = 0
        p = _member(kind, key, p, e, out, &bit)
        if p == NULL or seen & bit:
            return NULL
        seen |= bit
        p = _next(p, e, 125, &end)
        if p == NULL:
            return NULL
        if end:
            return p


cdef const uchar *_optional(const uchar *p, const uchar *e, Kind kind, PortsSeen *out) noexcept nogil:
    """A Ports or Icmp object, or null."""
    cdef int flag = 0
    out.present = False
    out.destination_port = 0
    if p < e and p[0] == 110:
        return _null(p, e)
    out.present = True
    return _object(p, e, kind, out)


cdef const uchar *_workloads(const uchar *p, const uchar *e, bint *any_) noexcept nogil:
    """A list of Workload objects ({name, kind} strings); only whether there is one is kept."""
    if p >= e or p[0] != 91:
        return NULL
    p = _ws(p + 1, e)
    any_[0] = not (p < e and p[0] == 93)
    if not any_[0]:
        return p + 1
    cdef int end = 0
    while True:
        p = _object(p, e, WORKLOAD, NULL)
        if p == NULL:
            return NULL
        p = _next(p, e, 93, &end)
        if p == NULL or end:
            return p


cdef inline const uchar *_known_key(int *bit, int value, const uchar *p) noexcept nogil:
    bit[0] = value
    return p


cdef const uchar *_member(Kind kind, Span key, const uchar *p, const uchar *e, void *out, int *bit) noexcept nogil:
    """One member's value (p at it), by the Struct of hubble.py it belongs to; bit: the key's, 0 for an unknown
    key (skipped)."""
    cdef FlowSeen *flow = <FlowSeen *>out
    cdef EndpointSeen *endpoint = <EndpointSeen *>out
    cdef PortsSeen *ports = <PortsSeen *>out
    cdef Span text
    cdef int flag = 0
    cdef long long number
    cdef const uchar *start
    cdef int index
    if kind == RESPONSE:
        if _is(key, "flow", 4):
            return _known_key(bit, 1, _object(p, e, FLOW, out))
        if _is(key, "lost_events", 11):
            return _known_key(bit, 2, _null(p, e))
    elif kind == FLOW:
        if _is(key, "source", 6):
            return _known_key(bit, 1, _object(p, e, ENDPOINT, &flow.source))
        if _is(key, "destination", 11):
            return _known_key(bit, 2, _object(p, e, ENDPOINT, &flow.destination))
        if _is(key, "time", 4):
            return _known_key(bit, 4, _string(p, e, &flow.time))
        if _is(key, "verdict", 7):
            return _known_key(bit, 8, _string(p, e, &flow.verdict))
        if _is(key, "is_reply", 8):
            return _known_key(bit, 16, _bool(p, e, True, &flow.is_reply))
        if _is(key, "l4", 2):  # an object; null (no layer 4) is the Python loop's
            bit[0] = 32
            flow.l4 = True
            return _object(p, e, LAYER4, out)
        if _is(key, "IP", 2):
            bit[0] = 64
            if p < e and p[0] == 110:
                return _null(p, e)
            flow.ip_source.n = 0  # an IP object: its addresses default to ""
            flow.ip_destination.n = 0
            return _object(p, e, ADDRESSES, out)
        if _is(key, "l7", 2):  # only null: L7 flows are the Python loop's
            return _known_key(bit, 128, _null(p, e))
        if _is(key, "source_names", 12):
            return _known_key(bit, 256, _empty_list(p, e))
        if _is(key, "destination_names", 17):
            return _known_key(bit, 512, _empty_list(p, e))
        if _is(key, "reply", 5):
            return _known_key(bit, 1024, _bool(p, e, False, &flag))
        if _is(key, "drop_reason", 11):
            return _known_key(bit, 2048, _integer(p, e, &number))
        if _is(key, "drop_reason_desc", 16):
            return _known_key(bit, 4096, _string_or_int(p, e))
        if _is(key, "trace_reason", 12):
            return _known_key(bit, 8192, _string_or_int(p, e))
        if _is(key, "nodeName", 8):  # lowerCamelCase: the Python loop switches decoders
            return NULL
    elif kind == ENDPOINT:
        if _is(key, "pod_name", 8):
            return _known_key(bit, 1, _string(p, e, &endpoint.pod_name))
        if _is(key, "namespace", 9):
            return _known_key(bit, 2, _string(p, e, &endpoint.namespace))
        if _is(key, "labels", 6):
            bit[0] = 4
            start = p
            p = _skip(p, e, 3)
            endpoint.labels.p = start
            endpoint.labels.n = p - start if p != NULL else 0
            return p
        if _is(key, "identity", 8):
            return _known_key(bit, 8, _integer(p, e, &endpoint.identity))
        if _is(key, "workloads", 9):
            return _known_key(bit, 16, _workloads(p, e, &endpoint.workloads))
    elif kind == ADDRESSES:
        if _is(key, "source", 6):
            return _known_key(bit, 1, _string(p, e, &flow.ip_source))
        if _is(key, "destination", 11):
            return _known_key(bit, 2, _string(p, e, &flow.ip_destination))
    elif kind == LAYER4:
        for index in range(5):
            if _is(key, _PROTOCOL_NAMES[index], _PROTOCOL_LENGTHS[index]):
                return _known_key(bit, 1 << index, _optional(
                    p, e, PORTS if index < PROTOCOL_ICMP4 else ICMP, &flow.headers[index]
                ))
    elif kind == PORTS:
        if _is(key, "destination_port", 16):
            return _known_key(bit, 1, _integer(p, e, &ports.destination_port))
        if _is(key, "source_port", 11):
            return _known_key(bit, 2, _integer(p, e, &number))
        if _is(key, "flags", 5):  # read only to check it decodes: with is_reply set, SYN/ACK decide nothing here
            bit[0] = 4
            if p < e and p[0] == 110:
                return _null(p, e)
            return _object(p, e, FLAGS, NULL)
    elif kind == FLAGS:
        if _is(key, "SYN", 3):
            return _known_key(bit, 1, _bool(p, e, False, &flag))
        if _is(key, "ACK", 3):
            return _known_key(bit, 2, _bool(p, e, False, &flag))
    elif kind == ICMP:
        if _is(key, "type", 4):
            return _known_key(bit, 1, _integer(p, e, &ports.destination_port))
    elif kind == WORKLOAD:
        if _is(key, "name", 4):
            return _known_key(bit, 1, _string(p, e, &text))
        if _is(key, "kind", 4):
            return _known_key(bit, 2, _string(p, e, &text))
    return _skip(p, e, 3)


cdef inline void _no_endpoint(EndpointSeen *end) noexcept nogil:
    """hubble.NO_ENDPOINT, what a flow without this end has."""
    end.identity = 0
    end.namespace.n = end.pod_name.n = 0
    end.labels.n = -1
    end.workloads = False
    end.hash = 0


cdef int _scan(const uchar *p, Py_ssize_t size, bint wrapped, FlowSeen *out) noexcept nogil:
    """0 when the line is a flow of the form this module reads, else FALLBACK."""
    cdef const uchar *e = p + size
    out.time.n = 0
    out.verdict.n = 0
    out.is_reply = -1
    out.ip_source.n = -1
    out.ip_destination.n = -1
    out.l4 = False
    cdef int index
    for index in range(5):
        out.headers[index].present = False
    _no_endpoint(&out.source)
    _no_endpoint(&out.destination)
    p = _ws(p, e)
    if p >= e or p[0] != 123:
        return FALLBACK
    p = _object(p, e, RESPONSE if wrapped else FLOW, out)
    if p == NULL or _ws(p, e) != e or not out.l4 or out.is_reply < 0:
        return FALLBACK  # also: a response without a flow (is_reply stays -1), a flow without is_reply or layer 4
    return 0


# ---- the loop -------------------------------------------------------------------------------------------------

cdef inline str _text(Span span):
    return PyUnicode_DecodeASCII(<const char *>span.p, span.n, NULL)


cdef inline bint _equals(Span span, object text):
    """Whether an ASCII span spells the str `text`."""
    return (
        PyUnicode_GET_LENGTH(text) == span.n
        and PyUnicode_KIND(text) == PyUnicode_1BYTE_KIND
        and memcmp(PyUnicode_DATA(text), span.p, span.n) == 0
    )


cdef inline int _compare(Span span, object text):
    """-1, 0, 1 as the ASCII span sorts before, with, after the str `text` (str order)."""
    cdef Py_ssize_t length
    cdef int order
    if PyUnicode_KIND(text) != PyUnicode_1BYTE_KIND:
        return -1 if _text(span) < text else (1 if _text(span) > text else 0)
    length = PyUnicode_GET_LENGTH(text)
    order = memcmp(span.p, PyUnicode_DATA(text), span.n if span.n < length else length)
    if order:
        return order
    return (span.n > length) - (span.n < length)


cdef inline int _order(Span time, object time_text, object other):
    """How a flow's time sorts against a time kept on its edge: its text when it was normalised, else its span."""
    if time_text is None:
        return _compare(time, other)
    return -1 if time_text < other else (1 if time_text > other else 0)


cdef object _edge_key(long long source, long long target, int verdict, int protocol, long long port):
    cdef u128 key = ((((<u128>source << 40 | <u128>target) << 8 | <u128>verdict) << 3 | <u128>protocol) << 16) | <u128>port
    cdef unsigned char data[16]
    cdef int index
    for index in range(16):
        data[index] = <unsigned char>(key >> (8 * index))
    return _PyLong_FromByteArray(data, 16, 1, 0)


cdef object _known(dict pods, Span namespace, Span pod_name):
    """The endpoint id of a pod add_records has seen (the Python loop's fast lookup), or None."""
    if pod_name.n <= 0:
        return None
    cdef PyObject *found = PyDict_GetItem(pods, _text(pod_name))
    if found == NULL:
        return None
    if not _equals(namespace, <object>PyTuple_GET_ITEM(<object>found, 0)):
        return None
    return <object>PyTuple_GET_ITEM(<object>found, 1)


# ---- the pods seen: (namespace, pod name) -> endpoint id, in one cache line each -----------------------------
# The Aggregator's own lookup (_pods, a dict by pod name, then the namespace compared) touches four objects
# spread over the heap per pod; on a capture of 100,000 pods that was a third of the reading. This table holds
# the answer the Python lookups settled on for a pod (they are asked first, once per pod), with the names
# inline. Hashed with CPython's seeded hash of bytes, so a crafted log cannot make its names collide.

cdef enum:
    SLOT_KEY = 48  # namespace + pod name longer than this: not kept here (the Python lookups answer)

cdef struct Slot:
    uint64_t hash  # 0: empty
    int32_t endpoint  # -1: a pod the graph has no place for
    uint16_t namespace_length
    uint16_t pod_length
    char key[SLOT_KEY]


cdef class PodIndex:
    cdef Slot *slots
    cdef size_t mask
    cdef size_t used
    # The Aggregator's tables a pod seen first is recorded in (bound at each add_records: the same objects)
    cdef dict pods, pod_ids, namespaces, endpoint_ids, workload_pods
    cdef list endpoints

    cdef void bind(self, object aggregator):
        self.pods = aggregator._pods
        self.pod_ids = aggregator._pod_ids
        self.namespaces = aggregator._namespaces
        self.endpoint_ids = aggregator._endpoint_ids
        self.workload_pods = aggregator.workload_pods
        self.endpoints = aggregator.endpoints

    def __cinit__(self):
        self.slots = <Slot *>calloc(1024, sizeof(Slot))
        if self.slots == NULL:
            raise MemoryError()
        self.mask = 1023
        self.used = 0

    def __dealloc__(self):
        free(self.slots)

    cdef inline uint64_t _hash(self, Span namespace, Span pod) noexcept:
        cdef uint64_t value = (<uint64_t>_Py_HashBytes(namespace.p, namespace.n)) * 0x9E3779B97F4A7C15ULL
        value ^= <uint64_t>_Py_HashBytes(pod.p, pod.n)
        return value if value else 1

    cdef inline void prefetch(self, EndpointSeen *end) noexcept:
        """Start loading the slot of a flow's end, so that both ends' slots come from memory at once."""
        if end.pod_name.n > 0:
            end.hash = self._hash(end.namespace, end.pod_name)
            __builtin_prefetch(&self.slots[end.hash & self.mask])

    cdef bint find(self, EndpointSeen *end, long long *endpoint) noexcept:
        cdef Span namespace = end.namespace, pod = end.pod_name
        if end.hash == 0:
            end.hash = self._hash(namespace, pod)
        cdef uint64_t value = end.hash
        cdef size_t index = value & self.mask
        cdef Slot *slot
        while True:
            slot = &self.slots[index]
            if slot.hash == 0:
                return False
            if (
                slot.hash == value
                and slot.namespace_length == namespace.n
                and slot.pod_length == pod.n
                and memcmp(slot.key, namespace.p, namespace.n) == 0
                and memcmp(slot.key + namespace.n, pod.p, pod.n) == 0
            ):
                endpoint[0] = slot.endpoint
                return True
            index = (index + 1) & self.mask

    cdef int add(self, Span namespace, Span pod, long long endpoint) except -1:
        if namespace.n + pod.n > SLOT_KEY or endpoint > 0x7FFFFFFF:
            return 0
        if (self.used + 1) * 2 > self.mask:
            self._grow()
        cdef uint64_t value = self._hash(namespace, pod)
        cdef size_t index = value & self.mask
        while self.slots[index].hash != 0:
            index = (index + 1) & self.mask
        cdef Slot *slot = &self.slots[index]
        slot.hash = value
        slot.endpoint = <int32_t>endpoint
        slot.namespace_length = <uint16_t>namespace.n
        slot.pod_length = <uint16_t>pod.n
        memcpy(slot.key, namespace.p, namespace.n)
        memcpy(slot.key + namespace.n, pod.p, pod.n)
        self.used += 1
        return 0

    cdef int _grow(self) except -1:
        cdef size_t size = (self.mask + 1) * 2, old, index
        cdef Slot *slots = <Slot *>calloc(size, sizeof(Slot))
        if slots == NULL:
            raise MemoryError()
        for old in range(self.mask + 1):
            if self.slots[old].hash:
                index = self.slots[old].hash & (size - 1)
                while slots[index].hash != 0:
                    index = (index + 1) & (size - 1)
                slots[index] = self.slots[old]
        free(self.slots)
        self.slots = slots
        self.mask = size - 1
        return 0


# ---- a pod seen for the first time: Aggregator._new_pod, from the scanned fields -------------------------------

_ROLES = hubble._LABEL_ROLES
_remember_role = hubble.remember_label_role
_NO_PROTOCOL = "protocol other than TCP, UDP, SCTP, ICMP"
_NO_PORT = "no destination port"
cdef int _POD_LABEL = hubble._POD_LABEL, _NAMESPACE_LABEL = hubble._NAMESPACE_LABEL
cdef int _NAMESPACE_NAME = hubble._NAMESPACE_NAME
_NO_LABELS = hubble.NO_LABELS


# What comes before a label's "=" repeats from pod to pod (hubble._LABEL_ROLES): the last few seen, by their
# bytes, so that a pod's labels make no string for it.
cdef enum:
    HEADS = 64
    HEAD_BYTES = 56

cdef struct Head:
    Py_ssize_t n  # 0: empty
    char text[HEAD_BYTES]
    PyObject *role  # hubble._label_role's (role, key), a reference held here

cdef Head _heads[HEADS]


cdef object _role_of(Span head):
    cdef uint64_t value = 1469598103934665603ULL
    cdef Py_ssize_t index
    for index in range(head.n):
        value = (value ^ head.p[index]) * 1099511628211ULL
    cdef Head *slot = &_heads[value % HEADS]
    if slot.n == head.n + 1 and memcmp(slot.text, head.p, head.n) == 0:
        return <object>slot.role
    head_text = _text(head)
    found = _ROLES.get(head_text) or _remember_role(head_text)
    if head.n <= HEAD_BYTES:
        Py_XDECREF(slot.role)
        Py_INCREF(found)
        slot.role = <PyObject *>found
        slot.n = head.n + 1
        memcpy(slot.text, head.p, head.n)
    return found


cdef object _split_labels(Span raw):
    """hubble.split_labels(hubble.decode_labels(raw)) for a list of plain strings (no escapes, ASCII), else None."""
    cdef const uchar *p = raw.p
    cdef const uchar *e = raw.p + raw.n
    cdef const uchar *equals
    cdef Span label, head
    cdef dict pod = {}
    cdef object namespace = _NO_LABELS
    cdef object namespace_name = ""
    if raw.n < 0:  # no labels in the log
        return pod, namespace, namespace_name
    if p >= e or p[0] != 91:
        return None
    p = _ws(p + 1, e)
    if p < e and p[0] == 93:
        return pod, namespace, namespace_name
    while True:
        p = _string(p, e, &label)
        if p == NULL:
            return None
        equals = label.p
        while equals < label.p + label.n and equals[0] != 61:
            equals += 1
        head.p = label.p
        head.n = equals - label.p
        found = _role_of(head)
        role = found[0]
        if role == _POD_LABEL or role == _NAMESPACE_LABEL or role == _NAMESPACE_NAME:
            head.p = equals + 1 if equals < label.p + label.n else equals
            head.n = label.p + label.n - head.p
            value = _text(head)
            if role == _POD_LABEL:
                pod[found[1]] = value
            elif role == _NAMESPACE_LABEL:
                if namespace is _NO_LABELS:
                    namespace = {}
                namespace[found[1]] = value
            else:
                namespace_name = value
        p = _ws(p, e)
        if p >= e:
            return None
        if p[0] == 44:
            p = _ws(p + 1, e)
            continue
        if p[0] == 93 and _ws(p + 1, e) == e:
            return pod, namespace, namespace_name
        return None


cdef long long _new_pod(PodIndex tables, EndpointSeen *end, str name, bint named_before) except -2:
    """The endpoint id of a pod seen for the first time, recorded as Aggregator._endpoint and _new_pod record it;
    -1 when those must do it (labels this scan does not take apart, a namespace no graph holds)."""
    split = _split_labels(end.labels)
    if split is None:
        return -1
    pod_labels, namespace_labels, labelled = split
    namespace = _text(end.namespace) if end.namespace.n > 0 else labelled
    known = tables.namespaces.get(namespace)
    if known is None:
        known = tables.namespaces[namespace] = "" if validate_namespace_name(namespace) else namespace
    if not known:  # warned about by _new_pod
        return -1
    info = PodInfo(known, name, pod_labels if pod_labels else None, None, None, namespace_labels)
    if (
        end.pod_name.n > 0
        and memchr(end.pod_name.p, 45, end.pod_name.n) == NULL
        and "pod-template-hash" not in pod_labels
        and "job-name" not in pod_labels
        and "controller-revision-hash" not in pod_labels
    ):
        guess = (name, "Pod")
    else:
        guess = workload_of(name, pod_labels)
    info.guess = guess
    key = ("workload", known, guess[0])
    found = tables.endpoint_ids.get(key)
    if found is None:
        found = tables.endpoint_ids[key] = len(tables.endpoints)
        tables.endpoints.append(key)
    infos = tables.workload_pods.get(found)
    if infos is None:
        tables.workload_pods[found] = [info]
    else:
        infos.append(info)
    spelt = known if end.namespace.n > 0 else ""  # the namespace as the log spells it (known: the same text)
    if not named_before:
        tables.pods[name] = (spelt, found)
    else:
        tables.pod_ids[(spelt, name)] = found
    return found


cdef long long _resolve(object aggregator, PodIndex index, dict pods, EndpointSeen *end, Span address) except -2:
    """The endpoint id of one end of a flow, -1 for none (the Python loop's `src`/`dst`, None there)."""
    cdef long long found
    cdef PyObject *named
    known = None
    if end.pod_name.n > 0:
        if index.find(end, &found):
            return found
        name = _text(end.pod_name)
        named = PyDict_GetItem(pods, name)
        if named != NULL and _equals(end.namespace, <object>PyTuple_GET_ITEM(<object>named, 0)):
            known = <object>PyTuple_GET_ITEM(<object>named, 1)
        elif not (index.pod_ids and (_text(end.namespace), name) in index.pod_ids):
            found = _new_pod(index, end, name, named != NULL)
            if found >= 0:
                index.add(end.namespace, end.pod_name, found)
                return found
    if known is None:
        labels = (
            _Raw(PyBytes_FromStringAndSize(<const char *>end.labels.p, end.labels.n))
            if end.labels.n >= 0 else _EMPTY_LIST
        )
        namespace, pod = _text(end.namespace), _text(end.pod_name)
        result = aggregator._endpoint(_Endpoint(end.identity, namespace, labels, pod, ()), _text(address) if address.n > 0 else "", ())
        found = -1 if result is None else result
        if end.pod_name.n > 0:  # _endpoint recorded it under these names (_pods or _pod_ids): its answer from now on
            index.add(end.namespace, end.pod_name, found)
        return found
    found = known
    index.add(end.namespace, end.pod_name, found)
    return found


cdef bint _seen(PodIndex index, dict pods, EndpointSeen *end):
    cdef long long found
    return (end.pod_name.n > 0 and index.find(end, &found)) or _known(
        pods, end.namespace, end.pod_name
    ) is not None


def add_records(self, records, Py_ssize_t start, decode, bint wrapped, bint strict=True):
    """Aggregator.add_records, compiled (same arguments, same result)."""
    if getattr(decode, "__self__", None) is not _DECODERS[wrapped] or not strict:
        return self._python_add_records(records, start, decode, wrapped, strict)
    cdef dict edges = self.edges
    cdef dict pods = self._pods
    cdef bint filtering = self._filtering
    python_add = self._python_add_records
    ignored = self.ignored
    cdef Py_ssize_t position, count = len(records), replies = 0
    cdef FlowSeen flow
    cdef PodIndex index = self.compiled_state
    if index is None:
        index = self.compiled_state = PodIndex()
    index.bind(self)
    cdef int verdict, protocol, order, header
    cdef long long port, source, target
    cdef Span time
    cdef object time_text, entry, key
    cdef PyObject *found
    cdef list fresh
    for position in range(start, count):
        record = records[position]
        if type(record) is not bytes or _scan(
            <const uchar *>PyBytes_AS_STRING(record), PyBytes_GET_SIZE(record), wrapped, &flow
        ):
            if not python_add((record,), 0, decode, wrapped, strict):
                self.replies += replies
                return position
            continue
        index.prefetch(&flow.source)
        index.prefetch(&flow.destination)
        if flow.verdict.n == 9 and memcmp(flow.verdict.p, b"FORWARDED", 9) == 0:
            verdict = 1
        elif flow.verdict.n == 10 and memcmp(flow.verdict.p, b"REDIRECTED", 10) == 0:
            verdict = 2
        else:  # a drop, an audit, an unknown verdict: named by the Python loop
            if not python_add((record,), 0, decode, wrapped, strict):
                self.replies += replies
                return position
            continue
        protocol, port = -1, 0  # the first header there is, in PROTOCOLS order (aggregate._layer4)
        for header in range(5):
            if flow.headers[header].present:
                protocol = header
                port = flow.headers[header].destination_port & (0xFFFF if header >= PROTOCOL_ICMP4 else -1)
                break
        if protocol < 0 or (not flow.is_reply and protocol < PROTOCOL_ICMP4 and not 0 < port < 65536):
            ignored[_NO_PROTOCOL if protocol < 0 else _NO_PORT] += 1  # what the Python loop leaves out, in its order
            continue
        if flow.is_reply:
            replies += 1
            continue
        time = flow.time
        time_text = None
        if time.n != _NORMAL_TIME_LENGTH or time.p[time.n - 1] != 90:  # "Z"
            time_text = normalize_time(_text(time))
        if filtering:
            if time_text is None:
                time_text = _text(time)
            if self._filtered_out(verdict, time_text, _text(flow.source.namespace), _text(flow.destination.namespace)):
                continue
        if (flow.source.workloads and not _seen(index, pods, &flow.source)) or (
            flow.destination.workloads and not _seen(index, pods, &flow.destination)
        ):  # a new pod whose owner the log names: recorded by the Python loop
            if not python_add((record,), 0, decode, wrapped, strict):
                self.replies += replies
                return position
            continue
        source = _resolve(self, index, pods, &flow.source, flow.ip_source)
        target = _resolve(self, index, pods, &flow.destination, flow.ip_destination)
        if source < 0 or target < 0:
            ignored["an end Hubble did not identify"] += 1
            continue
        key = _edge_key(source, target, verdict, protocol, port)
        found = PyDict_GetItem(edges, key)
        if found == NULL:
            if time_text is None:
                time_text = _text(time)
            fresh = [1, time_text, time_text, key]
            edges[key] = fresh
            continue
        entry = <object>found
        entry[0] = entry[0] + 1  # a flow more; first and last seen widened to this one's time
        if _order(time, time_text, entry[1]) < 0:
            entry[1] = time_text if time_text is not None else _text(time)
        elif _order(time, time_text, entry[2]) > 0:
            entry[2] = time_text if time_text is not None else _text(time)
    self.replies += replies
    return count


