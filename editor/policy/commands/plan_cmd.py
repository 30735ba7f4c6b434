"""`fenceline plan OLD NEW`: what a policy change does, as a merge-request comment (see editor.policy.plan).

OLD and NEW are each a directory or file of manifests and policies (read recursively, like connlist), a graph
document (JSON), or the permalink of a drawing saved on a Fenceline server (`https://host/d/<slug>`; its
document is fetched from `/api/documents/<slug>`, and the picture links to `/d/<slug>.svg`). `--flows FILE...`
replays Hubble or Gadget logs against both sides. Exit 0: no breaking change; 1: observed traffic would break
or NEW adds an error-level finding; 2: input that cannot be read.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ..document import Document, DocumentError
from ..flows import read_flow_paths
from ..picture import render_svg
from ..plan import Side, make_plan
from ..plan_report import to_json, to_markdown, to_text
from ..yamlio import InputError
from .lint_cmd import read_inputs

PERMALINK = re.compile(
    r"^(?P<base>https?://[^/?#]+(?:/[^?#]*?)?)/d/(?P<slug>[A-Za-z0-9_-]{20,64})(?:/edit|/history|\.yaml|\.svg|\.png)?/?$"
)
MAX_DOWNLOAD = 10 * 1024 * 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old", metavar="OLD", help="directory, file, graph document or permalink URL before the change")
    parser.add_argument("new", metavar="NEW", help="the same after the change")
    parser.add_argument(
        "--flows", nargs="+", metavar="FILE", help="Hubble/Gadget flow logs to replay against both sides"
    )
    parser.add_argument(
        "--format", choices=("markdown", "json", "text"), default="markdown", help="output (default markdown)"
    )
    parser.add_argument("--svg", metavar="FILE", help="also write the picture of NEW with the changes marked")


def _fetch(url: str) -> dict[str, Any]:
    match = PERMALINK.match(url)
    if match is None:
        raise InputError("not a Fenceline permalink (expected https://host/d/<slug>)", url)
    api = f"{match['base']}/api/documents/{match['slug']}"
    request = urllib.request.Request(api, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # http(s) only: PERMALINK checked the scheme
            body = response.read(MAX_DOWNLOAD + 1)
    except urllib.error.HTTPError as exc:
        raise InputError(f"the server answered {exc.code} {exc.reason}", url) from None
    except (urllib.error.URLError, OSError) as exc:
        raise InputError(f"cannot fetch: {getattr(exc, 'reason', exc)}", url) from None
    if len(body) > MAX_DOWNLOAD:
        raise InputError(f"the answer is larger than {MAX_DOWNLOAD // (1024 * 1024)} MiB", url)
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError("the server did not answer with JSON", url) from None
    if not isinstance(data, dict) or not isinstance(data.get("document"), dict):
        raise InputError("the answer holds no document", url)
    data["picture"] = f"{match['base']}/d/{match['slug']}.svg"
    return data


def read_side(where: str) -> Side:
    if re.match(r"^https?://", where):
        data = _fetch(where)
        try:
            document = Document.from_json(data["document"])
        except DocumentError as exc:
            raise InputError(f"not a valid graph document: {exc}", where) from None
        label = f"r{data.get('revision', '?')} {data.get('name') or ''}".strip()
        return Side(label, document=document, picture_url=data["picture"])
    if where != "-" and not Path(where).exists():
        raise InputError("no such file or directory", where)
    objects, documents = read_inputs([where])
    if documents and (objects or len(documents) > 1):
        raise InputError("give one graph document, or manifests and policies, not both", where)
    if documents:
        return Side(where, document=documents[0][1])
    return Side(where, objects=objects)


def run(args: argparse.Namespace) -> int:
    old, new = read_side(args.old), read_side(args.new)
    flows = None
    if args.flows:
        imported = read_flow_paths(args.flows)
        for line in imported.summary.lines():
            print(f"fenceline plan: flows: {line}", file=sys.stderr)
        flows = imported.document
    plan = make_plan(old, new, flows)
    svg_note = None
    if args.svg:
        Path(args.svg).write_text(render_svg(plan.picture, changes=plan.edge_changes, title="plan"), encoding="utf-8")
        svg_note = f"The picture of the change is in `{Path(args.svg).name}` (a CI artifact)."
    if args.format == "json":
        sys.stdout.write(to_json(plan))
    elif args.format == "text":
        sys.stdout.write(to_text(plan))
    else:
        sys.stdout.write(to_markdown(plan, svg_note))
    return 1 if plan.breaking else 0
