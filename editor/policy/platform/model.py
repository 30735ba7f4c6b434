"""The platform tiers' policies as read: ClusterNetworkPolicy (v1alpha2) and AdminNetworkPolicy /
BaselineAdminNetworkPolicy (v1alpha1) in one model.

Both APIs say the same things with different words (network-policy-api, `apis/v1alpha2/clusternetworkpolicy_types.go`
and `apis/v1alpha1/{admin,baselineadmin}networkpolicy_types.go`): a tier (Admin or Baseline), a priority inside the
tier (BANP has none: there is one), a subject (pods by namespace and pod selectors), and ordered ingress and egress
rules, each with an action, peers and ports. v1alpha2 `Accept` is v1alpha1 `Allow`; `verdict` holds the common word.
"""

from __future__ import annotations

import dataclasses
import ipaddress

from ..selectors import LabelSelector

ADMIN, BASELINE = "Admin", "Baseline"
ALLOW, DENY, PASS = "allow", "deny", "pass"
# The action each API version writes for a verdict, and the verdict of each action word.
V1ALPHA2_ACTIONS = {ALLOW: "Accept", DENY: "Deny", PASS: "Pass"}
V1ALPHA1_ACTIONS = {ALLOW: "Allow", DENY: "Deny", PASS: "Pass"}
VERDICTS = {"Accept": ALLOW, "Allow": ALLOW, "Deny": DENY, "Pass": PASS}
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclasses.dataclass(frozen=True)
class PlatformRef:
    """A platform policy as messages name it: `AdminNetworkPolicy 'x'` (netpol-analyzer's wording)."""

    kind: str
    name: str
    tier: str
    priority: int | None
    where: str

    def __str__(self) -> str:
        return f"{self.kind} '{self.name}'"

    @property
    def rank(self) -> str:
        """Where it stands: `Admin tier, priority 6`."""
        return f"{self.tier} tier" + (f", priority {self.priority}" if self.priority is not None else "")


@dataclasses.dataclass(frozen=True)
class PodSet:
    """Pods of the namespaces `namespaces` selects, and among them those `pods` selects (None: all)."""

    namespaces: LabelSelector
    pods: LabelSelector | None = None


@dataclasses.dataclass(frozen=True)
class PlatformPeer:
    """One entry of `from`/`to`: exactly one of its fields is set (the CRD's minProperties/maxProperties 1)."""

    pods: PodSet | None = None
    networks: tuple[Network, ...] = ()
    nodes: LabelSelector | None = None
    domain_names: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class PlatformPort:
    """A port entry: numbers `first`..`last` of `protocol`, or the container port called `name` (any protocol
    unless the v1alpha1 form names none, which also means any)."""

    protocol: str | None
    first: int = 0
    last: int = 0
    name: str | None = None


@dataclasses.dataclass(frozen=True)
class PlatformRule:
    direction: str  # "Ingress" or "Egress"
    index: int  # 1-based position in its list
    name: str
    action: str  # as written: Accept/Allow, Deny, Pass
    verdict: str  # ALLOW, DENY or PASS
    peers: tuple[PlatformPeer, ...]
    ports: tuple[PlatformPort, ...] | None  # None: every port of every protocol

    @property
    def label(self) -> str:
        """`Egress rule deny-to-x` (netpol-analyzer's wording), or the position when the rule has no name."""
        return f"{self.direction} rule {self.name or f'#{self.index}'}"


@dataclasses.dataclass(frozen=True)
class PlatformPolicy:
    ref: PlatformRef
    subject: PodSet
    ingress: tuple[PlatformRule, ...]
    egress: tuple[PlatformRule, ...]

    @property
    def tier(self) -> str:
        return self.ref.tier

    def rules(self, direction: str) -> tuple[PlatformRule, ...]:
        return self.ingress if direction == "Ingress" else self.egress
