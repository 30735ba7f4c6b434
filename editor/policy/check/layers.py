"""The Check view of a drawing with platform layers: the analysis through the tiers, and which tier decided each cell.

With platform layers (layers.py) the compiled YAML is analysed as the cluster would run it: in the native dialect
through the tiers (`platform.connlist.TieredAnalysis`: Admin, then NetworkPolicy, then Baseline, then allow) with
the platform policies read back from the emitted ClusterNetworkPolicy / ANP / BANP objects; in the Cilium dialect
the CCNPs are Cilium policies like the others (a deny wins over every allow), and a cell they change is attributed to
the layer of the CCNP whose rule the analyser matched. The application layer's own analysis
(without the platform objects) is kept apart: it is what the drawing's application edges are proved against.

Every cell of the matrix says which tier decided it (`tier`: admin, application, baseline or default) and why:
the tier of the connections the cell denies when it denies some, else of those it allows, the highest tier first
(Admin before NetworkPolicy before Baseline before the default), in `--explain`'s words ("ClusterNetworkPolicy 'x'
(Admin tier) denies connections by Egress rule y").
"""

from __future__ import annotations

import dataclasses

from ..analysis import Analysis, ConnectionSet, Options, Peer, WorkloadPeer, analyse
from ..analysis.explain_text import explain_pair
from ..compile import CompileResult
from ..document import Document
from ..manifests import Cluster
from ..platform.connlist import TieredAnalysis, TierPart
from ..platform.from_drawing import drawn_as_emitted, read_back
from .intent import End, Intent

UNEXPLAINED = "the compiled policies do not allow it although the drawing does (see mismatches)"
TIER_NAMES = {"Admin": "admin", "NetworkPolicy": "application", "Baseline": "baseline", "default": "default"}
_PRECEDENCE = ("Admin", "NetworkPolicy", "Baseline", "default")


def layered_analyses(compiled: CompileResult, cluster: Cluster, options: Options) -> tuple[Analysis, Analysis]:
    """(the analysis with the platform layers, the application layer's alone) of the compiled objects."""
    platform = compiled.objects[len(compiled.objects) - compiled.platform_objects :]
    names = {(obj["kind"], obj["metadata"]["name"]) for obj in platform}
    own = [p for p in cluster.policies if not (p.namespace is None and (p.kind, p.name) in names)]
    application = analyse(dataclasses.replace(cluster, policies=own), options)
    if compiled.dialect == "cilium":
        return analyse(cluster, options), application  # the CCNPs are in `cluster.policies`
    return TieredAnalysis(dataclasses.replace(cluster, policies=own), options, read_back(compiled)), application


def platform_layers(document: Document, compiled: CompileResult) -> dict[str, str]:
    """The Cilium dialect's platform CCNPs by name -> their layer ("admin" or "baseline"); empty otherwise."""
    if compiled.dialect != "cilium" or not compiled.platform_objects:
        return {}
    return {
        drawn.policy.ref.name: "admin" if drawn.policy.tier == "Admin" else "baseline"
        for drawn in drawn_as_emitted(document, compiled)
    }


@dataclasses.dataclass(frozen=True)
class CellTier:
    tier: str  # admin, application, baseline or default
    reason: str


def explain_lines(analysis: Analysis, src: Peer, dst: Peer) -> list[str]:
    """The analyser's reasons for one pair: through the tiers (`connlist --explain`'s tier lines) when the analysis
    has them, netpol-analyzer's explain layout otherwise."""
    if isinstance(analysis, TieredAnalysis):
        return str(analysis.explain(src, dst)).splitlines()
    return explain_pair(analysis, src, dst)


def _part_text(part: TierPart) -> str:
    if part.reasons:
        return "; ".join(f"{reason}: {part.connections}" for reason in part.reasons)
    if part.tier == "NetworkPolicy":
        return f"{'allowed' if part.allowed else 'denied'} by NetworkPolicy: {part.connections}"
    return f"no policy decides (allowed by default): {part.connections}"


def _parts(analysis: TieredAnalysis, src: Peer, dst: Peer) -> list[TierPart]:
    parts: list[TierPart] = []
    if isinstance(src, WorkloadPeer):
        parts += analysis.tier_parts("Egress", src, dst)
    if isinstance(dst, WorkloadPeer):
        parts += analysis.tier_parts("Ingress", src, dst)
    return parts


def _deciding(parts: list[TierPart]) -> CellTier:
    """The tier of what is denied when something is, else of what is allowed; the highest tier first."""
    chosen = [p for p in parts if not p.allowed] or parts
    if not chosen:
        return CellTier("default", "no policy decides (allowed by default)")
    best = min(_PRECEDENCE.index(p.tier) for p in chosen)
    deciding = [p for p in chosen if _PRECEDENCE.index(p.tier) == best]
    return CellTier(TIER_NAMES[_PRECEDENCE[best]], "; ".join(dict.fromkeys(_part_text(p) for p in deciding)))


def connection_tier(analysis: Analysis, src: Peer, dst: Peer, protocol: str, port: int | None) -> CellTier | None:
    """Which tier decided one connection (flow replay; any port of `protocol` when `port` is None), or None when
    the analysis has no platform tiers."""
    if not isinstance(analysis, TieredAnalysis):
        return None
    parts = [
        p
        for p in _parts(analysis, src, dst)
        if (p.connections.allows(protocol, port) if port is not None else dict(p.connections.items()).get(protocol))
    ]
    return _deciding(parts)


_DEFAULT = CellTier("default", "no policy isolates either end (allowed by default)")


class CellTiers:
    """Which tier decided each cell (see the module docstring)."""

    def __init__(self, analysis: Analysis, intent: Intent, layers: dict[str, str]) -> None:
        self.analysis = analysis
        self.intent = intent
        self.layers = layers  # name of each platform CCNP -> its layer (the Cilium dialect's analysis is not tiered)
        self._application: dict[tuple[bool, ConnectionSet], CellTier] = {}  # cells alike share one answer

    def cell(self, src: Peer, dst: Peer, src_end: End, dst_end: End, connections: ConnectionSet) -> CellTier:
        analysis = self.analysis
        if isinstance(analysis, TieredAnalysis) and (
            (isinstance(src, WorkloadPeer) and analysis.platform_touches("Egress", src, dst))
            or (isinstance(dst, WorkloadPeer) and analysis.platform_touches("Ingress", src, dst))
        ):
            return _deciding(_parts(analysis, src, dst))
        return self._plain(src, dst, src_end, dst_end, connections)  # no platform rule has a say: as without them

    def _plain(self, src_peer: Peer, dst_peer: Peer, src: End, dst: End, connections: ConnectionSet) -> CellTier:
        intent = self.intent
        isolated = (isinstance(src, int) and intent.isolated["egress"][src]) or (
            isinstance(dst, int) and intent.isolated["ingress"][dst]
        )
        if self.layers and not isinstance(self.analysis, TieredAnalysis):
            intended = intent.between(src, dst)
            if connections != intended:
                return self._cilium(src_peer, dst_peer, connections, intended, isolated)
        if isolated or not connections.is_all:
            key = (isolated, connections)
            found = self._application.get(key)
            if found is None:
                status = "allowed" if connections.is_all else ("partly allowed" if connections else "denied")
                text = f"{status} by the application layer's policies: {connections}"
                found = self._application[key] = CellTier("application", text)
            return found
        return _DEFAULT

    def _cilium(
        self, src: Peer, dst: Peer, connections: ConnectionSet, intended: ConnectionSet, isolated: bool
    ) -> CellTier:
        """A cell the platform's CCNPs changed: the CCNP rules the analyser matched (a deny, or an allow that adds),
        else the CCNP that isolates it (a Baseline default deny)."""
        explanation = self.analysis.explain(src, dst)
        opened = connections - intended
        for side in (explanation.egress, explanation.ingress):
            for match in side.matches if side is not None else ():
                layer = self.layers.get(match.policy.name) if match.policy.namespace is None else None
                if layer is not None and match.deny != bool(opened):  # a deny took some, or an allow added some
                    verb = "denies" if match.deny else "allows"
                    return CellTier(layer, f"{match.policy} {verb} connections by {match.rule}: {match.connections}")
        for side in (explanation.egress, explanation.ingress):
            if side is None:
                continue
            for ref in side.isolating:
                layer = self.layers.get(ref.name) if ref.namespace is None else None
                if layer is not None:
                    return CellTier(layer, f"{ref} isolates {side.pod} for {side.direction} (Cilium default deny)")
        tier = "admin" if isolated or opened else "baseline"
        return CellTier(tier, f"a CiliumClusterwideNetworkPolicy of the {tier} layer changed it: {connections}")

    def flag(
        self, src: Peer, dst: Peer, src_end: End, dst_end: End, allowed: ConnectionSet, reasons: list[str]
    ) -> list[str]:
        """A flagged edge's reasons, led by the platform tier that decided against it (when one did)."""
        decided = self.cell(src, dst, src_end, dst_end, allowed)
        if decided.tier not in ("admin", "baseline"):
            return reasons
        return [f"decided by the {decided.tier} tier: {decided.reason}", *(r for r in reasons if r != UNEXPLAINED)]
