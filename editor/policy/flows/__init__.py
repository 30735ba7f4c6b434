"""Flow logs -> graph document: Hubble (every JSON output mode) and Inspektor Gadget advisor logs.

    from editor.policy.flows import FlowOptions, read_flows
    with open("flows.json", "rb") as f:
        result = read_flows([("flows.json", f)], FlowOptions(namespaces=frozenset({"shop"})))
    result.document, result.summary

`read_flows` streams: memory stays flat however long the logs are, and `progress(done, total)` reports bytes
read for a progress bar. `read_flow_paths(paths)` opens the files itself (`-` is stdin), for the CLI.
"""

from .importer import Progress, read_flow_paths, read_flows
from .model import VERDICT_NAMES, FileReport, FlowImport, FlowOptions, FlowSummary, ReadStopped, SkippedLine, parse_time

__all__ = [
    "VERDICT_NAMES",
    "FileReport",
    "FlowImport",
    "FlowOptions",
    "FlowSummary",
    "Progress",
    "ReadStopped",
    "SkippedLine",
    "parse_time",
    "read_flow_paths",
    "read_flows",
]
