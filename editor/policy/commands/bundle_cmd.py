"""`fenceline bundle DOC -o DIR`: a graph document as a GitOps bundle (see editor.policy.bundle).

DIR is created if needed; files of an earlier bundle there are overwritten, other files are left alone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..bundle import BundleError, BundleOptions, build_bundle
from ..compile import DIALECTS
from ..signing import SigningError, load_public_key
from ..yamlio import InputError
from .lint_cmd import read_inputs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("document", metavar="DOC", help="a graph document (JSON); - is stdin")
    parser.add_argument("-o", "--output", metavar="DIR", required=True, help="the folder to write the bundle to")
    parser.add_argument("--public-key", metavar="PUB.pem", help="the team's public key for the Kyverno policy")
    parser.add_argument("--repo-url", help="the Git repository Argo CD syncs from")
    parser.add_argument("--path", default=".", help="the bundle's folder inside that repository (default .)")
    parser.add_argument("--branch", default="main", help="the signed branch Argo CD deploys (default main)")
    parser.add_argument("--dialect", choices=DIALECTS, help="compile in this dialect (default: the document's)")


def run(args: argparse.Namespace) -> int:
    objects, documents = read_inputs([args.document])
    if len(documents) != 1 or objects:
        raise InputError("expected one graph document (JSON, as the editor saves it)", args.document)
    public_key = None
    if args.public_key:
        try:
            data = Path(args.public_key).read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", args.public_key) from None
        try:
            load_public_key(data, args.public_key)
        except SigningError as exc:
            raise InputError(str(exc), args.public_key) from None
        public_key = data.decode("ascii").strip()
    try:
        options = BundleOptions(
            **({"repo_url": args.repo_url} if args.repo_url else {}),
            repo_path=args.path,
            branch=args.branch,
            public_key=public_key,
            dialect=args.dialect,
        )
        files = build_bundle(documents[0][1], options)
    except BundleError as exc:
        raise InputError(str(exc), args.document) from None
    root = Path(args.output)
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    print(f"fenceline bundle: wrote {len(files)} files to {root}", file=sys.stderr)
    return 0
