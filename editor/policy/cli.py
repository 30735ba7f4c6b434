"""The `fenceline` command.

Each sub-command lives in its own module under `editor.policy.commands`, with `add_arguments(parser)` and
`run(args) -> int`, imported only when that command runs so `fenceline render` does not pay for the flow
readers. Exit codes: 0 success, 1 findings that fail a gate, 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from .input_error import InputError

COMMANDS: dict[str, str] = {
    "import": "Policy YAML and/or workload manifests to a graph document (JSON on stdout).",
    "render": "A graph document to NetworkPolicy or CiliumNetworkPolicy YAML.",
    "validate": "Check policy YAML against the upstream schemas and the semantic rules.",
    "flows": "Hubble flow logs or Inspektor Gadget logs to a graph document.",
    "push": "Send a flow stream (stdin) to a drawing's observation stream, with reconnects and back-off.",
    "connlist": "Who may talk to whom under a set of manifests and policies.",
    "diff": "What changes in who may talk to whom from one set of manifests and policies to another.",
    "probe": "May this pod open this connection? Which tier, policy and rule decide.",
    "platform": "Platform policies (files and templates) as ClusterNetworkPolicy, ANP/BANP or Cilium CCNP.",
    "lint": "Findings with fixes for policy YAML or a graph document.",
    "rate": "The transparent 0-5 rating of policies.",
    "plan": "What a policy change does (connections, observed flows, lint, rating) as a merge-request comment.",
    "bundle": "A graph document to a GitOps bundle: policies, kustomization, CODEOWNERS, Kyverno, Argo CD.",
    "sign": "Sign the manifests of a directory (kubectl-sigstore annotations, ECDSA P-256 key).",
    "verify": "Verify the manifest signatures of a directory with a public key.",
    "serve": "Run the web editor.",
}


def _module_name(command: str) -> str:
    return f"editor.policy.commands.{command.replace('-', '_')}_cmd"


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the selected command's module is imported (the others are listed by name)."""
    parser = argparse.ArgumentParser(
        prog="fenceline",
        description="Draw the traffic, get NetworkPolicy or CiliumNetworkPolicy that is valid, minimal and proven.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == selected:
            module = importlib.import_module(_module_name(name))
            module.add_arguments(command_parser)
            command_parser.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = next((arg for arg in argv if not arg.startswith("-")), None)
    parser = build_parser(selected if selected in COMMANDS else None)
    args = parser.parse_args(argv)
    try:
        return int(args._run(args))
    except InputError as exc:
        print(f"fenceline {args.command}: {exc.one_line()}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130


# Commands whose process may end without freeing what it made: `flows` holds a graph of every pod and edge until it
# has written the document, and freeing it object by object at exit took longer than writing it (0.12 s of 2.5 s
# on 100,000 pods).
QUICK_EXIT = {"flows"}


def console() -> None:
    """The `fenceline` program (and `python -m editor.policy.cli`): main, then the exit. After a QUICK_EXIT command
    the process ends at once (os._exit) with main's status, once stdout and stderr are flushed; when flushing fails
    (a closed pipe) the interpreter ends as it would anyway, reporting it."""
    argv = sys.argv[1:]
    status = main(argv)
    if next((arg for arg in argv if not arg.startswith("-")), None) in QUICK_EXIT:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            sys.exit(status)
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":
    console()
