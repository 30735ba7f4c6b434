"""`fenceline render DOC [--dialect native|cilium]`: a graph document to policy YAML on stdout.

Compile issues and the upstream schemas' verdict on every emitted object (editor.policy.service, the same answer
the API gives) go to stderr, one per line; the exit code is 1 when any of them is an error (something the
document asks for that the dialect cannot express, or an object the schema refuses), 2 when DOC is not a
valid document (one line naming the file, the line when known, and the field path, e.g.
`doc.json:14: edges[3].ports[0].endPort: ...`).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ..compile import DIALECTS
from ..document import Document, DocumentError
from ..service import compile_answer
from ..yamlio import InputError, LoadedDocument, load_documents


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("document", metavar="DOC", help="a Fenceline document (JSON); - is stdin")
    parser.add_argument(
        "--dialect", choices=DIALECTS, help="target policy dialect (default: the document's settings.dialect)"
    )


def read_document(path: str) -> Document:
    """The document in `path` (`-` = stdin); raises InputError naming file, line and field path."""
    source = "<stdin>" if path == "-" else path
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", source) from None
    loaded = load_documents(data, source)
    if len(loaded) != 1:
        raise InputError(f"expected one JSON document, found {len(loaded)}", source)
    try:
        return Document.from_json(loaded[0].value)
    except DocumentError as exc:
        path_text, message = exc.errors[0]
        more = f" (and {len(exc.errors) - 1} more)" if len(exc.errors) > 1 else ""
        line = _line_of(loaded[0], path_text) if path_text else None
        raise InputError(f"{path_text or 'document'}: {message}{more}", source, line) from None


def _line_of(document: LoadedDocument, path_text: str) -> int:
    """The line of `edges[3].ports[0]`-style paths in the loaded text."""
    steps: list[str | int] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path_text):
        steps.append(int(index) if index else name)
    return document.line_of(tuple(steps))


def run(args: argparse.Namespace) -> int:
    document = read_document(args.document)
    answer = compile_answer(document, args.dialect or document.settings.dialect)
    for issue in answer["issues"]:
        where = " ".join(f"[{k} {issue[k + 'Id']}]" for k in ("node", "edge") if issue.get(k + "Id"))
        print(f"{issue['severity']}: {issue['message']}{' ' + where if where else ''}", file=sys.stderr)
    sys.stdout.write(answer["yaml"])
    return 0 if answer["ok"] else 1
