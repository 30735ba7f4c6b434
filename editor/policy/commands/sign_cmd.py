"""`fenceline sign DIR --key KEY.pem`: sign every policy file under DIR in place, in the annotation format of
kubectl-sigstore (sigstore/k8s-manifest-sigstore) that Kyverno's `validate.manifests` verifies. See
editor.policy.signing for the format and the keys it takes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..bundle import SIGNED_KINDS
from ..signing import SigningError, load_private_key, sign_directory
from ..yamlio import InputError

Key = TypeVar("Key")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", metavar="DIR", help="the bundle folder (searched recursively)")
    parser.add_argument("--key", metavar="KEY.pem", required=True, help="ECDSA P-256 private key in PEM")


def read_key(path: str, loader: Callable[[bytes, str], Key]) -> Key:
    """The key in file `path`, or an InputError naming the file (exit 2)."""
    try:
        return loader(Path(path).read_bytes(), path)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path) from None
    except SigningError as exc:
        raise InputError(str(exc), path) from None


def run(args: argparse.Namespace) -> int:
    key = read_key(args.key, load_private_key)
    signed = sign_directory(Path(args.directory), key, SIGNED_KINDS)
    for path in signed:
        print(f"signed {path}")
    print(f"fenceline sign: {len(signed)} file(s) signed", file=sys.stderr)
    return 0
