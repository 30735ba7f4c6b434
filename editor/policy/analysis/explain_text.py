"""netpol-analyzer's `--explain` output: for every pair, which policies and rules allow or deny which connections.

The connection space of a pair is cut into the pieces on which every reason is the same; pieces with the same
verdict and the same reasons are printed together, allowed ones first (pkg/explanation in np-guard/
netpol-analyzer). Each side (the source's egress, the destination's ingress) is either open by the system
default (no policy selects the pod) or decided by its selecting policies: the rules that admit the other end on
these ports, or, when none does, why each selecting policy does not. Pairs that no policy has a say in are listed
at the end, under "All Connections due to the system default (Allow all)".
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterator
from itertools import repeat

from ..gcpause import paused_gc
from .connections import MAX_PORT, MIN_PORT, PROTOCOLS, ConnectionSet
from .evaluate import Analysis, _bit_indices
from .explain import DirectionExplanation, RuleMatch
from .focus import Focus
from .ingress import admits_controller
from .parse import PolicyRef, _Policy, _Rule
from .peers import INGRESS_CONTROLLER, Peer, WorkloadPeer

_RULER = "-" * 160
_DEFAULT = "due to the system default (Allow all)"
_LINES_AT_ONCE = 1024  # pairs of the last part ("due to the system default") written at a time
Atom = tuple[str, int, int]  # protocol, first port, last port
Reasons = tuple[bool, str, tuple[str, ...]]  # allowed?, side header, reason lines


def conns_text(conns: ConnectionSet) -> str:
    """`TCP, UDP, SCTP`, `TCP:[9080]`, `TCP:[1-79,81-65535], UDP`: the explain output's connection sets."""
    parts = []
    for protocol, intervals in conns.items():
        if intervals == ((MIN_PORT, MAX_PORT),):
            parts.append(protocol)
        else:
            parts.append(f"{protocol}:[{','.join(str(lo) if lo == hi else f'{lo}-{hi}' for lo, hi in intervals)}]")
    return ", ".join(parts)


def _banner(text: str) -> list[str]:
    line = f"# {text} #"
    return ["#" * len(line), line, "#" * len(line)]


def _atoms(sets: list[ConnectionSet], within: ConnectionSet) -> list[Atom]:
    """The pieces of `within` on which each of `sets` is either all in or all out."""
    return [atom for atom, _ in _signed_atoms(sets, within)]


def _signed_atoms(sets: list[ConnectionSet], within: ConnectionSet) -> list[tuple[Atom, int]]:
    """`_atoms`, each with the sets that hold it (bit j for sets[j]): one sweep over the interval ends, each
    end toggling its set's bit."""
    atoms: list[tuple[Atom, int]] = []
    inside = 1 << len(sets)  # the bit of `within`
    for index, protocol in enumerate(PROTOCOLS):
        toggles = {MIN_PORT: 0, MAX_PORT + 1: 0}
        for bit, conns in enumerate((*sets, within)):
            for lo, hi in conns.ranges[index]:
                toggles[lo] = toggles.get(lo, 0) ^ 1 << bit
                toggles[hi + 1] = toggles.get(hi + 1, 0) ^ 1 << bit
        held = 0
        for lo, nxt in itertools.pairwise(sorted(toggles)):
            held ^= toggles[lo]
            if held & inside:
                atoms.append(((protocol, lo, nxt - 1), held & ~inside))
    return atoms


AdminMatch = tuple[PolicyRef, str, str, str, ConnectionSet]  # policy, action, rule name, direction, what it decided
_VERBS = {"Allow": "allows", "Deny": "denies", "Pass": "passes"}
_TIERS = {"AdminNetworkPolicy": "Admin", "BaselineAdminNetworkPolicy": "Baseline"}


def _tier(ref: PolicyRef) -> str:
    """Admin or Baseline: the kind's tier (v1alpha1), or a ClusterNetworkPolicy's own (platform.connlist.TierRef)."""
    return str(getattr(ref, "tier", None) or _TIERS.get(ref.kind, ""))


def _side(
    side: DirectionExplanation | None, atom: Atom, default_label: str, admin: tuple[AdminMatch, ...] = ()
) -> Reasons:
    """One side's verdict and reasons at one port: the admin rule that decided it (a Pass goes on), then the
    NetworkPolicies if one selects the pod, else the baseline rule, else the system default."""
    if admin:
        return _admin_side(side, atom, default_label, admin)
    return _policy_side(side, atom, default_label)


def _admin_side(side: DirectionExplanation | None, atom: Atom, label: str, admin: tuple[AdminMatch, ...]) -> Reasons:
    protocol, port, _ = atom
    passed: tuple[str, ...] = ()
    for ref, action, name, direction, conns in admin:
        if _tier(ref) != "Admin" or not conns.allows(protocol, port):
            continue
        line = f"{ref} {_VERBS[action]} connections by {direction} rule {name}"
        if action == "Pass":
            passed = (line,)
            break
        return action == "Allow", f"{label} ({'Allowed' if action == 'Allow' else 'Denied'})", (line,)
    if side is not None and (side.selecting or side.always):
        verdict, header, lines = _policy_side(side, atom, label)
        return verdict, header, passed + lines
    for ref, action, name, direction, conns in admin:
        if _tier(ref) == "Baseline" and conns.allows(protocol, port):
            line = f"{ref} {_VERBS[action]} connections by {direction} rule {name}"
            return action == "Allow", f"{label} ({'Allowed' if action == 'Allow' else 'Denied'})", (*passed, line)
    if passed:  # passed on, and neither a NetworkPolicy nor the baseline says anything
        return True, f"{label} (Allowed)", (*passed, "the system default (Allow all)")
    return True, f"{label} (Allowed) {_DEFAULT}", ()


def _policy_side(side: DirectionExplanation | None, atom: Atom, default_label: str) -> Reasons:
    protocol, port, _ = atom
    return side_reasons(
        side, default_label, lambda m: m.connections.allows(protocol, port), lambda s: s.allowed.allows(protocol, port)
    )


def side_reasons(
    side: DirectionExplanation | None,
    default_label: str,
    covers: Callable[[RuleMatch], bool],
    allowed: Callable[[DirectionExplanation], bool],
) -> Reasons:
    """One side's verdict and reasons for one connection: `covers` tells whether a matching rule's ports take
    it in, `allowed` whether the side lets it through."""
    if side is None or (not side.selecting and not side.always):
        return True, f"{default_label} (Allowed) {_DEFAULT}", ()
    label = side.direction
    if side.always:
        return True, f"{label} (Allowed) {_DEFAULT}", ()
    allowing = [m for m in side.matches if not m.deny and covers(m)]
    if allowed(side):
        lines = tuple(f"{m.policy} allows connections by {m.rule}" for m in allowing)
        return True, f"{label} (Allowed)", lines
    denying = [m for m in side.matches if m.deny and covers(m)]
    if denying:
        # Cilium: a deny rule wins over every allow rule (SEMANTICS.md section 4)
        denied = [f"{m.policy} denies connections by {m.rule}" for m in denying]
        denied += [f"{m.policy} allows connections by {m.rule}, but the deny rule wins" for m in allowing]
        return False, f"{label} (Denied)", tuple(denied)
    lines_list = []
    for policy in side.isolating:
        rules = [m for m in side.matches if m.policy == policy and not m.deny]
        if rules:
            lines_list += [
                f"{policy} selects {side.pod}, and {m.rule} selects {side.other}, but the protocols and ports do not "
                "match"
                for m in rules
            ]
        else:
            suffix = "" if policy in side.with_rules else " (no rules defined)"
            lines_list.append(
                f"{policy} selects {side.pod}, but {side.other} is not allowed by any {label} rule{suffix}"
            )
    return False, f"{label} (Denied)", tuple(lines_list)


def _controller_side(analysis: Analysis, dst: WorkloadPeer, atom: Atom) -> Reasons:
    """The ingress side of `{ingress-controller} => dst`: the Ingress/Route objects, then the pod's policies."""
    protocol, port, _ = atom
    routes = analysis.exposed_by.get(dst, [])
    routed = [r for r in routes if r.connections.allows(protocol, port)]
    cls = analysis.universe.workload_classes[(dst.namespace, dst.kind, dst.name)][0]
    lines: list[str] = []
    policy_allows = not analysis.ingress.isolated[cls]
    policy_lines: list[str] = []
    for policy in analysis.policies:
        if not (policy.subjects >> cls & 1 and policy.ingress.applies):
            continue
        rules = [r for r in policy.ingress.rules if admits_controller(r)]
        allowing = [r for r in rules if analysis._ports(r, cls)[0].allows(protocol, port)]
        if allowing:
            policy_allows = True
            policy_lines += [f"{policy.ref} allows connections by Ingress rule #{r.index}" for r in allowing]
        elif rules:
            policy_lines += [
                f"{policy.ref} selects {dst}, and Ingress rule #{r.index} selects {INGRESS_CONTROLLER}, but the "
                "protocols and ports do not match"
                for r in rules
            ]
        elif policy.ingress.isolates:
            suffix = "" if any(not r.deny for r in policy.ingress.rules) else " (no rules defined)"
            policy_lines.append(
                f"{policy.ref} selects {dst}, but {INGRESS_CONTROLLER} is not allowed by any Ingress rule{suffix}"
            )
    if routed and policy_allows:
        lines = [f"{r.ref} allows ingress connections through service {r.service}" for r in routed]
        lines += [line for line in policy_lines if " allows connections by " in line]
        return True, "Ingress (Allowed)", tuple(sorted(lines))
    lines = [
        f"{r.ref} allows ingress to service {r.service}, but the protocols and ports do not match"
        for r in routes
        if r not in routed
    ]
    if not policy_allows:
        lines += policy_lines
    return False, "Ingress (Denied)", tuple(sorted(lines))


def _groups(
    atoms: list[Atom], reasons: Iterator[tuple[Reasons, Reasons]]
) -> list[tuple[bool, ConnectionSet, Reasons, Reasons]]:
    grouped: dict[tuple[Reasons, Reasons], ConnectionSet] = {}
    for (protocol, lo, hi), (egress, ingress) in zip(atoms, reasons, strict=True):
        key = (egress, ingress)
        grouped[key] = grouped.get(key, ConnectionSet()) | ConnectionSet.of([protocol], lo, hi)
    return [(e[0] and i[0], conns, e, i) for (e, i), conns in grouped.items()]


_Group = tuple[bool, ConnectionSet, int, int, bool]  # allowed?, connections, egress piece, ingress piece, default?
_Op = str | int  # a line, or a side's reasons: egress piece k as k, ingress piece k as ~k
_TITLES = ((True, "Allowed connections:", "Allowed"), (False, "Denied connections:", "Denied"))


def _layout(groups: list[_Group], only: str | None) -> list[_Op]:
    """The lines of a pair's block after its heading, allowed connections first, each group in port order;
    empty when `only` leaves nothing to show."""
    ops: list[_Op] = []
    for verdict, title, word in _TITLES:
        if only == ("deny" if verdict else "allow"):
            continue
        chosen = sorted((g for g in groups if g[0] == verdict), key=lambda g: _first(g[1]))
        if not chosen:
            continue
        ops.append(title)
        for _, conns, egress, ingress, default in chosen:
            if verdict and default:
                ops += [f"\t{word} {conns_text(conns)} {_DEFAULT}", ""]
            else:
                ops += [f"\t{word} {conns_text(conns)} due to the following policies and rules:", egress, ~ingress, ""]
    return ops


def _render(ops: list[_Op], egress: tuple[str, ...], ingress: tuple[str, ...]) -> list[str]:
    return [op if isinstance(op, str) else egress[op] if op >= 0 else ingress[~op] for op in ops]


def _reasons_text(reasons: Reasons) -> str:
    """A side's header and reasons as printed under a group (tab-indented lines)."""
    return "\n".join([f"\t\t{reasons[1]}", *(f"\t\t\t{reason}" for reason in reasons[2])])


def _by_default(reasons: Reasons) -> bool:
    return not reasons[2] and _DEFAULT in reasons[1]


def _pair_block(
    groups: list[tuple[bool, ConnectionSet, Reasons, Reasons]], only: str | None, src: Peer, dst: Peer
) -> list[str]:
    egress, ingress = [g[2] for g in groups], [g[3] for g in groups]
    ops = _layout([(g[0], g[1], k, k, _by_default(g[2]) and _by_default(g[3])) for k, g in enumerate(groups)], only)
    if not ops:
        return []
    texts = tuple(map(_reasons_text, egress)), tuple(map(_reasons_text, ingress))
    lines = "\n".join(_render(ops, *texts)).split("\n")  # a side's reasons are several lines in one text
    return [_RULER, f"Connections between {src} => {dst}:", "", *lines]


def _first(conns: ConnectionSet) -> tuple[int, int]:
    for index, intervals in enumerate(conns.ranges):
        if intervals:
            return index, intervals[0][0]
    return len(PROTOCOLS), 0


class _Placeholder:
    """Stands for a peer's name in a cached text, replaced when the text is printed for a pair."""

    def __init__(self, mark: str) -> None:
        self.mark = mark

    def __str__(self) -> str:
        return self.mark


_SRC, _DST = _Placeholder("\x01"), _Placeholder("\x02")
_HEADING = f"Connections between {_SRC} => {_DST}:"
_SideKey = tuple[object, ...] | None
_Shape = tuple[tuple[ConnectionSet, bool, bool], ...]  # a side's pieces: connections, allowed?, by default?


class _Explainer:
    """The explain report at scale: a side's reasons depend only on the pod class, the direction and which of its
    selecting policies' rules match the other end (and, for named ports towards a pod, which container ports the
    pod has), so they are worked out once per such key, numbered, with placeholders for the names; a class's
    other ends are split by the rules matching them as bitsets. A side's
    connection space is cut once into pieces with the same reasons, each printed once; how two sides' pieces
    combine into a block depends only on their connections and verdicts (a few shapes), and each pair of sides
    is assembled from those texts once: 5,000 pods and their external ranges make hundreds of thousands of
    pairs."""

    def __init__(self, analysis: Analysis, within: ConnectionSet, only: str | None) -> None:
        self.analysis = analysis
        self.within = within
        self.only = only
        self.n_classes = len(analysis.universe.classes)
        self.host = analysis.universe.entities.get("host")
        self.selected: dict[str, list[list[_Policy]]] = {}
        self.port_sets: list[int] = []
        self.selecting: dict[tuple[str, int], tuple[list[_Policy], list[_Rule], int]] = {}
        self.sides: dict[_SideKey, DirectionExplanation | None] = {}
        self.admin: dict[_SideKey, tuple[AdminMatch, ...]] = {}
        self.ids: dict[tuple[_SideKey, str], int] = {}
        self.keys: list[tuple[_SideKey, str]] = []
        self.pieces: dict[int, tuple[int, tuple[str, ...]]] = {}  # side id -> its shape's id, its pieces' texts
        self.shapes: dict[_Shape, int] = {}
        self.shape_list: list[_Shape] = []
        self.layouts: dict[tuple[int, int], tuple[str, Callable[[tuple[str, ...]], tuple[str, ...]]]] = {}
        self.blocks: dict[tuple[int, int], str] = {}

    def _selecting(self, direction: str, cls: int) -> tuple[list[_Policy], list[_Rule], int]:
        """The policies selecting `cls` for `direction`, their rules in order, and which of the rules have named
        ports (bit j for rules[j])."""
        found = self.selecting.get((direction, cls))
        if found is None:
            policies = self._selected(direction)[cls]
            rules = [rule for policy in policies for rule in getattr(policy, direction.lower()).rules]
            named = 0
            for j, rule in enumerate(rules):
                if direction == "Egress" and any(isinstance(e.port, str) for e in rule.ports or ()):
                    named |= 1 << j
            found = self.selecting[(direction, cls)] = (policies, rules, named)
        return found

    def _key(self, direction: str, cls: int, other: int) -> tuple[object, ...]:
        """A side's key: the class, the direction and which of its selecting policies' rules match the other end
        (bit j for rule j), with, for named ports towards a pod, which container ports the pod has (all the
        side takes from it: what the names resolve to)."""
        _, rules, named = self._selecting(direction, cls)
        matching = sum(1 << j for j, rule in enumerate(rules) if rule.bits >> other & 1)
        return (direction, cls, matching, self._ports_of(other) if matching & named and other < self.n_classes else -1)

    def _ports_of(self, cls: int) -> int:
        """A number for the container ports of class `cls`, the same for classes with the same ports."""
        if not self.port_sets:
            numbers: dict[object, int] = {}
            self.port_sets = [numbers.setdefault(c.pod.ports, len(numbers)) for c in self.analysis.universe.classes]
        return self.port_sets[cls]

    def _selected(self, direction: str) -> list[list[_Policy]]:
        """The policies selecting each pod class for `direction`, in the analysis' order."""
        found = self.selected.get(direction)
        if found is None:
            found = self.selected[direction] = [[] for _ in range(self.n_classes)]
            for policy in self.analysis.policies:
                if getattr(policy, direction.lower()).applies:
                    for cls in _bit_indices(policy.subjects):
                        found[cls].append(policy)
        return found

    def side_key(self, direction: str, cls: int, other: int) -> _SideKey:
        if direction == "Ingress" and other == self.host:
            return ("always",)
        selecting, _, _ = self._selecting(direction, cls)
        admin: tuple[AdminMatch, ...] = ()
        if self.analysis.admin_policies:
            state = self.analysis.ingress if direction == "Ingress" else self.analysis.egress
            decision = state.decide(cls, other)  # type: ignore[union-attr]
            admin = tuple((a.ref, r.action, r.name, r.rule.label, c) for a, r, c in decision.matches)
        if not selecting and not admin:
            return None
        key = self._key(direction, cls, other)
        if admin:
            key = (*key, admin)
            self.admin[key] = admin
        if key not in self.sides:
            pod, peer = (_SRC, _DST) if direction == "Egress" else (_DST, _SRC)
            self.sides[key] = self.analysis._explain_side(
                direction,
                cls,
                other,
                pod,  # type: ignore[arg-type]
                peer,  # type: ignore[arg-type]
                other < self.n_classes,
                other_index=other,
                selecting=selecting,
            )
        return key

    def side_id(self, direction: str, cls: int | None, other: int) -> int:
        """The number of the side `cls` (None: not a pod) shows `other` in `direction`."""
        entry = (self.side_key(direction, cls, other) if cls is not None else None), direction
        found = self.ids.get(entry)
        if found is None:
            found = self.ids[entry] = len(self.keys)
            self.keys.append(entry)
        return found

    def row(self, direction: str, cls: int, others: list[int], positions: dict[int, list[int]]) -> list[int]:
        """`side_id` of `cls` towards each of `others` (`positions`: where each of them is in `others`), looking
        at each distinct side once: the other ends are split by which rules match them, as bitsets."""
        if self.analysis.admin_policies:  # an admin rule decides per pair of classes
            return [self.side_id(direction, cls, other) for other in others]
        _, rules, named = self._selecting(direction, cls)
        parts: dict[int, int] = {}  # rules matching (bit j for rule j) -> the other ends they match
        covered = 0
        for j, rule in enumerate(rules):
            for matching, bits in list(parts.items()):
                inside = bits & rule.bits
                if inside:
                    parts[matching | 1 << j] = inside
                    if inside == bits:
                        del parts[matching]
                    else:
                        parts[matching] = bits & ~rule.bits
            if rule.bits & ~covered:
                parts[1 << j] = rule.bits & ~covered
            covered |= rule.bits
        host = -1 if direction == "Egress" or self.host is None else self.host
        rest = next((other for other in positions if not covered >> other & 1 and other != host), None)
        row = [self.side_id(direction, cls, rest) if rest is not None else -1] * len(others)
        for matching, bits in parts.items():
            groups = [bits]
            if matching & named:  # towards pods, named ports resolve per pod: one side per set of container ports
                pods = bits & self.analysis.universe.class_bits
                by_ports: dict[int, int] = {}
                for other in _bit_indices(pods):
                    ports = self._ports_of(other)
                    by_ports[ports] = by_ports.get(ports, 0) | 1 << other
                groups = [bits & ~pods, *by_ports.values()]
            for group in groups:
                members = group & ~(1 << host) if host >= 0 else group
                if members:
                    found = self.side_id(direction, cls, (members & -members).bit_length() - 1)
                    for other in _bit_indices(members):
                        for position in positions.get(other, ()):
                            row[position] = found
        for position in positions.get(host, ()):
            row[position] = self.side_id(direction, cls, host)
        return row

    def _pieces(self, side_id: int) -> tuple[int, tuple[str, ...]]:
        """A side's connection space cut into the pieces with the same reasons: its shape and each piece's text."""
        found = self.pieces.get(side_id)
        if found is None:
            key, direction = self.keys[side_id]
            side = self.sides.get(key) if key is not None else None
            if key == ("always",):
                side = DirectionExplanation(
                    "Ingress",
                    _DST,  # type: ignore[arg-type]  # placeholders for the names, as in the cached sides above
                    _SRC,  # type: ignore[arg-type]
                    ConnectionSet.of(PROTOCOLS),
                    False,
                    (),
                    (),
                    (),
                    always="own node",
                )
            sets = [m.connections for m in side.matches] + [side.allowed] if side is not None else []
            admin = self.admin.get(key, ())
            sets += [match[-1] for match in admin]
            # the reasons at a port depend only on which of `sets` hold it: worked out once per such signature
            signed: dict[int, Reasons] = {}
            grouped: dict[Reasons, list[Atom]] = {}
            for atom, signature in _signed_atoms(sets, self.within):
                reasons = signed.get(signature)
                if reasons is None:
                    reasons = signed[signature] = _side(side, atom, direction, admin)
                grouped.setdefault(reasons, []).append(atom)
            shape = tuple(
                (ConnectionSet.of_pieces(atoms), reasons[0], _by_default(reasons)) for reasons, atoms in grouped.items()
            )
            if shape not in self.shapes:
                self.shapes[shape] = len(self.shape_list)
                self.shape_list.append(shape)
            found = self.shapes[shape], tuple(map(_reasons_text, grouped))
            self.pieces[side_id] = found
        return found

    def _layout(self, egress: int, ingress: int) -> tuple[str, Callable[[tuple[str, ...]], tuple[str, ...]]]:
        """How sides of these two shapes make a block: a %-format of the block (after a newline, placeholders for
        the names; empty when it shows nothing) and what picks the pieces' texts that fill it from the egress
        side's then the ingress side's."""
        groups: list[_Group] = []
        for e, (e_conns, e_allowed, e_default) in enumerate(self.shape_list[egress]):
            for i, (i_conns, i_allowed, i_default) in enumerate(self.shape_list[ingress]):
                conns = e_conns & i_conns
                if conns:
                    groups.append((e_allowed and i_allowed, conns, e, i, e_default and i_default))
        ops = _layout(groups, self.only)
        n_egress = len(self.shape_list[egress])
        lines = [op.replace("%", "%%") if isinstance(op, str) else "%s" for op in ops]
        refs = [(op if op >= 0 else n_egress + ~op) for op in ops if isinstance(op, int)]
        pick = operator.itemgetter(*refs) if len(refs) > 1 else lambda texts: tuple(texts[r] for r in refs)
        found = ("\n".join(["", _RULER, _HEADING, "", *lines]) if ops else "", pick)
        self.layouts[(egress, ingress)] = found
        return found

    def block(self, egress: int, ingress: int) -> str:
        """The block of a pair whose sides are numbered `egress` and `ingress`, after a newline, with placeholders
        for the names (empty when it shows nothing), kept for the pairs that share it."""
        key = (egress, ingress)
        if key not in self.blocks:
            self.blocks[key] = self.text(egress, ingress)
        return self.blocks[key]

    def text(self, egress: int, ingress: int) -> str:
        """`block`, not kept (two pods' sides make a block no other pair has)."""
        e_shape, e_texts = self.pieces.get(egress) or self._pieces(egress)
        i_shape, i_texts = self.pieces.get(ingress) or self._pieces(ingress)
        text, pick = self.layouts.get((e_shape, i_shape)) or self._layout(e_shape, i_shape)
        return text % pick(e_texts + i_texts)


class _Report:
    """The `--explain` report's pairs, source by source, each source's targets in order: for each source, a list
    of pieces that one join makes its part of the report of.

    A block that many pairs share has one peer's name put in once and is cut where the other's goes: a pod's
    egress to the peers outside the cluster depends on the pod (a source), their ingress to a pod on the pod (a
    target). A run of such pairs is then joined in one go, with no Python work per pair (5,000 pods and their
    address ranges make 264,000 pairs and 280 MB of text); pairs of two pods, focus and the pairs that no
    policy has a say in are done pair by pair."""

    def __init__(self, analysis: Analysis, focus: Focus, only: str | None) -> None:
        self.analysis = analysis
        self.focus = focus
        self.within = ConnectionSet.of([focus.conn.protocol], focus.conn.port, focus.conn.port) if focus.conn else None
        self.explainer = _Explainer(analysis, self.within or ConnectionSet.of(PROTOCOLS), only)
        workloads: list[Peer] = list(analysis._workload_peers.values())
        self.sources = sorted(
            ((str(p), p, analysis._index(p, "Ingress")) for p in workloads + analysis.external_sources()),
            key=lambda t: t[0],
        )
        self.targets = sorted(
            ((str(p), p, analysis._index(p, "Egress")) for p in workloads + analysis.external_destinations()),
            key=lambda t: t[0],
        )
        self.names = [name for name, _, _ in self.targets]
        self.position = {peer: t for t, (_, peer, _) in enumerate(self.targets)}
        self.not_egress = self.explainer.side_id("Egress", None, 0)
        self.not_ingress = self.explainer.side_id("Ingress", None, 0)
        self.others = {"Egress": [t[2] for t in self.targets], "Ingress": [s[2] for s in self.sources]}
        self.positions = {direction: _positions(indices) for direction, indices in self.others.items()}
        self.rows: dict[tuple[str, int], list[int]] = {}
        # the side numbers of every pair: a pod target's ingress from each source
        self.ingress_rows = [
            self.row("Ingress", index) if isinstance(dst, WorkloadPeer) else None for _, dst, index in self.targets
        ]
        self.by_target: list[dict[int, list[str]]] = [{} for _ in self.targets]
        self.out: list[str] = []
        self.default_open: list[str] = []

    def row(self, direction: str, cls: int) -> list[int]:
        """The side numbers of a pod class towards each target (Egress) or from each source (Ingress)."""
        if (direction, cls) not in self.rows:
            self.rows[(direction, cls)] = self.explainer.row(
                direction, cls, self.others[direction], self.positions[direction]
            )
        return self.rows[(direction, cls)]

    def _cut(self, egress: int, ingress: int, mark: str, name: str, cut: str) -> list[str]:
        """The block of these sides with `name` put in for `mark`, cut at `cut` ([""] when it shows nothing: it
        joins to an empty text, which adds nothing to the report)."""
        return self.explainer.block(egress, ingress).replace(mark, name).split(cut)

    def sources_out(self) -> Iterator[list[str]]:
        """Each source's pieces (`out`), in turn: the list is the report's until the next source starts."""
        runs = [(k, len(list(g))) for k, g in itertools.groupby(isinstance(t[1], WorkloadPeer) for t in self.targets)]
        segments, start = [], 0
        for pods, length in runs:
            segments.append((pods, start, start + length))
            start += length
        not_pod = [self.not_egress] * len(self.targets)
        for s, (src_text, src, src_index) in enumerate(self.sources):
            src_is_pod = isinstance(src, WorkloadPeer)
            egress_row = self.row("Egress", src_index) if src_is_pod else not_pod
            by_source: dict[int, list[str]] = {}
            for pods, first, stop in segments:
                if not (pods or src_is_pod):
                    continue  # neither end is a pod
                if not self.focus.active:
                    if pods and src_is_pod:
                        done = self._between_pods(s, egress_row, first, stop)
                    elif pods:
                        done = self._from_outside(src_text, s, first, stop)
                    else:
                        done = self._to_outside(src_text, egress_row, by_source, first, stop)
                    if done:
                        continue
                self._pairs(s, egress_row, by_source, first, stop)
            yield self.out
            self.out = []

    def _between_pods(self, s: int, egress_row: list[int], first: int, stop: int) -> bool:
        """The pairs of pod `s` with the pods first..stop (each pair's block is its own) in one go; False when
        some pair may have no policy at all (it is listed apart)."""
        egress = egress_row[first:stop]
        ingress = list(map(operator.itemgetter(s), self.ingress_rows[first:stop]))  # type: ignore[arg-type]
        if self.within is None and self.not_egress in egress and self.not_ingress in ingress:
            return False
        src_text, src, _ = self.sources[s]
        names = self.names[first:stop]
        own = self.position[src] - first
        if 0 <= own < len(names):  # not a pair
            del egress[own], ingress[own], names[own]
        texts = map(str.replace, map(self.explainer.text, egress, ingress), repeat("\x01"), repeat(src_text))
        self.out += map(str.replace, texts, repeat("\x02"), names)
        return True

    def _to_outside(
        self, src_text: str, row: list[int], by_source: dict[int, list[str]], first: int, stop: int
    ) -> bool:
        """A pod's pairs with the targets first..stop, none a pod, in one go; False when some pair has no policy
        at all (it is listed apart)."""
        ids = row[first:stop]
        if self.within is None and self.not_egress in ids:
            return False
        for egress in set(ids).difference(by_source):
            by_source[egress] = self._cut(egress, self.not_ingress, "\x01", src_text, "\x02")
        self.out += map(str.join, self.names[first:stop], map(by_source.__getitem__, ids))
        return True

    def _from_outside(self, src_text: str, s: int, first: int, stop: int) -> bool:
        """The pairs of source `s`, not a pod, with the pods first..stop, in one go; False when some pair has no
        policy at all (it is listed apart)."""
        ids = list(map(operator.itemgetter(s), self.ingress_rows[first:stop]))  # type: ignore[arg-type]
        if self.within is None and self.not_ingress in ids:
            return False
        by_target = self.by_target[first:stop]
        if None in map(dict.get, by_target, ids):
            for t, ingress in enumerate(ids, first):
                if ingress not in self.by_target[t]:
                    self.by_target[t][ingress] = self._cut(self.not_egress, ingress, "\x02", self.names[t], "\x01")
        self.out += map(src_text.join, map(dict.__getitem__, by_target, ids))
        return True

    def _pairs(self, s: int, egress_row: list[int], by_source: dict[int, list[str]], first: int, stop: int) -> None:
        """The pairs of source `s` with the targets first..stop, one by one."""
        src_text, src, _ = self.sources[s]
        src_is_pod = isinstance(src, WorkloadPeer)
        focused = self.focus.active
        for t in range(first, stop):
            dst_text, dst, _ = self.targets[t]
            ingress_row = self.ingress_rows[t]
            if src is dst or (ingress_row is None and not src_is_pod) or (focused and not self.focus.keeps(src, dst)):
                continue
            egress = egress_row[t]
            ingress = ingress_row[s] if ingress_row is not None else self.not_ingress
            if self.within is None and egress == self.not_egress and ingress == self.not_ingress:
                self.default_open.append(f"{src_text} => {dst_text}")
                continue
            if src_is_pod and ingress_row is not None:  # two pods: a block of their own
                self.out.append(
                    self.explainer.text(egress, ingress).replace("\x01", src_text).replace("\x02", dst_text)
                )
                continue
            if src_is_pod:
                if egress not in by_source:
                    by_source[egress] = self._cut(egress, ingress, "\x01", src_text, "\x02")
                self.out.append(dst_text.join(by_source[egress]))
            else:
                if ingress not in self.by_target[t]:
                    self.by_target[t][ingress] = self._cut(egress, ingress, "\x02", dst_text, "\x01")
                self.out.append(src_text.join(self.by_target[t][ingress]))


def format_explain(analysis: Analysis, focus: Focus | None = None, only: str | None = None) -> str:
    """The whole `--explain` report (`only`: "allow" or "deny" for `--explain-only`)."""
    return "".join(explain_chunks(analysis, focus, only))


def explain_chunks(analysis: Analysis, focus: Focus | None = None, only: str | None = None) -> Iterator[str]:
    """The `--explain` report in the order it is worked out, a source's pairs at a time: what `connlist --explain`
    writes as it goes, so that the first lines come after the analysis and no more than a source's part of the
    report (about 0.5 MB at 5,000 pods) is held at once. `"".join` of them is `format_explain`."""
    focus = focus or Focus()
    # what the report is made of (sides, blocks, the cut pieces shared by pairs) stays alive until the end, and the
    # collector would walk it again and again: see paused_gc (re-enabled when the chunks end or are dropped)
    with paused_gc():
        report = _Report(analysis, focus, only)
        shown = False  # the banner comes before the first block that shows something
        for out in itertools.chain(report.sources_out(), _controller_blocks(analysis, focus, only, report)):
            text = "".join(out)  # blocks that show nothing are empty texts
            if text and not shown:
                shown = True
                yield "\n".join(["", *_banner("Specific connections and their reasons")])
            if text:
                yield text
    if report.default_open and only != "deny":
        lines = report.default_open
        yield ("\n" if shown else "") + "\n".join(
            ["", *_banner("All Connections due to the system default (Allow all)")]
        )
        for start in range(0, len(lines), _LINES_AT_ONCE):
            yield "\n" + "\n".join(lines[start : start + _LINES_AT_ONCE])


def _controller_blocks(analysis: Analysis, focus: Focus, only: str | None, report: _Report) -> Iterator[list[str]]:
    """The pairs of the ingress controller with the workloads it exposes, a workload at a time."""
    for dst in sorted(analysis.exposed_by, key=str):
        if not focus.keeps(INGRESS_CONTROLLER, dst):
            continue
        sets = [r.connections for r in analysis.exposed_by[dst]] + [analysis.connection(INGRESS_CONTROLLER, dst)]
        cls = analysis.universe.workload_classes[(dst.namespace, dst.kind, dst.name)][0]
        sets += [analysis._ports(r, cls)[0] for p in analysis.policies for r in p.ingress.rules]
        atoms = _atoms(sets, report.explainer.within)
        controller_egress: Reasons = (True, f"Egress (Allowed) {_DEFAULT}", ())
        reasons = ((controller_egress, _controller_side(analysis, dst, a)) for a in atoms)
        yield ["\n" + line for line in _pair_block(_groups(atoms, reasons), only, INGRESS_CONTROLLER, dst)]


def _positions(indices: list[int]) -> dict[int, list[int]]:
    """Where each universe index is in `indices`."""
    found: dict[int, list[int]] = {}
    for position, index in enumerate(indices):
        found.setdefault(index, []).append(position)
    return found


def attribution(analysis: Analysis, src: Peer, dst: Peer, protocol: str, port: int) -> list[str]:
    """Why one connection (`protocol` `port` from `src` to `dst`) is allowed or denied, per direction, in the
    words of `--explain`: the policy and rule that allowed it, or the policies that isolate a side and that no
    rule of theirs admits it (or the deny rule that won)."""
    atom: Atom = (protocol, port, port)
    conns = ConnectionSet.of([protocol], port, port)
    if src == INGRESS_CONTROLLER and isinstance(dst, WorkloadPeer):
        egress: Reasons = (True, f"Egress (Allowed) {_DEFAULT}", ())
        ingress = _controller_side(analysis, dst, atom)
    else:
        explainer = _Explainer(analysis, conns, None)
        src_index, dst_index = analysis._index(src, "Ingress"), analysis._index(dst, "Egress")
        keys = (
            explainer.side_key("Egress", src_index, dst_index) if isinstance(src, WorkloadPeer) else None,
            explainer.side_key("Ingress", dst_index, src_index) if isinstance(dst, WorkloadPeer) else None,
        )
        egress, ingress = (
            _named(
                _side(explainer.sides.get(key) if key else None, atom, label, explainer.admin.get(key, ())), src, dst
            )
            for key, label in zip(keys, ("Egress", "Ingress"), strict=True)
        )
    return attribution_lines(conns_text(conns), egress, ingress)


def attribution_lines(what: str, egress: Reasons, ingress: Reasons) -> list[str]:
    """One connection's verdict (`what` names it) and each side's reasons, as `attribution` words them."""
    word = "Allowed" if egress[0] and ingress[0] else "Denied"
    if word == "Allowed" and _by_default(egress) and _by_default(ingress):
        return [f"{word} {what} {_DEFAULT}"]
    lines = [f"{word} {what} due to the following policies and rules:"]
    for header, reasons in ((egress[1], egress[2]), (ingress[1], ingress[2])):
        lines.append(f"\t{header}")
        lines += [f"\t\t{reason}" for reason in reasons]
    return lines


def _named(reasons: Reasons, src: Peer, dst: Peer) -> Reasons:
    """Reasons worked out with placeholders, with the peers' names put in."""
    verdict, header, lines = reasons
    return verdict, header, tuple(line.replace("\x01", str(src)).replace("\x02", str(dst)) for line in lines)


def explain_pair(analysis: Analysis, src: Peer, dst: Peer) -> list[str]:
    """The `--explain` block of one pair, from "Connections between ..." on: what is allowed and denied, and why."""
    explainer = _Explainer(analysis, ConnectionSet.of(PROTOCOLS), None)
    if src == INGRESS_CONTROLLER and isinstance(dst, WorkloadPeer):
        cls = analysis.universe.workload_classes[(dst.namespace, dst.kind, dst.name)][0]
        sets = [r.connections for r in analysis.exposed_by.get(dst, [])]
        sets += [analysis._ports(r, cls)[0] for p in analysis.policies for r in p.ingress.rules]
        atoms = _atoms(sets, explainer.within)
        controller_egress: Reasons = (True, f"Egress (Allowed) {_DEFAULT}", ())
        reasons = ((controller_egress, _controller_side(analysis, dst, a)) for a in atoms)
        return _pair_block(_groups(atoms, reasons), None, src, dst)[1:]
    src_index, dst_index = analysis._index(src, "Ingress"), analysis._index(dst, "Egress")
    egress = explainer.side_id("Egress", src_index if isinstance(src, WorkloadPeer) else None, dst_index)
    ingress = explainer.side_id("Ingress", dst_index if isinstance(dst, WorkloadPeer) else None, src_index)
    text = explainer.block(egress, ingress)
    return text.replace("\x01", str(src)).replace("\x02", str(dst)).splitlines()[2:]  # from after the ruler
