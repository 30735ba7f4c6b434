"""`fenceline lint PATH...`: lint findings, each with its rule id, why page and fixes.

PATHs are policy YAML/JSON files or directories (linted together as one set, workload manifests among them
enable the workload rules), or graph documents (each compiled in its dialect and linted). Exit 1 when a
finding is an error (a GitOps gate), 0 otherwise, 2 on input that cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..document import Document, DocumentError
from ..document_schema import SCHEMA_VERSION
from ..lint import LintFinding, LintSettings, lint_document, lint_objects
from ..lint.sarif import to_sarif
from ..yamlio import InputError, KubeObject, iter_objects, load_documents, read_sources


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments shared with `fenceline rate`."""
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="policy YAML/JSON, directories, or graph documents; - is stdin"
    )
    parser.add_argument(
        "--pod-cidr", action="append", metavar="CIDR", help="the cluster's pod CIDR (repeatable; default 10.244.0.0/16)"
    )
    parser.add_argument(
        "--service-cidr",
        action="append",
        metavar="CIDR",
        help="the cluster's Service CIDR (repeatable; default 10.96.0.0/12)",
    )
    parser.add_argument(
        "--gateway-label",
        action="append",
        metavar="KEY=VALUE",
        help="pods with this label are ingress gateways (repeatable)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_input_arguments(parser)
    parser.add_argument(
        "--format", choices=("text", "json", "sarif"), default="text", help="output format (default text)"
    )
    parser.add_argument(
        "--help-url",
        metavar="URL",
        help="base URL of the rule pages in SARIF output (default: docs/rules of this checkout)",
    )


def settings_from(args: argparse.Namespace, base: LintSettings | None = None) -> LintSettings:
    try:
        return (base or LintSettings()).with_overrides(args.pod_cidr, args.service_cidr, args.gateway_label)
    except ValueError as exc:
        raise InputError(str(exc), "<command line>") from None


def read_inputs(paths: list[str]) -> tuple[list[KubeObject], list[tuple[str, Document]]]:
    """The Kubernetes objects of all inputs (one set) and the graph documents among them. Raises InputError."""
    objects: list[KubeObject] = []
    documents: list[tuple[str, Document]] = []
    for source, data in read_sources(paths):
        loaded = load_documents(data, source)
        value = loaded[0].value if len(loaded) == 1 else None
        if isinstance(value, dict) and "schema" in value and "kind" not in value:
            if value.get("schema") != SCHEMA_VERSION:
                raise InputError(f"unsupported graph document version {value.get('schema')!r}", source)
            try:
                documents.append((source, Document.from_json(value)))
            except DocumentError as exc:
                raise InputError(f"not a valid graph document: {exc}", source) from None
            continue
        for item in iter_objects(loaded):
            if isinstance(item, InputError):
                print(f"warning: {item.one_line()}; skipped", file=sys.stderr)
            else:
                objects.append(item)
    return objects, documents


def collect(args: argparse.Namespace) -> list[LintFinding]:
    objects, documents = read_inputs(args.paths)
    findings = lint_objects(objects, settings_from(args)) if objects else []
    for source, document in documents:
        for finding in lint_document(document, settings_from(args, LintSettings.from_settings(document.settings))):
            finding.source = source
            findings.append(finding)
    return findings


def run(args: argparse.Namespace) -> int:
    findings = collect(args)
    if args.format == "json":
        print(json.dumps({"findings": [f.to_json() for f in findings], "summary": _counts(findings)}, indent=2))
    elif args.format == "sarif":
        print(json.dumps(to_sarif(findings, args.help_url), indent=2))
    else:
        for finding in findings:
            print(finding)
            if finding.nodes or finding.edges:
                print(f"    graph: nodes {', '.join(finding.nodes) or '-'}; edges {', '.join(finding.edges) or '-'}")
            for fix in finding.fixes:
                print(f"    fix: {fix.title}")
            print(f"    why: {finding.help}")
        counts = _counts(findings)
        print(f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info", file=sys.stderr)
    return 1 if any(f.severity == "error" for f in findings) else 0


def _counts(findings: list[LintFinding]) -> dict[str, int]:
    return {severity: sum(f.severity == severity for f in findings) for severity in ("error", "warning", "info")}
