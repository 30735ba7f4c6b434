"""Which pod labels Cilium keeps in a security identity (SEMANTICS.md C10c).

Cilium builds an endpoint's identity from its labels minus those its label filter drops, and policy selectors
match identities, so a selector on a dropped label (`pod-template-hash`, `statefulset.kubernetes.io/pod-name`,
most `kubernetes.io/*`) selects nothing. This is the agent's default filter, `defaultLabelPrefixCfg` in
cilium/cilium `pkg/labelsfilter/filter.go` (an agent started with `--label-prefix-file`/`--labels` may differ).

A prefix matches a key when its regular expression matches at the key's start; a label is kept when no ignore
prefix matches it, or when the longest matching include prefix is longer than the shortest matching ignore
prefix (so `app.kubernetes.io/name` stays while `kubernetes.io/os` goes).
"""

from __future__ import annotations

import functools
import re

# (ignore?, regular expression) in filter.go's order; the reserved: source is handled by the caller.
_PREFIXES: tuple[tuple[bool, re.Pattern[str]], ...] = tuple(
    (text.startswith("!"), re.compile(text.removeprefix("!")))
    for text in (
        re.escape("io.kubernetes.pod.namespace"),
        re.escape("io.cilium.k8s.namespace.labels"),
        re.escape("app.kubernetes.io"),
        re.escape("io.cilium.k8s.policy.cluster"),
        r"!io\.kubernetes",
        r"!kubernetes\.io",
        "!" + re.escape("statefulset.kubernetes.io/pod-name"),
        "!" + re.escape("apps.kubernetes.io/pod-index"),
        "!" + re.escape("batch.kubernetes.io/job-completion-index"),
        r"!.*beta\.kubernetes\.io",
        r"!k8s\.io",
        "!pod-template-generation",
        "!pod-template-hash",
        "!controller-revision-hash",
        "!annotation.*",
        "!etcd_node",
    )
)


@functools.lru_cache(maxsize=4096)
def in_identity(key: str) -> bool:
    """Whether Cilium keeps a pod label with this key (without a `k8s:` source prefix) in the identity."""
    included = ignored = 0
    for ignore, expression in _PREFIXES:
        found = expression.match(key)
        if found is None:
            continue
        length = found.end()
        if ignore:
            ignored = length if ignored == 0 or length < ignored else ignored
        else:
            included = max(included, length)
    return ignored == 0 or included > ignored
