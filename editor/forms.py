"""The inspector's forms: what a person types in the side panel, parsed and checked before it touches a drawing.

Each form only reads and checks fields; editor.panels applies the cleaned values to the document. Label text
is `key=value`, one per line or comma-separated; keys and values are checked with Kubernetes' own rules.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django import forms
from django.conf import settings

from editor.policy.dialects import REGISTRY
from editor.policy.document import port_name_error
from editor.policy.document_schema import ADMIN_LAYER, APPLICATION, BASELINE_LAYER, ENTITIES
from editor.policy.layers import ACTIONS, DEFAULT_PRIORITY, MAX_PRIORITY, MIN_PRIORITY
from editor.policy.selectors import validate_label_key, validate_label_value

PROTOCOL_CHOICES = [("TCP", "TCP"), ("UDP", "UDP"), ("SCTP", "SCTP"), ("ANY", "any")]
OWNER_CHOICES = [(kind, kind) for kind in ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod")]
HTTP_METHODS = ["", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
DIALECT_CHOICES = [(name, dialect.title) for name, dialect in REGISTRY.items()]
NAME_MAX = 253
LAYER_CHOICES = [
    (APPLICATION, "Application"),
    (ADMIN_LAYER, "Platform: Admin tier"),
    (BASELINE_LAYER, "Platform: Baseline tier"),
]
ACTION_CHOICES = [("allow", "Accept"), ("deny", "Deny"), ("pass", "Pass (Admin tier only)")]
PLATFORM_API_CHOICES = [
    ("v1alpha2", "ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2)"),
    ("v1alpha1", "AdminNetworkPolicy and BaselineAdminNetworkPolicy (v1alpha1)"),
]
RULE_NAME_MAX = 100  # the ClusterNetworkPolicy and ANP/BANP CRDs' maxLength of a rule name


def parse_labels(text: str) -> dict[str, str]:
    """`app=web, tier=front` or one `key=value` (or `key: value`) per line -> a dict; raises ValidationError."""
    labels: dict[str, str] = {}
    problems: list[str] = []
    for raw in text.replace(",", "\n").splitlines():
        item = raw.strip()
        if not item:
            continue
        separator = "=" if "=" in item else ":" if ":" in item else None
        if separator is None:
            problems.append(f"{item!r} is not key=value")
            continue
        key, _, value = (part.strip() for part in item.partition(separator))
        problem = validate_label_key(key) or validate_label_value(value)
        if problem:
            problems.append(problem)
        elif key in labels and labels[key] != value:
            problems.append(f"label {key!r} is given twice")
        labels[key] = value
    if problems:
        raise forms.ValidationError(problems)
    return labels


def format_labels(labels: dict[str, str] | None) -> str:
    return "\n".join(f"{key}={value}" for key, value in sorted((labels or {}).items()))


def parse_cidr(text: str) -> str:
    try:
        network = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise forms.ValidationError(f"{text.strip()!r} is not a CIDR such as 10.0.0.0/8") from None
    return str(network)


class LabelsField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "placeholder": "app=web"})

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("strip", False)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> dict[str, str]:  # type: ignore[override]
        return parse_labels(super().to_python(value) or "")


class CidrListField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 2, "spellcheck": "false"})

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        return [parse_cidr(item) for item in text.replace(",", "\n").split() if item]


def _port_value(text: str) -> int | str | None:
    """A port number, a named container port, or None for "all ports"."""
    text = text.strip()
    if not text:
        return None
    if text.isdigit():
        number = int(text)
        if not 1 <= number <= 65535:
            raise forms.ValidationError(f"port {number} is not between 1 and 65535")
        return number
    problem = port_name_error(text)
    if problem:
        raise forms.ValidationError(problem)
    return text


class EdgePortForm(forms.Form):
    protocol = forms.ChoiceField(choices=PROTOCOL_CHOICES, initial="TCP")
    port = forms.CharField(required=False, max_length=15, widget=forms.TextInput(attrs={"placeholder": "all"}))
    end_port = forms.IntegerField(required=False, min_value=1, max_value=65535, label="to")

    def clean_port(self) -> int | str | None:
        return _port_value(self.cleaned_data.get("port") or "")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        port, end_port = data.get("port"), data.get("end_port")
        if end_port is not None:
            if not isinstance(port, int):
                self.add_error("end_port", "a port range needs a numeric first port")
            elif end_port < port:
                self.add_error("end_port", f"the range end {end_port} is below its start {port}")
        return data


class HttpRuleForm(forms.Form):
    method = forms.ChoiceField(choices=[(m, m or "any") for m in HTTP_METHODS], required=False)
    path = forms.CharField(required=False, max_length=1000, widget=forms.TextInput(attrs={"placeholder": "/api/.*"}))


class DnsRuleForm(forms.Form):
    match = forms.ChoiceField(choices=[("matchPattern", "pattern"), ("matchName", "name")], initial="matchPattern")
    value = forms.CharField(
        required=False, max_length=255, widget=forms.TextInput(attrs={"placeholder": "*.example.com"})
    )


class ContainerPortForm(forms.Form):
    name = forms.CharField(required=False, max_length=15, widget=forms.TextInput(attrs={"placeholder": "http"}))
    port = forms.IntegerField(required=False, min_value=1, max_value=65535)
    protocol = forms.ChoiceField(choices=PROTOCOL_CHOICES[:3], initial="TCP")

    def clean_name(self) -> str:
        name = self.cleaned_data.get("name", "").strip()
        if name and (problem := port_name_error(name)):
            raise forms.ValidationError(problem)
        return name

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("name") and data.get("port") is None:
            self.add_error("port", "a named port needs its number")
        return data


MAX_ROWS = 200


def rows(form_class: type[forms.Form]) -> type[forms.BaseFormSet]:
    """A formset whose trailing empty row is how a person adds one more item.

    absolute_max bounds the forms built from a posted TOTAL_FORMS: Django's default (max_num + 1,000) lets a
    200-byte post make the server build, validate and render 1,200 rows (seconds of CPU, a 1.3 MB answer).
    """
    return forms.formset_factory(
        form_class, extra=1, can_delete=True, max_num=MAX_ROWS, validate_max=True, absolute_max=MAX_ROWS + 1
    )


EdgePortFormSet = rows(EdgePortForm)
HttpRuleFormSet = rows(HttpRuleForm)
DnsRuleFormSet = rows(DnsRuleForm)
ContainerPortFormSet = rows(ContainerPortForm)


def layer_field() -> forms.ChoiceField:
    """Which layer a node or edge is in; a post without it (an older page) leaves the layer as it is."""
    return forms.ChoiceField(choices=LAYER_CHOICES, required=False, label="Layer")


PRIORITY_ERROR = (
    f"priority is a whole number from {MIN_PRIORITY} to {MAX_PRIORITY} (within a tier, lower numbers are "
    "evaluated first)"
)


class EdgeForm(forms.Form):
    """An edge: its layer, and either an application edge's sides and deny (Cilium) or a platform rule's action,
    priority and name. `current_layer` is the layer the panel was drawn for: it says which of the two the person
    saw (the deny checkbox or the action list), so moving an edge to another layer keeps what it does; in a dialect
    without deny rules (`deny_shown` False) the box is not shown and the edge keeps `current_action`."""

    layer = layer_field()
    # Not "action": a field of that name would hide its form's action (the URL) from the page's scripts.
    rule_action = forms.ChoiceField(choices=ACTION_CHOICES, required=False, label="Action")
    priority = forms.IntegerField(
        required=False,
        label="Priority",
        widget=forms.NumberInput(
            attrs={
                "min": MIN_PRIORITY,
                "max": MAX_PRIORITY,
                "placeholder": str(DEFAULT_PRIORITY),
                "aria-describedby": "priority-help",
            }
        ),
        error_messages={"invalid": PRIORITY_ERROR},
    )
    rule_name = forms.CharField(
        required=False,
        max_length=RULE_NAME_MAX,
        label="Rule name",
        widget=forms.TextInput(attrs={"spellcheck": "false"}),
    )
    enforce_source = forms.BooleanField(required=False, label="Source's egress policy")
    enforce_target = forms.BooleanField(required=False, label="Target's ingress policy")
    deny = forms.BooleanField(required=False, label="Deny instead of allow (Cilium only)")
    disabled = forms.BooleanField(required=False, label="Keep drawn but do not compile")
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(
        self,
        *args: Any,
        current_layer: str = APPLICATION,
        current_action: str = "allow",
        deny_shown: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.current_layer, self.current_action, self.deny_shown = current_layer, current_action, deny_shown

    def clean_priority(self) -> int | None:
        priority: int | None = self.cleaned_data.get("priority")
        if priority is not None and not MIN_PRIORITY <= priority <= MAX_PRIORITY:
            raise forms.ValidationError(f"{PRIORITY_ERROR}; {priority} is not")
        return priority

    def clean_rule_name(self) -> str:
        name: str = self.cleaned_data.get("rule_name", "").strip()
        if any(not char.isprintable() for char in name):
            raise forms.ValidationError("a rule name may not hold control characters or line breaks")
        return name

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "layer" not in data:
            return data  # not a layer we know: its field says so
        layer = data["layer"] = data["layer"] or self.current_layer
        # The action as the person set it: the list on a platform rule's panel, the deny box on an application one.
        if self.current_layer == APPLICATION:
            action = ("deny" if data.get("deny") else "allow") if self.deny_shown else self.current_action
        else:
            action = data.get("rule_action") or "allow"
        if action not in ACTIONS[layer]:  # only Pass can be out of place: the deny box gives allow or deny
            if layer == APPLICATION:
                why = "Pass is an Admin tier action: an application edge allows (or, in Cilium, denies)"
            else:
                why = "Pass is an Admin tier action (it hands the connection to NetworkPolicy): a Baseline rule "
                why += "accepts or denies"
            self.add_error("rule_action", why)
        data["rule_action"] = action
        return data


class SubjectForm(forms.Form):
    """Fields every pod set has: the default-deny locks and the name of its policy."""

    isolate_ingress = forms.BooleanField(required=False, label="Deny other ingress")
    isolate_egress = forms.BooleanField(required=False, label="Deny other egress")
    policy_name = forms.CharField(required=False, max_length=NAME_MAX, label="Policy name")
    layer = layer_field()
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class WorkloadForm(SubjectForm):
    name = forms.CharField(max_length=NAME_MAX)
    namespace = forms.ChoiceField(choices=[])
    owner = forms.ChoiceField(choices=OWNER_CHOICES, label="Kind")
    labels = LabelsField(label="Pod labels")
    field_order = ("name", "namespace", "owner", "labels")

    def __init__(self, *args: Any, namespaces: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["namespace"].choices = [(n, n) for n in namespaces]


class SelectorForm(SubjectForm):
    name = forms.CharField(required=False, max_length=NAME_MAX)
    namespace = forms.ChoiceField(choices=[], required=False, label="In namespace")
    namespace_labels = LabelsField(label="or namespaces labelled")
    pod_labels = LabelsField(label="Pods labelled (empty: all pods)")
    field_order = ("name", "namespace", "namespace_labels", "pod_labels")

    def __init__(self, *args: Any, namespaces: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["namespace"].choices = [("", "namespaces matching labels")] + [(n, n) for n in namespaces]


class CidrForm(forms.Form):
    name = forms.CharField(required=False, max_length=NAME_MAX)
    cidr = forms.CharField(max_length=64, label="CIDR")
    except_ = CidrListField(label="Except")
    layer = layer_field()
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_cidr(self) -> str:
        return parse_cidr(self.cleaned_data["cidr"])


class EntityForm(forms.Form):
    entity = forms.ChoiceField(choices=[(e, e) for e in ENTITIES])
    layer = layer_field()
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class FqdnForm(forms.Form):
    match = forms.ChoiceField(choices=[("matchName", "exact name"), ("matchPattern", "pattern")])
    value = forms.CharField(max_length=255, widget=forms.TextInput(attrs={"placeholder": "api.example.com"}))
    layer = layer_field()
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class NamespaceForm(forms.Form):
    name = forms.CharField(max_length=63)
    labels = LabelsField(label="Labels")


class SettingsForm(forms.Form):
    name = forms.CharField(required=False, max_length=200, label="Drawing name")
    dialect = forms.ChoiceField(choices=DIALECT_CHOICES, label="Default dialect")
    dns_namespace = forms.CharField(max_length=63, label="Cluster DNS namespace")
    dns_labels = LabelsField(label="Cluster DNS pod labels")
    dns_port = forms.IntegerField(min_value=1, max_value=65535, label="Cluster DNS port")
    pod_cidrs = CidrListField(label="Pod CIDRs")
    service_cidrs = CidrListField(label="Service CIDRs")
    api_server_cidr = forms.CharField(required=False, max_length=64, label="API server endpoints (CIDR)")
    platform_api = forms.ChoiceField(choices=PLATFORM_API_CHOICES, required=False, label="Platform layer API")

    def clean_api_server_cidr(self) -> str:
        text = self.cleaned_data.get("api_server_cidr", "").strip()
        return parse_cidr(text) if text else ""


class TemplateForm(forms.Form):
    """A one-click template; `scope` is the namespace whose pod sets it connects (empty: all of them)."""

    scope = forms.ChoiceField(choices=[], required=False, label="For the pods of")

    def __init__(self, *args: Any, namespaces: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["scope"].choices = [("", "every namespace")] + [(n, n) for n in namespaces]


class DefaultDenyForm(forms.Form):
    scope = forms.ChoiceField(choices=[], label="Namespace")

    def __init__(self, *args: Any, namespaces: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["scope"].choices = [(n, n) for n in namespaces]


class IngressControllerForm(TemplateForm):
    controller_namespace = forms.CharField(max_length=63, initial="ingress-nginx", label="Controller namespace")


class PrometheusForm(TemplateForm):
    monitoring_namespace = forms.CharField(max_length=63, initial="monitoring", label="Prometheus namespace")
    labels = LabelsField(initial="app.kubernetes.io/name=prometheus", label="Prometheus pod labels")


class ApiServerForm(TemplateForm):
    cidr = forms.CharField(required=False, max_length=64, label="API server endpoints (CIDR, NetworkPolicy only)")


class MeshForm(TemplateForm):
    mesh_namespace = forms.CharField(max_length=63, initial="istio-system", label="Control plane namespace")
    labels = LabelsField(initial="app=istiod", label="Control plane pod labels")


class PlatformTemplateForm(forms.Form):
    """A platform template (admin/baseline layer): it concerns every namespace, so it has no scope."""

    def __init__(self, *args: Any, namespaces: list[str], **kwargs: Any) -> None:
        del namespaces
        super().__init__(*args, **kwargs)


class PlatformMonitoringForm(PlatformTemplateForm):
    monitoring_namespace = forms.CharField(max_length=63, initial="monitoring", label="Monitoring namespace")
    labels = LabelsField(initial="app.kubernetes.io/name=prometheus", label="Monitoring pod labels")


class ImportForm(forms.Form):
    text = forms.CharField(
        required=False, strip=False, widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false"})
    )
    file = forms.FileField(required=False, label="or upload a file")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        upload = data.get("file")
        if upload is not None and upload.size > settings.FENCELINE_MAX_UPLOAD_BYTES:
            limit = settings.FENCELINE_MAX_UPLOAD_BYTES
            raise forms.ValidationError(f"{upload.name} is {upload.size:,} bytes, more than the limit of {limit:,}")
        if upload is None and not (data.get("text") or "").strip():
            raise forms.ValidationError("paste YAML or choose a file to import")
        return data
