"""Every probe table of the ClusterNetworkPolicy conformance scenarios through `fenceline probe --probes`.

The expected verdicts are the upstream suite's (kubernetes-sigs/network-policy-api @ 0eec1b0e,
`conformance/tests/*.go`, the file:line of each probe is in its `source`), replayed step by step with the
policies of `conformance/base/**` (tests/fixtures/clusternetworkpolicy-conformance/README.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from editor.policy.cli import main

CASES = Path(__file__).resolve().parent.parent / "fixtures" / "clusternetworkpolicy-conformance"
INDEX = json.loads((CASES / "cases.json").read_text())


@pytest.mark.parametrize("case", INDEX["cases"], ids=lambda c: c["dir"].removeprefix("cases/"))
def test_probe_table(case: dict, capsys: pytest.CaptureFixture[str]) -> None:
    folder = CASES / case["dir"]
    probes = json.loads((folder / "probes.json").read_text())
    assert main(["probe", str(folder / "objects.yaml"), "--probes", str(folder / "probes.json")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(probes) == case["probes"]
    for probe, line in zip(probes, lines, strict=True):
        assert line.split()[0] == probe["expect"], f"{probe['source']}: {line}"
        assert f"{probe['from']} -> {probe['to']} {probe['protocol']}/{probe['port']}" in line


def test_every_case_is_replayed() -> None:
    assert len(INDEX["cases"]) == INDEX["total_cases"] == 17
    assert sum(c["probes"] for c in INDEX["cases"]) == INDEX["total_probes"] == 62
