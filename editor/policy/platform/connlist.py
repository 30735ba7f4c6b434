"""The connectivity list under tiers: the NetworkPolicy analysis (`editor.policy.analysis.Analysis`) with the
Admin tier in front of it and the Baseline tier behind it, over whole connection sets at once.

Same precedence as `tiers.py` (which answers one probe with attribution), as np-guard/netpol-analyzer computes it
(`pkg/netpol/eval/internal/k8s/{adminnetpol,baselineadminnetpol}.go`), each direction on its own: the rules of
the Admin tier, lowest priority first and in order, take the connections they match out of what is still
undecided (allowing them, denying them, or passing them to the NetworkPolicy tier); what is left, plus what was
passed, is decided by NetworkPolicy when a NetworkPolicy isolates the pod in that direction, else by the
Baseline tier's rules in order; what is still left is allowed.

As netpol-analyzer does: `networks` peers match external addresses, not pods, and only IPv4 ones (IPv6 entries
are ignored); `nodes` peers match nothing (the analysis has no node endpoints). Warnings say so. `fenceline
probe` (`tiers.py`) has none of these limits.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable, Iterator

from ..analysis import (
    ALL_CONNECTIONS,
    NO_CONNECTIONS,
    Analysis,
    ConnectionSet,
    DirectionExplanation,
    Explanation,
    Options,
    Peer,
    PolicyRef,
)
from ..analysis.admin import AdminDecision, AdminPolicy, AdminRule
from ..analysis.evaluate import _DirectionState
from ..analysis.match import _namespace_labels
from ..analysis.parse import _Direction, _IPPeer, _PodPeer, _Policy, _PortEntry, _Rule
from ..manifests import PROTOCOLS, Cluster
from ..selectors import LabelSelector
from . import model
from .inputs import PlatformInputs
from .model import ADMIN, ALLOW, BASELINE, DENY, PASS, PlatformPeer, PlatformPolicy, PlatformPort, PlatformRule, PodSet
from .tiers import ordered

_EVERYONE = LabelSelector((), ())


@dataclasses.dataclass(frozen=True)
class TierRef(PolicyRef):
    """A platform policy as the analyser's explanations name it. A ClusterNetworkPolicy says its tier
    (`ClusterNetworkPolicy 'x' (Admin tier)`: one kind holds both); AdminNetworkPolicy and
    BaselineAdminNetworkPolicy keep netpol-analyzer's wording, their kind being their tier."""

    tier: str = ADMIN

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text} ({self.tier} tier)" if self.kind == "ClusterNetworkPolicy" else text


@dataclasses.dataclass(frozen=True)
class TieredExplanation(Explanation):
    """An explanation whose sides say which tier, policy and rule decided which connections."""

    tiers: tuple[tuple[str, tuple[TierPart, ...]], ...] = ()

    def __str__(self) -> str:
        lines = [f"{self.src} => {self.dst} : {self.connections}"]
        decided = dict(self.tiers)
        for side in (self.egress, self.ingress):
            if side is not None:
                lines.extend("  " + line for line in _side_lines(side, decided.get(side.direction, ())))
        if self.egress is None:
            lines.append(f"  {self.src} is not a pod: no policy restricts it as a source")
        if self.ingress is None:
            lines.append(f"  {self.dst} is not a pod: no policy restricts it as a destination")
        return "\n".join(lines)


def _side_lines(side: DirectionExplanation, parts: tuple[TierPart, ...]) -> list[str]:
    if side.always or all(p.tier in ("default", "NetworkPolicy") and not p.reasons for p in parts):
        return side.lines()  # no platform policy has a say: NetworkPolicy's explanation as it is
    lines = [f"{side.direction} of {side.pod}: {side.allowed}"]
    for part in parts:
        verdict = "allowed" if part.allowed else "denied"
        for reason in part.reasons:
            lines.append(f"  {reason}: {part.connections}")
        if part.tier == "NetworkPolicy":
            lines.append(f"  {verdict} by NetworkPolicy: {part.connections}")
        elif part.tier == "default" and not part.reasons:
            lines.append(f"  allowed by the system default (Allow all), no policy decides: {part.connections}")
    if any(p.tier == "NetworkPolicy" for p in parts):
        lines.extend(side.lines()[1:])
    return lines


@dataclasses.dataclass
class _Tiered:
    """A platform policy and the NetworkPolicy-shaped stand-in whose rules the analysis matches to bits."""

    policy: PlatformPolicy
    stand_in: _Policy
    rules: dict[str, list[tuple[PlatformRule, _Rule]]]
    admin: AdminPolicy  # the same rules as the analyser's explain and exposure read admin policies
    subjects: int = 0

    def admin_rule(self, rule: PlatformRule) -> AdminRule:
        return self.admin.rules(rule.direction)[rule.index - 1]


def _block(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[tuple[int, int, int], ...]:
    return ((network.version, int(network.network_address), int(network.broadcast_address)),)


def _peers(peer: PlatformPeer) -> list[_PodPeer | _IPPeer]:
    if peer.pods is not None:
        return [_PodPeer(peer.pods.namespaces, peer.pods.pods, "")]
    return [_IPPeer(_block(n), kubernetes=False) for n in peer.networks if n.version == 4]


def _port(entry: PlatformPort) -> _PortEntry:
    if entry.name is not None:
        return _PortEntry(PROTOCOLS if entry.protocol is None else (entry.protocol,), entry.name)
    return _PortEntry((entry.protocol or "TCP",), entry.first, entry.last)


def _stand_in(policy: PlatformPolicy) -> _Tiered:
    rules: dict[str, list[tuple[PlatformRule, _Rule]]] = {}
    for direction in ("Ingress", "Egress"):
        rules[direction] = [
            (
                rule,
                _Rule(
                    rule.index,
                    direction,
                    [p for peer in rule.peers for p in _peers(peer)],
                    None if rule.ports is None else [_port(e) for e in rule.ports],
                ),
            )
            for rule in policy.rules(direction)
        ]
    ref = TierRef(policy.ref.kind, None, policy.ref.name, policy.ref.where, tier=policy.tier)
    stand_in = _Policy(
        ref,
        None,
        _EVERYONE,
        False,
        _Direction([r for _, r in rules["Ingress"]], isolates=False, applies=False),
        _Direction([r for _, r in rules["Egress"]], isolates=False, applies=False),
        frozenset(),
    )
    subject = _PodPeer(policy.subject.namespaces, policy.subject.pods, "")
    admin_rules = {
        direction: [
            AdminRule(rule.name or f"#{rule.index}", model.V1ALPHA1_ACTIONS[rule.verdict], stand_in_rule)
            for rule, stand_in_rule in pairs
        ]
        for direction, pairs in rules.items()
    }
    # the Baseline tier is the analyser's priority None (its policies keep the order `ordered` gives them)
    priority = (policy.ref.priority or 0) if policy.tier == ADMIN else None
    admin = AdminPolicy(ref, priority, subject, admin_rules["Ingress"], admin_rules["Egress"])
    return _Tiered(policy, stand_in, rules, admin)


@dataclasses.dataclass(frozen=True)
class TierPart:
    """Connections one direction decides alike, and why, in netpol-analyzer's words (`AdminNetworkPolicy 'x'
    denies connections by Egress rule y`). `tier` "NetworkPolicy" means the NetworkPolicy explanation of these
    connections follows `reasons` (which then hold only the Pass rules that led there)."""

    connections: ConnectionSet
    allowed: bool
    tier: str  # "Admin", "NetworkPolicy", "Baseline" or "default"
    reasons: tuple[str, ...]
    policies: tuple[PolicyRef, ...] = ()  # the platform policies whose rules the reasons name


_VERBS = {ALLOW: "allows", DENY: "denies", PASS: "passes"}


def _reason(item: _Tiered, rule: PlatformRule) -> str:
    return f"{item.stand_in.ref} {_VERBS[rule.verdict]} connections by {rule.label}"


class _TieredState(_DirectionState):
    """One direction: `effective(cls, peer)` through the tiers, on top of the NetworkPolicy state."""

    def __init__(
        self,
        direction: str,
        middle: _DirectionState,
        admin: list[_Tiered],
        baseline: list[_Tiered],
        ports: Callable[[_Rule, int, int], ConnectionSet],
    ) -> None:
        super().__init__()
        self.direction = direction
        self.middle = middle
        # what the analysis' explanations read: the NetworkPolicy tier's own state
        self.isolated = middle.isolated
        self.allow = middle.allow
        self.deny = middle.deny
        self.admin = admin
        self.baseline = baseline
        self.ports = ports
        self._class_rules: dict[tuple[int, int], tuple[list[tuple[PlatformRule, _Rule]], int]] = {}
        self._decisions: dict[tuple[int, int], AdminDecision] = {}  # explain asks per side, many times

    def _rules_of(self, tier: list[_Tiered], cls: int) -> tuple[list[tuple[PlatformRule, _Rule]], int]:
        """The rules of `tier` that apply to class `cls`, in evaluation order, and the peers any of them matches
        (cached per class: the connlist asks for every pair)."""
        key = (id(tier), cls)
        found = self._class_rules.get(key)
        if found is None:
            rules = [pair for item in tier if item.subjects >> cls & 1 for pair in item.rules[self.direction]]
            bits = 0
            for _, stand_in in rules:
                bits |= stand_in.bits
            found = self._class_rules[key] = (rules, bits)
        return found

    def _tier(self, tier: list[_Tiered], cls: int, peer: int, undecided: ConnectionSet) -> tuple[ConnectionSet, ...]:
        allowed = passed = NO_CONNECTIONS
        rules, bits = self._rules_of(tier, cls)
        if not bits >> peer & 1:
            return allowed, passed, undecided
        for rule, stand_in in rules:
            if not undecided:
                break
            if not stand_in.bits >> peer & 1:
                continue
            conns = self.ports(stand_in, cls, peer) & undecided
            if rule.verdict == ALLOW:
                allowed = allowed | conns
            elif rule.verdict == PASS:
                passed = passed | conns
            undecided = undecided - conns
        return allowed, passed, undecided

    def _matches(
        self, tier: list[_Tiered], cls: int, peer: int, undecided: ConnectionSet
    ) -> Iterator[tuple[PlatformRule, _Tiered, ConnectionSet]]:
        """(rule, policy, connections) of each rule that takes connections out of `undecided`, in order."""
        for item in tier:
            if not item.subjects >> cls & 1:
                continue
            for rule, stand_in in item.rules[self.direction]:
                if undecided and stand_in.bits >> peer & 1:
                    conns = self.ports(stand_in, cls, peer) & undecided
                    if conns:
                        undecided = undecided - conns
                        yield rule, item, conns

    def touches(self, cls: int, peer: int) -> bool:
        """Whether a platform rule can decide something between class `cls` and `peer`: an Admin rule, or a
        Baseline rule where no NetworkPolicy isolates the class (cheap: the rules' peer bits)."""
        if self._rules_of(self.admin, cls)[1] >> peer & 1:
            return True
        return not self.isolated[cls] and bool(self._rules_of(self.baseline, cls)[1] >> peer & 1)

    def parts(self, cls: int, peer: int) -> list[TierPart]:
        """The decision of every connection, split by the tier, policy and rule that decided it."""
        parts: list[TierPart] = []
        undecided = ALL_CONNECTIONS
        onwards: list[tuple[ConnectionSet, tuple[str, ...], tuple[PolicyRef, ...]]] = []
        for rule, item, conns in self._matches(self.admin, cls, peer, ALL_CONNECTIONS):
            undecided = undecided - conns
            reason, ref = (_reason(item, rule),), (item.stand_in.ref,)
            if rule.verdict == PASS:
                onwards.append((conns, reason, ref))
            else:
                parts.append(TierPart(conns, rule.verdict == ALLOW, ADMIN, reason, ref))
        onwards.insert(0, (undecided, (), ()))
        for conns, passed, by in onwards:
            if not conns:
                continue
            if self.isolated[cls]:
                allowed = conns & self.middle.effective(cls, peer)
                parts.append(TierPart(allowed, True, "NetworkPolicy", passed, by))
                parts.append(TierPart(conns - allowed, False, "NetworkPolicy", passed, by))
                continue
            left = conns
            for rule, item, taken in self._matches(self.baseline, cls, peer, conns):
                left = left - taken
                reasons = (*passed, _reason(item, rule))
                parts.append(TierPart(taken, rule.verdict == ALLOW, BASELINE, reasons, (*by, item.stand_in.ref)))
            default = ("the system default (Allow all)",) if passed else ()
            parts.append(TierPart(left, True, "default", (*passed, *default), by))
        return [part for part in parts if part.connections]

    def decide(self, cls: int, peer: int) -> AdminDecision:
        """The decision as the analyser's `AdminState.decide` gives it (what `--explain` prints): the Admin
        rules that took connections, then, where no NetworkPolicy isolates the class, the Baseline ones."""
        found = self._decisions.get((cls, peer))
        if found is not None:
            return found
        matches = [
            (item.admin, item.admin_rule(rule), conns)
            for rule, item, conns in self._matches(self.admin, cls, peer, ALL_CONNECTIONS)
        ]
        left = ALL_CONNECTIONS
        for _, admin_rule, conns in matches:
            if admin_rule.action != "Pass":
                left = left - conns
        if not self.isolated[cls]:
            matches += [
                (item.admin, item.admin_rule(rule), conns)
                for rule, item, conns in self._matches(self.baseline, cls, peer, left)
            ]
        found = self._decisions[(cls, peer)] = AdminDecision(self.effective(cls, peer), matches)
        return found

    def effective(self, cls: int, peer: int) -> ConnectionSet:
        allowed, passed, undecided = self._tier(self.admin, cls, peer, ALL_CONNECTIONS)
        undecided = undecided | passed
        if self.isolated[cls]:
            return allowed | (undecided & self.middle.effective(cls, peer))
        base_allowed, _, left = self._tier(self.baseline, cls, peer, undecided)
        return allowed | base_allowed | left


class TieredAnalysis(Analysis):
    """`Analysis` whose connections go through the Admin, NetworkPolicy and Baseline tiers."""

    def __init__(self, cluster: Cluster, options: Options, platform: list[PlatformPolicy]) -> None:
        self.tiered = [_stand_in(p) for p in ordered(platform, ADMIN) + ordered(platform, BASELINE)]
        super().__init__(cluster, options)
        # after the analysis (whose own admin layer would decide them a second time): explain and exposure
        # read the tiers' rules from here
        self.admin_policies = [item.admin for item in self.tiered]

    def _extra_policies(self) -> list[_Policy]:
        for item in self.tiered:
            for rule in item.policy.ingress + item.policy.egress:
                where = f"{item.policy.ref.where}: {item.policy.ref} {rule.label}"
                if any(p.nodes is not None or p.domain_names for p in rule.peers):
                    self.warnings.append(
                        f"{where}: `nodes` and `domainNames` peers match nothing in the connectivity list (it has "
                        "no node or DNS endpoints; `fenceline probe` evaluates `nodes`)"
                    )
                if any(n.version == 6 for p in rule.peers for n in p.networks):
                    self.warnings.append(
                        f"{where}: IPv6 `networks` are ignored in the connectivity list, as netpol-analyzer does "
                        "(`fenceline probe` evaluates them)"
                    )
        return [item.stand_in for item in self.tiered]

    def _subjects(self, subject: PodSet) -> int:
        bits = 0
        for cls in self.universe.classes:
            labels = _namespace_labels(self.cluster, cls.pod.namespace)
            if subject.namespaces.matches(labels) and (subject.pods is None or subject.pods.matches(cls.pod.labels)):
                bits |= 1 << cls.index
        return bits

    def _direction(self, direction: str) -> _DirectionState:
        middle = super()._direction(direction)
        for item in self.tiered:
            item.subjects = item.admin.subjects = self._subjects(item.policy.subject)
        admin = [t for t in self.tiered if t.policy.tier == ADMIN]
        baseline = [t for t in self.tiered if t.policy.tier == BASELINE]
        n_classes = len(self.universe.classes)

        def ports(rule: _Rule, cls: int, peer: int) -> ConnectionSet:
            receiver = cls if direction == "Ingress" else (peer if peer < n_classes else None)
            return self._ports(rule, receiver)[0]

        return _TieredState(direction, middle, admin, baseline, ports)

    def explain(self, src: Peer, dst: Peer) -> Explanation:
        base = super().explain(src, dst)
        tiers: list[tuple[str, tuple[TierPart, ...]]] = []
        sides: dict[str, DirectionExplanation | None] = {"Egress": base.egress, "Ingress": base.ingress}
        for direction, side in sides.items():
            if side is None or side.always:
                continue
            parts = tuple(self.tier_parts(direction, src, dst))
            tiers.append((direction, parts))
            refs = {ref for part in parts for ref in part.policies}
            # platform policies that decided count as selecting, so that the pair is not "open by default"
            sides[direction] = dataclasses.replace(side, selecting=(*side.selecting, *sorted(refs, key=str)))
        return TieredExplanation(
            base.src, base.dst, base.connections, sides["Egress"], sides["Ingress"], tiers=tuple(tiers)
        )

    def platform_touches(self, direction: str, src: Peer, dst: Peer) -> bool:
        """Whether a platform rule can decide part of `direction` of `src` => `dst` (else NetworkPolicy or the
        default decides all of it, as without platform policies)."""
        state = self.egress if direction == "Egress" else self.ingress
        assert isinstance(state, _TieredState)
        if direction == "Egress":
            return state.touches(self._index(src, "Ingress"), self._index(dst, "Egress"))
        return state.touches(self._index(dst, "Egress"), self._index(src, "Ingress"))

    def tier_parts(self, direction: str, src: Peer, dst: Peer) -> list[TierPart]:
        """How `direction` (Egress: of `src`, Ingress: of `dst`, which must be a workload) decides `src` => `dst`."""
        state = self.egress if direction == "Egress" else self.ingress
        assert isinstance(state, _TieredState)
        if direction == "Egress":
            return state.parts(self._index(src, "Ingress"), self._index(dst, "Egress"))
        return state.parts(self._index(dst, "Egress"), self._index(src, "Ingress"))

    def _reachable_classes(self) -> Callable[[int], list[int]]:
        every = list(range(len(self.universe.classes)))  # an Admin rule may open what NetworkPolicy closes
        return lambda src: every


def analyse_tiers(inputs: PlatformInputs, options: Options | None = None) -> Analysis:
    """The analysis of the inputs' cluster, through the platform tiers when there are platform policies."""
    analysis = TieredAnalysis(inputs.cluster, options or Options(), inputs.policies)
    analysis.warnings[:0] = inputs.warnings
    return analysis
