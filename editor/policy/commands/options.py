"""Options several analysis commands share, spelled and explained once."""

from __future__ import annotations

import argparse

IPBLOCK_HELP = "let ipBlock CIDRs match pod IPs too (cyclonus/Calico behaviour; default: external IPs only)"


def add_ipblock_matches_pods(parser: argparse.ArgumentParser, help: str = IPBLOCK_HELP) -> None:
    parser.add_argument("--ipblock-matches-pods", action="store_true", help=help)
