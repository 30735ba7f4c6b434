"""A drawing compiled and its YAML analysed over the drawing's own cluster."""

from __future__ import annotations

import dataclasses

from ..analysis import (
    Analysis,
    Options,
    WorkloadPeer,
    analyse,
)
from ..compile import CompileResult, compile_document
from ..document import Document
from ..manifests import PolicyObject, read_cluster
from ..yamlio import objects_as_written
from .cluster import BridgePod, DocumentCluster, document_cluster
from .layers import layered_analyses
from .observed import add_observed


def policy_objects(result: CompileResult) -> list[PolicyObject]:
    """The compiled policies as the analyser reads them, with lines that point into the compiled YAML."""
    return read_cluster(objects_as_written(result.objects, f"<compiled {result.dialect} policies>")).policies


@dataclasses.dataclass
class Bridge:
    """A drawing, its compiled policies and what they allow over the drawing's cluster."""

    document: Document
    compiled: CompileResult
    cluster: DocumentCluster
    analysis: Analysis  # through the platform tiers when the drawing has platform layers (check/layers.py)
    peers: dict[WorkloadPeer, BridgePod]
    application: Analysis | None = None  # the application layer's policies alone, when `analysis` has more

    def application_only(self) -> Bridge:
        """This bridge with the application layer's analysis: what the drawing's application edges are proved by."""
        if self.application is None:
            return self
        peers = {self.application.workload_peer(pod.workload): pod for pod in self.cluster.pods}
        return dataclasses.replace(self, analysis=self.application, peers=peers, application=None)

    @property
    def dialect(self) -> str:
        return self.compiled.dialect

    @property
    def pods(self) -> list[BridgePod]:
        return self.cluster.pods


def analyse_document(
    document: Document,
    dialect: str | None = None,
    *,
    observed: Document | None = None,
    compiled: CompileResult | None = None,
) -> Bridge:
    """Compile `document` and analyse the YAML over its cluster (plus the workloads `observed` flows name).

    `compiled` is the document's compile result when the caller kept it (a staged revision judges each new
    batch of observations over the same policies)."""
    compiled = compiled if compiled is not None else compile_document(document, dialect)
    bridge_cluster = document_cluster(document, policy_objects(compiled))
    if observed is not None:
        bridge_cluster = DocumentCluster(add_observed(bridge_cluster.cluster, observed), bridge_cluster.pods)
    # The compiler warns that node peers need the agent flag; the drawing's cluster is one that has it.
    options = Options(ipblock_matches_pods=document.settings.ipblock_matches_pods, node_selector_labels=True)
    application = None
    if compiled.platform_objects:
        analysis, application = layered_analyses(compiled, bridge_cluster.cluster, options)
    else:
        analysis = analyse(bridge_cluster.cluster, options)
    peers = {analysis.workload_peer(pod.workload): pod for pod in bridge_cluster.pods}
    return Bridge(document, compiled, bridge_cluster, analysis, peers, application)
