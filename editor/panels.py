"""The inspector panels: show one part of a drawing as a form and apply what a person changed.

A panel request carries the whole document (the browser owns the drawing between saves) plus the id of the
part to show. Applying a form returns a new document, checked with the document's own validation, or the form
with its errors and the document untouched. Nothing here decides what traffic a drawing allows.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

from django import forms as django_forms
from django.http import QueryDict

from editor import forms
from editor.policy import templates
from editor.policy.check import Replayed, replay_document
from editor.policy.compile import CompileResult, RuleExplanation, compile_document
from editor.policy.dialects import dialect as dialect_named
from editor.policy.document import ContainerPort, Document, DocumentError, Edge, Namespace, Node, Port
from editor.policy.document_schema import APPLICATION
from editor.policy.layers import DEFAULT_PRIORITY, TIER_TITLES, application_only_fields, has_platform, move_node
from editor.policy.platform import layer_templates
from editor.policy.platform import templates as platform_templates
from editor.policy.platform.overrides import overridden_edges


class PanelNotFound(LookupError):
    """The panel names a node, edge or namespace that the document does not have (e.g. deleted meanwhile)."""


@dataclasses.dataclass
class Panel:
    template: str
    context: dict[str, Any]
    document: Document | None = None  # set when the document changed
    message: str = ""
    select: str = ""  # the canvas element to select afterwards (a renamed namespace has a new id)


def _checked(document: Document) -> list[str]:
    """Problems that make a changed document invalid, as messages with their paths."""
    try:
        Document.from_json(document.to_json())
    except DocumentError as exc:
        return [f"{path}: {message}" if path else message for path, message in exc.errors]
    return []


def _formset_rows(formset: django_forms.BaseFormSet) -> list[dict[str, Any]]:
    """The rows to keep: every existing row not marked for removal, and the extra row when it was filled in."""
    initial = formset.initial_form_count()
    return [
        form.cleaned_data
        for index, form in enumerate(formset.forms)
        if (index < initial or form.has_changed()) and form.cleaned_data and not form.cleaned_data.get("DELETE")
    ]


def _namespaces(document: Document) -> list[str]:
    return [ns.name for ns in document.namespaces]


def _finish(panel: Panel, changed: Document, message: str, rerender: Callable[[Document], Panel] | None) -> Panel:
    """The panel after an apply: the form with problems, or (when `rerender` is given) a fresh form of the new
    document so that rows added or removed show as they now are."""
    problems = _checked(changed)
    if problems:
        panel.context["problems"] = problems
        return panel
    result = rerender(changed) if rerender is not None else panel
    result.document, result.message = changed, message
    result.context["saved"] = True
    return result


# --- nodes ------------------------------------------------------------------------------------------------------

LOCK_FIELDS = ("isolate_ingress", "isolate_egress", "policy_name")
OWN_FIELDSETS = (*LOCK_FIELDS, "note", "layer")  # fields the node panel shows in their own places
NODE_FORMS: dict[str, type[django_forms.Form]] = {
    "workload": forms.WorkloadForm,
    "selector": forms.SelectorForm,
    "cidr": forms.CidrForm,
    "entity": forms.EntityForm,
    "fqdn": forms.FqdnForm,
}


def _node_initial(node: Node) -> dict[str, Any]:
    initial: dict[str, Any] = {"name": node.name, "note": node.note or "", "layer": node.layer}
    if node.is_subject:
        initial.update(
            isolate_ingress=node.isolate.ingress, isolate_egress=node.isolate.egress, policy_name=node.policy_name or ""
        )
    if node.kind == "workload":
        initial.update(
            namespace=node.namespace, owner=node.owner or "Deployment", labels=forms.format_labels(node.labels)
        )
    elif node.kind == "selector":
        initial.update(
            namespace=node.namespace or "",
            namespace_labels=forms.format_labels((node.namespace_selector or {}).get("matchLabels")),
            pod_labels=forms.format_labels((node.pod_selector or {}).get("matchLabels")),
        )
    elif node.kind == "cidr":
        initial.update(cidr=node.cidr or "", except_="\n".join(node.except_))
    elif node.kind == "entity":
        initial.update(entity=node.entity)
    elif node.kind == "fqdn":
        initial.update(
            match="matchPattern" if node.match_pattern else "matchName",
            value=node.match_pattern or node.match_name or "",
        )
    return initial


def _with_match_labels(selector: dict[str, Any] | None, labels: dict[str, str]) -> dict[str, Any]:
    """Replace the matchLabels of a selector, keeping matchExpressions the form does not show."""
    result = {k: v for k, v in (selector or {}).items() if k != "matchLabels"}
    if labels:
        result["matchLabels"] = labels
    return result


def _apply_node(node: Node, data: dict[str, Any], ports: list[dict[str, Any]]) -> None:
    old_name = node.name
    node.note = data.get("note") or None
    if node.is_subject:
        node.isolate.ingress, node.isolate.egress = data["isolate_ingress"], data["isolate_egress"]
        node.policy_name = data["policy_name"].strip() or None
    move_node(node, data["layer"] or node.layer)
    if node.kind in ("workload", "selector", "cidr"):
        node.name = data["name"].strip()
    if node.kind == "workload":
        labels = data["labels"]
        if labels == {"app": old_name} and node.name != old_name:
            labels = {"app": node.name}  # the default label of a new workload follows its first rename
        node.namespace, node.owner, node.labels = data["namespace"], data["owner"], labels
        node.container_ports = [port for port in map(_container_port, ports) if port is not None]
    elif node.kind == "selector":
        node.namespace = data["namespace"] or None
        if node.namespace is None:
            node.namespace_selector = _with_match_labels(node.namespace_selector, data["namespace_labels"])
        else:
            node.namespace_selector = None
        node.pod_selector = _with_match_labels(node.pod_selector, data["pod_labels"])
    elif node.kind == "cidr":
        node.cidr, node.except_ = data["cidr"], data["except_"]
    elif node.kind == "entity":
        node.entity = data["entity"]
    elif node.kind == "fqdn":
        value = data["value"].strip()
        node.match_name = value if data["match"] == "matchName" else None
        node.match_pattern = value if data["match"] == "matchPattern" else None


def _container_port(row: dict[str, Any]) -> ContainerPort | None:
    if row.get("port") is None:
        return None
    return ContainerPort(row["port"], row.get("name") or None, row.get("protocol") or "TCP")


def _connect_targets(document: Document, source: Node) -> list[tuple[str, str]]:
    """(node id, what a person reads) for every node that `source` could get an edge to: the choices of the
    panel's "Connect to..." field, which draws an edge from the keyboard."""
    drawn = {edge.target for edge in document.edges_from(source.id)}
    targets = []
    for node in document.nodes:
        if node.id == source.id or node.id in drawn:
            continue
        where = f" in {node.namespace}" if node.namespace else ""
        targets.append((node.id, f"{node.display_name()} ({node.kind}{where})"))
    return sorted(targets, key=lambda target: target[1].lower())


def node_panel(document: Document, node_id: str, data: QueryDict | None) -> Panel:
    try:
        node = document.node(node_id)
    except KeyError:
        raise PanelNotFound(f"the drawing has no node {node_id!r}") from None
    form_class = NODE_FORMS.get(node.kind)
    if form_class is None:
        raise PanelNotFound(f"nodes of kind {node.kind!r} have no panel")
    kwargs: dict[str, Any] = {"namespaces": _namespaces(document)} if node.kind in ("workload", "selector") else {}
    port_rows = [{"name": p.name or "", "port": p.port, "protocol": p.protocol} for p in node.container_ports]
    if data is None:
        form = form_class(initial=_node_initial(node), **kwargs)
        ports = forms.ContainerPortFormSet(initial=port_rows, prefix="cport")
    else:
        form = form_class(data, initial=_node_initial(node), **kwargs)
        ports = forms.ContainerPortFormSet(data, initial=port_rows, prefix="cport")
    # A platform node has no default-deny locks; its policy name is the platform policy's.
    shown_locks = LOCK_FIELDS if node.layer == APPLICATION else ("policy_name",)
    locks = [form[name] for name in shown_locks if name in form.fields]
    main = [form[name] for name in form.fields if name not in OWN_FIELDSETS]
    panel = Panel(
        "editor/panels/node.html",
        {
            "node": node,
            "form": form,
            "ports": ports,
            "main_fields": main,
            "lock_fields": locks,
            "edges_out": len(document.edges_from(node.id)),
            "edges_in": len(document.edges_to(node.id)),
            "targets": _connect_targets(document, node),
        },
    )
    if data is None or not form.is_valid() or (node.kind == "workload" and not ports.is_valid()):
        return panel
    changed = copy.deepcopy(document)
    _apply_node(changed.node(node_id), form.cleaned_data, _formset_rows(ports) if node.kind == "workload" else [])
    message = f"Updated {changed.node(node_id).display_name()}."
    new = changed.node(node_id)
    if new.layer != APPLICATION and (node.isolate.ingress or node.isolate.egress):
        message += " Its default-deny locks were removed: they are the application layer's."
    return _finish(panel, changed, message, lambda new: node_panel(new, node_id, None))


# --- edges ------------------------------------------------------------------------------------------------------


def _edge_initial(edge: Edge) -> dict[str, Any]:
    return {
        "layer": edge.layer,
        "rule_action": edge.action,
        "priority": edge.priority,
        "rule_name": edge.name or "",
        "enforce_source": "source" in edge.enforce,
        "enforce_target": "target" in edge.enforce,
        "deny": edge.action == "deny",
        "disabled": edge.disabled,
        "note": edge.note or "",
    }


def _edge_rows(edge: Edge) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    ports = [
        {"protocol": p.protocol, "port": "" if p.port is None else str(p.port), "end_port": p.end_port}
        for p in edge.ports
    ]
    l7 = edge.l7 or {}
    http = [{"method": rule.get("method", ""), "path": rule.get("path", "")} for rule in l7.get("http", [])]
    dns = [
        {
            "match": "matchName" if "matchName" in rule else "matchPattern",
            "value": rule.get("matchName", rule.get("matchPattern", "")),
        }
        for rule in l7.get("dns", [])
    ]
    return ports, http, dns


def _apply_l7(edge: Edge, http: list[dict[str, Any]], dns: list[dict[str, Any]]) -> None:
    """Set the HTTP and DNS rules of an edge, keeping any other L7 protocol it came with (e.g. kafka)."""
    l7 = {k: v for k, v in (edge.l7 or {}).items() if k not in ("http", "dns")}
    http_rules = [{k: v for k, v in (("method", r["method"]), ("path", r["path"].strip())) if v} for r in http]
    http_rules = [rule for rule in http_rules if rule]
    dns_rules = [{row["match"]: row["value"].strip()} for row in dns if row["value"].strip()]
    if http_rules:
        l7["http"] = http_rules
    if dns_rules:
        l7["dns"] = dns_rules
    edge.l7 = l7 or None


def _explanations(compiled: CompileResult, edge_id: str) -> list[RuleExplanation]:
    """The policy rules this edge contributes to, so the panel can say where it ends up in the YAML."""
    return [e for e in compiled.explanations if edge_id in e.edge_ids]


def _not_in_effect(document: Document, compiled: CompileResult, edge: Edge) -> str:
    """Why a platform rule overrides this application edge (the canvas draws it as not in effect), or ""."""
    if edge.layer != APPLICATION or edge.disabled or not has_platform(document):
        return ""
    return overridden_edges(document, compiled).get(edge.id, "")


def _platform_fields_error(edge: Edge) -> str:
    """Why this edge cannot become a platform rule as it is, or ""."""
    extras = [words for _key, words in application_only_fields(edge)]
    if not extras:
        return ""
    return f"a platform rule has no {' or '.join(extras)}: remove them (in the Cilium dialect) before moving this edge"


def _attribution(document: Document, edge_id: str, dialect: str) -> list[Replayed]:
    """The observed connections of this edge, each judged against the drawing's policies with its attribution
    (which policy and rule allowed it, or why each side denies it: `connlist --flows --explain`'s words)."""
    result = replay_document(document, dialect, explain=True)
    return [c for c in result.connections if c.observation.edge_id == edge_id]


def edge_panel(document: Document, edge_id: str, data: QueryDict | None, dialect: str) -> Panel:
    edge = next((e for e in document.edges if e.id == edge_id), None)
    if edge is None:
        raise PanelNotFound(f"the drawing has no edge {edge_id!r}")
    nodes = document.node_map()
    source, target = nodes.get(edge.source), nodes.get(edge.target)
    port_rows, http_rows, dns_rows = _edge_rows(edge)
    bound = (data,) if data is not None else ()
    deny = dialect_named(dialect).has("deny")
    form = forms.EdgeForm(
        *bound, initial=_edge_initial(edge), current_layer=edge.layer, current_action=edge.action, deny_shown=deny
    )
    ports = forms.EdgePortFormSet(*bound, initial=port_rows, prefix="port")
    http = forms.HttpRuleFormSet(*bound, initial=http_rows, prefix="http")
    dns = forms.DnsRuleFormSet(*bound, initial=dns_rows, prefix="dns")
    platform = edge.layer != APPLICATION
    # L7 rules are the application's (Cilium): a platform rule's panel has none to show or post.
    l7 = dialect_named(dialect).has("l7") and not platform
    compiled = compile_document(document, dialect) if data is None else None
    panel = Panel(
        "editor/panels/edge.html",
        {
            "edge": edge,
            "source": source,
            "target": target,
            "form": form,
            "ports": ports,
            "http": http,
            "dns": dns,
            "l7": l7,
            "deny": deny,
            "platform": platform,
            "tier": TIER_TITLES.get(edge.layer, ""),
            "default_priority": DEFAULT_PRIORITY,
            "source_enforceable": source is not None and source.is_subject,
            "target_enforceable": target is not None and target.is_subject,
            "explanations": _explanations(compiled, edge_id) if compiled is not None else [],
            "not_in_effect": _not_in_effect(document, compiled, edge) if compiled is not None else "",
            "attribution": _attribution(document, edge_id, dialect) if data is None and edge.observed else [],
        },
    )
    shown = (form, ports, http, dns) if l7 else (form, ports)
    if data is None or not all(f.is_valid() for f in shown):
        return panel
    values = form.cleaned_data
    if values["layer"] != APPLICATION and (problem := _platform_fields_error(edge)):
        form.add_error("layer", problem)
        return panel
    changed = copy.deepcopy(document)
    new = next(e for e in changed.edges if e.id == edge_id)
    new.layer, new.action = values["layer"], values["rule_action"]
    # Priority and rule name are a platform rule's; the form shows them only on one (empty: the defaults).
    new.priority = values["priority"] if new.layer != APPLICATION and platform else None
    new.name = (values["rule_name"] or None) if new.layer != APPLICATION and platform else None
    new.enforce = [side for side in ("source", "target") if values[f"enforce_{side}"]]
    new.disabled = values["disabled"]
    new.note = values["note"] or None
    new.ports = [Port(row["protocol"], row["port"], row["end_port"]) for row in _formset_rows(ports)]
    if l7:
        _apply_l7(new, _formset_rows(http), _formset_rows(dns))
    return _finish(panel, changed, "Updated the edge.", lambda new: edge_panel(new, edge_id, None, dialect))


# --- namespaces and settings ----------------------------------------------------------------------------------------


def namespace_panel(document: Document, name: str, data: QueryDict | None) -> Panel:
    namespace = document.namespace(name)
    if namespace is None:
        raise PanelNotFound(f"the drawing has no namespace {name!r}")
    shown = {k: v for k, v in namespace.labels.items() if k != "kubernetes.io/metadata.name"}
    initial = {"name": namespace.name, "labels": forms.format_labels(shown)}
    form = forms.NamespaceForm(data, initial=initial) if data is not None else forms.NamespaceForm(initial=initial)
    members = [node for node in document.nodes if node.namespace == name]
    panel = Panel("editor/panels/namespace.html", {"namespace": namespace, "form": form, "members": members})
    if data is None or not form.is_valid():
        return panel
    new_name = form.cleaned_data["name"].strip()
    if new_name != name and document.namespace(new_name) is not None:
        form.add_error("name", f"the drawing already has a namespace {new_name!r}")
        return panel
    changed = copy.deepcopy(document)
    target = changed.namespace(name)
    assert target is not None
    index = changed.namespaces.index(target)
    changed.namespaces[index] = Namespace(new_name, form.cleaned_data["labels"], target.position, target.owners)
    for node in changed.nodes:
        if node.namespace == name:
            node.namespace = new_name
    panel = _finish(panel, changed, f"Updated namespace {new_name}.", lambda new: namespace_panel(new, new_name, None))
    panel.select = f"ns:{new_name}"
    return panel


def settings_panel(document: Document, data: QueryDict | None) -> Panel:
    s = document.settings
    initial = {
        "name": document.name,
        "dialect": s.dialect,
        "dns_namespace": s.dns.namespace,
        "dns_labels": forms.format_labels(s.dns.pod_labels),
        "dns_port": s.dns.port,
        "pod_cidrs": "\n".join(s.pod_cidrs),
        "service_cidrs": "\n".join(s.service_cidrs),
        "api_server_cidr": s.extra.get("apiServerCIDR", ""),
        "platform_api": s.platform_api,
    }
    form = forms.SettingsForm(data, initial=initial) if data is not None else forms.SettingsForm(initial=initial)
    panel = Panel("editor/panels/settings.html", {"form": form})
    if data is None or not form.is_valid():
        return panel
    values = form.cleaned_data
    changed = copy.deepcopy(document)
    changed.name = values["name"].strip()
    new = changed.settings
    new.dialect, new.pod_cidrs, new.service_cidrs = values["dialect"], values["pod_cidrs"], values["service_cidrs"]
    new.dns.namespace, new.dns.pod_labels = values["dns_namespace"], values["dns_labels"]
    new.dns.port = values["dns_port"]
    new.platform_api = values["platform_api"] or s.platform_api
    if values["api_server_cidr"]:
        new.extra["apiServerCIDR"] = values["api_server_cidr"]
    else:
        new.extra.pop("apiServerCIDR", None)
    return _finish(panel, changed, "Updated the drawing's settings.", lambda new: settings_panel(new, None))


# --- templates --------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Template:
    title: str
    description: str
    form: type[django_forms.Form]
    apply: Callable[[Document, dict[str, Any], str], templates.Outcome]


def _scope(values: dict[str, Any]) -> str | None:
    return values.get("scope") or None


TEMPLATES: dict[str, Template] = {
    "dns": Template(
        "Allow DNS",
        "Pods may query the cluster DNS on UDP and TCP (where it runs is in the drawing's settings).",
        forms.TemplateForm,
        lambda d, v, _: templates.allow_dns(d, _scope(v)),
    ),
    "default-deny": Template(
        "Default-deny a namespace",
        "Every pod in the namespace only gets the traffic the drawing allows.",
        forms.DefaultDenyForm,
        lambda d, v, _: templates.default_deny(d, v["scope"]),
    ),
    "ingress-controller": Template(
        "Allow from the ingress controller",
        "The ingress controller's namespace may reach the pods' ports.",
        forms.IngressControllerForm,
        lambda d, v, _: templates.allow_from_ingress_controller(d, _scope(v), v["controller_namespace"].strip()),
    ),
    "prometheus": Template(
        "Allow Prometheus scraping",
        "Prometheus may scrape the pods' metrics ports.",
        forms.PrometheusForm,
        lambda d, v, _: templates.allow_prometheus(d, _scope(v), v["monitoring_namespace"].strip(), v["labels"]),
    ),
    "kube-apiserver": Template(
        "Allow the Kubernetes API",
        "Pods may call the API server (an entity in Cilium, its endpoints' CIDR otherwise).",
        forms.ApiServerForm,
        lambda d, v, dialect: templates.allow_kube_apiserver(d, _scope(v), dialect, v["cidr"]),
    ),
    "mesh": Template(
        "Allow the mesh control plane",
        "Sidecars may fetch configuration and certificates from istiod (TCP 15012).",
        forms.MeshForm,
        lambda d, v, _: templates.allow_mesh_control_plane(d, _scope(v), v["mesh_namespace"].strip(), v["labels"]),
    ),
}


def _platform_apply(name: str) -> Callable[[Document, dict[str, Any], str], templates.Outcome]:
    if name == "monitoring":
        return lambda d, v, _: layer_templates.monitoring(d, v["monitoring_namespace"].strip(), v["labels"])
    return lambda d, _v, _dialect: layer_templates.APPLY[name](d)


# The platform team's (admin and baseline layers, editor/policy/platform/layer_templates.py): a form without a scope.
_PLATFORM_TEMPLATES = {
    "platform-dns": "cluster-dns",
    "platform-no-metadata": "no-metadata-service",
    "platform-default-deny": "default-deny",
    "platform-monitoring": "monitoring",
}
TEMPLATES.update(
    {
        key: Template(
            platform_templates.TEMPLATES[name][0],
            layer_templates.DESCRIPTIONS[name],
            forms.PlatformMonitoringForm if name == "monitoring" else forms.PlatformTemplateForm,
            _platform_apply(name),
        )
        for key, name in _PLATFORM_TEMPLATES.items()
    }
)


def template_panel(document: Document, name: str, data: QueryDict | None, dialect: str, scope: str = "") -> Panel:
    template = TEMPLATES.get(name)
    if template is None:
        raise PanelNotFound(f"there is no template {name!r}")
    namespaces = _namespaces(document)
    initial: dict[str, Any] = {"scope": scope if scope in namespaces else ""}
    if name == "kube-apiserver":
        initial["cidr"] = document.settings.extra.get("apiServerCIDR", "")
    if data is not None:
        form = template.form(data, initial=initial, namespaces=namespaces)
    else:
        form = template.form(initial=initial, namespaces=namespaces)
    panel = Panel(
        "editor/panels/template.html",
        {
            "template": template,
            "name": name,
            "form": form,
            "dialect": dialect,
            "entities": dialect_named(dialect).has("entities"),
            "no_namespaces": not namespaces,
        },
    )
    if data is None or not form.is_valid():
        return panel
    try:
        outcome = template.apply(document, form.cleaned_data, dialect)
    except templates.TemplateError as exc:
        form.add_error(None, str(exc))
        return panel
    return _finish(panel, outcome.document, outcome.message, None)
