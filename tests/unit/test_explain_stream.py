"""`fenceline connlist --explain` writes the report as it is worked out, a source's pairs at a time, instead of
building the whole text first (hundreds of MB at 5,000 pods): the writes add up to the text `format_explain`
makes, and none of them holds more than a part of it."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from editor.policy.analysis import analyse
from editor.policy.analysis.explain_text import format_explain
from editor.policy.cli import main
from editor.policy.manifests import read_paths

CASE = Path(__file__).resolve().parents[1] / "fixtures" / "netpol-analyzer" / "tests" / "ipblockstest"


class _Writes(io.StringIO):
    """stdout that keeps the size of every write."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def write(self, text: str) -> int:
        self.sizes.append(len(text))
        return super().write(text)


@pytest.mark.parametrize("options", [[], ["--explain-only", "deny"], ["--exposure"]])
def test_the_report_is_written_a_part_at_a_time(options: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    out = _Writes()
    monkeypatch.setattr(sys, "stdout", out)
    assert main(["connlist", str(CASE), "--explain", *options]) == 0
    report = format_explain(analyse(read_paths([CASE])), only=options[1] if options[:1] == ["--explain-only"] else None)
    assert out.getvalue().startswith(report + ("\n\n" if options == ["--exposure"] else "\n"))
    assert len(report) > 50_000  # large enough to be worth streaming
    assert len(out.sizes) > 10
    assert max(out.sizes) < len(report) / 3  # the largest write is one source's pairs (a quarter here)
