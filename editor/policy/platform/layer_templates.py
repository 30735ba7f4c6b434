"""The platform team's four templates (templates.py of this package) added to a drawing as admin and baseline
layer nodes and edges, like the application templates (editor/policy/templates.py): document manipulation only,
undoable in the editor, compiled like everything else.

* `cluster-dns`: every pod may query the cluster DNS where `settings.dns` says it runs (Admin accept, both ends);
* `no-metadata-service`: no pod reaches 169.254.169.254 (and AWS's fd00:ec2::254) (Admin deny);
* `default-deny`: what no application policy allows is denied (Baseline deny, both directions);
* `monitoring`: the monitoring pods may scrape every pod (Admin accept, both ends).

A template whose policies the drawing already has (a platform node carrying the policy's name, with its rules) adds
nothing again.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from ..document import Document
from ..templates import Outcome
from . import templates
from .model import PlatformPolicy
from .to_drawing import draw_policies

DESCRIPTIONS = {
    "cluster-dns": "Every pod may query the cluster DNS (where the drawing's settings say it runs) on UDP and TCP 53.",
    "no-metadata-service": "No pod may reach the cloud metadata service 169.254.169.254 (nor fd00:ec2::254), "
    "whatever an application allows.",
    "default-deny": "What no application policy allows is denied, in both directions (below NetworkPolicy).",
    "monitoring": "The monitoring pods may scrape every pod on every port, whatever an application allows.",
}


def _present(document: Document, policy: PlatformPolicy) -> bool:
    subjects = {
        node.id for node in document.nodes if node.layer != "application" and node.policy_name == policy.ref.name
    }
    return any(edge.layer != "application" and {edge.source, edge.target} & subjects for edge in document.edges)


def _apply(document: Document, name: str, policies: list[PlatformPolicy]) -> Outcome:
    document = copy.deepcopy(document)
    missing = [policy for policy in policies if not _present(document, policy)]
    title = templates.TEMPLATES[name][0]
    if not missing:
        return Outcome(document, f"Nothing to add: the drawing already has {title.lower()}.")
    drawn = draw_policies(document, missing)
    rules = len(drawn.edges)
    return Outcome(document, f"Added {title}: {rules} platform rule{'s' if rules != 1 else ''}.")


def cluster_dns(document: Document) -> Outcome:
    dns = document.settings.dns
    return _apply(document, "cluster-dns", templates.cluster_dns(dns.namespace, dns.pod_labels))


def no_metadata_service(document: Document) -> Outcome:
    return _apply(document, "no-metadata-service", templates.no_metadata_service())


def default_deny(document: Document) -> Outcome:
    return _apply(document, "default-deny", templates.default_deny())


def monitoring(document: Document, namespace: str = "monitoring", labels: dict[str, str] | None = None) -> Outcome:
    return _apply(document, "monitoring", templates.monitoring(namespace, labels))


APPLY: dict[str, Callable[[Document], Outcome]] = {
    "cluster-dns": cluster_dns,
    "no-metadata-service": no_metadata_service,
    "default-deny": default_deny,
    "monitoring": monitoring,
}
