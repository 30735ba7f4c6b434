"""Observation pieces (issue 17): a stream cut anywhere adds up to the whole, and a piece spanning hours is
split into its hours, so storage can add counts per edge key and bucket."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from editor.policy.flows.observe import edge_key, hour_bucket, observe, parse_seen

HUBBLE = Path(__file__).resolve().parents[1] / "fixtures" / "hubble"
CAPTURES = [HUBBLE / "basic-sample-400-tcp-flows.json", HUBBLE / "basic-sample-330-dns-flows.json"]


def counts(piece: bytes) -> Counter[str]:
    edges, _ = observe(piece)
    total: Counter[str] = Counter()
    for edge in edges:
        total[edge.key] += edge.count
    return total


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
@pytest.mark.parametrize("cut", [1, 57, 200])
def test_pieces_add_up_to_the_whole(path: Path, cut: int) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    whole = counts(b"".join(lines))
    assert whole
    assert counts(b"".join(lines[:cut])) + counts(b"".join(lines[cut:])) == whole


def test_a_piece_spanning_hours_is_split_by_hour() -> None:
    records = [json.loads(line) for line in CAPTURES[0].read_bytes().splitlines() if line.strip()]
    start = datetime(2026, 1, 1, 10, 30, tzinfo=UTC)
    for number, record in enumerate(records):
        moment = start + timedelta(minutes=number % 3 * 60)  # 10:30, 11:30, 12:30 in turn
        record["flow"]["time"] = record["time"] = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    piece = b"".join(json.dumps(record).encode() + b"\n" for record in records)
    edges, _ = observe(piece)
    hours = {hour_bucket(parse_seen(edge.last_seen, start)) for edge in edges}
    assert hours == {start.replace(minute=0) + timedelta(hours=n) for n in range(3)}
    assert all(
        hour_bucket(parse_seen(e.first_seen, start)) == hour_bucket(parse_seen(e.last_seen, start)) for e in edges
    )
    by_key: Counter[str] = Counter()
    for edge in edges:
        by_key[edge.key] += edge.count
    # The same records sent hour by hour (each piece within one hour, read once) give the same counts.
    per_hour: Counter[str] = Counter()
    for hour in range(3):
        part = [r for n, r in enumerate(records) if n % 3 == hour]
        per_hour += counts(b"".join(json.dumps(r).encode() + b"\n" for r in part))
    assert by_key == per_hour


GADGET = Path(__file__).resolve().parents[1] / "fixtures" / "gadget"
ALL_CAPTURES = sorted(p for p in HUBBLE.iterdir() if p.suffix in (".json", ".jsonl")) + sorted(GADGET.rglob("*.input"))


@pytest.mark.parametrize("path", ALL_CAPTURES, ids=lambda p: p.name)
def test_keys_and_descriptions_are_those_of_the_edges_meaning(path: Path) -> None:
    """observe() joins an edge's key and stored description from its two ends' JSON; they must be what
    edge_key() and the plain encoding of the description give, or rows stored before would not be found again."""
    edges, _ = observe(path.read_bytes())
    for edge in edges:
        assert edge.key == edge_key(edge.source, edge.target, edge.protocol, edge.port)
        description = {"source": edge.source, "target": edge.target, "protocol": edge.protocol, "port": edge.port}
        assert edge.description == msgspec.json.encode(description).decode()
        assert (edge.first, edge.last) == (parse_seen(edge.first_seen, None), parse_seen(edge.last_seen, None))
        assert not {"id", "isolate", "note", "position"} & (edge.source.keys() | edge.target.keys())


def test_a_known_edge_keeps_its_key() -> None:
    """The key of productpage -> details on TCP 9080, as stored by the intake since it was written: a change of
    the key's encoding would split every stored edge's rows in two."""
    edges, _ = observe(CAPTURES[0].read_bytes())
    (edge,) = [e for e in edges if e.source.get("name") == "productpage-v1" and e.target.get("name") == "details-v1"]
    canonical = json.dumps([edge.source, edge.target, "TCP", 9080], sort_keys=True, separators=(",", ":"))
    assert edge.key == hashlib.sha256(canonical.encode()).hexdigest()
