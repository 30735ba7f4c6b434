"""The analysis: isolation, allowed and denied connections per pod class and peer, and the queries on them."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator

from ..manifests import Cluster, Workload
from ..yamlio import InputError
from .admin import AdminState, admin_shadow, read_admins
from .connections import ALL_CONNECTIONS, NO_CONNECTIONS, ConnectionSet
from .explain import DirectionExplanation, Explanation, RuleMatch
from .ingress import ExposedBy, add_controller_connections
from .match import _Matcher, _resolve_ports, _Universe
from .parse import PolicyRef, _Policy, _read_networkpolicy, _Rule
from .parse_cilium import _read_cilium
from .peers import EntityPeer, ExternalPeer, FqdnPeer, Options, Peer, WorkloadPeer


class _DirectionState:
    """Per pod class, one direction: isolated?, what the selecting policies allow and deny, peer by peer."""

    def __init__(self) -> None:
        self.isolated: list[bool] = []
        self.allow: list[dict[int, ConnectionSet]] = []
        self.deny: list[dict[int, ConnectionSet]] = []

    def effective(self, cls: int, peer: int) -> ConnectionSet:
        allowed = self.allow[cls].get(peer, NO_CONNECTIONS) if self.isolated[cls] else ALL_CONNECTIONS
        denied = self.deny[cls].get(peer)
        return allowed - denied if denied is not None else allowed


class Analysis:
    """Permitted connections of a cluster; build it with `analyse`."""

    def __init__(self, cluster: Cluster, options: Options) -> None:
        self.cluster = cluster
        self.options = options
        self.warnings: list[str] = []
        self.policies: list[_Policy] = []
        seen: dict[tuple[str, str | None, str], str] = {}
        for policy in cluster.policies:
            key = (policy.kind, policy.namespace, policy.name)
            if key in seen:
                name = f"{policy.namespace}/{policy.name}" if policy.namespace else policy.name
                raise InputError(
                    # netpol-analyzer's wording, so that both tools' errors can be matched
                    f'{policy.kind} "{name}" is already exists. Only one object of a given kind can have a given '
                    f"name at a time. It is defined twice, first at {seen[key]}",
                    policy.source.source,
                    policy.source.line,
                )
            seen[key] = policy.where()
            if policy.kind == "NetworkPolicy":
                self.policies.append(_read_networkpolicy(policy, self.warnings))
            else:
                self.policies.extend(
                    _read_cilium(policy, self.warnings, node_selector_labels=options.node_selector_labels)
                )
        self.policies.extend(self._extra_policies())
        self.admin_policies = read_admins(cluster.admin_policies, self.warnings)
        self.universe = _Universe(cluster, self.policies + [admin_shadow(a) for a in self.admin_policies], options)
        matcher = _Matcher(self.universe, cluster)
        for parsed in self.policies:
            parsed.subjects = matcher.subjects(parsed)
            for direction in ("Ingress", "Egress"):
                for rule in getattr(parsed, direction.lower()).rules:
                    rule.bits = matcher.rule(rule, direction)
        for admin in self.admin_policies:
            admin.subjects = matcher.peer(admin.subject, "Ingress") & self.universe.class_bits
            for direction in ("Ingress", "Egress"):
                for admin_rule in admin.rules(direction):
                    admin_rule.rule.bits = matcher.rule(admin_rule.rule, direction)
        self._port_cache: dict[tuple[int, int], tuple[ConnectionSet, list[str]]] = {}
        self.ingress: _DirectionState | AdminState = self._direction("Ingress")
        self.egress: _DirectionState | AdminState = self._direction("Egress")
        if self.admin_policies:
            self.ingress = AdminState(self, self.ingress, "Ingress")
            self.egress = AdminState(self, self.egress, "Egress")
        self._warn_named_ports()
        self.connections: dict[tuple[Peer, Peer], ConnectionSet] = {}
        self._workload_peers: dict[tuple[str, str, str], WorkloadPeer] = {}
        self._compute()
        self.exposed_by: dict[WorkloadPeer, list[ExposedBy]] = {}
        add_controller_connections(self)

    # -- hooks for layers around the NetworkPolicy evaluation (editor.policy.platform.connlist)

    def _extra_policies(self) -> list[_Policy]:
        """Policies whose peers join the universe (cutting the external ranges, matched to bits) without being
        NetworkPolicies: give them `applies=False` directions so that `_direction` leaves them out."""
        return []

    # -- evaluation

    def _ports(self, rule: _Rule, receiver: int | None) -> tuple[ConnectionSet, list[str]]:
        if rule.ports is None or rule.cluster_named_ports or all(not isinstance(e.port, str) for e in rule.ports):
            receiver = None
        key = (id(rule), -1 if receiver is None else receiver)
        found = self._port_cache.get(key)
        if found is None:
            cls = self.universe.classes[receiver] if receiver is not None else None
            found = _resolve_ports(rule.ports, cls, self.universe.named_ports if rule.cluster_named_ports else None)
            self._port_cache[key] = found
        return found

    def _direction(self, direction: str) -> _DirectionState:
        state = _DirectionState()
        n_classes = len(self.universe.classes)
        selecting_of: list[list[_Policy]] = [[] for _ in range(n_classes)]
        for policy in self.policies:
            if getattr(policy, direction.lower()).applies:
                for index in _bit_indices(policy.subjects):
                    selecting_of[index].append(policy)
        for index, selecting in enumerate(selecting_of):
            state.isolated.append(any(getattr(p, direction.lower()).isolates for p in selecting))
            allow: dict[int, ConnectionSet] = {}
            deny: dict[int, ConnectionSet] = {}
            for policy in selecting:
                for rule in getattr(policy, direction.lower()).rules:
                    target = deny if rule.deny else allow
                    if direction == "Ingress":
                        conns = self._ports(rule, index)[0]
                        if conns:
                            for peer in _bit_indices(rule.bits):
                                target[peer] = target.get(peer, NO_CONNECTIONS) | conns
                    else:
                        for peer in _bit_indices(rule.bits):
                            conns = self._ports(rule, peer if peer < n_classes else None)[0]
                            if conns:
                                target[peer] = target.get(peer, NO_CONNECTIONS) | conns
            state.allow.append(allow)
            state.deny.append(deny)
        return state

    def _warn_named_ports(self) -> None:
        """Named ports that can match nothing: towards IPs, or not defined on any pod the rule applies to."""
        u = self.universe
        non_pods = u.all_dst & ~u.class_bits
        for policy in self.policies:
            if not policy.subjects:
                continue
            for direction in ("Ingress", "Egress"):
                for rule in getattr(policy, direction.lower()).rules:
                    named = sorted({e.port for e in rule.ports or () if isinstance(e.port, str)})
                    if not named:
                        continue
                    where = f"{policy.ref.where}: {policy.ref} {rule.label} rule #{rule.index}: named port"
                    if rule.cluster_named_ports:
                        self._warn_cluster_named_ports(where, rule)
                        continue
                    if direction == "Egress" and rule.bits & non_pods:
                        self.warnings.append(
                            f"{where} {', '.join(named)} cannot apply to IP, entity or FQDN destinations"
                        )
                    receivers = policy.subjects if direction == "Ingress" else rule.bits & u.class_bits
                    defined = {(p.name, p.protocol) for i in _bit_indices(receivers) for p in u.classes[i].pod.ports}
                    missing = sorted(
                        {
                            f"{e.port} ({'/'.join(e.protocols)})"
                            for e in rule.ports or ()
                            if isinstance(e.port, str) and not any((e.port, p) in defined for p in e.protocols)
                        }
                    )
                    if missing and receivers:
                        self.warnings.append(
                            f"{where} {', '.join(missing)} is not a container port of any pod it applies to"
                        )

    def _warn_cluster_named_ports(self, where: str, rule: _Rule) -> None:
        """C10a: a Cilium egress rule's named port is looked up among every pod of the cluster."""
        for entry in rule.ports or ():
            if not isinstance(entry.port, str):
                continue
            numbers = sorted({n for p in entry.protocols for n in self.universe.named_ports.get((entry.port, p), ())})
            if not numbers:
                self.warnings.append(f"{where} {entry.port} is not a container port of any pod in the cluster")
            elif any(len(self.universe.named_ports.get((entry.port, p), ())) > 1 for p in entry.protocols):
                self.warnings.append(
                    f"{where} {entry.port} is {' and '.join(map(str, numbers))} on different pods: Cilium resolves "
                    "egress named ports cluster-wide and skips a name with two numbers (cilium#30003); use the number"
                )

    def _class_pair(self, src: int, dst: int) -> ConnectionSet:
        return self.egress.effective(src, dst) & self.ingress.effective(dst, src)

    def _from_outside(self, peer: int, dst: int) -> ConnectionSet:
        if peer == self.universe.entities.get("host"):
            return ALL_CONNECTIONS  # S6/K5: a pod's own node may always reach it
        return self.ingress.effective(dst, peer)

    def _compute(self) -> None:
        u = self.universe
        workload_classes = list(u.workload_classes.items())
        for (namespace, kind, name), _ in workload_classes:
            self._workload_peers[(namespace, kind, name)] = WorkloadPeer(namespace, name, kind)
        self._check_consistent(workload_classes)
        rows: list[tuple[WorkloadPeer, int]] = [
            (self._workload_peers[key], classes[0]) for key, classes in workload_classes
        ]
        rows_of: dict[int, list[WorkloadPeer]] = {}
        for peer, cls in rows:
            rows_of.setdefault(cls, []).append(peer)
        reachable = self._reachable_classes()
        for src_peer, src in rows:
            for dst in reachable(src):
                conns = self._class_pair(src, dst)
                if conns:
                    for dst_peer in rows_of.get(dst, ()):
                        if dst_peer is not src_peer:
                            self.connections[(src_peer, dst_peer)] = conns
        sources: list[tuple[Peer, int]] = [(a, i) for found in u.src_atoms.values() for a, i in found]
        sources += [(u.peer_at(i), i) for i in u.entities.values()]
        for outside, index in sources:
            for dst_peer, dst in rows:
                conns = self._from_outside(index, dst)
                if conns:
                    self.connections[(outside, dst_peer)] = conns
        targets: list[tuple[Peer, int]] = [(a, i) for found in u.dst_atoms.values() for a, i in found]
        targets += [(u.peer_at(i), i) for i in (*u.entities.values(), *u.fqdns.values())]
        for src_peer, src in rows:
            for outside, index in targets:
                conns = self.egress.effective(src, index)
                if conns:
                    self.connections[(src_peer, outside)] = conns

    def _reachable_classes(self) -> Callable[[int], list[int]]:
        """The classes a class may have connections to, ascending: those its isolated egress allows, or, when
        its egress is open, those whose ingress is open or allows it. Every other pair is denied on one side,
        so the pods x pods loop (250,000 pairs for 500 workloads) looks only at pairs a rule connects."""
        n_classes = len(self.universe.classes)
        if self.admin_policies:  # admin rules may allow what every NetworkPolicy denies: look at every pair
            return lambda src: list(range(n_classes))
        open_ingress = {c for c in range(n_classes) if not self.ingress.isolated[c]}
        admitted_by: list[set[int]] = [set() for _ in range(n_classes)]
        for dst in range(n_classes):
            if self.ingress.isolated[dst]:
                for src in self.ingress.allow[dst]:
                    if src < n_classes:
                        admitted_by[src].add(dst)

        def reachable(src: int) -> list[int]:
            if self.egress.isolated[src]:
                return sorted(dst for dst in self.egress.allow[src] if dst < n_classes)
            return sorted(open_ingress | admitted_by[src])

        return reachable

    def _check_consistent(self, workload_classes: list[tuple[tuple[str, str, str], list[int]]]) -> None:
        """Pods of one workload must get the same connections, since the output has one line per workload."""
        u = self.universe
        all_classes = range(len(u.classes))
        outside_in = [i for found in u.src_atoms.values() for _, i in found] + list(u.entities.values())
        outside_out = [i for found in u.dst_atoms.values() for _, i in found]
        outside_out += [*u.entities.values(), *u.fqdns.values()]
        for key, classes in workload_classes:
            if len(classes) < 2:
                continue
            first = classes[0]
            for other in classes[1:]:
                same = all(
                    self._class_pair(first, c) == self._class_pair(other, c)
                    and self._class_pair(c, first) == self._class_pair(c, other)
                    for c in all_classes
                    if c not in classes
                )
                same = same and all(self._from_outside(p, first) == self._from_outside(p, other) for p in outside_in)
                same = same and all(
                    self.egress.effective(first, p) == self.egress.effective(other, p) for p in outside_out
                )
                if not same:
                    raise self._inconsistent(key, first, other)

    def _inconsistent(self, key: tuple[str, str, str], first: int, other: int) -> InputError:
        u = self.universe
        a, b = u.classes[first].pod, u.classes[other].pod
        pod_a, pod_b = u.class_pods[first][0], u.class_pods[other][0]
        namespace, _, name = key
        workload = next(w for w in u.classes[first].workloads if w.key == key)
        detail = ""
        for label in sorted(set(a.labels) | set(b.labels)):
            if a.labels.get(label) != b.labels.get(label):
                user = self._selector_using(label)
                has_a = (
                    f"has label `{label}={a.labels[label]}`" if label in a.labels else f"does not have label `{label}`"
                )
                has_b = (
                    f"has label `{label}={b.labels[label]}`" if label in b.labels else f"does not have label `{label}`"
                )
                detail = f'Pod "{namespace}/{pod_a}" {has_a}, and Pod "{namespace}/{pod_b}" {has_b}'
                if user:
                    detail += f"; {user} selects by `{label}`"
                break
        else:
            detail = f'Pods "{namespace}/{pod_a}" and "{namespace}/{pod_b}" differ in their container ports or IPs'
        source, _, line = workload.where.rpartition(":")
        # The last sentence is netpol-analyzer's message, word for word, so that both tools' errors match.
        return InputError(
            f"{detail}. The connectivity list has one line per workload, so it cannot show these pods apart; give "
            "each set of pods its own owner or align the labels. Found Pods of the same owner workload "
            f"`{namespace}/{name}` and with differences in their labels, while a network policy contains selectors "
            "impacted by this gap.",
            source,
            int(line),
        )

    def _selector_using(self, label: str) -> str:
        return next((str(p.ref) for p in self.policies if label in p.pod_label_keys), "")

    # -- queries

    def peers(self) -> list[Peer]:
        """Every peer that appears in a connection, sorted by its printed form."""
        found = {p for pair in self.connections for p in pair}
        return sorted(found, key=str)

    def workload_peer(self, workload: Workload) -> WorkloadPeer:
        return self._workload_peers[workload.key]

    def peer(self, text: str) -> Peer:
        """The peer printed as `text` (`ns/name[Kind]`, `ns/name` when unambiguous, `a-b[External]`, ...)."""
        candidates = {p for p in self._all_peers() if str(p) == text}
        if not candidates:
            candidates = {p for p in self._workload_peers.values() if f"{p.namespace}/{p.name}" == text}
        if len(candidates) != 1:
            raise KeyError(text if not candidates else f"{text} is ambiguous")
        return candidates.pop()

    def _all_peers(self) -> Iterator[Peer]:
        yield from self._workload_peers.values()
        yield from (p for p in self.universe.peers if p is not None)

    def external_peer(self, ip: str, as_source: bool) -> ExternalPeer:
        """The external interval containing `ip`, as a source or as a destination of traffic."""
        address = ipaddress.ip_address(ip)
        index = self.universe.atom_index("Ingress" if as_source else "Egress", address.version, int(address))
        if index is None:
            raise KeyError(f"no external range for {ip} (no rule mentions IPv{address.version} addresses)")
        return self.universe.peers[index]  # type: ignore[return-value]

    def connection(self, src: Peer, dst: Peer) -> ConnectionSet:
        return self.connections.get((src, dst), NO_CONNECTIONS)

    def external_ranges(self, as_source: bool) -> dict[int, list[ExternalPeer]]:
        """IP version -> the address intervals, ascending, as cut for sources (ingress rules) or destinations."""
        atoms = self.universe.src_atoms if as_source else self.universe.dst_atoms
        return {version: [peer for peer, _ in found] for version, found in sorted(atoms.items())}

    def entities(self) -> dict[str, EntityPeer]:
        """The Cilium entities some rule names (only those are peers), by name."""
        return {name: self.universe.peers[i] for name, i in self.universe.entities.items()}  # type: ignore[misc]

    def fqdns(self) -> list[FqdnPeer]:
        """The names and patterns of `toFQDNs` rules, each an opaque destination."""
        return [self.universe.peers[i] for i in self.universe.fqdns.values()]  # type: ignore[misc]

    def external_sources(self) -> list[Peer]:
        """Every peer outside the pods that may open connections: address intervals, then entities."""
        ranges: list[Peer] = [peer for found in self.external_ranges(True).values() for peer in found]
        return ranges + list(self.entities().values())

    def external_destinations(self) -> list[Peer]:
        """Every peer outside the pods that may be connected to: address intervals, entities, then FQDNs."""
        ranges: list[Peer] = [peer for found in self.external_ranges(False).values() for peer in found]
        return ranges + list(self.entities().values()) + list(self.fqdns())

    def _index(self, peer: Peer, direction: str) -> int:
        """The universe index of a peer: its first pod class for a workload."""
        if isinstance(peer, WorkloadPeer):
            return self.universe.workload_classes[(peer.namespace, peer.kind, peer.name)][0]
        if isinstance(peer, ExternalPeer):
            index = self.universe.atom_index(direction, peer.version, peer.first)
            if index is None:
                raise KeyError(str(peer))
            return index
        for index, candidate in enumerate(self.universe.peers):
            if candidate == peer:
                return index
        raise KeyError(str(peer))

    def explain(self, src: Peer, dst: Peer) -> Explanation:
        """Which policies and rules decide what `src` may open to `dst`."""
        n_classes = len(self.universe.classes)
        src_index = self._index(src, "Ingress")
        dst_index = self._index(dst, "Egress")
        egress = ingress = None
        if isinstance(src, WorkloadPeer):
            egress = self._explain_side("Egress", src_index, dst_index, src, dst, dst_index < n_classes)
        if isinstance(dst, WorkloadPeer):
            ingress = self._explain_side("Ingress", dst_index, src_index, dst, src, True)
        return Explanation(src, dst, self.connection(src, dst), egress, ingress)

    def _explain_side(
        self,
        direction: str,
        cls: int,
        other: int,
        pod: Peer,
        other_peer: Peer,
        other_is_pod: bool,
        other_index: int | None = None,
        selecting: list[_Policy] | None = None,
    ) -> DirectionExplanation:
        """One side's reasons; `other_index` (the other end's universe index) and `selecting` (the policies that
        select `cls` for `direction`) spare working them out again for each of many pairs."""
        state = self.ingress if direction == "Ingress" else self.egress
        if direction == "Ingress":
            other = other_index if other_index is not None else self._index(other_peer, "Ingress")
        if direction == "Ingress" and other == self.universe.entities.get("host"):
            always = "traffic from the pod's own node is always allowed"
            return DirectionExplanation(direction, pod, other_peer, ALL_CONNECTIONS, False, (), (), (), always=always)
        bit = 1 << cls
        if selecting is None:
            selecting = [p for p in self.policies if p.subjects & bit and getattr(p, direction.lower()).applies]
        matches: list[RuleMatch] = []
        with_rules: list[PolicyRef] = []
        for policy in selecting:
            side = getattr(policy, direction.lower())
            if any(not r.deny for r in side.rules):
                with_rules.append(policy.ref)
            for rule in side.rules:
                if not rule.bits >> other & 1:
                    continue
                receiver = cls if direction == "Ingress" else (other if other_is_pod else None)
                conns, unresolved = self._ports(rule, receiver)
                matches.append(
                    RuleMatch(
                        policy.ref,
                        f"{rule.label} rule #{rule.index}",
                        conns,
                        rule.deny,
                        rule.l7,
                        tuple(unresolved),
                        rule.cluster_named_ports,
                        rule.icmp,
                    )
                )
        return DirectionExplanation(
            direction,
            pod,
            other_peer,
            state.effective(cls, other),
            state.isolated[cls],
            tuple(p.ref for p in selecting),
            tuple(p.ref for p in selecting if getattr(p, direction.lower()).isolates),
            tuple(matches),
            tuple(with_rules),
        )


def _bit_indices(bits: int) -> Iterator[int]:
    while bits:
        low = bits & -bits
        yield low.bit_length() - 1
        bits ^= low


def analyse(cluster: Cluster, options: Options | None = None) -> Analysis:
    """Validate the cluster's policies and compute who may talk to whom. Raises InputError on invalid policies."""
    return Analysis(cluster, options or Options())
