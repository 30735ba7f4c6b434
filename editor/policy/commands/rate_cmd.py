"""`fenceline rate PATH... [--min N]`: the transparent 0-5 rating, every criterion with its weight and reason.

Inputs as for `fenceline lint`: policy YAML rated as one set, and each graph document rated as what it
compiles to. Exit 1 when an overall rating is below `--min` (a merge-request gate), 2 on unreadable input.
"""

from __future__ import annotations

import argparse
import json

from ..lint import LintSettings
from ..rating import MAX_SCORE, Rating, format_text, rate_document, rate_objects
from .lint_cmd import add_input_arguments, read_inputs, settings_from


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_input_arguments(parser)
    parser.add_argument("--min", type=float, metavar="N", help=f"exit 1 when the rating is below N (0-{MAX_SCORE})")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")


def run(args: argparse.Namespace) -> int:
    objects, documents = read_inputs(args.paths)
    ratings: list[tuple[str, Rating]] = []
    if objects or not documents:
        ratings.append((", ".join(args.paths), rate_objects(objects, settings_from(args))))
    for source, document in documents:
        ratings.append(
            (source, rate_document(document, settings_from(args, LintSettings.from_settings(document.settings))))
        )
    if args.format == "json":
        reports = [{"input": source, **rating.to_json()} for source, rating in ratings]
        print(json.dumps(reports[0] if len(reports) == 1 else {"ratings": reports}, indent=2))
    else:
        for source, rating in ratings:
            if len(ratings) > 1:
                print(f"== {source}")
            print(format_text(rating), end="")
    below = args.min is not None and any(rating.score < args.min for _, rating in ratings)
    return 1 if below else 0
