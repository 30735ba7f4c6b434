"""Which workload a pod belongs to, and which of its labels a policy should select it by.

Flow logs name pods, but policies select workloads: every replica of a Deployment must land in one node of
the graph, selected by the labels the replicas share. The owner comes from the log when it says so (Hubble
`workloads`, Gadget `owner`), else from the way controllers name their pods.
"""

from __future__ import annotations

import re

# Labels that differ between replicas or revisions of one workload (the advisor's list, plus the per-pod
# labels StatefulSets and Jobs add); selecting by them would pin a policy to one pod or one rollout.
IGNORED_LABELS = frozenset(
    {
        "pod-template-hash",
        "controller-revision-hash",
        "pod-template-generation",
        "statefulset.kubernetes.io/pod-name",
        "apps.kubernetes.io/pod-index",
        "controller-uid",
        "batch.kubernetes.io/controller-uid",
        "topology.kubernetes.io/region",
        "topology.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
    }
)
# Labels that usually carry the application name, in order of preference, for pods known only by labels.
NAME_LABELS = ("app.kubernetes.io/name", "app", "k8s-app", "name", "run", "component")

# Controllers draw random suffixes from this alphabet (k8s.io/apimachinery/pkg/util/rand: no vowels, no 0/1/3).
_SAFE = "[bcdfghjklmnpqrstvwxz2456789]"
_DEPLOYMENT_POD = re.compile(rf"(.+)-{_SAFE}{{6,10}}-{_SAFE}{{5}}")
_GENERATED_POD = re.compile(rf"(.+)-{_SAFE}{{5}}")
_ORDINAL_POD = re.compile(r"(.+)-\d+")


def selector_labels(labels: dict[str, str]) -> dict[str, str]:
    """The labels to select a pod's workload by: `labels` itself when none is ignored (not a copy: read only)."""
    if IGNORED_LABELS.isdisjoint(labels):
        return labels
    return {key: value for key, value in labels.items() if key not in IGNORED_LABELS}


def workload_of(pod_name: str, labels: dict[str, str]) -> tuple[str, str | None]:
    """(workload name, owner kind or None) guessed from a pod's name and its unfiltered labels."""
    template_hash = labels.get("pod-template-hash")
    if template_hash:
        match = re.fullmatch(rf"(.+)-{re.escape(template_hash)}-[A-Za-z0-9]{{5}}", pod_name)
        if match:
            return match[1], "Deployment"
    if "job-name" in labels:
        return labels["job-name"], "Job"
    if "controller-revision-hash" in labels:
        if "statefulset.kubernetes.io/pod-name" in labels and (match := _ORDINAL_POD.fullmatch(pod_name)):
            return match[1], "StatefulSet"
        if match := _GENERATED_POD.fullmatch(pod_name):
            return match[1], "DaemonSet"
    if "-" not in pod_name:  # every pattern below needs one; bare pods are often named so
        return pod_name, "Pod"
    if match := _DEPLOYMENT_POD.fullmatch(pod_name):
        return match[1], "Deployment"
    if match := _GENERATED_POD.fullmatch(pod_name):
        return match[1], None
    if match := _ORDINAL_POD.fullmatch(pod_name):
        return match[1], "StatefulSet"
    return pod_name, "Pod"


def name_from_labels(labels: dict[str, str]) -> str | None:
    return next((labels[key] for key in NAME_LABELS if labels.get(key)), None)
