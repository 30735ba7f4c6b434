"""The platform team's four templates, as platform policies (compile them with `emit`, check them with `tiers`).

* cluster DNS for everyone: Admin Accept, every pod to the cluster DNS pods on UDP and TCP 53 (both ends);
* never the cloud metadata service: Admin Deny, every pod to 169.254.169.254/32 (and fd00:ec2::254/128, the
  IPv6 address of the same service on AWS);
* default deny unless an application allows: Baseline Deny, every pod, both directions;
* monitoring may scrape everything: Admin Accept, the monitoring pods to every pod on every port (both ends).

A template is a list of policies because an Accept must open both ends of a connection: egress of the source and
ingress of the destination are decided separately, and a Baseline default deny closes both.

Priorities: the deny comes first (10: a Deny that an Accept above it could open would not be a guarantee), then
the accepts (20/21, 30/31); the gaps leave room for the platform team's own policies.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping

from ..manifests import NAMESPACE_NAME_LABEL
from ..selectors import LabelSelector
from .model import (
    ADMIN,
    ALLOW,
    BASELINE,
    DENY,
    V1ALPHA2_ACTIONS,
    PlatformPeer,
    PlatformPolicy,
    PlatformPort,
    PlatformRef,
    PlatformRule,
    PodSet,
)

_ALL = LabelSelector((), ())
EVERY_POD = PodSet(_ALL)
METADATA_ADDRESSES = ("169.254.169.254/32", "fd00:ec2::254/128")


def _labels(labels: Mapping[str, str]) -> LabelSelector:
    return LabelSelector(tuple(sorted(labels.items())), ())


def _policy(name: str, tier: str, priority: int, subject: PodSet, *rules: PlatformRule) -> PlatformPolicy:
    ref = PlatformRef("ClusterNetworkPolicy", name, tier, priority, "template")
    return PlatformPolicy(
        ref,
        subject,
        tuple(r for r in rules if r.direction == "Ingress"),
        tuple(r for r in rules if r.direction == "Egress"),
    )


def _rule(
    direction: str,
    index: int,
    name: str,
    verdict: str,
    peer: PlatformPeer,
    ports: tuple[PlatformPort, ...] | None = None,
) -> PlatformRule:
    action = V1ALPHA2_ACTIONS[verdict]  # as a ClusterNetworkPolicy writes it
    return PlatformRule(direction, index, name, action, verdict, (peer,), ports)


def cluster_dns(namespace: str = "kube-system", labels: Mapping[str, str] | None = None) -> list[PlatformPolicy]:
    """Both ends: every pod's egress to the DNS pods, and the DNS pods' ingress from every pod (a Baseline default
    deny would otherwise close the DNS pods' side)."""
    dns = PodSet(_labels({NAMESPACE_NAME_LABEL: namespace}), _labels(labels or {"k8s-app": "kube-dns"}))
    ports = (PlatformPort("UDP", 53, 53), PlatformPort("TCP", 53, 53))
    return [
        _policy(
            "cluster-dns", ADMIN, 20, EVERY_POD, _rule("Egress", 1, "to-cluster-dns", ALLOW, PlatformPeer(dns), ports)
        ),
        _policy(
            "cluster-dns-ingress",
            ADMIN,
            21,
            dns,
            _rule("Ingress", 1, "from-every-pod", ALLOW, PlatformPeer(EVERY_POD), ports),
        ),
    ]


def no_metadata_service() -> list[PlatformPolicy]:
    networks = tuple(ipaddress.ip_network(a) for a in METADATA_ADDRESSES)
    peer = PlatformPeer(networks=networks)
    return [_policy("no-metadata-service", ADMIN, 10, EVERY_POD, _rule("Egress", 1, "metadata", DENY, peer))]


def default_deny() -> list[PlatformPolicy]:
    everyone = PlatformPeer(EVERY_POD)
    world = PlatformPeer(networks=(ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")))
    return [
        _policy(
            "default",
            BASELINE,
            1000,
            EVERY_POD,
            _rule("Ingress", 1, "deny-all-ingress", DENY, everyone),
            _rule("Egress", 1, "deny-all-egress", DENY, everyone),
            _rule("Egress", 2, "deny-all-other-egress", DENY, world),
        )
    ]


def monitoring(namespace: str = "monitoring", labels: Mapping[str, str] | None = None) -> list[PlatformPolicy]:
    """Both ends: every pod's ingress from the monitoring pods, and the monitoring pods' egress to every pod."""
    pods = _labels(labels or {"app.kubernetes.io/name": "prometheus"})
    scraper = PodSet(_labels({NAMESPACE_NAME_LABEL: namespace}), pods)
    return [
        _policy(
            "monitoring-scrape",
            ADMIN,
            30,
            EVERY_POD,
            _rule("Ingress", 1, "from-monitoring", ALLOW, PlatformPeer(scraper)),
        ),
        _policy(
            "monitoring-egress", ADMIN, 31, scraper, _rule("Egress", 1, "to-every-pod", ALLOW, PlatformPeer(EVERY_POD))
        ),
    ]


TEMPLATES: dict[str, tuple[str, Callable[[], list[PlatformPolicy]]]] = {
    "cluster-dns": ("Cluster DNS for everyone (Admin accept)", cluster_dns),
    "no-metadata-service": ("Never the cloud metadata service 169.254.169.254 (Admin deny)", no_metadata_service),
    "default-deny": ("Default deny unless an application allows (Baseline deny)", default_deny),
    "monitoring": ("Monitoring may scrape everything (Admin accept)", monitoring),
}
