"""The NetworkPolicy tier between Admin and Baseline: the existing analysis (`editor.policy.analysis`) asked
through its public queries (`explain`, `workload_peer`, `external_peer`) for one direction of one connection.

It decides only when the pod is isolated in that direction (some NetworkPolicy selects it for it), or when a
Cilium deny rule of a selecting policy covers the port; otherwise the connection goes on to the Baseline tier
(network-policy-api `site-src/api-overview.md`: "if no NetworkPolicy selects the pod, BANP rules apply").
"""

from __future__ import annotations

from ..analysis import Analysis, Peer
from ..yamlio import InputError
from .tiers import Decision, Endpoint


class NetworkPolicyTier:
    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis

    def _peer(self, endpoint: Endpoint, as_source: bool) -> Peer:
        if endpoint.in_pod_network and endpoint.workload is not None:
            return self.analysis.workload_peer(endpoint.workload)
        try:
            return self.analysis.external_peer(endpoint.ips[0], as_source)
        except KeyError as exc:
            raise InputError(f"cannot evaluate NetworkPolicy towards {endpoint}: {exc.args[0]}", "probe") from None

    def decide(self, direction: str, subject: Endpoint, peer: Endpoint, protocol: str, port: int) -> Decision | None:
        if not subject.in_pod_network or subject.workload is None:
            return None  # NetworkPolicy does not select host-network pods
        own = self.analysis.workload_peer(subject.workload)
        other = self._peer(peer, as_source=direction == "Ingress")
        if direction == "Egress":
            side = self.analysis.explain(own, other).egress
        else:
            side = self.analysis.explain(other, own).ingress
        if side is None or not side.selecting:
            return None
        allowed = side.allowed.allows(protocol, port)
        if side.always:
            return Decision(direction, True, "NetworkPolicy", rule=side.always)
        matching = [m for m in side.matches if m.connections.allows(protocol, port)]
        denying = next((m for m in matching if m.deny), None)
        if denying is not None:
            return Decision(direction, False, "NetworkPolicy", str(denying.policy), denying.rule)
        if not side.isolated:
            return None
        if allowed:
            match = next(m for m in matching if not m.deny)
            return Decision(direction, True, "NetworkPolicy", str(match.policy), match.rule)
        isolating = ", ".join(str(p) for p in side.isolating)
        return Decision(direction, False, "NetworkPolicy", isolating, f"isolates it and no {direction} rule allows it")
