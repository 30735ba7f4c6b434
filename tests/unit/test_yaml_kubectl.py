"""The YAML we emit means to kubectl exactly what we meant: no string becomes a number, a boolean or null.

kubectl reads manifests with sigs.k8s.io/yaml (go-yaml, YAML 1.1 rules plus its own: `1e3`, `0o17`, `0b101`,
`1_000` are numbers, `y`/`n`/`on` booleans), which is not PyYAML's resolver. These tests hand what
`dump_yaml_documents` writes to a real kubectl (Debian's `kubernetes-client`, installed by
scripts/system-packages.sh) and compare the JSON it prints with the objects we meant. `kubectl annotate --local`
reads the manifest the way `kubectl apply` does (the same YAML-to-JSON decoder) and needs no cluster, unlike
`kubectl create --dry-run=client`, which asks the API server for its resource list first.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from editor.policy.compile import compile_document
from editor.policy.document import Document
from editor.policy.yamlio import dump_yaml_documents
from tests.unit.test_fuzz_parsers import DEEP_EXAMPLES

KUBECTL = shutil.which("kubectl")
PROBE = "fenceline.test/probe"


def kubectl_reads(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects as kubectl reads `dump_yaml_documents(objects)`, without the annotation it was asked to add."""
    # scripts/system-packages.sh installs it (Debian's kubernetes-client): a missing kubectl fails, never skips
    assert KUBECTL is not None, "kubectl is not installed: apt-get install kubernetes-client"
    text = dump_yaml_documents(objects)
    done = subprocess.run(
        [KUBECTL, "annotate", "--local", "-f", "-", "-o", "json", f"{PROBE}=1"],
        input=text.encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"kubectl refused our YAML: {done.stderr.decode()}\n{text}"
    # One JSON object per manifest document, one after the other.
    decoder, text_out, items, at = json.JSONDecoder(), done.stdout.decode(), [], 0
    while text_out[at:].strip():
        item, at = decoder.raw_decode(text_out, len(text_out) - len(text_out[at:].lstrip()))
        items.append(item)
    for item in items:
        annotations = item["metadata"].pop("annotations")
        assert annotations.pop(PROBE) == "1"
        if annotations:
            item["metadata"]["annotations"] = annotations
    return items


# Strings every YAML reader should agree on, and the ones some reader takes for another type.
TRICKY = (
    "1e3", "1E3", "1.5e+3", "-1e-3", "0o17", "0O17", "017", "0x1F", "0X1f", "0b101", "1_000", "0_1", "+12", "-0",
    ".5", "-.5", "+.5", "1.", ".inf", "-.Inf", "+.INF", ".nan", ".NaN", "1:20", "190:20:30", "1:20.5",
    "y", "Y", "n", "N", "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", "true", "True",
    "TRUE", "false", "FALSE", "tRuE", "yEs", "null", "Null", "NULL", "~", "", "<<", "=", "2001-12-14",
    "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5", "12:30:00", "0.", "1e", "e3", "0x", "_1",
    "-_0", "+_1", "-__7", "-_.5", "-_inf", "+_Infinity", "-_",
    "web", "api-1e3", "v1.2", "10.0.0.0/8", "::/0", "app.kubernetes.io/name", "a: b", "#c", "'", '"', "- x", "?",
)  # fmt: skip
NUMBERISH = st.from_regex(r"[-+.]?[0-9_]{1,4}([.:eExXoObB_][-+0-9a-fA-F_.]{0,4})?", fullmatch=True)
PRINTABLE = st.text(st.characters(whitelist_categories=("L", "N", "P", "S", "Zs")), min_size=1, max_size=10)
STRINGS = st.one_of(st.sampled_from(TRICKY), NUMBERISH, PRINTABLE)

EXAMPLES = settings(
    max_examples=int(DEEP_EXAMPLES or 60),
    derandomize=DEEP_EXAMPLES is None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@EXAMPLES
@given(
    labels=st.dictionaries(STRINGS, STRINGS, max_size=8),
    data=st.dictionaries(STRINGS, STRINGS, max_size=8),
    items=st.lists(STRINGS, max_size=6),
)
def test_kubectl_reads_every_string_we_write_as_that_string(labels, data, items):
    meant = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "probe", "labels": labels},
        "data": data,
        "binaryData": {"list": items},
    }
    assert kubectl_reads([meant]) == [meant]


def test_the_tricky_strings_all_at_once():
    meant = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "probe"},
        "data": {text: text for text in TRICKY},
        "list": list(TRICKY),
    }
    assert kubectl_reads([meant]) == [meant]


NAMES = st.one_of(st.sampled_from(("1e3", "0o17", "0x1f", "1e10", "80e1", "y", "on", "no", "null")), st.just("web"))
VALUES = st.one_of(st.sampled_from(("1e3", "0o17", "0b101", "1_000", "017", "1.5", "on", "y", "null", "12:30")))


@EXAMPLES
@given(
    port_name=NAMES,
    label_value=VALUES,
    label_key=st.sampled_from(("app", "y", "on", "n")),
    dialect=st.sampled_from(("native", "cilium")),
)
def test_compiled_policies_mean_to_kubectl_what_the_compiler_meant(port_name, label_value, label_key, dialect):
    """A named port `1e3` stays the name "1e3" (kubectl read it as `port: 1000` before), a label value `0o17`
    stays text (the API server refuses a number there)."""
    locks = {"ingress": True, "egress": True}
    web = {"id": "web", "kind": "workload", "name": "web", "namespace": "shop", "labels": {label_key: label_value}}
    api = {"id": "api", "kind": "workload", "name": "api", "namespace": "shop", "labels": {"app": "api"}}
    api["containerPorts"] = [{"name": port_name, "port": 8080}]
    edge = {"id": "e1", "source": "web", "target": "api", "ports": [{"protocol": "TCP", "port": port_name}]}
    document = Document.from_json(
        {
            "schema": "fenceline/v1",
            "settings": {"dialect": dialect},
            "namespaces": [{"name": "shop"}],
            "nodes": [{**web, "isolate": locks}, {**api, "isolate": locks}],
            "edges": [edge],
        }
    )
    objects = compile_document(document, dialect).objects
    assert objects
    assert kubectl_reads(objects) == objects
