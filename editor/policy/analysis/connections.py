"""Connection sets: the (protocol, port) pairs a rule or a pair of peers allows."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

PROTOCOLS = ("TCP", "UDP", "SCTP")
MIN_PORT, MAX_PORT = 1, 65535

Intervals = tuple[tuple[int, int], ...]
_FULL: Intervals = ((MIN_PORT, MAX_PORT),)


def _merge(intervals: Iterable[tuple[int, int]]) -> Intervals:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1] + 1:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return tuple(merged)


def _intersect(a: Intervals, b: Intervals) -> Intervals:
    result: list[tuple[int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo <= hi:
            result.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(result)


def _subtract(a: Intervals, b: Intervals) -> Intervals:
    result: list[tuple[int, int]] = []
    for lo, hi in a:
        for blo, bhi in b:
            if bhi < lo or blo > hi:
                continue
            if blo > lo:
                result.append((lo, blo - 1))
            lo = bhi + 1
            if lo > hi:
                break
        if lo <= hi:
            result.append((lo, hi))
    return tuple(result)


@dataclasses.dataclass(frozen=True)
class ConnectionSet:
    """Allowed (protocol, port) pairs: for TCP, UDP and SCTP (in that order) sorted disjoint port intervals."""

    ranges: tuple[Intervals, Intervals, Intervals] = ((), (), ())

    @staticmethod
    def of(protocols: Iterable[str], lo: int = MIN_PORT, hi: int = MAX_PORT) -> ConnectionSet:
        """The ports lo..hi of each of `protocols`."""
        wanted = set(protocols)
        return _interned(tuple(((lo, hi),) if p in wanted else () for p in PROTOCOLS))

    @staticmethod
    def of_pieces(pieces: Iterable[tuple[str, int, int]]) -> ConnectionSet:
        """The union of (protocol, first port, last port) pieces."""
        ranges: tuple[list[tuple[int, int]], ...] = ([], [], [])
        for protocol, lo, hi in pieces:
            ranges[PROTOCOLS.index(protocol)].append((lo, hi))
        return _interned(tuple(_merge(intervals) for intervals in ranges))

    def __or__(self, other: ConnectionSet) -> ConnectionSet:
        if other is NO_CONNECTIONS or self is ALL_CONNECTIONS or self == other:
            return self
        if self is NO_CONNECTIONS or other is ALL_CONNECTIONS:
            return other
        return _interned(tuple(_merge(a + b) for a, b in zip(self.ranges, other.ranges, strict=True)))

    def __and__(self, other: ConnectionSet) -> ConnectionSet:
        if other is ALL_CONNECTIONS or self is NO_CONNECTIONS or self == other:
            return self
        if self is ALL_CONNECTIONS or other is NO_CONNECTIONS:
            return other
        return _interned(tuple(_intersect(a, b) for a, b in zip(self.ranges, other.ranges, strict=True)))

    def __sub__(self, other: ConnectionSet) -> ConnectionSet:
        if other is NO_CONNECTIONS or self is NO_CONNECTIONS:
            return self
        return _interned(tuple(_subtract(a, b) for a, b in zip(self.ranges, other.ranges, strict=True)))

    def __bool__(self) -> bool:
        return any(self.ranges)

    @property
    def is_all(self) -> bool:
        return all(r == _FULL for r in self.ranges)

    def allows(self, protocol: str, port: int) -> bool:
        if protocol not in PROTOCOLS:
            return False
        return any(lo <= port <= hi for lo, hi in self.ranges[PROTOCOLS.index(protocol)])

    def items(self) -> Iterator[tuple[str, Intervals]]:
        """(protocol, intervals) for each protocol with something allowed."""
        for protocol, intervals in zip(PROTOCOLS, self.ranges, strict=True):
            if intervals:
                yield protocol, intervals

    def to_dict(self) -> dict[str, list[list[int]]]:
        return {protocol: [[lo, hi] for lo, hi in intervals] for protocol, intervals in self.items()}

    def __str__(self) -> str:
        if self.is_all:
            return "All Connections"
        if not self:
            return "No Connections"
        parts = [
            f"{protocol} " + ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in intervals)
            for protocol, intervals in self.items()
        ]
        return ",".join(sorted(parts))


NO_CONNECTIONS = ConnectionSet()
ALL_CONNECTIONS = ConnectionSet((_FULL, _FULL, _FULL))
_INTERN: dict[tuple[Intervals, ...], ConnectionSet] = {}


def _interned(ranges: tuple[Intervals, ...]) -> ConnectionSet:
    """One object per value, so the identity fast paths above hit and sets stay cheap to compare."""
    found = _INTERN.get(ranges)
    if found is None:
        found = ConnectionSet(ranges)  # type: ignore[arg-type]
        if len(_INTERN) < 100_000:
            _INTERN[ranges] = found
    return found


_INTERN[NO_CONNECTIONS.ranges] = NO_CONNECTIONS
_INTERN[ALL_CONNECTIONS.ranges] = ALL_CONNECTIONS
