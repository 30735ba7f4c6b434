"""POST /api/observations/<stream>: continuous intake of flow streams (issue 17, item 1), against the real
database and, for the interrupted body, the application served on a real socket."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from editor.models import save_revision
from editor.observation_models import Observation, ObservationStream
from editor.observation_store import compact
from editor.observations_api import FLUSH_SECONDS, PIECE_BYTES, READ_BYTES
from editor.policy.flows.observe import observe

FIXTURES = Path(__file__).parents[1] / "fixtures"
TCP = FIXTURES / "hubble" / "basic-sample-400-tcp-flows.json"
DNS = FIXTURES / "hubble" / "basic-sample-330-dns-flows.json"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def keep_old_captures(settings):
    """The captures are from 2021: keep them past the default retention of 90 days."""
    settings.FENCELINE_OBSERVATION_RETENTION_DAYS = 36500


def lines_of(path: Path) -> list[bytes]:
    return [line + b"\n" for line in path.read_bytes().splitlines() if line.strip()]


@pytest.fixture
def drawing(talk_doc):
    return save_revision(talk_doc).document


def make_stream(document, name: str = "cluster-a") -> tuple[ObservationStream, str]:
    return ObservationStream.create(document, name)


def post(client: Client, stream: ObservationStream, token: str, body: bytes):
    return client.post(
        f"/api/observations/{stream.slug}",
        body,
        content_type="application/x-ndjson",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def events(response) -> list[dict]:
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]


def test_a_stream_is_aggregated_into_one_row_per_edge_and_hour(client, drawing):
    stream, token = make_stream(drawing)
    body = b"".join(lines_of(TCP))
    first = events(post(client, stream, token, body))
    assert first[-1] == {"done": {"acknowledged": len(body), "flows": 400, "skipped": 0}}
    rows = Observation.objects.filter(document=drawing).count()
    total = Observation.objects.aggregate(total=Sum("count"))["total"]
    events(post(client, stream, token, body))  # the same traffic again: counts add up, rows do not grow
    assert Observation.objects.filter(document=drawing).count() == rows
    assert Observation.objects.aggregate(total=Sum("count"))["total"] == 2 * total
    stream.refresh_from_db()
    assert stream.flows == 800 and stream.last_seen is not None
    assert ObservationStream.objects.get(pk=stream.pk).token_hash != token  # only the hash is stored
    assert token not in json.dumps(list(ObservationStream.objects.values()), default=str)


UDP = FIXTURES / "hubble" / "basic-sample-400-udp-flows.json"
# A pod's workload by the Kubernetes naming of its pods: Deployment <name>-<template hash>-<5>, DaemonSet <name>-<5>.
POD_OF_DEPLOYMENT = re.compile(r"(.+)-[a-z0-9]{6,10}-[a-z0-9]{5}")
POD_OF_DAEMONSET = re.compile(r"(.+)-[a-z0-9]{5}")


def end_of(endpoint: dict) -> str:
    """A flow's end as `namespace/workload`, or the reserved identity (`reserved:remote-node` -> remote-node)."""
    if endpoint.get("pod_name"):
        name = endpoint["pod_name"]
        workload = (POD_OF_DEPLOYMENT.fullmatch(name) or POD_OF_DAEMONSET.fullmatch(name)).group(1)
        return f"{endpoint['namespace']}/{workload}"
    (reserved,) = [label for label in endpoint["labels"] if label.startswith("reserved:")]
    return reserved.removeprefix("reserved:")


def expected_rows(path: Path) -> dict[tuple, dict]:
    """The rows a capture should make, worked out from its JSON alone: every flow but the replies, by its ends,
    protocol and destination port, in the day bucket of its last flow (the captures are years old)."""
    rows: dict[tuple, dict] = {}
    for line in lines_of(path):
        flow = json.loads(line)["flow"]
        if flow.get("is_reply"):
            continue
        ((protocol, l4),) = flow["l4"].items()
        moment = datetime.fromisoformat(flow["time"][:26] + "+00:00")
        edge = (end_of(flow["source"]), end_of(flow["destination"]), protocol, l4["destination_port"])
        row = rows.setdefault(edge, {"count": 0, "denied": 0, "first_seen": moment, "last_seen": moment})
        row["count"] += 1
        row["denied"] += flow["verdict"] == "DROPPED"
        row["first_seen"], row["last_seen"] = min(row["first_seen"], moment), max(row["last_seen"], moment)
    for row in rows.values():
        row["bucket"], row["day"] = row["last_seen"].replace(hour=0, minute=0, second=0, microsecond=0), True
    return rows


def stored_end(node: dict) -> str:
    return f"{node['namespace']}/{node['name']}" if node["kind"] == "workload" else node[node["kind"]]


@pytest.mark.parametrize("path", [DNS, UDP], ids=lambda path: path.name)
def test_the_stored_rows_of_a_capture_are_its_flows_counted_once(client, drawing, path):
    """Both captures carry DNS requests to the DNS server, whose edge the importer draws twice (the server's
    side in an edge of its own): each flow is still counted once."""
    stream, token = make_stream(drawing)
    events(post(client, stream, token, b"".join(lines_of(path))))
    stored = {}
    for row in Observation.objects.filter(document=drawing):
        edge = (stored_end(row.edge["source"]), stored_end(row.edge["target"]), row.edge["protocol"], row.edge["port"])
        assert edge not in stored
        fields = ("count", "denied", "first_seen", "last_seen", "bucket", "day")
        stored[edge] = {field: getattr(row, field) for field in fields}
    assert stored == expected_rows(path)


def test_a_revoked_token_is_refused_at_once(client, drawing):
    stream, token = make_stream(drawing)
    assert events(post(client, stream, token, lines_of(TCP)[0]))[-1]["done"]["flows"] == 1
    stream.revoked = timezone.now()
    stream.save()
    response = post(client, stream, token, lines_of(TCP)[1])
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert Observation.objects.aggregate(total=Sum("count"))["total"] == 1


def test_a_token_revoked_while_sending_stops_the_stream(client, drawing, monkeypatch):
    """Revocation is checked on every piece, not only when the request starts."""
    stream, token = make_stream(drawing)
    lines = lines_of(TCP)
    piece = b"".join(lines)
    body = piece * (2 * PIECE_BYTES // len(piece) + 2)
    from editor import observation_store

    real = observation_store.record
    calls = 0

    def revoke_after_first(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 2:
            ObservationStream.objects.filter(pk=stream.pk).update(revoked=timezone.now())
        return real(*args, **kwargs)

    monkeypatch.setattr("editor.observations_api.record", revoke_after_first)
    answer = events(post(client, stream, token, body))
    assert "acknowledged" in answer[0]
    assert answer[-1] == {"error": "this stream's token was revoked", "status": 401}


def test_another_drawings_token_cannot_write(client, drawing, talk_doc):
    mine, _ = make_stream(drawing)
    other_drawing = save_revision(talk_doc).document
    _, other_token = make_stream(other_drawing, "theirs")
    for token in (other_token, "", "flst_" + "x" * 43):
        response = post(client, mine, token, lines_of(TCP)[0])
        assert response.status_code == 401
    assert client.post(f"/api/observations/{'a' * 30}", b"{}", content_type="application/x-ndjson").status_code == 401
    assert not Observation.objects.exists()


def test_get_is_refused(client, drawing):
    stream, _ = make_stream(drawing)
    response = client.get(f"/api/observations/{stream.slug}")
    assert response.status_code == 405 and response["Allow"] == "POST"


@contextlib.contextmanager
def raw_post(app_url: str, stream: ObservationStream, token: str, length: int) -> Iterator[socket.socket]:
    """A raw socket to the served application with the POST's head sent, announcing `length` bytes of body;
    dropped (shut down) at the end, whatever was sent of the body."""
    address = urlsplit(app_url)
    with socket.create_connection((address.hostname, address.port), timeout=60) as connection:
        connection.sendall(
            f"POST /api/observations/{stream.slug} HTTP/1.1\r\nHost: {address.netloc}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/x-ndjson\r\n"
            f"Content-Length: {length}\r\n\r\n".encode()
        )
        yield connection
        connection.shutdown(socket.SHUT_RDWR)


def acknowledgements(connection: socket.socket, enough: Callable[[list[dict]], bool]) -> list[dict]:
    """The answer's acknowledgements, read until `enough` of them came (whole lines: one may take two reads)."""
    received = b""
    while True:
        lines = [line for line in received.splitlines() if line.startswith(b'{"acknowledged"') and line.endswith(b"}")]
        acknowledged = [json.loads(line) for line in lines]
        if acknowledged and enough(acknowledged):
            return acknowledged
        data = connection.recv(65536)
        assert data, f"the server closed before acknowledging: {received!r}"
        received += data


def test_a_body_killed_mid_way_loses_nothing_acknowledged(app_url, drawing):
    """A raw socket announces a long body, sends several pieces' worth, reads the acknowledgements, and
    drops the connection in the middle of a line. Every acknowledged flow is in the database."""
    stream, token = make_stream(drawing)
    piece = b"".join(lines_of(TCP))
    body = piece * (4 * PIECE_BYTES // len(piece) + 1)
    sent = body[: 3 * PIECE_BYTES + 1001]  # three pieces, then the middle of a line
    with raw_post(app_url, stream, token, len(body) * 4) as connection:
        connection.sendall(sent)
        # Pieces are 16 MiB, or what came in a second: wait for two pieces' worth.
        acknowledged = acknowledgements(connection, lambda got: got[-1]["acknowledged"] >= 2 * PIECE_BYTES)
    flows, acknowledged_bytes = acknowledged[-1]["flows"], acknowledged[-1]["acknowledged"]
    assert flows >= 2 * 400 * (PIECE_BYTES // len(piece))
    # What the acknowledged bytes hold, read here: the database has at least that (a piece the server read
    # before the connection dropped may be there too; it was simply never promised).
    promised, _ = observe(sent[:acknowledged_bytes])
    stored = ObservationStream.objects.get(pk=stream.pk).flows
    rows = {row.key: row.count for row in Observation.objects.filter(document=drawing)}
    assert stored >= flows
    assert all(rows.get(edge.key, 0) >= edge.count for edge in promised)
    assert sum(rows.values()) >= sum(edge.count for edge in promised) > 0


def test_a_slow_stream_is_acknowledged_within_seconds_not_at_16_mib(app_url, drawing):
    """A quiet cluster's stream: a little traffic, a pause, a little more, the body still open. What arrived is
    stored and acknowledged once FLUSH_SECONDS have passed, without waiting for a whole piece or the end."""
    stream, token = make_stream(drawing)
    piece = b"".join(lines_of(TCP))
    body = piece * (2 * READ_BYTES // len(piece) + 2)
    with raw_post(app_url, stream, token, PIECE_BYTES) as connection:
        connection.sendall(body[:READ_BYTES])
        time.sleep(FLUSH_SECONDS + 0.5)
        connection.sendall(body[READ_BYTES : 2 * READ_BYTES])
        answer = acknowledgements(connection, bool)[0]
    assert 0 < answer["acknowledged"] <= 2 * READ_BYTES and answer["flows"] > 0
    assert ObservationStream.objects.get(pk=stream.pk).flows >= answer["flows"]


def test_old_hours_fold_into_days_and_retention_drops_the_oldest(client, drawing, settings):
    settings.FENCELINE_OBSERVATION_RETENTION_DAYS = 30
    stream, token = make_stream(drawing)
    # The real capture, moved to the last three hours (a 2021 capture would be a day bucket from the start).
    start = timezone.now().replace(minute=30) - timedelta(hours=3)
    body = b""
    for number, line in enumerate(lines_of(DNS)):
        record = json.loads(line)
        moment = start + timedelta(hours=number % 3)
        record["flow"]["time"] = record["time"] = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        body += json.dumps(record).encode() + b"\n"
    events(post(client, stream, token, body))
    rows = list(Observation.objects.values("key", "bucket", "count", "day"))
    assert len(rows) > 1 and not any(row["day"] for row in rows)
    assert all(row["bucket"].minute == 0 for row in rows)
    assert compact(drawing.pk) == (0, 0)  # nothing old yet
    now = timezone.now() + timedelta(days=8)
    folded, dropped = compact(drawing.pk, now)
    assert dropped == 0 and folded == len(rows)
    days = Observation.objects.filter(document=drawing)
    assert all(row.day and row.bucket.hour == 0 for row in days)
    assert days.aggregate(total=Sum("count"))["total"] == sum(row["count"] for row in rows)
    assert days.count() < len(rows)  # one row per edge and day instead of per edge and hour
    day_rows = days.count()
    assert compact(drawing.pk, now + timedelta(days=30)) == (0, day_rows)
    assert not Observation.objects.filter(document=drawing).exists()


def test_the_intake_applies_retention_as_streams_send(client, drawing, settings):
    """Rows past FENCELINE_OBSERVATION_RETENTION_DAYS go when a stream next sends (at most hourly)."""
    from editor import observation_store

    settings.FENCELINE_OBSERVATION_RETENTION_DAYS = 30
    observation_store._compacted.clear()
    stream, token = make_stream(drawing)
    events(post(client, stream, token, b"".join(lines_of(DNS))))  # captured in 2021: past retention
    assert not Observation.objects.exists()
    assert ObservationStream.objects.get(pk=stream.pk).flows == 330  # acknowledged, then aged out
