"""Finding the node that already stands for a set of pods, so that templates and fixes reuse it.

"The pods labelled `k8s-app=kube-dns` in `kube-system`" may already be drawn as a workload, as a selector node of
that namespace, or (after an import) as a selector over several namespaces such as `namespaceSelector: {}` with
`podSelector: {k8s-app: kube-dns}`. A second node for the same pods would split the drawing's edges between two
nodes, and the check would then report drawn traffic as "nobody drew it".
"""

from __future__ import annotations

from typing import Any

from .document import NAMESPACE_NAME_LABEL, Document, Node
from .selectors import SelectorError, parse_selector


def _namespace_labels(document: Document, namespace: str) -> dict[str, str]:
    found = document.namespace(namespace)
    return dict(found.labels) if found is not None else {NAMESPACE_NAME_LABEL: namespace}


def _matches(raw: dict[str, Any] | None, labels: dict[str, str]) -> bool | None:
    """Whether the selector matches `labels`; None for an empty or unreadable selector."""
    try:
        selector = parse_selector(raw or {})
    except SelectorError:
        return None
    if selector.is_empty:
        return None
    return selector.matches(labels)


def selects_pods(document: Document, node: Node, namespace: str, pod_labels: dict[str, str]) -> bool:
    """Whether `node` picks the pods labelled `pod_labels` in `namespace` by those labels (not by selecting
    everything): a workload there carrying the labels, or a selector node whose namespace (or namespace
    selector) takes `namespace` and whose pod selector matches the labels. Empty `pod_labels` means all pods of
    `namespace`, which only a selector node of exactly that namespace with an empty pod selector stands for."""
    if not pod_labels:
        return node.kind == "selector" and node.namespace == namespace and not node.pod_selector
    if node.kind == "workload":
        return node.namespace == namespace and all(node.labels.get(k) == v for k, v in pod_labels.items())
    if node.kind != "selector":
        return False
    if node.namespace is not None:
        in_namespace = node.namespace == namespace
    else:
        in_namespace = node.namespace_selector is not None and (
            node.namespace_selector == {}
            or bool(_matches(node.namespace_selector, _namespace_labels(document, namespace)))
        )
    return in_namespace and bool(_matches(node.pod_selector, pod_labels))


def find_pod_set(document: Document, namespace: str, pod_labels: dict[str, str]) -> Node | None:
    """The first node of `document` that stands for these pods (see `selects_pods`), preferring one of exactly
    that namespace."""
    found = [node for node in document.nodes if selects_pods(document, node, namespace, pod_labels)]
    found.sort(key=lambda node: node.namespace != namespace)
    return found[0] if found else None
