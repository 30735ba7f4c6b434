"""The transparent 0-5 rating of a policy set: published criteria, each with a weight, a verdict and a reason.

Every policy is judged on the per-policy criteria below; the set adds one criterion of its own (coverage). A
criterion scores 1 (pass), 0 (fail) or a fraction (partial, e.g. 2 of 3 rules have ports); "n/a" criteria do
not count. A policy's rating is 5 x the weighted mean of its scores; the set's rating is 5 x the weighted mean,
over criteria, of each criterion's mean score across the policies where it applies. The criteria, weights and
how to improve are listed in docs/rules/rating.md; the editor, the JSON API and `fenceline rate` all call
`rate_objects` / `rate_document`, so they show the same numbers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from .document import Document
from .lint.context import LintContext
from .lint.engine import LintedDocument, inventory_from_objects, lint_drawing, platform_policies, run_checks
from .lint.exposure import world_peer
from .lint.model import Inventory, LintFinding, LintSettings, format_path
from .lint.policyview import CLUSTER_ENTITIES, PolicyView, RuleView, read_policies
from .platform.model import PlatformPolicy
from .yamlio import KubeObject

Status = Literal["pass", "partial", "fail", "n/a"]
MAX_SCORE = 5


@dataclasses.dataclass(frozen=True)
class Criterion:
    id: str
    title: str
    weight: int
    scope: Literal["policy", "set"]
    improve: str  # what to change when it does not pass


CRITERIA: tuple[Criterion, ...] = (
    Criterion(
        "ingress-isolated",
        "Ingress isolated",
        3,
        "policy",
        "Isolate ingress: list Ingress in policyTypes (Cilium: an ingress section), or add a default-deny policy "
        "that selects these pods.",
    ),
    Criterion(
        "egress-isolated",
        "Egress isolated",
        2,
        "policy",
        "Isolate egress: list Egress in policyTypes (Cilium: an egress section) and allow DNS plus what the "
        "pods really call.",
    ),
    Criterion(
        "no-wildcard-peers",
        "No wildcard peers",
        3,
        "policy",
        "Name the peers: pod and namespace selectors for in-cluster traffic, specific CIDRs or FQDNs outside; "
        "world ingress only on an ingress gateway.",
    ),
    Criterion(
        "ports-on-every-rule",
        "Ports on every rule",
        2,
        "policy",
        "Give every rule the ports it needs (`ports` / `toPorts`); a rule without ports allows every port and "
        "protocol.",
    ),
    Criterion(
        "dns-cluster-only",
        "DNS only to the cluster DNS",
        1,
        "policy",
        "Allow port 53 only to the cluster DNS pods (namespace and pod selector), never to any address: DNS "
        "to arbitrary servers is an exfiltration channel.",
    ),
    Criterion(
        "explicit-directions",
        "Directions stated explicitly",
        1,
        "policy",
        "Write policyTypes out and keep rules only for the listed directions; in Cilium, no empty sections.",
    ),
    Criterion(
        "explicit-protocols",
        "Protocols stated explicitly",
        1,
        "policy",
        "Write the protocol of every port (TCP, UDP, SCTP; ANY in Cilium only when meant).",
    ),
    Criterion(
        "no-lint-traps",
        "No lint errors or warnings",
        2,
        "policy",
        "Apply the fixes of the lint findings (`fenceline lint`).",
    ),
    Criterion(
        "coverage",
        "Every workload (or namespace) isolated both ways",
        2,
        "set",
        "Add a default-deny policy per namespace (podSelector: {} with policyTypes [Ingress, Egress]), then "
        "allow what is needed.",
    ),
)
CRITERIA_BY_ID = {criterion.id: criterion for criterion in CRITERIA}
_STATUS_SCORE = {"pass": 1.0, "fail": 0.0}


@dataclasses.dataclass
class CriterionResult:
    """One criterion's verdict: `score` 0..1 (None for n/a), the reason in words, and how to improve."""

    id: str
    status: Status
    score: float | None
    reason: str
    paths: list[str] = dataclasses.field(default_factory=list)
    advice: str | None = None  # how to improve when this reason needs other advice than the criterion's own

    @property
    def criterion(self) -> Criterion:
        return CRITERIA_BY_ID[self.id]

    @property
    def improve(self) -> str:
        """What to change, matching the reason: "" when it passes."""
        return "" if self.status in ("pass", "n/a") else self.advice or self.criterion.improve

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.criterion.title,
            "weight": self.criterion.weight,
            "status": self.status,
            "score": None if self.score is None else round(self.score, 3),
            "reason": self.reason,
            "improve": self.improve,
            "paths": list(self.paths),
        }


def _result(
    id: str,
    status: Status,
    reason: str,
    paths: Iterable[str] = (),
    score: float | None = None,
    advice: str | None = None,
) -> CriterionResult:
    if score is None and status in _STATUS_SCORE:
        score = _STATUS_SCORE[status]
    return CriterionResult(id, status, score, reason, list(paths), advice)


def weighted_score(results: Iterable[CriterionResult]) -> float:
    """5 x the weighted mean of the applicable scores, rounded to one decimal."""
    counted = [(r.criterion.weight, r.score) for r in results if r.score is not None]
    total = sum(weight for weight, _ in counted)
    if not total:
        return 0.0
    return round(MAX_SCORE * sum(weight * score for weight, score in counted if score is not None) / total, 1)


@dataclasses.dataclass
class PolicyRating:
    kind: str
    namespace: str | None
    name: str
    base: str  # "spec", or "specs[i]" for one rule of a Cilium `specs:` list
    source: str | None
    line: int | None
    score: float
    criteria: list[CriterionResult]
    nodes: list[str] = dataclasses.field(default_factory=list)

    @property
    def label(self) -> str:
        name = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {name}" + (f" {self.base}" if self.base != "spec" else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "object": {"kind": self.kind, "namespace": self.namespace, "name": self.name},
            "base": self.base,
            "label": self.label,
            "source": self.source,
            "line": self.line,
            "score": self.score,
            "criteria": [c.to_json() for c in self.criteria],
            "nodes": list(self.nodes),
        }


@dataclasses.dataclass
class Rating:
    """The set's rating: `criteria` are the aggregated verdicts (each explained), `policies` the per-policy ones."""

    score: float
    criteria: list[CriterionResult]
    policies: list[PolicyRating]

    def to_json(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "max": MAX_SCORE,
            "criteria": [c.to_json() for c in self.criteria],
            "policies": [p.to_json() for p in self.policies],
            "method": "docs/rules/rating.md",
        }


# --- the per-policy criteria --------------------------------------------------------------------------------


def _allow_rules(policy: PolicyView) -> list[RuleView]:
    return [rule for rule in policy.rules if rule.effective and not rule.deny]


def _isolated(ctx: LintContext, policy: PolicyView, direction: str) -> CriterionResult:
    criterion = f"{direction}-isolated"
    if policy.subject is None:
        verdict: Status = "pass" if policy.isolates[direction] else "fail"
        return _result(criterion, verdict, f"{direction} {'is' if policy.isolates[direction] else 'is not'} isolated")
    who = policy.subject.describe()
    if policy.isolates[direction]:
        return _result(criterion, "pass", f"this policy isolates {direction} of {who}")
    holds, failing = ctx.holds_for_pods(policy, lambda other: other.isolates[direction])
    if holds:
        others = [o.label for o in ctx.covering(policy)[1:] if o.isolates[direction]]
        by = f" by {', '.join(others)}" if others else " by the policies selecting them"
        return _result(criterion, "pass", f"{direction} of {who} is isolated{by}")
    extra = f" ({', '.join(failing)})" if failing else ""
    return _result(criterion, "fail", f"no policy isolates {direction} of {who}{extra}: every peer may connect")


def _wildcards(ctx: LintContext, policy: PolicyView) -> CriterionResult:
    rules = _allow_rules(policy)
    if not rules:
        return _result("no-wildcard-peers", "n/a", "no allow rules")
    failures: list[tuple[str, str]] = []
    partials: list[tuple[str, str]] = []
    gateway = ctx.is_gateway(policy)
    for rule in rules:
        path = format_path(rule.path)
        if rule.peers is None:
            failures.append(
                (path, f"{path} has no peers (every {'source' if rule.direction == 'ingress' else 'destination'})")
            )
            continue
        for peer in rule.peers:
            peer_path = format_path(peer.path)
            if peer.kind == "entity" and peer.entity == "all":
                failures.append((peer_path, f"{peer_path} is the entity all"))
            elif world_peer(peer) and rule.direction == "ingress" and not gateway:
                failures.append((peer_path, f"{peer_path} admits the whole internet to a non-gateway"))
            elif world_peer(peer) and rule.direction == "egress":
                partials.append((peer_path, f"{peer_path} allows the whole internet"))
            elif (peer.kind == "entity" and peer.entity == "cluster") or (
                peer.scope is not None and peer.scope.all_namespaces and peer.scope.pods.is_empty
            ):
                partials.append((peer_path, f"{peer_path} is every pod of the cluster"))
    if failures:
        return _result(
            "no-wildcard-peers",
            "fail",
            "; ".join(r for _, r in failures + partials),
            [p for p, _ in failures + partials],
        )
    if partials:
        return _result("no-wildcard-peers", "partial", "; ".join(r for _, r in partials), [p for p, _ in partials], 0.5)
    return _result("no-wildcard-peers", "pass", f"all {len(rules)} rule(s) name their peers")


def _ports(policy: PolicyView) -> CriterionResult:
    rules = _allow_rules(policy)
    if not rules:
        return _result("ports-on-every-rule", "n/a", "no allow rules")
    open_rules = [format_path(rule.path) for rule in rules if rule.ports is None]
    share = 1 - len(open_rules) / len(rules)
    if not open_rules:
        return _result("ports-on-every-rule", "pass", f"all {len(rules)} rule(s) list their ports")
    status: Status = "fail" if share == 0 else "partial"
    reason = f"{len(open_rules)} of {len(rules)} rule(s) allow every port: {', '.join(open_rules)}"
    return _result("ports-on-every-rule", status, reason, open_rules, share)


def _dns(ctx: LintContext, policy: PolicyView) -> CriterionResult:
    if not policy.isolates["egress"]:
        return _result("dns-cluster-only", "n/a", "egress is not isolated by this policy")
    port = ctx.settings.dns_port
    leaks = []
    for rule in policy.rules_of("egress"):
        named = [p for p in rule.ports or [] if p.port is not None and p.allows("UDP", port, ("dns",))]
        anywhere = rule.peers is None or any(world_peer(p) for p in rule.peers)
        outside = anywhere or any(
            p.kind in ("cidr", "fqdn") or (p.kind == "entity" and p.entity not in CLUSTER_ENTITIES)
            for p in rule.peers or []
        )
        # Port 53 to the whole internet, or port 53 named explicitly towards something outside the cluster.
        if (anywhere and (rule.ports is None or named)) or (named and outside):
            leaks.append(format_path(rule.path))
    if leaks:
        return _result(
            "dns-cluster-only", "fail", f"port {port} is open to servers outside the cluster: {', '.join(leaks)}", leaks
        )
    holds, _ = ctx.holds_for_pods(
        policy,
        lambda other: (
            (other.isolates["egress"] or other.cilium)  # Cilium allows add up (SEMANTICS C3)
            and any(ctx.rule_reaches_dns(r) for r in other.rules_of("egress"))
        ),
        ctx.admin_gives_dns,  # the platform's Admin accept of DNS: no NetworkPolicy takes it away
    )
    if not holds:
        return _result(
            "dns-cluster-only",
            "partial",
            "DNS is not allowed at all: name lookups fail (FL004)",
            score=0.5,
            advice="Allow DNS (port 53, UDP and TCP) to the cluster DNS pods: the 'allow DNS' template or the fix "
            "of finding FL004 does it.",
        )
    return _result("dns-cluster-only", "pass", "DNS goes only to in-cluster peers")


def _directions(policy: PolicyView, findings: list[LintFinding]) -> CriterionResult:
    ids = {finding.rule for finding in findings}
    if policy.cilium:
        # `- {}` is Cilium's explicit default deny (C4), so it states its direction and costs nothing here
        hollow = policy.written.hollow_sections()
        if hollow:
            return _result(
                "explicit-directions", "partial", f"empty section(s) {', '.join(hollow)} isolate nothing", score=0.5
            )
        return _result("explicit-directions", "pass", "directions follow from non-empty sections")
    if "FL001" in ids:
        return _result("explicit-directions", "fail", "rules for a direction that policyTypes does not list (FL001)")
    if not policy.policy_types:
        return _result("explicit-directions", "partial", "policyTypes is left to defaulting", score=0.5)
    return _result("explicit-directions", "pass", f"policyTypes {policy.policy_types} matches the rules")


def _protocols(policy: PolicyView) -> CriterionResult:
    ports = [p for rule in policy.rules for p in rule.ports or [] if p.path[-2] == "ports"]
    if not ports:
        return _result("explicit-protocols", "n/a", "no ports")
    missing = [format_path(p.path) for p in ports if p.protocol is None]
    if not missing:
        return _result("explicit-protocols", "pass", f"all {len(ports)} port(s) name their protocol")
    if policy.cilium:
        return _result(
            "explicit-protocols",
            "fail",
            f"{len(missing)} port(s) without protocol mean ANY: {', '.join(missing)}",
            missing,
        )
    return _result(
        "explicit-protocols",
        "partial",
        f"{len(missing)} port(s) rely on the TCP default: {', '.join(missing)}",
        missing,
        0.5,
    )


def _traps(findings: list[LintFinding]) -> CriterionResult:
    errors = sorted({f.rule for f in findings if f.severity == "error"})
    warnings = sorted({f.rule for f in findings if f.severity == "warning"})
    if errors:
        return _result(
            "no-lint-traps",
            "fail",
            f"lint errors {', '.join(errors)}" + (f", warnings {', '.join(warnings)}" if warnings else ""),
        )
    if warnings:
        return _result("no-lint-traps", "partial", f"lint warnings {', '.join(warnings)}", score=0.5)
    return _result("no-lint-traps", "pass", "no lint error or warning")


# --- the set ------------------------------------------------------------------------------------------------


def _coverage(ctx: LintContext) -> CriterionResult:
    if not ctx.policies:
        return _result("coverage", "fail", "no policies: every pod accepts and opens any connection")
    if ctx.knows_workloads:
        units = [(str(w), ctx.policies_selecting(w)) for w in ctx.inventory.workloads]
        what = "workload"
    else:
        namespaces = sorted({p.namespace for p in ctx.policies if p.namespace})
        if not namespaces:
            return _result("coverage", "n/a", "only cluster-wide policies")
        units = [(ns, [p for p in ctx.policies if _selects_namespace(p, ns)]) for ns in namespaces]
        what = "namespace"
    gaps = [
        f"{label} {direction}"
        for label, policies in units
        for direction in ("ingress", "egress")
        if not any(p.isolates[direction] for p in policies)
    ]
    share = 1 - len(gaps) / (2 * len(units))
    if not gaps:
        return _result("coverage", "pass", f"every {what} ({len(units)}) is isolated in both directions", score=1.0)
    status: Status = "fail" if share == 0 else "partial"
    lead = "no default-deny (podSelector: {}) for" if what == "namespace" else "not isolated:"
    shown = ", ".join(gaps[:8]) + (", ..." if len(gaps) > 8 else "")
    return _result("coverage", status, f"{lead} {shown}", score=share)


def _selects_namespace(policy: PolicyView, namespace: str) -> bool:
    """Whether the policy selects every pod of `namespace` (a default-deny style subject)."""
    subject = policy.subject
    if subject is None or not subject.pods.is_empty:
        return False
    return subject.namespaces.matches({"kubernetes.io/metadata.name": namespace})


# --- entry points -------------------------------------------------------------------------------------------


def rate_policies(
    policies: list[PolicyView],
    settings: LintSettings,
    inventory: Inventory,
    findings: list[LintFinding] | None = None,
    platform: Sequence[PlatformPolicy] = (),
) -> Rating:
    """The rating of a read policy set; `findings` are its lint findings (computed when not given); `platform`
    the platform tiers' policies beside it (what their Admin tier accepts counts)."""
    ctx = LintContext(policies, settings, inventory, list(platform))
    if findings is None:
        findings = run_checks(policies, settings, inventory, platform)
    by_policy: dict[tuple[str, str | None, str], list[LintFinding]] = {}
    for finding in findings:
        by_policy.setdefault((finding.kind, finding.namespace, finding.name), []).append(finding)
    ratings = []
    for policy in policies:
        own = by_policy.get((policy.kind, policy.namespace, policy.name), [])
        base = format_path(policy.base)
        own = [f for f in own if f.path == base or f.path.startswith((base + ".", base + "["))]
        results = [
            _isolated(ctx, policy, "ingress"),
            _isolated(ctx, policy, "egress"),
            _wildcards(ctx, policy),
            _ports(policy),
            _dns(ctx, policy),
            _directions(policy, own),
            _protocols(policy),
            _traps(own),
        ]
        ratings.append(
            PolicyRating(
                policy.kind,
                policy.namespace,
                policy.name,
                base,
                policy.item.source if policy.item is not None else None,
                policy.line_of(policy.base),
                weighted_score(results),
                results,
                list(policy.node_ids),
            )
        )
    aggregated = [_aggregate(criterion, ratings) for criterion in CRITERIA if criterion.scope == "policy"]
    aggregated.append(_coverage(ctx))
    score = weighted_score(aggregated) if policies else 0.0
    return Rating(score, aggregated, ratings)


def _aggregate(criterion: Criterion, ratings: list[PolicyRating]) -> CriterionResult:
    verdicts = [(p, r) for p in ratings for r in p.criteria if r.id == criterion.id and r.score is not None]
    if not verdicts:
        return _result(criterion.id, "n/a", "applies to no policy")
    mean = sum(r.score or 0.0 for _, r in verdicts) / len(verdicts)
    short = [f"{p.label}: {r.reason}" for p, r in verdicts if r.status != "pass"]
    if not short:
        return _result(criterion.id, "pass", f"every policy passes ({len(verdicts)})", score=mean)
    status: Status = "fail" if mean == 0 else "partial"
    shown = "; ".join(short[:5]) + (f"; and {len(short) - 5} more" if len(short) > 5 else "")
    # The advice of the reasons shown, each once (the criterion's own when none has its own).
    advice = " ".join(dict.fromkeys(r.improve for _, r in verdicts if r.status != "pass"))
    reason = f"{len(verdicts) - len(short)} of {len(verdicts)} pass. {shown}"
    return _result(criterion.id, status, reason, score=mean, advice=advice)


def rate_objects(
    objects: Iterable[KubeObject | dict[str, Any]],
    settings: LintSettings | None = None,
    inventory: Inventory | None = None,
) -> Rating:
    """The rating of the policies among `objects` (workload manifests among them refine it, as in lint)."""
    items = [item for item in objects if isinstance(item, KubeObject | dict)]
    if inventory is None:
        inventory = inventory_from_objects(items)
    policies = [view for item in items for view in read_policies(item)]
    return rate_policies(policies, settings or LintSettings(), inventory, platform=platform_policies(items))


def rate_document(document: Document, settings: LintSettings | None = None) -> Rating:
    """The rating of what `document` compiles to in its dialect; policy ratings carry their subject node ids."""
    return rate_linted(lint_drawing(document, settings))


def rate_linted(linted: LintedDocument) -> Rating:
    """The rating of a linted drawing (lint.engine.lint_drawing), from the policies and findings of its lint."""
    compiled = linted.compiled
    return rate_policies(compiled.policies, linted.settings, linted.inventory, linted.findings, compiled.platform)


def rate_drawing(document: Document, linted: LintedDocument | None = None) -> Rating | None:
    """The drawing's rating, or None while it is empty: with nothing drawn there is nothing to rate, and a score
    of 0 would read as a verdict on the person's work. `linted`: the drawing's lint, when the caller has it."""
    if not document.nodes:
        return None
    return rate_linted(linted) if linted is not None else rate_document(document)


def format_text(rating: Rating) -> str:
    """The rating for a terminal: the set's score and criteria, then each policy's."""
    count = len(rating.policies)
    lines = [f"Rating {rating.score:.1f} / {MAX_SCORE} for {count} polic{'y' if count == 1 else 'ies'}"]
    lines += [_criterion_line(c) for c in rating.criteria]
    for policy in rating.policies:
        where = f" ({policy.source}:{policy.line})" if policy.source else ""
        lines.append("")
        lines.append(f"{policy.label}{where}: {policy.score:.1f} / {MAX_SCORE}")
        lines += [_criterion_line(c) for c in policy.criteria if c.status != "n/a"]
    return "\n".join(lines) + "\n"


def _criterion_line(result: CriterionResult) -> str:
    criterion = result.criterion
    text = f"  {result.status:<7} {criterion.id} (weight {criterion.weight}): {result.reason}"
    if result.status not in ("pass", "n/a"):
        text += f"\n          improve: {result.improve}"
    return text
