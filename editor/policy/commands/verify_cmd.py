"""`fenceline verify DIR --key PUB.pem`: check the manifest signature of every policy under DIR the way
kubectl-sigstore and Kyverno do (signature over the message, then the object against the signed manifest with
the ignored fields left out). Exit 1 when any policy is unsigned, badly signed or changed since signing."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..bundle import SIGNED_KINDS
from ..signing import load_public_key, verify_directory
from .sign_cmd import read_key


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", metavar="DIR", help="the bundle folder (searched recursively)")
    parser.add_argument("--key", metavar="PUB.pem", required=True, help="ECDSA P-256 public key in PEM")


def run(args: argparse.Namespace) -> int:
    key = read_key(args.key, load_public_key)
    verdicts = verify_directory(Path(args.directory), key, SIGNED_KINDS)
    for verdict in verdicts:
        print(verdict)
    failed = [v for v in verdicts if v.problem is not None]
    if not verdicts:
        print("fenceline verify: no policy found to verify", file=sys.stderr)
        return 1
    print(f"fenceline verify: {len(verdicts) - len(failed)} verified, {len(failed)} failed", file=sys.stderr)
    return 1 if failed else 0
