"""Output: netpol-analyzer's connlist and diff formats, and the explanations of every pair."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from .connections import NO_CONNECTIONS, ConnectionSet
from .evaluate import Analysis
from .focus import Focus
from .match import _cut_points
from .peers import INGRESS_CONTROLLER, EntityPeer, ExternalPeer, FqdnPeer, Peer, WorkloadPeer


def format_connlist(analysis: Analysis, focus: Focus | None = None) -> str:
    """netpol-analyzer's txt format: `src => dst : conns`, sorted by source then destination text; with a focus
    connection, a header naming it and the pairs that allow it."""
    focus = focus or Focus()
    lines = sorted(
        (str(src), str(dst), str(conns))
        for (src, dst), conns in analysis.connections.items()
        if focus.keeps(src, dst, conns)
    )
    if focus.conn is not None:
        return "\n".join([f"Permitted connections on {focus.conn}:", *(f"{src} => {dst}" for src, dst, _ in lines)])
    return "\n".join(f"{src} => {dst} : {conns}" for src, dst, conns in lines)


def format_explanations(analysis: Analysis) -> str:
    """An explanation for every pair where a policy has a say; pairs open by default are summarised."""
    u = analysis.universe
    workloads: list[Peer] = list(analysis._workload_peers.values())
    entities: list[Peer] = [u.peers[i] for i in u.entities.values()]  # type: ignore[misc]
    sources = workloads + [p for found in u.src_atoms.values() for p, _ in found] + entities
    targets = workloads + [p for found in u.dst_atoms.values() for p, _ in found] + entities
    targets += [u.peers[i] for i in u.fqdns.values()]  # type: ignore[misc]
    blocks: list[str] = []
    default_open: list[str] = []
    for src in sorted(sources, key=str):
        for dst in sorted(targets, key=str):
            if src == dst or not (isinstance(src, WorkloadPeer) or isinstance(dst, WorkloadPeer)):
                continue
            explanation = analysis.explain(src, dst)
            sides = [s for s in (explanation.egress, explanation.ingress) if s is not None]
            if all(not s.selecting and not s.always for s in sides):
                default_open.append(f"{src} => {dst}")
            else:
                blocks.append(str(explanation))
    if default_open:
        blocks.append(
            "Allowed by the system default (Allow all), no policy selects the pods at either end:\n"
            + "\n".join(default_open)
        )
    return "\n\n".join(blocks)


@dataclasses.dataclass(frozen=True)
class DiffEntry:
    kind: str  # "changed", "added" or "removed"
    src: str
    dst: str
    ref1: ConnectionSet
    ref2: ConnectionSet
    info: str = ""  # e.g. "workload ns/x[Deployment] added"

    def __str__(self) -> str:
        return self.text()

    def text(self, names: tuple[str, str] = ("ref1", "ref2")) -> str:
        """netpol-analyzer's txt line; `names` label the two inputs (its library: ref1/ref2, its CLI: dir1/dir2)."""
        text = (
            f"diff-type: {self.kind}, source: {self.src}, destination: {self.dst}, "
            f"{names[0]}: {self.ref1}, {names[1]}: {self.ref2}"
        )
        return f"{text}, workloads-diff-info: {self.info}" if self.info else text


def _external_lookup(analysis: Analysis, direction: str) -> Callable[[ExternalPeer], ExternalPeer | None]:
    def find(piece: ExternalPeer) -> ExternalPeer | None:
        index = analysis.universe.atom_index(direction, piece.version, piece.first)
        return None if index is None else analysis.universe.peers[index]  # type: ignore[return-value]

    return find


def _joint_atoms(a: Analysis, b: Analysis, direction: str) -> list[ExternalPeer]:
    """The common refinement of both analyses' intervals, so that both can be compared piece by piece."""
    atoms: list[ExternalPeer] = []
    for analysis in (a, b):
        atoms.extend(p for pieces in analysis.external_ranges(direction == "Ingress").values() for p in pieces)
    blocks = [(atom,) for atom in atoms]  # each atom a block of one interval
    return [p for pieces in _cut_points(blocks).values() for p in pieces]


def diff(a: Analysis, b: Analysis) -> list[DiffEntry]:
    """Connections added, removed or changed from `a` (ref1) to `b` (ref2)."""
    workloads_a = {str(p): p for p in a._workload_peers.values()}
    workloads_b = {str(p): p for p in b._workload_peers.values()}
    names = sorted(set(workloads_a) | set(workloads_b))
    entries: list[DiffEntry] = []

    def add(src: str, dst: str, ref1: ConnectionSet, ref2: ConnectionSet) -> None:
        if ref1 == ref2:
            return
        kind = "added" if not ref1 else "removed" if not ref2 else "changed"
        info = [
            f"workload {name} {'added' if name not in workloads_a else 'removed'}"
            for name in (src, dst)
            if name in workloads_a.keys() ^ workloads_b.keys()
        ]
        entries.append(DiffEntry(kind, src, dst, ref1, ref2, ", ".join(info)))

    def conns(analysis: Analysis, peers: Mapping[str, WorkloadPeer], src: Any, dst: Any) -> ConnectionSet:
        if src is None or dst is None:
            return NO_CONNECTIONS
        return analysis.connection(src, dst)

    for src in names:
        for dst in names:
            if src != dst:
                ref1 = conns(a, workloads_a, workloads_a.get(src), workloads_a.get(dst))
                ref2 = conns(b, workloads_b, workloads_b.get(src), workloads_b.get(dst))
                add(src, dst, ref1, ref2)
    find_a_src, find_b_src = _external_lookup(a, "Ingress"), _external_lookup(b, "Ingress")
    find_a_dst, find_b_dst = _external_lookup(a, "Egress"), _external_lookup(b, "Egress")
    for piece in _joint_atoms(a, b, "Ingress"):
        for name in names:
            ref1 = conns(a, workloads_a, find_a_src(piece), workloads_a.get(name))
            ref2 = conns(b, workloads_b, find_b_src(piece), workloads_b.get(name))
            add(str(piece), name, ref1, ref2)
    for piece in _joint_atoms(a, b, "Egress"):
        for name in names:
            ref1 = conns(a, workloads_a, workloads_a.get(name), find_a_dst(piece))
            ref2 = conns(b, workloads_b, workloads_b.get(name), find_b_dst(piece))
            add(name, str(piece), ref1, ref2)
    others_a = {str(p): p for p in a.universe.peers if isinstance(p, EntityPeer | FqdnPeer)}
    others_b = {str(p): p for p in b.universe.peers if isinstance(p, EntityPeer | FqdnPeer)}
    for other in sorted(set(others_a) | set(others_b)):
        for name in names:
            for forward in (True, False):
                if forward and other.endswith("[FQDN]"):
                    continue
                pa, pb = others_a.get(other), others_b.get(other)
                wa, wb = workloads_a.get(name), workloads_b.get(name)
                if forward:
                    add(other, name, conns(a, workloads_a, pa, wa), conns(b, workloads_b, pb, wb))
                else:
                    add(name, other, conns(a, workloads_a, wa, pa), conns(b, workloads_b, wb, pb))
    order = {"changed": 0, "added": 1, "removed": 2}
    # The ingress controller's connections come after all the others, as a group of their own (netpol-analyzer
    # lists them separately).
    result = sorted(entries, key=lambda e: (order[e.kind], e.src, e.dst))
    before = len(entries)
    controller = str(INGRESS_CONTROLLER)
    for name in names:
        wa, wb = workloads_a.get(name), workloads_b.get(name)
        ref1 = a.connection(INGRESS_CONTROLLER, wa) if wa else NO_CONNECTIONS
        ref2 = b.connection(INGRESS_CONTROLLER, wb) if wb else NO_CONNECTIONS
        add(controller, name, ref1, ref2)
    return result + sorted(entries[before:], key=lambda e: (order[e.kind], e.src, e.dst))


def format_diff(entries: list[DiffEntry], names: tuple[str, str] = ("ref1", "ref2")) -> str:
    if not entries:
        return "No connections diff"
    return "Connectivity diff:\n" + "\n".join(entry.text(names) for entry in entries)
