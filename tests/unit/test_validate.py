"""Policy validation: the upstream corpus verdicts, one test per semantic check, and `fenceline validate`."""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import os
import random
import re
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from editor.policy import service, validate, yamlio
from editor.policy.cli import main
from editor.policy.document import Document
from editor.policy.importer import import_text
from editor.policy.platform.schema import CRD_FILES, schema_for
from editor.policy.validate import Finding, schema_errors, validate_object, validate_objects

POLICIES = Path(__file__).resolve().parent.parent / "fixtures" / "policies"


# ---------------------------------------------------------------------------------------------------------
# The corpus README's verdicts


def _readme_verdicts() -> dict[str, str]:
    """file (relative to policies/) -> the README's validation column ("valid" or "INVALID(n): path: ...")."""
    verdicts: dict[str, str] = {}
    folder = ""
    for line in (POLICIES / "README.md").read_text().splitlines():
        heading = re.fullmatch(r"## (\S+)/", line)
        if heading:
            folder = heading.group(1)
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if folder and len(cells) >= 3 and cells[0].endswith(".yaml"):
            verdicts[f"{folder}/{cells[0]}"] = cells[-1]
    return verdicts


VERDICTS = _readme_verdicts()
CORPUS = sorted(str(p.relative_to(POLICIES)) for p in POLICIES.rglob("*.yaml"))
# Quirks the README describes in prose rather than in a table row; each has its own test below.
UNLISTED = {"cilium-cilium/l3/entities/from_nodes.yaml", "cilium-cilium/l3/entities/customnodes.yaml"}
# Valid against the CRD schema, but Cilium's agent refuses toCIDR and toCIDRSet in one rule; upstream's newer
# copy (l3/cidr/cidr.yaml) puts them in separate rules.
AGENT_REFUSED = {"cilium-cilium/cidr.yaml": "spec.egress[0]"}


def _objects(relative: str) -> list[yamlio.KubeObject]:
    objects, problems = yamlio.load_objects((POLICIES / relative).read_bytes(), relative)
    assert problems == []
    assert objects
    return objects


def _errors(findings: list[Finding]) -> list[Finding]:
    return [finding for finding in findings if finding.is_error]


def test_every_corpus_file_has_a_verdict() -> None:
    assert len(CORPUS) == 75
    assert set(CORPUS) == set(VERDICTS) | UNLISTED
    assert sum(verdict.startswith("INVALID") for verdict in VERDICTS.values()) == 7


@pytest.mark.parametrize("relative", [name for name in CORPUS if VERDICTS.get(name) == "valid"])
def test_valid_corpus_files_pass_schema_and_semantics(relative: str) -> None:
    objects = _objects(relative)
    for item in objects:
        assert schema_errors(item.obj, relative) == []
    errors = _errors(validate_objects(objects))
    if relative in AGENT_REFUSED:
        assert [(e.path, "toCIDR and toCIDRSet" in e.message) for e in errors] == [(AGENT_REFUSED[relative], True)]
    else:
        assert errors == []


@pytest.mark.parametrize("relative", [name for name in CORPUS if VERDICTS.get(name, "").startswith("INVALID")])
def test_invalid_corpus_files_are_reported_with_the_readme_path(relative: str) -> None:
    slashed = VERDICTS[relative].split(": ")[1]  # e.g. spec/ingress/0/fromEndpoints/0
    expected = re.sub(r"/(\d+)", r"[\1]", slashed).replace("/", ".")
    objects = _objects(relative)
    findings = validate_objects(objects)
    assert expected in [finding.path for finding in _errors(findings)], [str(f) for f in findings]
    assert any(schema_errors(item.obj) for item in objects)
    for finding in _errors(findings):
        assert finding.source == relative and finding.line is not None and finding.line > 1


def test_typo_apiversion_is_flagged() -> None:
    findings = validate_objects(_objects("cilium-cilium/l3/entities/from_nodes.yaml"))
    assert schema_errors(_objects("cilium-cilium/l3/entities/from_nodes.yaml")[0].obj) == []  # the lenient root
    messages = {(f.severity, f.path): f.message for f in findings}
    assert "'apiversion'" in messages["error", ""] and "missing apiVersion" in messages["error", ""]
    assert "did you mean 'apiVersion'" in messages["warning", "apiversion"]


def test_node_selector_rules_need_an_agent_flag() -> None:
    findings = validate_objects(_objects("cilium-cilium/l3/entities/customnodes.yaml"))
    assert [(f.severity, f.path) for f in findings] == [("warning", "spec.ingress[0].fromNodes")]


@pytest.mark.parametrize(
    "relative",
    [
        "cilium-cilium/l3/requires/requires.yaml",
        "cilium-cilium/l7/http/simple/l7.yaml",
        "cilium-cilium/l7/kafka/kafka.yaml",
        "cilium-cilium/getting-started/kafka.yaml",
        "cilium-cilium/minikube/sw_l3_l4_policy.yaml",
        "cilium-cilium/host/lock-down-dev-vms.yaml",
        "cilium-cilium/l3/host/host-policy.yaml",
    ],
)
def test_top_level_description_is_a_warning(relative: str) -> None:
    findings = validate_objects(_objects(relative))
    described = [f for f in findings if f.path == "description"]
    assert len(described) == 1 and described[0].severity == "warning" and "drops it" in described[0].message


def test_shipped_schemas_match_the_recorded_hashes_and_are_valid_schemas() -> None:
    folder = resources.files("editor.policy").joinpath("schemas")
    recorded = re.findall(
        r"^\| (\S+\.json) \| [\d,]+ \| ([0-9a-f]{12}) \|", folder.joinpath("README.md").read_text(), re.M
    )
    assert len(recorded) == 5
    for name, prefix in recorded:
        data = folder.joinpath(name).read_bytes()
        assert hashlib.sha256(data).hexdigest().startswith(prefix), name
        schema = json.loads(data)
        # The metaschema's `format: regex` would refuse the Go-only patterns handled in GO_ONLY_PATTERNS.
        Draft202012Validator.check_schema(schema, format_checker=None)
        for pattern in _patterns(schema):
            if pattern not in validate.GO_ONLY_PATTERNS:
                re.compile(pattern)


def _patterns(schema: object) -> list[str]:
    if isinstance(schema, dict):
        found = [schema["pattern"]] if isinstance(schema.get("pattern"), str) else []
        return found + [p for value in schema.values() for p in _patterns(value)]
    if isinstance(schema, list):
        return [p for value in schema for p in _patterns(value)]
    return []


def test_go_only_pattern_is_checked_without_crashing() -> None:
    text = _cnp("endpointSelector: {}\ningress: [{fromEntities: [world]}]\nlog: {value: VALUE}\n")
    assert _check(text.replace("VALUE", "audit-42 é")) == []
    finding = _only(_check(text.replace("VALUE", '"bell\\a"')))
    assert finding.path == "spec.log.value" and "invalid value" in finding.message


# ---------------------------------------------------------------------------------------------------------
# One test per semantic check, on small inline YAML


def _check(text: str, source: str = "inline.yaml") -> list[Finding]:
    objects, problems = yamlio.load_objects(textwrap.dedent(text), source)
    assert problems == []
    return validate_objects(objects)


def _np(spec: str, name: str = "web", namespace: str = "shop") -> str:
    return (
        f"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: {name}\n"
        f"  namespace: {namespace}\nspec:\n" + textwrap.indent(textwrap.dedent(spec), "  ")
    )


def _cnp(spec: str, kind: str = "CiliumNetworkPolicy") -> str:
    return f"apiVersion: cilium.io/v2\nkind: {kind}\nmetadata:\n  name: web\nspec:\n" + textwrap.indent(
        textwrap.dedent(spec), "  "
    )


def _only(findings: list[Finding], severity: str = "error") -> Finding:
    assert len(findings) == 1, [str(f) for f in findings]
    assert findings[0].severity == severity, str(findings[0])
    return findings[0]


def _ip_block(cidr: str, *excepts: str) -> str:
    lines = ["podSelector: {}", "ingress:", "- from:", "  - ipBlock:", f"      cidr: {cidr}"]
    if excepts:
        lines += ["      except:"] + [f"      - {e}" for e in excepts]
    return "\n".join(lines) + "\n"


CIDR_PATH = "spec.ingress[0].from[0].ipBlock.cidr"


def test_a_clean_network_policy_has_no_findings() -> None:
    text = _np(
        """\
        podSelector: {matchLabels: {app: web}}
        policyTypes: [Ingress, Egress]
        ingress:
        - from:
          - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}}
            podSelector: {matchExpressions: [{key: tier, operator: In, values: [front]}]}
          - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}
          - ipBlock: {cidr: "2001:db8::/32", except: ["2001:db8:1::/48"]}
          ports:
          - {protocol: TCP, port: 8000, endPort: 8080}
          - {protocol: UDP, port: dns}
          - {protocol: SCTP}
        egress:
        - {}
        """
    )
    assert _check(text) == []


@pytest.mark.parametrize(
    ("cidr", "fragment"),
    [
        ("10.0.0.300/8", "not an IPv4 or IPv6 address"),
        ("10.0.0.0", "is not a CIDR"),
        ("10.0.0.0/33", "too long for IPv4"),
        ("10.0.0.0/255.0.0.0", "invalid prefix length"),
        ("010.0.0.0/8", "leading zeros"),
        ("'::ffff:10.0.0.0/104'", "IPv4-mapped"),
    ],
)
def test_cidr_syntax(cidr: str, fragment: str) -> None:
    finding = _only(_check(_np(_ip_block(cidr))))
    assert finding.path == CIDR_PATH and fragment in finding.message


def test_cidr_with_host_bits_is_an_error_for_kubernetes_with_the_canonical_form() -> None:
    finding = _only(_check(_np(_ip_block("192.168.1.0/16"))))
    assert finding.path == CIDR_PATH and "192.168.0.0/16" in finding.message


def test_cidr_with_host_bits_is_a_warning_for_cilium_which_masks_them() -> None:
    finding = _only(_check(_cnp("endpointSelector: {}\negress:\n- toCIDRSet:\n  - cidr: 10.1.2.3/8\n")), "warning")
    assert finding.path == "spec.egress[0].toCIDRSet[0].cidr" and "10.0.0.0/8" in finding.message


def test_ipv6_cidr_not_in_canonical_form_is_a_warning() -> None:
    finding = _only(_check(_np(_ip_block('"2001:DB8:0::/32"'))), "warning")
    assert "2001:db8::/32" in finding.message


@pytest.mark.parametrize(
    ("excepts", "fragment"),
    [
        (("192.168.0.0/16",), "not inside 10.0.0.0/8"),
        (("10.0.0.0/8",), "strict subset"),
        (('"2001:db8::/64"',), "not inside"),
    ],
)
def test_except_must_be_strictly_inside_cidr(excepts: tuple[str, ...], fragment: str) -> None:
    finding = _only(_check(_np(_ip_block("10.0.0.0/8", *excepts))))
    assert finding.path == "spec.ingress[0].from[0].ipBlock.except[0]" and fragment in finding.message


def test_cilium_except_outside_cidr() -> None:
    text = _cnp("endpointSelector: {}\negress:\n- toCIDRSet:\n  - cidr: 10.0.0.0/8\n    except: [11.0.0.0/8]\n")
    assert _only(_check(text)).path == "spec.egress[0].toCIDRSet[0].except[0]"


def _ports(*entries: str) -> str:
    return "podSelector: {}\ningress:\n- ports:\n" + "".join(f"  - {entry}\n" for entry in entries)


@pytest.mark.parametrize(
    ("entry", "path", "fragment"),
    [
        ("{port: 0}", "port", "between 1 and 65535"),
        ("{port: 65536}", "port", "between 1 and 65535"),
        ("{port: 80, endPort: 79}", "endPort", "greater than or equal to port (80)"),
        ("{port: 80, endPort: 70000}", "endPort", "between 1 and 65535"),
        ("{port: http, endPort: 90}", "endPort", "named port"),
        ("{endPort: 90}", "endPort", "without port"),
        ("{port: HTTP}", "port", "lower-case"),
        ("{port: my_port}", "port", "letters, digits"),
        ("{port: a-very-long-port-name}", "port", "15 characters"),
        ("{port: '8080'}", "port", "without quotes"),
        ("{port: web--1}", "port", "single inner"),
        ("{protocol: tcp}", "protocol", "did you mean 'TCP'"),
        ("{protocol: ICMP}", "protocol", "TCP, UDP or SCTP"),
        ("{port: null}", "port", "must not be empty"),
    ],
)
def test_network_policy_ports(entry: str, path: str, fragment: str) -> None:
    finding = _only(_check(_np(_ports(entry))))
    assert finding.path == f"spec.ingress[0].ports[0].{path}" and fragment in finding.message


def test_valid_ports_pass() -> None:
    assert _check(_np(_ports("{port: 1}", "{port: 65535}", "{port: 80, endPort: 80}", "{port: h2c-2}"))) == []


def test_empty_peer_is_refused() -> None:
    finding = _only(_check(_np("podSelector: {}\negress:\n- to:\n  - {}\n")))
    assert finding.path == "spec.egress[0].to[0]" and "empty peer" in finding.message and "`to`" in finding.message


def test_ip_block_cannot_be_combined_with_a_selector() -> None:
    text = _np("podSelector: {}\ningress:\n- from:\n  - ipBlock: {cidr: 10.0.0.0/8}\n    podSelector: {}\n")
    finding = _only(_check(text))
    assert finding.path == "spec.ingress[0].from[0]" and "separate peers" in finding.message


def test_ip_block_needs_a_cidr() -> None:
    finding = _only(_check(_np("podSelector: {}\ningress:\n- from:\n  - ipBlock: {except: [10.0.0.0/8]}\n")))
    assert finding.path == "spec.ingress[0].from[0].ipBlock" and finding.message == "missing required key 'cidr'"


@pytest.mark.parametrize(
    ("selector", "path", "fragment"),
    [
        ("{matchLabels: {-app: web}}", 'spec.podSelector.matchLabels["-app"]', "name part"),
        ("{matchLabels: {Example.com/app: web}}", 'spec.podSelector.matchLabels["Example.com/app"]', "prefix"),
        ("{matchLabels: {app: web server}}", "spec.podSelector.matchLabels.app", "label value"),
        ("{matchLabels: {app: " + "x" * 64 + "}}", "spec.podSelector.matchLabels.app", "63 characters"),
        ("{matchExpressions: [{key: app, operator: In}]}", "spec.podSelector.matchExpressions[0]", "non-empty"),
        ("{matchExpressions: [{key: app, operator: Exists, values: [a]}]}", "", "must be empty"),
        ("{matchExpressions: [{key: app, operator: in, values: [a]}]}", "", "not a valid label selector operator"),
    ],
)
def test_selector_syntax(selector: str, path: str, fragment: str) -> None:
    finding = _only(_check(_np(f"podSelector: {selector}\n")))
    assert finding.path.startswith(path or "spec.podSelector.matchExpressions[0]") and fragment in finding.message


def test_metadata_label_syntax() -> None:
    text = _np("podSelector: {}\n").replace("  namespace: shop\n", "  namespace: shop\n  labels: {team/: a}\n")
    finding = _only(_check(text))
    assert finding.path == 'metadata.labels["team/"]' and "name part must not be empty" in finding.message


@pytest.mark.parametrize(
    ("types", "path", "fragment"),
    [
        ("[ingress]", "spec.policyTypes[0]", "did you mean 'Ingress'"),
        ("[Ingress, Egress, Ingress]", "spec.policyTypes", "at most two"),
        ("[Egress, Egress]", "spec.policyTypes[1]", "listed twice"),
    ],
)
def test_policy_types(types: str, path: str, fragment: str) -> None:
    findings = _check(_np(f"podSelector: {{}}\npolicyTypes: {types}\n"))
    assert [f.path for f in findings] == [path] and fragment in findings[0].message


@pytest.mark.parametrize(
    ("name", "namespace", "path", "fragment"),
    [
        ("Web_Policy", "shop", "metadata.name", "lower-case letters"),
        ("web." + "a" * 250, "shop", "metadata.name", "longer than 253"),
        ("web", "shop.eu", "metadata.namespace", "invalid namespace"),
    ],
)
def test_metadata_names(name: str, namespace: str, path: str, fragment: str) -> None:
    finding = _only(_check(_np("podSelector: {}\n", name=name, namespace=namespace)))
    assert finding.path == path and fragment in finding.message


def test_missing_name() -> None:
    text = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {namespace: a}\nspec: {podSelector: {}}\n"
    assert _only(_check(text)).message == "missing metadata.name"


def test_duplicate_names_in_one_input_set() -> None:
    first = yamlio.load_objects(_np("podSelector: {}\n"), "a.yaml")[0]
    second = yamlio.load_objects("# another copy\n" + _np("podSelector: {}\n"), "b.yaml")[0]
    other_namespace = yamlio.load_objects(_np("podSelector: {}\n", namespace="other"), "c.yaml")[0]
    finding = _only(validate_objects(first + second + other_namespace))
    assert (finding.source, finding.line, finding.path) == ("b.yaml", 5, "metadata.name")
    assert "also defined at a.yaml:1" in finding.message


def test_same_name_in_different_kinds_is_not_a_duplicate() -> None:
    text = _np("podSelector: {}\n") + "---\n" + _cnp("endpointSelector: {}\ningress: [{fromEntities: [world]}]\n")
    assert _check(text) == []


def test_finding_text_names_file_line_object_and_path() -> None:
    text = _np(
        "podSelector: {}\ningress:\n- from:\n  - ipBlock:\n      cidr: 10.0.0.0/8\n      except: [11.0.0.0/16]\n"
    )
    finding = _only(_check(text, "policies/web.yaml"))
    assert finding.line == 12 and finding.document == 0
    assert str(finding) == (
        "policies/web.yaml:12: NetworkPolicy shop/web: spec.ingress[0].from[0].ipBlock.except[0]: "
        "11.0.0.0/16 is not inside 10.0.0.0/8: every except must be within the cidr"
    )


def test_validate_object_without_a_file_has_no_line() -> None:
    finding = _only(
        validate_object(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": "x"},
                "spec": {"policyTypes": ["Both"]},
            },
            "node n1",
        )
    )
    assert finding.line is None and str(finding).startswith("node n1: NetworkPolicy x: spec.policyTypes[0]: ")


def test_kinds_and_api_versions() -> None:
    assert (
        validate_objects(yamlio.load_objects("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n")[0]) == []
    )
    assert _only(validate_object({"apiVersion": "v1", "kind": "Namespace"}), "warning").path == "kind"
    assert "missing kind" in _only(_check("apiVersion: v1\nmetadata: {name: x}\n")).message
    assert "did you mean 'NetworkPolicy'" in _check("apiVersion: v1\nkind: networkpolicy\n")[0].message
    wrong = _check(_np("podSelector: {}\n").replace("networking.k8s.io/v1", "extensions/v1beta1"))
    assert [(f.path, "networking.k8s.io/v1" in f.message) for f in wrong] == [("apiVersion", True)]


def test_schema_errors_reports_only_the_schema() -> None:
    obj = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "x"},
        "spec": {"podSelector": {}, "ingress": [{"from": [{}]}], "egres": []},
    }
    assert [f.path for f in schema_errors(obj)] == ["spec"]
    assert "did you mean 'egress'" in schema_errors(obj)[0].message
    assert {f.path for f in validate_object(obj)} == {"spec", "spec.ingress[0].from[0]"}


# Cilium


def test_cilium_integer_port_names_the_string_form() -> None:
    text = _cnp("endpointSelector: {}\negress:\n- toEntities: [world]\n  toPorts:\n  - ports:\n    - port: 53\n")
    finding = _only(_check(text))
    assert finding.path == "spec.egress[0].toPorts[0].ports[0].port"
    assert finding.message == 'must be a string such as "53"'


@pytest.mark.parametrize(
    ("rule", "fragment"),
    [
        ("- toFQDNs: [{matchName: example.com}]\n  toEndpoints: [{}]\n", "toFQDNs cannot be combined with toEndpoints"),
        ("- toEndpoints: [{}]\n  toFQDNs: [{matchName: example.com}]\n", "toFQDNs cannot be combined with toEndpoints"),
        ("- toEndpoints: [{}]\n  toEntities: [world]\n", "combine toEndpoints and toEntities"),
    ],
)
def test_cilium_one_peer_kind_per_rule(rule: str, fragment: str) -> None:
    finding = _only(_check(_cnp("endpointSelector: {}\negress:\n" + rule)))
    assert finding.path == "spec.egress[0]" and fragment in finding.message


def test_cilium_empty_peer_lists_do_not_count_as_peers() -> None:
    assert _check(_cnp("endpointSelector: {}\negress:\n- toEndpoints: []\n  toEntities: [world]\n")) == []


@pytest.mark.parametrize(
    ("section", "fragment"),
    [
        ("egressDeny:\n- toFQDNs: [{matchName: example.com}]\n", "deny rules cannot use toFQDNs"),
        (
            "ingressDeny:\n- fromEntities: [world]\n  toPorts:\n  - ports: [{port: '80', protocol: TCP}]\n"
            "    rules: {http: [{method: GET}]}\n",
            "deny rules cannot carry L7 rules",
        ),
    ],
)
def test_cilium_deny_sections_have_no_fqdn_or_l7(section: str, fragment: str) -> None:
    finding = _only(_check(_cnp("endpointSelector: {}\n" + section)))
    assert fragment in finding.message


def _l7(direction: str, ports: str, rules: str, peer: str = "toEntities: [world]") -> str:
    return _cnp(f"endpointSelector: {{}}\n{direction}:\n- {peer}\n  toPorts:\n  - ports: {ports}\n    rules: {rules}\n")


@pytest.mark.parametrize(
    ("text", "path", "fragment"),
    [
        (_l7("egress", "[{port: '80'}]", "{http: [{}]}"), "ports[0].protocol", "protocol is omitted"),
        (_l7("egress", "[{port: '80', protocol: UDP}]", "{kafka: [{}]}"), "ports[0].protocol", "only to TCP"),
        (
            _l7("ingress", "[{port: '53', protocol: UDP}]", "{dns: [{matchPattern: '*'}]}", "fromEntities: [world]"),
            "rules.dns",
            "only allowed on egress",
        ),
        (
            _l7("egress", "[{port: '53', endPort: 60, protocol: UDP}]", "{dns: [{matchPattern: '*'}]}"),
            "ports[0].endPort",
            "port ranges",
        ),
        (_l7("egress", "[{port: '0', protocol: TCP}]", "{http: [{}]}"), "ports[0].port", "port 0"),
        (_l7("egress", "[{port: '080', protocol: TCP}]", "{}"), "ports[0].port", "octal"),
        (_l7("egress", "[{port: '70000', protocol: TCP}]", "{}"), "ports[0].port", "between 0 and 65535"),
        (_l7("egress", "[{port: '90', endPort: 80, protocol: TCP}]", "{}"), "ports[0].endPort", "greater than"),
        (_l7("egress", "[{port: 'http_x', protocol: TCP}]", "{}"), "ports[0].port", "invalid port"),
    ],
)
def test_cilium_port_rules(text: str, path: str, fragment: str) -> None:
    finding = _only(_check(text.replace("    rules: {}\n", "")))
    assert finding.path == f"spec.{'ingress' if 'ingress' in text else 'egress'}[0].toPorts[0].{path}"
    assert fragment in finding.message


def test_cilium_named_port_with_end_port_is_a_warning() -> None:
    finding = _only(
        _check(_l7("egress", "[{port: HTTP, endPort: 90}]", "{}").replace("    rules: {}\n", "")), "warning"
    )
    assert finding.path.endswith("ports[0].endPort")


def test_cilium_l7_on_a_host_policy_and_icmps_with_ports() -> None:
    host = _l7("egress", "[{port: '80', protocol: TCP}]", "{http: [{}]}").replace("endpointSelector", "nodeSelector")
    assert "host policies" in _only(_check(host, "h.yaml")).message
    icmp = _cnp(
        "endpointSelector: {}\negress:\n- icmps: [{fields: [{type: 8}]}]\n  toPorts: [{ports: [{port: '80'}]}]\n"
    )
    assert _only(_check(icmp)).path == "spec.egress[0].icmps"


def test_cilium_entity_names_are_checked_with_a_suggestion() -> None:
    finding = _only(_check(_cnp("endpointSelector: {}\negress:\n- toEntities: [World]\n")))
    assert finding.path == "spec.egress[0].toEntities[0]" and "did you mean 'world'" in finding.message


def test_cilium_rule_needs_a_subject_and_a_section() -> None:
    messages = sorted(f.message for f in _check(_cnp("egress: [{toEntities: [world]}]\n")))
    assert messages == ["must set one of endpointSelector, nodeSelector"]
    messages = sorted(f.message for f in _check(_cnp("endpointSelector: {}\n")))
    assert messages == ["must set at least one of ingress, ingressDeny, egress, egressDeny"]
    assert (
        "has no rules"
        in _only(_check("apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: x}\n")).message
    )


def test_cilium_selector_keys_may_carry_a_label_source() -> None:
    good = _cnp(
        "endpointSelector: {matchLabels: {'k8s:io.kubernetes.pod.namespace': a, 'reserved:host': ''}}\n"
        "ingress: [{fromEndpoints: [{matchLabels: {'any:app': web}}]}]\n"
    )
    assert _check(good) == []
    bad = _cnp("endpointSelector: {}\ningress: [{fromEndpoints: [{matchLabels: {'k8s:-app': web}}]}]\n")
    assert _only(_check(bad)).path == 'spec.ingress[0].fromEndpoints[0].matchLabels["k8s:-app"]'


def test_cilium_unknown_root_keys_and_clusterwide_namespace_are_warnings() -> None:
    text = _cnp("endpointSelector: {}\ningress: [{fromEntities: [world]}]\n", "CiliumClusterwideNetworkPolicy")
    text = text.replace("  name: web\n", "  name: web\n  namespace: a\n") + "Spec: {}\n"
    findings = _check(text)
    assert [(f.severity, f.path) for f in findings] == [("warning", "metadata.namespace"), ("warning", "Spec")]


# ---------------------------------------------------------------------------------------------------------
# `fenceline validate`


def test_cli_exit_0_on_valid_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(POLICIES / "kubernetes-website"), str(POLICIES / "cilium-cilium" / "kubernetes")]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "15 policy object(s) checked: 0 error(s), 0 warning(s)" in captured.err


def test_cli_finds_the_duplicate_name_in_the_recipes(capsys: pytest.CaptureFixture[str]) -> None:
    folder = POLICIES / "ahmetb-kubernetes-network-policy-recipes"
    assert main(["validate", str(folder)]) == 1
    assert capsys.readouterr().out == (
        f"error: {folder / '11b-foo-deny-egress-allow-dns.yaml'}:4: NetworkPolicy foo-deny-egress: metadata.name: "
        f"duplicate NetworkPolicy 'foo-deny-egress': also defined at {folder / '11-foo-deny-egress.yaml'}:1; "
        "applying both keeps only the last\n"
    )


def test_cli_exit_1_with_findings_one_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    path = POLICIES / "cilium-cilium" / "l3" / "match-expressions" / "and-statement.yaml"
    assert main(["validate", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(line.startswith(f"error: {path}:") for line in lines)


def test_cli_json_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--format", "json", str(POLICIES / "cilium-networkpolicy-editor-tutorials")]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["checked"] == 7
    assert [(f["severity"], f["path"]) for f in report["findings"]] == [
        ("error", "specs[0].egress[1].toPorts[0].ports[0].port"),
        ("warning", "spec.egress[3].toCIDRSet[0].cidr"),
    ]


def test_cli_reads_stdin_and_finds_duplicates_across_inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.yml").write_text(_np("podSelector: {}\n"))
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "b.yaml").write_text("not: [valid")
    (tmp_path / "notes.txt").write_text("not: [yaml")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(_np("podSelector: {}\n").encode())))
    assert main(["validate", str(tmp_path), "-"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("error: <stdin>:4: NetworkPolicy shop/web: metadata.name: duplicate")
    assert f"also defined at {tmp_path / 'sub' / 'a.yml'}:1" in out


def test_cli_reports_documents_that_are_not_objects(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x.yaml").write_text(_np("podSelector: {}\n") + "---\njust a string\n")
    assert main(["validate", str(tmp_path / "x.yaml")]) == 1
    assert capsys.readouterr().out == f"error: {tmp_path / 'x.yaml'}:9: expected a Kubernetes object, found str\n"


def _alias_bomb() -> bytes:
    """The "billion laughs": nine levels of nine aliases each, about 3.9e8 values once expanded."""
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines).encode()


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"apiVersion: v1\nkind: NetworkPolicy\nspec: {podSelector: [\n", ":4: invalid YAML"),
        (b"kind: NetworkPolicy\nmetadata:\n  name: caf\xe9\n", ":3: not UTF-8"),
        (_alias_bomb(), "alias bomb"),
    ],
)
def test_cli_exit_2_on_unreadable_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, fragment: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(data)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"fenceline validate: {path}") and fragment in err and err.count("\n") == 1


def test_cli_refuses_a_50_mb_input_with_a_size_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "huge.yaml"
    line = b"- {apiVersion: v1, kind: ConfigMap, metadata: {name: filler}, data: {k: vvvvvvvvvvvvvvvvvvvvvvvv}}\n"
    with path.open("wb") as stream:
        stream.write(line * (50 * 1024 * 1024 // len(line) + 1))
    assert path.stat().st_size > 50 * 1024 * 1024
    assert main(["validate", str(path)]) == 2
    assert "more than the limit of 10.0 MiB" in capsys.readouterr().err


def test_cli_missing_file_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "absent.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_validate_module_compiles_each_schema_once() -> None:
    validate._validator.cache_clear()
    validate._made_schema_code.cache_clear()
    for with_code in (False, True, False, True):
        for relative in (
            "cilium-cilium/l4/l4.yaml",
            "cilium-cilium/l7/dns/dns.yaml",
            "kubernetes-website/nginx-policy.yaml",
        ):
            _findings_with_the_code(_objects(relative), with_code)
    assert validate._validator.cache_info().misses == 2
    assert validate._made_schema_code.cache_info().misses == 2


# ---------------------------------------------------------------------------------------------------------
# Never a crash: arbitrary values in the places the checks walk

_FIELDS = [
    "spec",
    "specs",
    "metadata",
    "name",
    "namespace",
    "labels",
    "podSelector",
    "namespaceSelector",
    "ipBlock",
    "cidr",
    "except",
    "ingress",
    "egress",
    "from",
    "to",
    "ports",
    "port",
    "endPort",
    "protocol",
    "policyTypes",
    "matchLabels",
    "matchExpressions",
    "key",
    "operator",
    "values",
    "endpointSelector",
    "nodeSelector",
    "ingressDeny",
    "egressDeny",
    "fromEndpoints",
    "toEndpoints",
    "toCIDR",
    "toCIDRSet",
    "fromCIDRSet",
    "toFQDNs",
    "toEntities",
    "toServices",
    "fromNodes",
    "toRequires",
    "toPorts",
    "rules",
    "dns",
    "http",
    "l7",
    "l7proto",
    "icmps",
    "serverNames",
    "apiversion",
    "description",
    "log",
    "value",
]
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 70000),
    st.floats(allow_nan=False),
    st.sampled_from(["10.0.0.0/8", "1.2.3.4/33", "::/0", "TCP", "In", "http", "53", "080", "", "a b", "World"]),
    st.text(max_size=8),
)
_KEYS = st.one_of(st.sampled_from(_FIELDS), st.text(max_size=6), st.integers(0, 99), st.none(), st.booleans())
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=4)),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(validate.KINDS)), body=st.dictionaries(st.sampled_from(_FIELDS), _VALUES))
def test_arbitrary_content_gives_findings_not_exceptions(kind: str, body: dict[str, object]) -> None:
    obj = {"apiVersion": validate.KINDS[kind].api_version, "kind": kind, **body}
    for finding in validate_object(obj) + schema_errors(obj):
        assert finding.severity in ("error", "warning") and finding.message and str(finding)


def test_status_of_a_kubectl_export_is_a_warning_and_only_a_mapping() -> None:
    exported = _np("podSelector: {}\n") + "status: {}\n"
    finding = _only(_check(exported), "warning")
    assert str(finding) == (
        "inline.yaml:8: NetworkPolicy shop/web: status: ignored when applying (the cluster writes status); "
        "it can be removed"
    )
    assert "must be a mapping" in _only(_check(exported.replace("status: {}", "status: done"))).message
    typo = _check(exported.replace("podSelector", "podselector"))
    assert [f.severity for f in typo] == ["error", "warning"] and "unknown key 'podselector'" in typo[0].message


def test_a_cilium_rule_with_every_section_empty_is_an_error() -> None:
    # SEMANTICS C4a: cilium/cilium pkg/policy/api/rule_validation.go refuses it since 1.17 (the CRD's anyOf only
    # asks for one of the keys); `- {}` is the default deny that says what was meant
    obj = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "p", "namespace": "shop"},
        "spec": {"endpointSelector": {}, "ingress": [], "egressDeny": []},
    }
    (finding,) = validate_object(obj)
    assert finding.is_error and finding.path == "spec.ingress" and "Cilium 1.17+ refuses the policy" in finding.message
    obj["spec"]["ingress"] = [{}]
    assert validate_object(obj) == []


# ---------------------------------------------------------------------------------------------------------
# The schemas as fastjsonschema code (validate.FAST_SCHEMA_AFTER): the same findings, only sooner


_POLICY_OBJECTS = [
    item.obj for relative in CORPUS for item in _objects(relative) if item.obj.get("kind") in validate.KINDS
]


def _findings_with_the_code(objects: list[yamlio.KubeObject], with_code: bool) -> list[Finding]:
    saved = validate.FAST_SCHEMA_AFTER
    validate.FAST_SCHEMA_AFTER = -1 if with_code else 10**9
    try:
        return validate_objects(objects)
    finally:
        validate.FAST_SCHEMA_AFTER = saved


@pytest.mark.parametrize("relative", CORPUS)
def test_the_schema_code_gives_the_corpus_the_same_findings(relative: str) -> None:
    objects = _objects(relative)
    assert _findings_with_the_code(objects, True) == _findings_with_the_code(objects, False)


def test_the_schema_code_accepts_the_valid_corpus_and_refuses_the_invalid() -> None:
    verdicts = {True: 0, False: 0}
    for obj in _POLICY_OBJECTS:
        schema = validate.KINDS[obj["kind"]].schema
        code = validate._schema_code(schema)
        assert code is not None
        refused = bool(list(validate._validator(schema).iter_errors(obj)))
        try:
            code(obj)
            accepted = True
        except ValueError:
            accepted = False
        assert accepted != refused, obj
        verdicts[accepted] += 1
    assert verdicts == {True: 68, False: 7}  # the README counts 7 invalid files, each with one policy


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_schema_code_accepts_nothing_jsonschema_refuses(data: st.DataObject) -> None:
    """Near-valid objects (a corpus policy with one part changed): the code accepting one means jsonschema finds
    nothing in it, which is what lets validation skip jsonschema for it."""
    obj = json.loads(json.dumps(data.draw(st.sampled_from(_POLICY_OBJECTS))))
    parent: Any = obj
    step: Any = data.draw(st.sampled_from(sorted(obj)))
    # Down a random path, mostly deep: the schemas' detail is in the peers and ports.
    while isinstance(parent[step], dict | list) and parent[step] and data.draw(st.integers(0, 4)):
        parent = parent[step]
        step = data.draw(st.sampled_from(sorted(parent) if isinstance(parent, dict) else range(len(parent))))
    action = data.draw(st.sampled_from(["replace", "remove", "add"]))
    if action == "replace":
        parent[step] = data.draw(_VALUES)
    elif action == "remove":
        del parent[step]
    elif isinstance(parent[step], dict):
        parent[step][data.draw(st.sampled_from(_FIELDS))] = data.draw(_VALUES)
    kind = obj.get("kind")
    if not isinstance(kind, str) or kind not in validate.KINDS:
        return
    schema = validate.KINDS[kind].schema
    code = validate._schema_code(schema)
    assert code is not None
    try:
        code(obj)
    except (ValueError, TypeError):
        return
    assert list(validate._validator(schema).iter_errors(obj)) == []


# ---------------------------------------------------------------------------------------------------------
# Upstream patterns that backtrack (validate.LINEAR_PATTERNS): replaced by linear equivalents when loaded

_JSON_SCHEMAS = sorted({kind.schema for kind in validate.KINDS.values()})
# Texts of the kind that make a nested quantifier backtrack: long runs of what a pattern accepts, then a character
# it refuses (the reviewer's FQDN with a port, 10 s of CPU at 37 characters before the replacement).
_HOSTILE = [
    run * (4000 // len(run)) + end
    for run in ("a", "a-", "a.", "a1", "-", "1", "*", "a*.", "ab.")
    for end in ("!", ":443", "-", ".", "..", "\n!", "\n")
] + ["payments-api.internal.example.com:443", "payments-ledger-service.internal:8443"]


class _Timeout(Exception):
    pass


@contextlib.contextmanager
def _cpu_alarm(seconds: int) -> Iterator[None]:
    """Raise _Timeout in the block after `seconds` of CPU time: a bound on "finishes at all", not a timing."""

    def expire(*_: object) -> None:
        raise _Timeout

    previous = signal.signal(signal.SIGPROF, expire)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def test_every_upstream_pattern_the_linear_forms_replace_is_still_upstream() -> None:
    """Keyed by the exact upstream text: a changed upstream pattern fails here (then check the new one)."""
    shipped = {pattern for name in _JSON_SCHEMAS for pattern in _patterns(_raw_schema(name))}
    assert set(validate.LINEAR_PATTERNS) <= shipped
    loaded = {pattern for name in _JSON_SCHEMAS for pattern in _patterns(validate._schema(name))}
    assert not loaded & set(validate.LINEAR_PATTERNS)
    assert {linear for linear, _ in validate.LINEAR_PATTERNS.values()} <= loaded


def _raw_schema(name: str) -> Any:
    return json.loads(resources.files("editor.policy").joinpath("schemas", name).read_bytes())


def _loaded_schema(name: str) -> Any:
    if name in _JSON_SCHEMAS:
        return validate._schema(name)
    platform = schema_for(*next(key for key, file in CRD_FILES.items() if file == name))
    assert platform is not None
    return platform.validator.schema


@pytest.mark.parametrize("name", [*_JSON_SCHEMAS, *CRD_FILES.values()])
def test_no_pattern_of_a_loaded_schema_backtracks_on_hostile_text(name: str) -> None:
    """Every pattern as jsonschema (`$`) and as fastjsonschema's code (`$` read as `\\Z`) runs it; the platform
    CRDs' patterns (jsonschema only, platform/schema.py) too."""
    for pattern in sorted(set(_patterns(_loaded_schema(name))) - set(validate.GO_ONLY_PATTERNS)):
        for compiled in (re.compile(pattern), re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pattern))):
            with _cpu_alarm(5):
                for text in _HOSTILE:
                    compiled.search(text)


_EQUIVALENCE_ALPHABET = "a1-.*:\n"


@pytest.mark.parametrize("upstream", sorted(validate.LINEAR_PATTERNS))
def test_each_linear_pattern_means_what_the_upstream_one_does(upstream: str) -> None:
    """Every text up to 6 characters of a small alphabet, then random longer ones (the upstream pattern takes
    exponential time, so at most 16 characters), as jsonschema reads the pattern and as fastjsonschema does."""
    linear = validate.LINEAR_PATTERNS[upstream][0]
    pairs = [
        (re.compile(old), re.compile(new))
        for old, new in (
            (upstream, linear),
            (re.sub(r"(?<!\\)\$", r"\\Z", upstream), re.sub(r"(?<!\\)\$", r"\\Z", linear)),
        )
    ]
    texts = ["".join(t) for n in range(7) for t in itertools.product(_EQUIVALENCE_ALPHABET, repeat=n)]
    rng = random.Random(7)
    texts += [
        "".join(rng.choice("abZ09-_.*" if rng.random() < 0.97 else ":\n! ") for _ in range(rng.randint(7, 16)))
        for _ in range(20000)
    ]
    for old, new in pairs:
        assert [t for t in texts if bool(old.search(t)) != bool(new.search(t))] == []
    assert sum(bool(pairs[0][0].search(t)) for t in texts) > 1000  # both accept many, not only refuse


def _fqdn_drawing(name: str) -> Document:
    return Document.from_json(
        {
            "schema": "fenceline/v1",
            "name": "fqdn",
            "namespaces": [{"name": "prod"}],
            "settings": {"dialect": "cilium"},
            "nodes": [
                {"id": "w", "kind": "workload", "name": "web", "namespace": "prod", "labels": {"app": "web"}},
                {"id": "f", "kind": "fqdn", "matchName": name},
            ],
            "edges": [
                {
                    "id": "e",
                    "source": "w",
                    "target": "f",
                    "ports": [{"protocol": "TCP", "port": 443}],
                    "enforce": ["source"],
                }
            ],
        }
    )


@pytest.mark.parametrize("name", ["payments-api.internal.example.com:443", "payments-ledger-service.internal:8443"])
def test_a_drawn_fqdn_with_a_port_is_refused_at_once_through_the_real_compile(name: str) -> None:
    with _cpu_alarm(5):  # before the linear patterns: 10 s of CPU, and more than 120 s for the second
        answer = service.compile_answer(_fqdn_drawing(name), "cilium")
    messages = [issue["message"] for issue in answer["issues"] if issue["severity"] == "error"]
    assert f"spec.egress[0].toFQDNs[0].matchName: invalid value {name!r}: must be a DNS name" in "\n".join(messages)
    assert "(no port or scheme: ports go in toPorts)" in "\n".join(messages) and not answer["ok"]


def test_an_imported_fqdn_or_port_name_that_backtracked_is_refused_at_once() -> None:
    text = _cnp(
        """
        endpointSelector: {}
        egress:
        - toFQDNs:
          - matchName: "payments-ledger-service.internal:8443"
          - matchPattern: "*.ledger-service.internal:8443"
          toPorts: [{ports: [{port: "PORT"}], serverNames: ["**.ledger-service.internal:8443"]}]
        """.replace("PORT", "a" * 1000 + "!")
    )
    with _cpu_alarm(5):
        result = import_text(textwrap.dedent(text), "fqdn.yaml")
    warnings = "\n".join(result.warnings)
    assert "toFQDNs[0].matchName: invalid value 'payments-ledger-service.internal:8443': must be a DNS name" in warnings
    assert (
        "toFQDNs[1].matchPattern: invalid value '*.ledger-service.internal:8443': must be a DNS name pattern"
        in warnings
    )
    assert "serverNames[0]: invalid value '**.ledger-service.internal:8443': must be a server name" in warnings
    assert "ports[0].port: invalid value 'aaaa" in warnings and "must be a port number or a port name" in warnings


# ---------------------------------------------------------------------------------------------------------
# The fast path: only schemas it mirrors, tuples as jsonschema reads them, made once, kept in files

_NP_SCHEMA = validate.KINDS["NetworkPolicy"].schema
_CNP_SCHEMA = validate.KINDS["CiliumNetworkPolicy"].schema


def _fast_verdict(schema: dict[str, Any], instance: object) -> bool | None:
    """Whether the fast path's code would accept `instance`, or None when it leaves the schema to jsonschema."""
    try:
        fast, formats = validate._fast_schema(json.loads(json.dumps(schema)))
    except ValueError:
        return None
    namespace: dict[str, Any] = {}
    exec(compile(validate._schema_source(fast, formats), "<test>", "exec"), namespace)
    try:
        namespace["validate"](instance, custom_formats=formats)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(
    ("schema", "instance"),
    [
        ({"type": "array", "prefixItems": [{"type": "string"}]}, [1]),  # draft-07 does not know prefixItems
        ({"type": "object", "dependentRequired": {"a": ["b"]}}, {"a": 1}),
        ({"type": "object", "properties": {"a": {}}, "unevaluatedProperties": False}, {"b": 1}),
        ({"properties": {"a": {"enum": [1]}}}, {"a": True}),  # `True in [1]`
        ({"$defs": {"s": {"type": "string"}}, "properties": {"a": {"$ref": "#/$defs/s"}}}, {"a": 1}),
        ({"properties": {"a": {"const": "x"}}}, {"a": "y"}),
        ({"if": {"required": ["a"]}, "then": {"required": ["b"]}}, {"a": 1}),
        ({"patternProperties": {"^a": {"type": "string"}}}, {"ab": 1}),
        ({"properties": {"a": {"type": "array", "uniqueItems": True}}}, {"a": [2, 2]}),
        ({"type": "object", "dependentSchemas": {"a": {"required": ["b"]}}}, {"a": 1}),
        ({"properties": {"a": {"type": "array", "contains": {"type": "string"}}}}, {"a": [1]}),
    ],
)
def test_the_fast_path_leaves_a_schema_with_keywords_it_might_not_mirror_to_jsonschema(
    schema: dict[str, Any], instance: object
) -> None:
    assert list(Draft202012Validator(schema).iter_errors(instance))
    assert _fast_verdict(schema, instance) is None


def test_the_fast_path_keeps_what_it_mirrors() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string", "enum": ["x"]}}, "x-kubernetes-a": 1}
    assert _fast_verdict(schema, {"a": "x"}) is True and _fast_verdict(schema, {"a": "y"}) is False
    assert validate._schema_code(_NP_SCHEMA) is not None and validate._schema_code(_CNP_SCHEMA) is not None


def test_a_tuple_is_not_an_array_to_the_fast_path_either() -> None:
    """fastjsonschema reads a tuple as an array and jsonschema does not: the code is edited to agree."""
    obj = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "t", "namespace": "shop"},
        "spec": {"endpointSelector": {}, "egress": ({"toEntities": ["world"]},)},
    }
    assert list(validate._validator(_CNP_SCHEMA).iter_errors(obj))
    code = validate._schema_code(_CNP_SCHEMA)
    assert code is not None
    with pytest.raises(ValueError):
        code(obj)
    saved = validate.FAST_SCHEMA_AFTER
    try:
        validate.FAST_SCHEMA_AFTER = -1
        with_code = validate_object(obj)
        validate.FAST_SCHEMA_AFTER = 10**9
        assert with_code == validate_object(obj) and any("spec.egress" in f.path for f in with_code)
    finally:
        validate.FAST_SCHEMA_AFTER = saved


def test_threads_asking_for_the_code_at_once_make_it_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FENCELINE_SCHEMA_CODE_DIR", str(tmp_path))  # made, not loaded: the slow case
    validate._made_schema_code.cache_clear()
    barrier = threading.Barrier(4)
    got: list[object] = []

    def ask() -> None:
        barrier.wait()
        got.append(validate._schema_code(_CNP_SCHEMA))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert validate._made_schema_code.cache_info().misses == 1
    assert len(got) == 4 and all(code is got[0] for code in got) and got[0] is not None


def test_the_code_is_kept_in_a_file_and_loaded_from_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FENCELINE_SCHEMA_CODE_DIR", str(tmp_path / "code"))
    validate._made_schema_code.cache_clear()
    assert validate.prepare_schema_code() == sorted({kind.schema for kind in validate.KINDS.values()})
    files = sorted((tmp_path / "code").iterdir())
    assert len(files) == 3 and all(f.stat().st_mode & 0o777 == 0o644 for f in files)
    kept = {f: (f.stat().st_mtime_ns, f.read_bytes()) for f in files}
    np_file = next(f for f in files if f.name.startswith("networkpolicy"))
    np_file.write_bytes(b"not marshal data")  # a damaged file is made again
    validate._made_schema_code.cache_clear()
    nginx = _objects("kubernetes-website/nginx-policy.yaml")
    assert _findings_with_the_code(nginx, True) == _findings_with_the_code(nginx, False) == []
    assert np_file.read_bytes() == kept[np_file][1]
    assert all(f.stat().st_mtime_ns == kept[f][0] for f in files if f != np_file)  # the others were loaded


def test_without_a_folder_for_the_code_it_is_made_in_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("FENCELINE_SCHEMA_CODE_DIR", str(tmp_path / "a-file" / "code"))
    validate._made_schema_code.cache_clear()
    assert validate.schema_code_folder() is None
    nginx = _objects("kubernetes-website/nginx-policy.yaml")
    assert _findings_with_the_code(nginx, True) == []
    assert validate._schema_code(_NP_SCHEMA) is not None


_RSS_PROBE = """
import gc
from editor.policy import validate
def rss():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS")) / 1024
import hashlib  # loaded by any web worker; not the code's
before = rss()
assert len(validate.prepare_schema_code()) == 3
gc.collect()
print(rss() - before)
"""


@pytest.mark.skipif(
    not Path("/proc/self/status").exists(),
    reason="reads the process's resident memory from Linux's /proc/self/status, which this system does not have",
)
def test_a_process_that_loads_the_kept_code_stays_small(tmp_path: Path) -> None:
    """Compiled in the process, the three schemas' code left a worker 53 MB larger; loaded, a few MB."""
    env = {**os.environ, "FENCELINE_SCHEMA_CODE_DIR": str(tmp_path)}
    run = [sys.executable, "-c", _RSS_PROBE]
    made = float(subprocess.run(run, env=env, check=True, capture_output=True, text=True).stdout)
    loaded = float(subprocess.run(run, env=env, check=True, capture_output=True, text=True).stdout)
    assert made > 30 and loaded < 15, (made, loaded)
