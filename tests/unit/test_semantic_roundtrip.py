"""Semantic round trip: each policy fixture allows over a test cluster exactly what its re-rendering allows.

For every file of tests/fixtures/policies: import -> render in the file's dialect (native for NetworkPolicy,
cilium for Cilium kinds) -> analyse, and compare the connlist with that of the file itself, over a test cluster
whose pods cover what the policies mention: one pod per distinct selector (labels that satisfy it, in the
namespace it names or the policy's own; a namespace satisfying each namespaceSelector), a pod without labels in
every namespace, and every named port of the policies as a container port of every pod.

Files that cannot be compared are listed with the reason, and the test checks the evidence for each; files with
constructs the analyser does not model are compared too, and listed with the analyser's own warning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from editor.policy.analysis import analyse, format_connlist
from editor.policy.check import label_selector, satisfying_labels
from editor.policy.compile import compile_document
from editor.policy.importer import import_paths
from editor.policy.manifests import NAMESPACE_NAME_LABEL, Cluster, ContainerPort, Namespace, Workload, read_cluster
from editor.policy.yamlio import InputError, KubeObject, load_objects

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "policies"
POLICY_FILES = sorted(FIXTURES.rglob("*.yaml"))
NS_KEY = "io.kubernetes.pod.namespace"
NS_LABELS = "io.cilium.k8s.namespace.labels."

# Invalid upstream files (INVALID in the fixtures README) on which the importer and the analyser disagree:
# (why, the evidence the test checks: "analyser" error text, "import" warning text or "compile" issue text).
NOT_COMPARABLE: dict[str, tuple[str, str, str]] = {
    "cilium-cilium/l3/match-expressions/and-statement.yaml": (
        "operator `in` in lower case: the analyser rejects the file",
        "analyser",
        "'in' is not a valid label selector operator",
    ),
    "cilium-cilium/l4/l3_l4_combined.yaml": (
        "mis-indented matchLabels (`matchLabels:` null, `role` beside it): the analyser rejects the file, as the "
        "API server does; the importer drops the rule rather than widen it",
        "analyser",
        "unknown field 'role': a label selector has only matchLabels and matchExpressions",
    ),
}
NODE_FLAG = "fromNodes makes the agent refuse the policy unless it runs with --enable-node-selector-labels"
# Constructs the analyser does not model (SEMANTICS C11, host policies): both sides of the comparison leave them
# out, so the comparison covers only the rest of these files. (file: the analyser's warning)
NOT_MODELLED: dict[str, str] = {
    "cilium-cilium/host/demo-host-policy.yaml": "host policies (nodeSelector) are not analysed",
    "cilium-cilium/host/lock-down-dev-vms.yaml": "host policies (nodeSelector) are not analysed",
    "cilium-cilium/l3/host/host-policy.yaml": "host policies (nodeSelector) are not analysed",
    "cilium-cilium/l3/entities/customnodes.yaml": NODE_FLAG,
    "cilium-cilium/l3/entities/from_nodes.yaml": NODE_FLAG,
    "cilium-cilium/l3/requires/requires.yaml": "fromRequires: is not modelled by the analyser",
    "cilium-cilium/l3/service/service.yaml": "toServices: is not modelled by the analyser",
}


def _plain(key: str) -> str:
    source, colon, rest = key.partition(":")
    return rest if colon and source in ("k8s", "any") else key


def _split_cilium(selector: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """A Cilium endpoint selector as (namespace selector or None, pod selector) in Kubernetes terms."""
    namespace: dict[str, Any] = {"matchLabels": {}, "matchExpressions": []}
    pods: dict[str, Any] = {"matchLabels": {}, "matchExpressions": []}

    def place(key: str) -> tuple[dict[str, Any], str]:
        key = _plain(key)
        if key == NS_KEY:
            return namespace, NAMESPACE_NAME_LABEL
        if key.startswith(NS_LABELS):
            return namespace, key.removeprefix(NS_LABELS)
        return pods, key

    for key, value in (selector.get("matchLabels") or {}).items():
        target, name = place(key)
        target["matchLabels"][name] = value
    for expression in selector.get("matchExpressions") or []:
        target, name = place(expression["key"])
        target["matchExpressions"].append({**expression, "key": name})
    named = namespace["matchLabels"] or namespace["matchExpressions"]
    return (namespace if named else None), pods


def _selectors(value: Any, namespace: str | None, cilium: bool, found: list[tuple[Any, str | None, Any]]) -> None:
    """(namespace selector or None, policy namespace, pod selector) of every selector in a policy."""
    if isinstance(value, list):
        for item in value:
            _selectors(item, namespace, cilium, found)
        return
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        if cilium and key in ("fromEndpoints", "toEndpoints", "endpointSelector"):
            for selector in item if isinstance(item, list) else [item]:
                if isinstance(selector, dict):
                    found.append((*_split_cilium(selector)[:1], namespace, _split_cilium(selector)[1]))
        elif not cilium and key == "podSelector" and "namespaceSelector" not in value:
            found.append((None, namespace, item or {}))
        elif key == "namespaceSelector":
            found.append((item or {}, namespace, value.get("podSelector") or {}))
        _selectors(item, namespace, cilium, found)


def _port_names(value: Any, found: dict[str, str]) -> None:
    if isinstance(value, list):
        for item in value:
            _port_names(item, found)
    elif isinstance(value, dict):
        port = value.get("port")
        if isinstance(port, str) and not port.isdigit():
            protocol = value.get("protocol")
            found.setdefault(port.lower(), protocol if protocol in ("TCP", "UDP", "SCTP") else "TCP")
        for item in value.values():
            _port_names(item, found)


def cluster_for(objects: list[KubeObject]) -> tuple[dict[str, Namespace], list[Workload]]:
    """The test cluster: every pod label set the selectors call for, in every namespace (so that a peer put
    in the wrong namespace shows), plus a pod without labels in each namespace."""
    selectors: list[tuple[Any, str | None, Any]] = []
    names: dict[str, str] = {}
    for item in objects:
        clusterwide = item.kind == "CiliumClusterwideNetworkPolicy"
        namespace = None if clusterwide else (item.obj.get("metadata") or {}).get("namespace") or "default"
        for key in ("spec", "specs"):
            _selectors(item.obj.get(key), namespace, item.kind != "NetworkPolicy", selectors)
        _port_names(item.obj, names)
    ports = tuple(ContainerPort(name, 1000 + i, protocol) for i, (name, protocol) in enumerate(sorted(names.items())))
    namespace_labels: dict[str, dict[str, str]] = {"default": {}}
    label_sets: dict[tuple[tuple[str, str], ...], None] = {(): None}
    for namespace_selector, policy_namespace, pod_selector in selectors:
        where = policy_namespace or "default"
        if namespace_selector is not None:
            parsed = label_selector(namespace_selector)
            labels = satisfying_labels(parsed) if parsed is not None else None
            if labels is None:
                continue
            where = labels.get(NAMESPACE_NAME_LABEL) or f"ns-{len(namespace_labels)}"
            namespace_labels.setdefault(where, {}).update(labels)
        namespace_labels.setdefault(where, {})
        parsed = label_selector(pod_selector)
        labels = satisfying_labels(parsed) if parsed is not None else None
        if labels is not None:
            label_sets[tuple(sorted(labels.items()))] = None
    namespaces = {
        name: Namespace(name, {**labels, NAMESPACE_NAME_LABEL: name}) for name, labels in namespace_labels.items()
    }
    workloads = [
        Workload(namespace, f"pod-{i}", "Pod", dict(labels), ports, 1, "test cluster")
        for namespace in namespaces
        for i, labels in enumerate(label_sets)
    ]
    return namespaces, workloads


def connlist(objects: list[KubeObject], cluster: tuple[dict[str, Namespace], list[Workload]]) -> str:
    namespaces, workloads = cluster
    return format_connlist(analyse(Cluster(namespaces, workloads, [], read_cluster(objects).policies, [])))


def rendered(path: Path) -> tuple[list[KubeObject], Any, Any]:
    objects, _ = load_objects(path.read_bytes(), str(path))
    dialect = "native" if {item.kind for item in objects} == {"NetworkPolicy"} else "cilium"
    imported = import_paths([path])
    result = compile_document(imported.document, dialect)
    return objects, imported, result


def test_the_lists_name_real_files() -> None:
    names = {str(path.relative_to(FIXTURES)) for path in POLICY_FILES}
    assert set(NOT_COMPARABLE) <= names and set(NOT_MODELLED) <= names


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_import_and_render_allow_what_the_file_allows(path: Path) -> None:
    name = str(path.relative_to(FIXTURES))
    objects, imported, result = rendered(path)
    if name in NOT_COMPARABLE:
        _, where, evidence = NOT_COMPARABLE[name]
        if where == "analyser":
            with pytest.raises(InputError, match=evidence):
                analyse(read_cluster(objects))
        elif where == "import":
            assert any(evidence in warning for warning in imported.warnings)
        else:
            assert any(evidence in issue.message for issue in result.errors)
        return
    assert result.ok, [str(issue) for issue in result.errors]
    cluster = cluster_for(objects)
    again, _ = load_objects(result.yaml, f"rendered {path.name}")
    assert connlist(again, cluster) == connlist(objects, cluster)
    if name in NOT_MODELLED:
        assert any(NOT_MODELLED[name] in warning for warning in analyse(read_cluster(objects)).warnings)


def test_the_test_cluster_has_a_pod_for_every_selector() -> None:
    objects, _ = load_objects((FIXTURES / "kubernetes-website" / "networkpolicy.yaml").read_bytes(), "np.yaml")
    namespaces, workloads = cluster_for(objects)
    assert [(w.namespace, w.labels) for w in workloads] == [
        ("default", {}),
        ("default", {"role": "db"}),
        ("default", {"role": "frontend"}),
        ("ns-1", {}),
        ("ns-1", {"role": "db"}),
        ("ns-1", {"role": "frontend"}),
    ]
    assert namespaces["ns-1"].labels == {"project": "myproject", NAMESPACE_NAME_LABEL: "ns-1"}


def test_a_rendering_that_loses_a_peer_is_caught() -> None:
    path = FIXTURES / "kubernetes-website" / "networkpolicy.yaml"
    objects, _, result = rendered(path)
    cluster = cluster_for(objects)
    broken = result.yaml.replace("project: myproject", "project: theirproject", 1)
    assert broken != result.yaml
    assert connlist(load_objects(broken, "broken.yaml")[0], cluster) != connlist(objects, cluster)
