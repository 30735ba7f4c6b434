"""Reading manifests that hold platform policies: the cluster model (`manifests.read_cluster`) for everything the
NetworkPolicy analysis uses, plus the platform policies and the Nodes (whose addresses and labels `nodes` and
`networks` peers match, and whose address a host-network pod has)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from ..manifests import Cluster, load_paths, read_cluster
from ..shapes import mapping
from ..yamlio import InputError, KubeObject
from .model import BASELINE, PlatformPolicy
from .parse import is_platform_object, read_platform_policy


@dataclasses.dataclass(frozen=True)
class Node:
    name: str
    labels: dict[str, str]
    ips: tuple[str, ...]  # status.addresses of type InternalIP and ExternalIP


@dataclasses.dataclass
class PlatformInputs:
    cluster: Cluster
    policies: list[PlatformPolicy]
    nodes: dict[str, Node]
    pod_nodes: dict[tuple[str, str], str]  # (namespace, pod name) -> spec.nodeName
    warnings: list[str]


def read_platform_inputs(paths: Sequence[str | Path]) -> PlatformInputs:
    return split_objects(*load_paths(paths))


def split_objects(objects: Sequence[KubeObject], warnings: list[str]) -> PlatformInputs:
    """Platform policies and Nodes taken out, the rest read as the cluster; duplicates and a second BANP refused."""
    rest: list[KubeObject] = []
    policies: list[PlatformPolicy] = []
    nodes: dict[str, Node] = {}
    pod_nodes: dict[tuple[str, str], str] = {}
    policy_warnings: list[str] = []
    seen: dict[tuple[str, str], str] = {}
    for item in objects:
        if is_platform_object(item):
            policy = read_platform_policy(item, policy_warnings)
            key = (policy.ref.kind, policy.ref.name)
            if key in seen:
                raise InputError(
                    f"{policy.ref} already exists: it is defined twice (first at {seen[key]}); cluster-scoped "
                    "object names must be unique",
                    item.source,
                    item.line,
                )
            if policy.ref.kind == "BaselineAdminNetworkPolicy" and any(k == key[0] for k, _ in seen):
                raise InputError(
                    "only one baseline admin network policy may be provided in input resources; one already exists "
                    "(its name must be `default`)",
                    item.source,
                    item.line,
                )
            seen[key] = item.where()
            policies.append(policy)
        elif item.kind == "Node" and str(item.obj.get("apiVersion", "v1")) == "v1":
            node = _node(item)
            nodes[node.name] = node
        else:
            if item.kind == "Pod" and isinstance(item.obj.get("spec"), dict):
                metadata = mapping(item.obj.get("metadata"))
                node_name = mapping(item.obj["spec"]).get("nodeName")
                if isinstance(node_name, str) and isinstance(metadata.get("name"), str):
                    pod_nodes[(metadata.get("namespace") or "default", metadata["name"])] = node_name
            rest.append(item)
    _warn_equal_priorities(policies, policy_warnings)
    cluster = read_cluster(rest, warnings)
    return PlatformInputs(cluster, policies, nodes, pod_nodes, policy_warnings)


def _node(item: KubeObject) -> Node:
    metadata = mapping(item.obj.get("metadata"))
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise InputError("Node has no metadata.name", item.source, item.line)
    labels = mapping(metadata.get("labels"))
    status = mapping(item.obj.get("status"))
    ips = tuple(
        a["address"]
        for a in status.get("addresses") or ()
        if isinstance(a, dict) and a.get("type") in ("InternalIP", "ExternalIP") and isinstance(a.get("address"), str)
    )
    return Node(name, {str(k): str(v) for k, v in labels.items()}, ips)


def _warn_equal_priorities(policies: list[PlatformPolicy], warnings: list[str]) -> None:
    """The API leaves the order of two policies of one tier with the same priority to the implementation."""
    by_rank: dict[tuple[str, int | None], list[PlatformPolicy]] = {}
    for policy in policies:
        if policy.tier != BASELINE or policy.ref.kind == "ClusterNetworkPolicy":
            by_rank.setdefault((policy.tier, policy.ref.priority), []).append(policy)
    for (tier, priority), same in by_rank.items():
        if len(same) > 1:
            names = ", ".join(str(p.ref) for p in same)
            warnings.append(
                f"{names} share {tier} tier priority {priority}: their order is implementation-defined "
                "(evaluated here by name)"
            )
