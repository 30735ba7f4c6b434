"""Adding observed edges to the database, and keeping it small: hour buckets folded into days, old rows dropped.

A piece's edges are first summed in memory per (edge key, bucket), then written with one statement: on
PostgreSQL an INSERT ... SELECT FROM unnest(arrays) ... ON CONFLICT DO UPDATE SET count = count + excluded.count,
so a piece of thousands of flows costs one round trip and one row per distinct edge, not one statement per
edge (SQLite, a single writer, takes the same upsert row by row). Counts are added in the database, so two
streams of one drawing, or two workers, never lose each other's counts; rows are written in key order, so two
such transactions take their row locks in the same order and cannot deadlock.

Each piece is one transaction, and the drawing's staged report (editor.staged_store) is brought up to date in
that same transaction: when it commits it is acknowledged, and a restart loses nothing acknowledged.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import msgspec
import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from editor import staged_store
from editor.observation_models import Observation, ObservationStream
from editor.policy.flows.observe import HOUR_BUCKETS_FOR, ObservedEdge, day_bucket, hour_bucket


class StreamRevoked(Exception):
    """The stream's token was revoked (or the stream deleted) while it was sending."""


# (key, bucket) -> [day, edge description (JSON), count, denied, first seen, last seen]
Buckets = dict[tuple[str, datetime], list]


def _add(buckets: Buckets, key: str, bucket: datetime, day: bool, edge: bytes | str, counts: tuple, seen: tuple):
    found = buckets.get((key, bucket))
    if found is None:
        buckets[(key, bucket)] = [day, edge, *counts, *seen]
        return
    found[2] += counts[0]
    found[3] += counts[1]
    found[4], found[5] = min(found[4], seen[0]), max(found[5], seen[1])


def bucketed(edges: list[ObservedEdge], now: datetime) -> Buckets:
    """A piece's edges summed per (edge key, bucket): an hour, or a day for traffic older than a week."""
    buckets: Buckets = {}
    hours_until = now - HOUR_BUCKETS_FOR
    for edge in edges:
        # parse_seen(edge.first_seen, now), read once by observe()
        first = now if edge.first is None else edge.first
        last = now if edge.last is None else edge.last
        day = last < hours_until
        bucket = day_bucket(last) if day else hour_bucket(last)
        denied = sum(count for verdict, count in edge.verdicts.items() if verdict.startswith("DROPPED"))
        _add(buckets, edge.key, bucket, day, edge.description, (edge.count, denied), (first, last))
    return buckets


def _conflict_sql(table: str, key: str) -> str:
    least, greatest = ("LEAST", "GREATEST") if connection.vendor == "postgresql" else ("MIN", "MAX")
    return (
        f"ON CONFLICT (document_id, {key}, bucket) DO UPDATE SET "
        f"count = {table}.count + EXCLUDED.count, denied = {table}.denied + EXCLUDED.denied, "
        f"first_seen = {least}({table}.first_seen, EXCLUDED.first_seen), "
        f"last_seen = {greatest}({table}.last_seen, EXCLUDED.last_seen)"
    )


def upsert(document_id: int, buckets: Buckets) -> None:
    """Add the buckets' counts to the drawing's observation rows (made when missing), in key order."""
    if not buckets:
        return
    table = connection.ops.quote_name(Observation._meta.db_table)
    key = connection.ops.quote_name("key")
    columns = f"(document_id, {key}, bucket, day, edge, count, denied, first_seen, last_seen)"
    ordered = sorted(buckets.items())
    if connection.vendor == "postgresql":
        arrays = [[k for (k, _), _ in ordered], [b for (_, b), _ in ordered]]
        arrays += [[row[field] for _, row in ordered] for field in range(6)]
        connection.ensure_connection()
        # Django's cursors bind parameters on the client, quoting every array element with a regular expression
        # (most of the cost of a piece); a plain psycopg cursor sends them bound, in binary (%b).
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(
                f"INSERT INTO {table} {columns} SELECT %b, k, b, d, e::jsonb, c, n, f, l FROM unnest("
                "%b::varchar[], %b::timestamptz[], %b::boolean[], %b::text[], %b::bigint[], %b::bigint[], "
                "%b::timestamptz[], %b::timestamptz[]) AS u(k, b, d, e, c, n, f, l) " + _conflict_sql(table, key),
                [document_id, *arrays],
                prepare=False,  # as Django's own queries: a pooler in front (PgBouncer) may not keep statements
            )
        return
    with connection.cursor() as cursor:
        adapt = connection.ops.adapt_datetimefield_value
        cursor.executemany(
            f"INSERT INTO {table} {columns} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) " + _conflict_sql(table, key),
            [
                (document_id, k, adapt(b), day, edge, count, denied, adapt(first), adapt(last))
                for (k, b), (day, edge, count, denied, first, last) in ordered
            ],
        )


def record(stream: ObservationStream, edges: list[ObservedEdge], flows: int) -> None:
    """Add one piece's edges to the stream's drawing and its staged report, in one transaction. Raises
    StreamRevoked."""
    now = timezone.now()
    buckets = bucketed(edges, now)
    with transaction.atomic():
        current = ObservationStream.objects.select_for_update().filter(pk=stream.pk).first()
        if current is None or current.revoked is not None:  # revoked, or deleted with its drawing
            raise StreamRevoked
        upsert(stream.document_id, buckets)
        staged_store.observed(stream.document_id, buckets)
        ObservationStream.objects.filter(pk=stream.pk).update(flows=current.flows + flows, last_seen=now)


def compact(document_id: int | None = None, now: datetime | None = None) -> tuple[int, int]:
    """Fold hour buckets older than a week into day buckets and drop rows past the retention setting.

    Returns (hour rows folded, rows dropped). Storage then grows with distinct edges x (168 hours + retained
    days), whatever the traffic.
    """
    now = now or timezone.now()
    rows = Observation.objects.all() if document_id is None else Observation.objects.filter(document_id=document_id)
    retention = timedelta(days=settings.FENCELINE_OBSERVATION_RETENTION_DAYS)
    with transaction.atomic():
        dropped, _ = rows.filter(last_seen__lt=now - retention).delete()
        old = rows.filter(day=False, bucket__lt=hour_bucket(now - HOUR_BUCKETS_FOR))
        folded = list(
            old.values_list("document_id", "key", "bucket", "edge", "count", "denied", "first_seen", "last_seen")
        )
        if folded:
            by_document: dict[int, Buckets] = {}
            encode = msgspec.json.encode
            for document, key, bucket, edge, count, denied, first, last in folded:
                days = by_document.setdefault(document, {})
                _add(days, key, day_bucket(bucket), True, encode(edge).decode(), (count, denied), (first, last))
            old.delete()
            for document, days in sorted(by_document.items()):
                upsert(document, days)
    return len(folded), dropped


COMPACT_EVERY_SECONDS = 3600.0
_compacted: dict[int, float] = {}  # drawing -> when this process last compacted it (time.monotonic)


def compact_now_and_then(document_id: int) -> None:
    """compact() a drawing's observations at most once an hour per process, as its streams send: retention
    needs no scheduler of its own."""
    now = time.monotonic()
    last = _compacted.get(document_id)
    if last is not None and now - last < COMPACT_EVERY_SECONDS:
        return
    _compacted[document_id] = now
    compact(document_id)
