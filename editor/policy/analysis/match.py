"""The cluster side: pod classes, the numbered peer universe and rule peers matched to it as bitsets."""

from __future__ import annotations

import bisect
import dataclasses
import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..labelsfilter import in_identity
from ..manifests import NAMESPACE_NAME_LABEL, Cluster, Pod, Workload
from ..selectors import LabelSelector
from .connections import ALL_CONNECTIONS, NO_CONNECTIONS, ConnectionSet
from .parse import (
    _NS_KEY,
    _NS_LABELS_PREFIX,
    _WORLD_BLOCKS,
    _WORLD_VERSIONS,
    ENTITY_PEERS,
    Block,
    PeerSel,
    _EndpointPeer,
    _EntityPeerSel,
    _FqdnSel,
    _IPPeer,
    _PodPeer,
    _Policy,
    _PortEntry,
    _Rule,
)
from .peers import EntityPeer, ExternalPeer, FqdnPeer, Options, Peer


@dataclasses.dataclass
class _PodClass:
    """Pods that every policy treats alike (namespace, labels, ports, service account, policy CIDRs holding their
    IPs, host network): the first of them, `pod`, stands for all."""

    index: int
    pod: Pod
    identity: dict[str, str]  # Cilium identity labels
    workloads: list[Workload]


# The identity of a hostNetwork pod: it is no Cilium endpoint and carries its node's identity, `host` seen from
# its own node and `remote-node` from the others (C10c); which node is not known here, so it is both.
_HOST_IDENTITY = {"reserved:host": "", "reserved:remote-node": ""}


def _identity(pod: Pod, ns_labels: Mapping[str, str]) -> dict[str, str]:
    """A pod's Cilium identity labels: its labels that Cilium's label filter keeps (C10c), its namespace and
    the namespace's labels, service account and cluster."""
    if pod.host_network:
        return dict(_HOST_IDENTITY)
    identity = {key: value for key, value in pod.labels.items() if in_identity(key)}
    identity[_NS_KEY] = pod.namespace
    identity.update({_NS_LABELS_PREFIX + k: v for k, v in ns_labels.items()})
    identity["io.cilium.k8s.policy.serviceaccount"] = pod.service_account
    identity["io.cilium.k8s.policy.cluster"] = "default"
    return identity


def _non_pod_identity(name: str) -> dict[str, str]:
    """The labels of a reserved identity (an entity; `world-ipv4`/`world-ipv6` for an address interval)."""
    if name.startswith("world-"):
        return {"reserved:world": "", f"reserved:{name}": ""}
    return {f"reserved:{name}": ""}


def _cut_points(blocks: Iterable[Block]) -> dict[int, list[ExternalPeer]]:
    """The disjoint intervals of each used IP version's address space, cut at every block boundary."""
    cuts: dict[int, set[int]] = {4: {0}}
    for block in blocks:
        for version, first, last in block:
            cuts.setdefault(version, {0}).update((first, last + 1))
    atoms: dict[int, list[ExternalPeer]] = {}
    for version, points in cuts.items():
        top = _WORLD_BLOCKS[version][0][2]
        ordered = sorted(p for p in points if p <= top)
        atoms[version] = [
            ExternalPeer(version, lo, (ordered[i + 1] - 1) if i + 1 < len(ordered) else top)
            for i, lo in enumerate(ordered)
        ]
    return atoms


# Stand-ins for the wildcards of a name that is itself a pattern, which no DNS name contains.
_ANY_CHARS, _ANY_LABELS = "\x01", "\x02"


def fqdn_matches(pattern: str, name: str) -> bool:
    """Whether Cilium's `matchPattern` covers `name` (`*` alone: every name; `*` any run of name characters
    within a label; `**.` any number of leading labels). `name` may itself be a pattern (an FQDN peer comes
    from some rule's matchPattern): it is covered when each of its wildcards falls inside a wildcard of
    `pattern` that reaches at least as far, so that every name it stands for is covered too."""
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern in ("*", name):
        return True
    char = f"(?:[-a-z0-9_]|{_ANY_CHARS})"
    regex = re.escape(pattern).replace(r"\*\*\.", f"(?:{char}+\\.|{_ANY_LABELS})*").replace(r"\*", f"{char}*")
    return re.fullmatch(regex, name.replace("**.", _ANY_LABELS).replace("*", _ANY_CHARS)) is not None


def _fqdn_selects(selector: _FqdnSel, peer: FqdnPeer) -> bool:
    if selector.name is not None:
        return selector.name == peer.name
    return fqdn_matches(selector.pattern or "", peer.name)


class _Universe:
    """Every endpoint a rule can match, numbered: pod classes first, then IP intervals, entities and FQDNs."""

    def __init__(self, cluster: Cluster, policies: list[_Policy], options: Options) -> None:
        rules = [(r, d) for p in policies for d in ("Ingress", "Egress") for r in getattr(p, d.lower()).rules]
        ip_blocks = {s.block for r, _ in rules for s in r.peers or () if isinstance(s, _IPPeer)}
        pod_blocks = sorted(b for b in ip_blocks if options.ipblock_matches_pods and self._k8s_block(rules, b))
        self.classes: list[_PodClass] = []
        self.workload_classes: dict[tuple[str, str, str], list[int]] = {}
        self.class_pods: list[list[str]] = []
        by_key: dict[tuple[Any, ...], _PodClass] = {}
        for workload in cluster.workloads:
            ns_labels = _namespace_labels(cluster, workload.namespace)
            # a workload built without pods (e.g. from a drawing) stands for pods with its labels and ports
            pods = workload.pods or [Pod(workload.namespace, workload.name, workload.labels, workload.ports)]
            for pod in pods:
                membership = tuple(b for b in pod_blocks if any(_ip_in_block(ip, b) for ip in pod.ips))
                labels = tuple(sorted(pod.labels.items()))
                key = (pod.namespace, labels, pod.ports, pod.service_account, membership, pod.host_network)
                cls = by_key.get(key)
                if cls is None:
                    identity = _identity(pod, ns_labels)
                    cls = _PodClass(len(self.classes), pod, identity, [])
                    by_key[key] = cls
                    self.classes.append(cls)
                    self.class_pods.append([])
                if all(w.key != workload.key for w in cls.workloads):
                    cls.workloads.append(workload)
                self.class_pods[cls.index].append(pod.name)
                indices = self.workload_classes.setdefault(workload.key, [])
                if cls.index not in indices:
                    indices.append(cls.index)
        self.pod_blocks = {b: i for i, b in enumerate(pod_blocks)}
        self.class_blocks = [
            {b for b in pod_blocks if any(_ip_in_block(ip, b) for ip in cls.pod.ips)} for cls in self.classes
        ]
        self.peers: list[Peer | None] = [None] * len(self.classes)
        cutting = rules + [
            (r, d) for p in policies for d in ("Ingress", "Egress") for r in getattr(p, d.lower()).ignored
        ]
        in_blocks = [s.block for r, d in cutting if d == "Ingress" for s in r.peers or () if isinstance(s, _IPPeer)]
        out_blocks = [s.block for r, d in cutting if d == "Egress" for s in r.peers or () if isinstance(s, _IPPeer)]
        self.src_atoms = self._add_atoms(_cut_points(in_blocks))
        self.dst_atoms = self._add_atoms(_cut_points(out_blocks))
        entity_names = {s.name for r, _ in rules for s in r.peers or () if isinstance(s, _EntityPeerSel)}
        # An endpoint selector names the entities whose reserved identity it matches: `reserved:host`, or
        # `io.kubernetes.pod.namespace NotIn [...]` without `Exists`, which every non-pod identity passes (C10b)
        endpoint_selectors = {s.selector for r, _ in rules for s in r.peers or () if isinstance(s, _EndpointPeer)}
        entity_names |= {
            name
            for name in ENTITY_PEERS
            if any(selector.matches(_non_pod_identity(name)) for selector in endpoint_selectors)
        }
        self.entities = {name: self._add(EntityPeer(name)) for name in ENTITY_PEERS if name in entity_names}
        fqdns = sorted({s.name or s.pattern or "" for r, _ in rules for s in r.peers or () if isinstance(s, _FqdnSel)})
        self.fqdns = {name: self._add(FqdnPeer(name)) for name in fqdns}
        class_bits = (1 << len(self.classes)) - 1
        self.host_network_bits = sum(1 << cls.index for cls in self.classes if cls.pod.host_network)
        # (port name, protocol) -> the numbers Cilium endpoints give it, for Cilium egress rules (C10a)
        self.named_ports: dict[tuple[str, str], set[int]] = {}
        for cls in self.classes:
            for port in cls.pod.ports if not cls.pod.host_network else ():
                if port.name:
                    self.named_ports.setdefault((port.name, port.protocol), set()).add(port.port)
        entity_bits = sum(1 << i for i in self.entities.values())
        self.all_src = class_bits | self._bits(self.src_atoms) | entity_bits
        self.all_dst = class_bits | self._bits(self.dst_atoms) | entity_bits | sum(1 << i for i in self.fqdns.values())
        self.class_bits = class_bits
        self._starts: dict[tuple[str, int], list[int]] = {}

    @staticmethod
    def _k8s_block(rules: list[tuple[_Rule, str]], block: Block) -> bool:
        return any(
            isinstance(s, _IPPeer) and s.kubernetes and s.block == block for r, _ in rules for s in r.peers or ()
        )

    def peer_at(self, index: int) -> Peer:
        """The peer numbered `index` past the pod classes (an interval, entity or FQDN)."""
        peer = self.peers[index]
        assert peer is not None, index
        return peer

    def _add(self, peer: Peer) -> int:
        self.peers.append(peer)
        return len(self.peers) - 1

    def _add_atoms(self, atoms: dict[int, list[ExternalPeer]]) -> dict[int, list[tuple[ExternalPeer, int]]]:
        return {version: [(atom, self._add(atom)) for atom in found] for version, found in atoms.items()}

    @staticmethod
    def _bits(atoms: dict[int, list[tuple[ExternalPeer, int]]]) -> int:
        return sum(1 << index for found in atoms.values() for _, index in found)

    def atom_index(self, direction: str, version: int, address: int) -> int | None:
        """The universe index of the interval holding `address` among sources ("Ingress") or destinations."""
        atoms = (self.src_atoms if direction == "Ingress" else self.dst_atoms).get(version)
        if not atoms:
            return None
        return atoms[bisect.bisect_right(self.starts(direction, version), address) - 1][1]

    def starts(self, direction: str, version: int) -> list[int]:
        """First addresses of the source ("Ingress") or destination intervals of an IP version, ascending."""
        key = (direction, version)
        if key not in self._starts:
            atoms = (self.src_atoms if direction == "Ingress" else self.dst_atoms).get(version, [])
            self._starts[key] = [a.first for a, _ in atoms]
        return self._starts[key]


def _namespace_labels(cluster: Cluster, name: str) -> Mapping[str, str]:
    # R5: the control plane sets the name label on every namespace, also on one built in code without it
    namespace = cluster.namespaces.get(name)
    return {**(namespace.labels if namespace is not None else {}), NAMESPACE_NAME_LABEL: name}


def _ip_in_block(ip: str, block: Block) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(v == address.version and lo <= int(address) <= hi for v, lo, hi in block)


class _LabelIndex:
    """The pod classes carrying each label and each label key, as bitsets, so that a selector is a few set
    operations rather than a test of every class: the Check view matches hundreds of classes against
    thousands of rule peers. `select` is `LabelSelector.matches`, operator by operator."""

    def __init__(self, labels: Iterable[Mapping[str, str]]) -> None:
        self.pairs: dict[tuple[str, str], int] = {}
        self.keys: dict[str, int] = {}
        for index, found in enumerate(labels):
            bit = 1 << index
            for pair in found.items():
                self.pairs[pair] = self.pairs.get(pair, 0) | bit
                self.keys[pair[0]] = self.keys.get(pair[0], 0) | bit

    def select(self, selector: LabelSelector, scope: int) -> int:
        """The classes among `scope` whose labels `selector` matches."""
        bits = scope
        for pair in selector.match_labels:
            bits &= self.pairs.get(pair, 0)
        for requirement in selector.match_expressions:
            if not bits:
                break
            key, operator = requirement.key, requirement.operator
            if operator in ("In", "NotIn"):
                having = 0
                for value in requirement.values:
                    having |= self.pairs.get((key, value), 0)
                bits = bits & having if operator == "In" else bits & ~having  # NotIn: absent keys match too
            elif operator == "Exists":
                bits &= self.keys.get(key, 0)
            else:
                bits &= ~self.keys.get(key, 0)
        return bits


class _Matcher:
    """Turns rule peers into bitsets over the universe, caching what repeats across rules."""

    def __init__(self, universe: _Universe, cluster: Cluster) -> None:
        self.u = universe
        self.cluster = cluster
        self.cache: dict[Any, int] = {}
        self.ns_classes: dict[str, int] = {}
        for cls in universe.classes:
            self.ns_classes[cls.pod.namespace] = self.ns_classes.get(cls.pod.namespace, 0) | (1 << cls.index)
        self.labels = _LabelIndex(cls.pod.labels for cls in universe.classes)
        self._identities: _LabelIndex | None = None

    @property
    def identities(self) -> _LabelIndex:
        """The index of Cilium identity labels, built when a Cilium policy first needs it."""
        if self._identities is None:
            self._identities = _LabelIndex(cls.identity for cls in self.u.classes)
        return self._identities

    def subjects(self, policy: _Policy) -> int:
        scope = self.u.class_bits if policy.namespace is None else self.ns_classes.get(policy.namespace, 0)
        if policy.on_identity:  # a hostNetwork pod is no Cilium endpoint: only host policies apply to it
            scope &= ~self.u.host_network_bits
        return (self.identities if policy.on_identity else self.labels).select(policy.selector, scope)

    def rule(self, rule: _Rule, direction: str) -> int:
        everything = self.u.all_src if direction == "Ingress" else self.u.all_dst
        if rule.peers is None:
            return everything
        bits = 0
        for selector in rule.peers:
            bits |= self.peer(selector, direction)
        return bits & everything

    def peer(self, selector: PeerSel, direction: str) -> int:
        key = (selector, direction)
        if key not in self.cache:
            self.cache[key] = self._peer(selector, direction)
        return self.cache[key]

    def _peer(self, selector: PeerSel, direction: str) -> int:
        u = self.u
        atoms = u.src_atoms if direction == "Ingress" else u.dst_atoms
        if isinstance(selector, _PodPeer):
            if selector.namespaces is None:
                ns_bits = self.ns_classes.get(selector.policy_namespace, 0)
            else:
                ns_selector = selector.namespaces
                ns_bits = 0
                for name, bits in self.ns_classes.items():
                    if ns_selector.matches(_namespace_labels(self.cluster, name)):
                        ns_bits |= bits
            if selector.pods is None:
                return ns_bits
            return self.labels.select(selector.pods, ns_bits)
        if isinstance(selector, _IPPeer):
            bits = 0
            for version, lo, hi in selector.block:
                # intervals are cut at every block boundary: those starting inside the block lie inside it
                found = atoms.get(version, [])
                starts = u.starts(direction, version)
                for _, index in found[bisect.bisect_left(starts, lo) : bisect.bisect_right(starts, hi)]:
                    bits |= 1 << index
            if selector.kubernetes and selector.block in u.pod_blocks:
                bits |= sum(1 << c.index for c in u.classes if selector.block in u.class_blocks[c.index])
            if any(lo == 0 and hi == _WORLD_BLOCKS[v][0][2] for v, lo, hi in selector.block):
                bits |= sum(1 << i for i in u.fqdns.values())
            return bits
        if isinstance(selector, _EndpointPeer):
            # A selector matches the identities whose labels it matches: pods', and the reserved identities of
            # entities and of addresses outside the cluster, which have no namespace label (C10b)
            endpoint = selector.selector
            bits = self.identities.select(endpoint, u.class_bits)
            for name, index in u.entities.items():
                if endpoint.matches(_non_pod_identity(name)):
                    bits |= 1 << index
            for version, found in atoms.items():
                if endpoint.matches(_non_pod_identity(f"world-ipv{version}")):
                    bits |= sum(1 << i for _, i in found)
                    if direction == "Egress":
                        bits |= sum(1 << i for i in u.fqdns.values())
            return bits
        if isinstance(selector, _EntityPeerSel):
            return self._entity(selector.name, atoms)
        return sum(1 << index for name, index in u.fqdns.items() if _fqdn_selects(selector, FqdnPeer(name)))

    def _entity(self, name: str, atoms: dict[int, list[tuple[ExternalPeer, int]]]) -> int:
        u = self.u
        fqdn_bits = sum(1 << i for i in u.fqdns.values())
        if name in _WORLD_VERSIONS:
            return sum(1 << i for v in _WORLD_VERSIONS[name] for _, i in atoms.get(v, ())) | fqdn_bits
        entity_bits = sum(1 << i for i in u.entities.values())
        if name == "cluster":
            return u.class_bits | entity_bits
        if name == "all":
            return u.class_bits | entity_bits | fqdn_bits | sum(1 << i for found in atoms.values() for _, i in found)
        if name in u.entities:
            hosts = u.host_network_bits if name in ("host", "remote-node") else 0
            return 1 << u.entities[name] | hosts
        return 0


def _resolve_ports(
    entries: list[_PortEntry] | None,
    receiver: _PodClass | None,
    cluster: Mapping[tuple[str, str], set[int]] | None = None,
) -> tuple[ConnectionSet, list[str]]:
    """The connections a rule's port list allows towards `receiver` (None: not a pod), and the named ports
    that did not resolve there. With `cluster` ((name, protocol) -> numbers over every pod), a named port
    resolves cluster-wide instead, as Cilium does on egress, and a name with two numbers matches nothing (C10a,
    cilium/cilium `pkg/types/portmap.go` GetNamedPort: ErrDuplicateNamedPorts)."""
    if entries is None:
        return ALL_CONNECTIONS, []
    result = NO_CONNECTIONS
    unresolved: list[str] = []
    for entry in entries:
        if entry.port is None:
            result = result | ConnectionSet.of(entry.protocols)
        elif isinstance(entry.port, int):
            result = result | ConnectionSet.of(entry.protocols, entry.port, entry.end or entry.port)
        elif cluster is not None:
            found = False
            for protocol in entry.protocols:
                numbers = cluster.get((entry.port, protocol), set())
                if len(numbers) == 1:
                    (number,) = numbers
                    result = result | ConnectionSet.of((protocol,), number, number)
                    found = True
            if not found:
                unresolved.append(entry.port)
        else:
            found = False
            for port in receiver.pod.ports if receiver is not None else ():
                if port.name == entry.port and port.protocol in entry.protocols:
                    result = result | ConnectionSet.of((port.protocol,), port.port, port.port)
                    found = True
                    break
            if not found:
                unresolved.append(entry.port)
    return result, unresolved
