"""`fenceline sign DIR --key KEY.pem`: sign every policy file under DIR in place, in the annotation format of
kubectl-sigstore (sigstore/k8s-manifest-sigstore) that Kyverno's `validate.manifests` verifies. See
editor.policy.signing for the format and the keys it takes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..bundle import SIGNED_KINDS
from ..signing import SigningError, load_private_key, sign_directory
from ..yamlio import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", metavar="DIR", help="the bundle folder (searched recursively)")
    parser.add_argument("--key", metavar="KEY.pem", required=True, help="ECDSA P-256 private key in PEM")


def read_key_file(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path) from None


def run(args: argparse.Namespace) -> int:
    try:
        key = load_private_key(read_key_file(args.key), args.key)
    except SigningError as exc:
        raise InputError(str(exc), args.key) from None
    signed = sign_directory(Path(args.directory), key, SIGNED_KINDS)
    for path in signed:
        print(f"signed {path}")
    print(f"fenceline sign: {len(signed)} file(s) signed", file=sys.stderr)
    return 0
