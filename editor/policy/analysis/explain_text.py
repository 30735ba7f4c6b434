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
from collections.abc import Iterator

from .connections import MAX_PORT, MIN_PORT, PROTOCOLS, ConnectionSet
from .evaluate import Analysis, _bit_indices
from .explain import DirectionExplanation
from .focus import Focus
from .ingress import admits_controller
from .parse import PolicyRef, _Policy, _Rule
from .peers import INGRESS_CONTROLLER, Peer, WorkloadPeer

_RULER = "-" * 160
_DEFAULT = "due to the system default (Allow all)"
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
    atoms: list[Atom] = []
    for index, protocol in enumerate(PROTOCOLS):
        cuts = {MIN_PORT, MAX_PORT + 1}
        for conns in (*sets, within):
            for lo, hi in conns.ranges[index]:
                cuts.update((lo, hi + 1))
        points = sorted(cuts)
        for lo, nxt in itertools.pairwise(points):
            if within.allows(protocol, lo):
                atoms.append((protocol, lo, nxt - 1))
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
    if side is None or (not side.selecting and not side.always):
        return True, f"{default_label} (Allowed) {_DEFAULT}", ()
    label = side.direction
    if side.always:
        return True, f"{label} (Allowed) {_DEFAULT}", ()
    allowing = [m for m in side.matches if not m.deny and m.connections.allows(protocol, port)]
    if side.allowed.allows(protocol, port):
        lines = tuple(f"{m.policy} allows connections by {m.rule}" for m in allowing)
        return True, f"{label} (Allowed)", lines
    denying = [m for m in side.matches if m.deny and m.connections.allows(protocol, port)]
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


def _pair_block(
    groups: list[tuple[bool, ConnectionSet, Reasons, Reasons]], only: str | None, src: Peer, dst: Peer
) -> list[str]:
    lines = [_RULER, f"Connections between {src} => {dst}:", ""]
    shown = False
    for verdict, title, word in ((True, "Allowed connections:", "Allowed"), (False, "Denied connections:", "Denied")):
        if only == ("deny" if verdict else "allow"):
            continue
        chosen = sorted((g for g in groups if g[0] == verdict), key=lambda g: _first(g[1]))
        if not chosen:
            continue
        shown = True
        lines.append(title)
        for _, conns, egress, ingress in chosen:
            if verdict and not egress[2] and not ingress[2] and _DEFAULT in egress[1] and _DEFAULT in ingress[1]:
                lines += [f"\t{word} {conns_text(conns)} {_DEFAULT}", ""]
                continue
            lines.append(f"\t{word} {conns_text(conns)} due to the following policies and rules:")
            for header, reasons in ((egress[1], egress[2]), (ingress[1], ingress[2])):
                lines.append(f"\t\t{header}")
                lines += [f"\t\t\t{reason}" for reason in reasons]
            lines.append("")
    return lines if shown else []


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
_SideKey = tuple[object, ...] | None


class _Explainer:
    """The explain report at scale: a side's reasons depend only on the pod class, the direction and which of its
    selecting policies' rules match the other end (and, for named ports towards a pod, that pod's class), so
    they are worked out once per such key, with placeholders for the names, and each pair's block once per pair
    of side keys; 5,000 pods and their external ranges make hundreds of thousands of pairs."""

    def __init__(self, analysis: Analysis, within: ConnectionSet, only: str | None) -> None:
        self.analysis = analysis
        self.within = within
        self.only = only
        self.n_classes = len(analysis.universe.classes)
        self.host = analysis.universe.entities.get("host")
        self.selecting: dict[tuple[str, int], tuple[list[_Policy], dict[int, _SideKey], _SideKey]] = {}
        self.sides: dict[_SideKey, DirectionExplanation | None] = {}
        self.blocks: dict[tuple[_SideKey, _SideKey], str | None] = {}
        self.partitions: dict[tuple[_SideKey, str], list[tuple[ConnectionSet, Reasons]]] = {}
        self.admin: dict[_SideKey, tuple[AdminMatch, ...]] = {}

    def _selecting(self, direction: str, cls: int) -> tuple[list[_Policy], dict[int, _SideKey], _SideKey]:
        """The policies selecting `cls` for `direction`, the side key of each other end some rule of theirs
        matches, and the key of every other end (none of their rules matches it)."""
        found = self.selecting.get((direction, cls))
        if found is None:
            policies = [
                p for p in self.analysis.policies if p.subjects >> cls & 1 and getattr(p, direction.lower()).applies
            ]
            matched: dict[int, list[_Rule]] = {}
            for policy in policies:
                for rule in getattr(policy, direction.lower()).rules:
                    for other in _bit_indices(rule.bits):
                        matched.setdefault(other, []).append(rule)
            keys: dict[int, _SideKey] = {}
            for other, rules in matched.items():
                named = (
                    direction == "Egress"
                    and other < self.n_classes
                    and any(isinstance(e.port, str) for rule in rules for e in rule.ports or ())
                )
                keys[other] = (direction, cls, tuple(id(r) for r in rules), other if named else None)
            found = (policies, keys, (direction, cls, (), None))
            self.selecting[(direction, cls)] = found
        return found

    def side_key(self, direction: str, cls: int, other: int) -> _SideKey:
        if direction == "Ingress" and other == self.host:
            return ("always",)
        selecting, keys, default = self._selecting(direction, cls)
        admin: tuple[AdminMatch, ...] = ()
        if self.analysis.admin_policies:
            state = self.analysis.ingress if direction == "Ingress" else self.analysis.egress
            decision = state.decide(cls, other)  # type: ignore[union-attr]
            admin = tuple((a.ref, r.action, r.name, r.rule.label, c) for a, r, c in decision.matches)
        if not selecting and not admin:
            return None
        key = keys.get(other, default)
        if admin:
            key = (*key, admin)  # type: ignore[misc]
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

    def partition(self, key: _SideKey, direction: str) -> list[tuple[ConnectionSet, Reasons]]:
        """A side's connection space cut into the pieces with the same reasons, once per side key."""
        found = self.partitions.get((key, direction))
        if found is None:
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
            grouped: dict[Reasons, ConnectionSet] = {}
            for atom in _atoms(sets, self.within):
                reasons = _side(side, atom, direction, admin)
                grouped[reasons] = grouped.get(reasons, ConnectionSet()) | ConnectionSet.of([atom[0]], atom[1], atom[2])
            found = [(conns, reasons) for reasons, conns in grouped.items()]
            self.partitions[(key, direction)] = found
        return found

    def block(self, egress: _SideKey, ingress: _SideKey) -> str | None:
        key = (egress, ingress)
        if key not in self.blocks:
            groups = []
            for e_conns, e_reasons in self.partition(egress, "Egress"):
                for i_conns, i_reasons in self.partition(ingress, "Ingress"):
                    conns = e_conns & i_conns
                    if conns:
                        groups.append((e_reasons[0] and i_reasons[0], conns, e_reasons, i_reasons))
            lines = _pair_block(groups, self.only, _SRC, _DST)  # type: ignore[arg-type]
            self.blocks[key] = "\n".join(lines) if lines else None
        return self.blocks[key]


def format_explain(analysis: Analysis, focus: Focus | None = None, only: str | None = None) -> str:
    """The whole `--explain` report (`only`: "allow" or "deny" for `--explain-only`)."""
    focus = focus or Focus()
    within = ConnectionSet.of([focus.conn.protocol], focus.conn.port, focus.conn.port) if focus.conn else None
    explainer = _Explainer(analysis, within or ConnectionSet.of(PROTOCOLS), only)
    workloads: list[Peer] = list(analysis._workload_peers.values())
    sources = sorted(
        ((str(p), p, analysis._index(p, "Ingress")) for p in workloads + analysis.external_sources()),
        key=lambda t: t[0],
    )
    targets = sorted(
        ((str(p), p, analysis._index(p, "Egress")) for p in workloads + analysis.external_destinations()),
        key=lambda t: t[0],
    )
    blocks: list[str] = []
    default_open: list[str] = []
    focused = focus.active
    for src_text, src, src_index in sources:
        src_is_pod = isinstance(src, WorkloadPeer)
        for dst_text, dst, dst_index in targets:
            dst_is_pod = isinstance(dst, WorkloadPeer)
            if src is dst or not (src_is_pod or dst_is_pod) or (focused and not focus.keeps(src, dst)):
                continue
            egress = explainer.side_key("Egress", src_index, dst_index) if src_is_pod else None
            ingress = explainer.side_key("Ingress", dst_index, src_index) if dst_is_pod else None
            if within is None and egress is None and ingress is None:
                default_open.append(f"{src_text} => {dst_text}")
                continue
            text = explainer.block(egress, ingress)
            if text is not None:
                blocks.append(text.replace("\x01", src_text).replace("\x02", dst_text))
    for dst in sorted(analysis.exposed_by, key=str):
        if not focus.keeps(INGRESS_CONTROLLER, dst):
            continue
        sets = [r.connections for r in analysis.exposed_by[dst]] + [analysis.connection(INGRESS_CONTROLLER, dst)]
        cls = analysis.universe.workload_classes[(dst.namespace, dst.kind, dst.name)][0]
        sets += [analysis._ports(r, cls)[0] for p in analysis.policies for r in p.ingress.rules]
        atoms = _atoms(sets, explainer.within)
        controller_egress: Reasons = (True, f"Egress (Allowed) {_DEFAULT}", ())
        reasons = ((controller_egress, _controller_side(analysis, dst, a)) for a in atoms)
        blocks += _pair_block(_groups(atoms, reasons), only, INGRESS_CONTROLLER, dst)
    lines = ["", *_banner("Specific connections and their reasons"), *blocks] if blocks else []
    if default_open and only != "deny":
        lines += ["", *_banner("All Connections due to the system default (Allow all)"), *default_open]
    return "\n".join(lines)


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
    word = "Allowed" if egress[0] and ingress[0] else "Denied"
    if word == "Allowed" and not egress[2] and not ingress[2] and _DEFAULT in egress[1] and _DEFAULT in ingress[1]:
        return [f"{word} {conns_text(conns)} {_DEFAULT}"]
    lines = [f"{word} {conns_text(conns)} due to the following policies and rules:"]
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
    egress = explainer.side_key("Egress", src_index, dst_index) if isinstance(src, WorkloadPeer) else None
    ingress = explainer.side_key("Ingress", dst_index, src_index) if isinstance(dst, WorkloadPeer) else None
    text = explainer.block(egress, ingress) or ""
    return text.replace("\x01", str(src)).replace("\x02", str(dst)).splitlines()[1:]
