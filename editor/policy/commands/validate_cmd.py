"""`fenceline validate FILE_OR_DIR...`: schema and semantic findings for every policy object in the inputs.

Exit 0 when there is no error-level finding, 1 when there is, 2 when an input cannot be read (raised as
InputError and printed by cli.py). Directories are searched recursively for .yaml, .yml and .json files.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..kinds import KINDS
from ..platform.schema import PLATFORM_KINDS
from ..validate import Finding, has_errors, validate_objects
from ..yamlio import KubeObject, load_objects, read_sources


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR", help="policy YAML/JSON; '-' reads stdin")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")


def run(args: argparse.Namespace) -> int:
    objects: list[KubeObject] = []
    findings: list[Finding] = []
    for source, data in read_sources(args.inputs):
        loaded, problems = load_objects(data, source)
        objects += loaded
        findings += [
            Finding("error", problem.message, source=problem.source, line=problem.line) for problem in problems
        ]
    findings += validate_objects(objects)
    checked = sum(1 for item in objects if item.kind in KINDS or item.kind in PLATFORM_KINDS)
    if args.format == "json":
        report = {"checked": checked, "findings": [finding.to_dict() for finding in findings]}
        print(json.dumps(report, indent=2))
    else:
        for finding in findings:
            print(f"{finding.severity}: {finding}")
        errors = sum(finding.is_error for finding in findings)
        summary = f"{checked} policy object(s) checked: {errors} error(s), {len(findings) - errors} warning(s)"
        print(summary, file=sys.stderr)
    return 1 if has_errors(findings) else 0
