"""The set of policies a lint or rating run looks at, and the questions rules ask about the whole set.

Kubernetes and Cilium policies are additive: whether a pod's egress is isolated, or DNS is allowed, depends on
every policy that selects the pod, not only on the one being read. When workloads are known the answer is
computed per workload; otherwise a policy stands for its own pods, and another policy counts when its subject
provably includes them (same namespace, selector with a subset of the terms).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Iterator

from ..manifests import ContainerPort
from ..platform.model import PlatformPolicy
from ..platform.tiers import Endpoint, admin_accepts
from ..selectors import LabelSelector
from .model import GATEWAY_ANNOTATION, GATEWAY_WORDS, Inventory, KnownWorkload, LintFinding, LintSettings
from .policyview import CILIUM_SERVICE_ACCOUNT_KEY, NAMESPACE_NAME_LABEL, Peer, PodScope, PolicyView, RuleView

# Container ports CoreDNS and kube-dns declare; used when the DNS workload itself is not in the input.
DNS_PORTS: tuple[tuple[str | None, int, str], ...] = (("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"))
_NO_PODS: frozenset[int] = frozenset()


@dataclasses.dataclass
class LintContext:
    policies: list[PolicyView]
    settings: LintSettings
    inventory: Inventory
    # ClusterNetworkPolicy / ANP / BANP beside the policies: what their Admin tier accepts needs no NetworkPolicy rule
    platform: list[PlatformPolicy] = dataclasses.field(default_factory=list)
    _matched: dict[tuple[LabelSelector, LabelSelector], list[KnownWorkload]] = dataclasses.field(
        default_factory=dict, init=False, repr=False
    )

    @property
    def knows_workloads(self) -> bool:
        return bool(self.inventory.workloads)

    def rules(self, *, cilium: bool | None = None, kind: str | None = None) -> Iterator[tuple[PolicyView, RuleView]]:
        """Every rule of every policy (only Cilium's, or only native ones, or only those of one kind), with its
        policy."""
        for policy in self.policies:
            if (cilium is None or policy.cilium == cilium) and (kind is None or policy.kind == kind):
                for rule_view in policy.rules:
                    yield policy, rule_view

    # --- pods -------------------------------------------------------------------------------------------
    # Workloads are matched through an index (by namespace and by one pod label) and each policy's selection is
    # computed once: lint and rating ask the same questions many times over sets of thousands of objects.

    def pod_labels(self, workload: KnownWorkload) -> dict[str, str]:
        """Labels as both dialects see them: Cilium adds the service account label to every endpoint."""
        return {**workload.labels, CILIUM_SERVICE_ACCOUNT_KEY: workload.service_account}

    @functools.cached_property
    def _pods(self) -> list[tuple[KnownWorkload, dict[str, str], dict[str, str]]]:
        inventory = self.inventory
        return [(w, inventory.namespace_labels(w.namespace), self.pod_labels(w)) for w in inventory.workloads]

    @functools.cached_property
    def _index(self) -> dict[tuple[str, str], list[int]]:
        """Positions in `_pods` by pod label (key, value) and by ("", namespace name)."""
        index: dict[tuple[str, str], list[int]] = {}
        for position, (workload, _, labels) in enumerate(self._pods):
            index.setdefault(("", workload.namespace), []).append(position)
            for pair in labels.items():
                index.setdefault(pair, []).append(position)
        return index

    def matching(self, scope: PodScope) -> list[KnownWorkload]:
        """The known workloads whose pods `scope` selects (the same list for the same selectors: the policies of
        a drawing name each workload's selector in many peers, and lint and rating ask for all of them)."""
        key = (scope.namespaces, scope.pods)
        found = self._matched.get(key)
        if found is None:
            found = self._matched[key] = self._match(scope)
        return found

    def _match(self, scope: PodScope) -> list[KnownWorkload]:
        # Only the workloads every term of the selectors allows (the namespace's name, each pod label): "app=api"
        # alone is in every namespace of a cluster, "team=payments" in a whole namespace, both in one workload.
        pools = []
        namespace = dict(scope.namespaces.match_labels).get(NAMESPACE_NAME_LABEL)
        if namespace is not None:
            pools.append(("", namespace))
        pools += scope.pods.match_labels
        candidates: Iterable[int] = range(len(self._pods))
        if pools:
            index = self._index_sets
            candidates = sorted(frozenset.intersection(*(index.get(pair, _NO_PODS) for pair in pools)))
        found = []
        for position in candidates:
            workload, namespace_labels, labels = self._pods[position]
            if scope.matches(namespace_labels, labels):
                found.append(workload)
        return found

    @functools.cached_property
    def _index_sets(self) -> dict[tuple[str, str], frozenset[int]]:
        """`_index` as sets; a pair no pod has is not in it (looked up with .get, so it is not added either)."""
        return {pair: frozenset(positions) for pair, positions in self._index.items()}

    @functools.cached_property
    def _selections(self) -> dict[int, list[KnownWorkload]]:
        return {id(p): self.matching(p.subject) if p.subject is not None else [] for p in self.policies}

    @functools.cached_property
    def _selected_by(self) -> dict[int, list[PolicyView]]:
        selected_by: dict[int, list[PolicyView]] = {}
        for policy in self.policies:
            for workload in self.workloads_of(policy):
                selected_by.setdefault(id(workload), []).append(policy)
        return selected_by

    def workloads_of(self, policy: PolicyView) -> list[KnownWorkload]:
        if id(policy) not in self._selections:
            return self.matching(policy.subject) if policy.subject is not None else []
        return self._selections[id(policy)]

    def policies_selecting(self, workload: KnownWorkload) -> list[PolicyView]:
        return self._selected_by.get(id(workload), [])

    def peer_matches(self, peer: Peer, workload: KnownWorkload) -> bool:
        if peer.kind == "entity":
            return peer.entity in ("all", "cluster")
        if peer.kind != "pods" or peer.scope is None:
            return False
        return peer.scope.matches(self.inventory.namespace_labels(workload.namespace), self.pod_labels(workload))

    def peer_workloads(self, peer: Peer) -> list[KnownWorkload]:
        """The known workloads a peer selects."""
        if peer.kind == "entity" and peer.entity in ("all", "cluster"):
            return list(self.inventory.workloads)
        return self.matching(peer.scope) if peer.kind == "pods" and peer.scope is not None else []

    @functools.cached_property
    def dns_workload(self) -> KnownWorkload:
        """The cluster DNS pods: the known workload that carries the configured labels, or a stand-in."""
        selector = LabelSelector(tuple(sorted(self.settings.dns_labels.items())))
        for workload in self.inventory.workloads:
            if workload.namespace == self.settings.dns_namespace and selector.matches(workload.labels):
                return workload
        return KnownWorkload(self.settings.dns_namespace, "cluster-dns", dict(self.settings.dns_labels), DNS_PORTS)

    def rule_reaches_dns(self, rule: RuleView) -> bool:
        """Whether an egress allow rule lets UDP DNS queries through to the cluster DNS pods."""
        dns = self.dns_workload
        if rule.peers is not None and not any(self.peer_matches(peer, dns) for peer in rule.peers):
            return False
        if rule.ports is None:
            return True
        names = tuple(name for name, number, protocol in dns.ports if name and protocol == "UDP")
        return any(port.allows("UDP", self.settings.dns_port, names) for port in rule.ports)

    def _endpoint(self, workload: KnownWorkload) -> Endpoint:
        return Endpoint(
            workload.ips or ("0.0.0.0",),  # address unknown: one only a catch-all `networks` peer (0.0.0.0/0) holds
            workload.namespace,
            workload.name,
            workload.labels,
            self.inventory.namespace_labels(workload.namespace),
            tuple(ContainerPort(name, number, protocol) for name, number, protocol in workload.ports),
        )

    def admin_gives_dns(self, workload: KnownWorkload) -> bool:
        """Whether the platform's Admin tier accepts the workload's DNS queries (UDP) to the cluster DNS: then no
        NetworkPolicy can take them away (network-policy-api: the Admin tier is evaluated first)."""
        if not self.platform:
            return False
        pod, dns = self._endpoint(workload), self._endpoint(self.dns_workload)
        return admin_accepts(self.platform, "Egress", pod, dns, "UDP", self.settings.dns_port) is not None

    # --- the set ---------------------------------------------------------------------------------------

    @functools.cached_property
    def _by_namespace(self) -> dict[str | None, list[PolicyView]]:
        """Policies by the one namespace their subject is in (None: any other subject)."""
        groups: dict[str | None, list[PolicyView]] = {}
        for policy in self.policies:
            if policy.subject is not None:
                name = dict(policy.subject.namespaces.match_labels).get(NAMESPACE_NAME_LABEL)
                groups.setdefault(name, []).append(policy)
        return groups

    def covering(self, policy: PolicyView) -> list[PolicyView]:
        """Policies (this one first) that provably apply to every pod this policy selects."""
        if policy.subject is None:
            return [policy]
        name = dict(policy.subject.namespaces.match_labels).get(NAMESPACE_NAME_LABEL)
        candidates = self._by_namespace.get(None, []) + (self._by_namespace.get(name, []) if name else [])
        others = [
            other
            for other in candidates
            if other is not policy and other.subject is not None and other.subject.covers(policy.subject)
        ]
        return [policy, *others]

    def holds_for_pods(
        self,
        policy: PolicyView,
        test: Callable[[PolicyView], bool],
        given: Callable[[KnownWorkload], bool] = lambda workload: False,
    ) -> tuple[bool, list[str]]:
        """Whether, for every pod of `policy`, some policy applying to it passes `test` (or `given` says the pod
        has it anyway, e.g. from the platform tiers).

        Returns (holds, the workloads for which it fails). With known workloads each selected workload is
        checked against every policy selecting it; otherwise the policies covering `policy` are used, and the
        policy's subject stands for its pods (when it names one namespace).
        """
        workloads = self.workloads_of(policy) if self.knows_workloads else []
        if not workloads:
            stand_in = self._subject_stand_in(policy)
            covered = stand_in is not None and given(stand_in)
            return covered or any(test(other) for other in self.covering(policy)), []
        failing = [
            str(workload)
            for workload in workloads
            if not given(workload) and not any(test(other) for other in self.policies_selecting(workload))
        ]
        return not failing, failing

    @staticmethod
    def _subject_stand_in(policy: PolicyView) -> KnownWorkload | None:
        """A pod with just the labels the policy's subject requires, in its one namespace (None: no one namespace)."""
        subject = policy.subject
        namespace = dict(subject.namespaces.match_labels).get(NAMESPACE_NAME_LABEL) if subject else None
        if subject is None or namespace is None:
            return None
        return KnownWorkload(namespace, "(its pods)", dict(subject.pods.match_labels), ())

    def is_gateway(self, policy: PolicyView) -> bool:
        """An ingress gateway: marked by annotation or setting, or named like one (labels, workload, namespace).

        The policy's own name is not a hint: "allow-ingress-from-x" names the direction, not a gateway.
        """
        if str(policy.annotations.get(GATEWAY_ANNOTATION, "")).lower() == "true":
            return True
        if set(policy.node_ids) & set(self.settings.gateway_nodes):
            return True
        workloads = self.workloads_of(policy)
        if any(gateway.matches(w.labels) for gateway in self.settings.gateways for w in workloads):
            return True
        if policy.subject is not None and any(
            gateway.match_labels and set(gateway.match_labels) <= set(policy.subject.pods.match_labels)
            for gateway in self.settings.gateways
        ):
            return True
        words: list[str] = [policy.namespace or ""]
        if policy.subject is not None:
            words += [value for _, value in policy.subject.pods.match_labels]
        for workload in workloads:
            words += [workload.name, workload.namespace, *workload.labels.values()]
        texts = [text.lower() for text in words]
        return any(word in text for text in texts for word in GATEWAY_WORDS)


Check = Callable[[LintContext], Iterable[LintFinding]]
CHECKS: list[Check] = []


def check(function: Check) -> Check:
    """Register a rule module's check; the engine runs every registered check over each input set."""
    CHECKS.append(function)
    return function
