"""The ends of a connection (workloads, address intervals, Cilium entities, FQDNs) and the analysis options."""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import ClassVar, NamedTuple


@dataclasses.dataclass(frozen=True)
class WorkloadPeer:
    namespace: str
    name: str
    kind: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}[{self.kind}]"


class ExternalPeer(NamedTuple):
    """An interval of IP addresses outside the cluster (as integers, with the IP version): a tuple, as the
    intervals of the policies' blocks are (analysis/parse.py Block), so it hashes and compares as fast."""

    version: int
    first: int
    last: int

    def __str__(self) -> str:
        make = ipaddress.IPv4Address if self.version == 4 else ipaddress.IPv6Address
        return f"{make(self.first)}-{make(self.last)}[External]"


@dataclasses.dataclass(frozen=True)
class _NamedPeer:
    name: str
    SUFFIX: ClassVar[str] = ""

    def __str__(self) -> str:
        return f"{self.name}[{self.SUFFIX}]"


@dataclasses.dataclass(frozen=True)
class EntityPeer(_NamedPeer):
    """A Cilium entity that is not a pod or an IP range (host, remote-node, kube-apiserver, ...)."""

    SUFFIX: ClassVar[str] = "Entity"


@dataclasses.dataclass(frozen=True)
class FqdnPeer(_NamedPeer):
    """A `toFQDNs` name or pattern: an external destination whose addresses are not known statically."""

    SUFFIX: ClassVar[str] = "FQDN"


@dataclasses.dataclass(frozen=True)
class Options:
    """Implementation-defined behaviour (SEMANTICS.md 3.6)."""

    # Whether a NetworkPolicy ipBlock also matches pods whose IP (status.podIP) it contains. Off: the
    # netpol-analyzer and Cilium behaviour; on: cyclonus, the upstream e2e tests and Calico.
    ipblock_matches_pods: bool = False
    # Whether the Cilium agent runs with --enable-node-selector-labels (off by default): without it a policy
    # with fromNodes/toNodes is refused (C4a) and analysed as absent.
    node_selector_labels: bool = False


@dataclasses.dataclass(frozen=True)
class IngressControllerPeer:
    """The ingress controller (or OpenShift router) that Ingress and Route objects let in, as netpol-analyzer
    names it; NetworkPolicy rules see it as a pod with no labels in a namespace with no labels."""

    def __str__(self) -> str:
        return "{ingress-controller}"


INGRESS_CONTROLLER = IngressControllerPeer()
Peer = WorkloadPeer | ExternalPeer | EntityPeer | FqdnPeer | IngressControllerPeer
