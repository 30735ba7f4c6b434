"""Adding observed edges to the database, and keeping it small: hour buckets folded into days, old rows dropped.

Counts are added in the database (INSERT ... ON CONFLICT DO UPDATE SET count = count + excluded.count), so
two streams of one drawing, or two workers, never lose each other's counts. Each piece of a stream is one
transaction: when it commits it is acknowledged, and a restart loses nothing acknowledged.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from editor.observation_models import Observation, ObservationStream
from editor.policy.flows.observe import HOUR_BUCKETS_FOR, ObservedEdge, day_bucket, hour_bucket, parse_seen


class StreamRevoked(Exception):
    """The stream's token was revoked (or the stream deleted) while it was sending."""


def _upsert_sql() -> str:
    table = connection.ops.quote_name(Observation._meta.db_table)
    postgres = connection.vendor == "postgresql"
    least, greatest = ("LEAST", "GREATEST") if postgres else ("MIN", "MAX")
    edge = "%s::jsonb" if postgres else "%s"
    return (
        f"INSERT INTO {table} (document_id, {connection.ops.quote_name('key')}, bucket, day, edge, count, denied, "
        f"first_seen, last_seen) VALUES (%s, %s, %s, %s, {edge}, %s, %s, %s, %s) "
        f"ON CONFLICT (document_id, {connection.ops.quote_name('key')}, bucket) DO UPDATE SET "
        f"count = {table}.count + EXCLUDED.count, denied = {table}.denied + EXCLUDED.denied, "
        f"first_seen = {least}({table}.first_seen, EXCLUDED.first_seen), "
        f"last_seen = {greatest}({table}.last_seen, EXCLUDED.last_seen)"
    )


def _rows(document_id: int, edges: list[ObservedEdge], now: datetime) -> list[tuple[object, ...]]:
    adapt = connection.ops.adapt_datetimefield_value
    rows = []
    for edge in edges:
        first = parse_seen(edge.first_seen, now)
        last = parse_seen(edge.last_seen, now)
        day = last < now - HOUR_BUCKETS_FOR
        bucket = day_bucket(last) if day else hour_bucket(last)
        denied = sum(count for verdict, count in edge.verdicts.items() if verdict.startswith("DROPPED"))
        description = {"source": edge.source, "target": edge.target, "protocol": edge.protocol, "port": edge.port}
        rows.append(
            (
                document_id,
                edge.key,
                adapt(bucket),
                day,
                json.dumps(description),
                edge.count,
                denied,
                adapt(first),
                adapt(last),
            )
        )
    return rows


def record(stream: ObservationStream, edges: list[ObservedEdge], flows: int) -> None:
    """Add one piece's edges to the stream's drawing, in one transaction. Raises StreamRevoked."""
    now = timezone.now()
    with transaction.atomic():
        current = ObservationStream.objects.select_for_update().filter(pk=stream.pk).first()
        if current is None or current.revoked is not None:  # revoked, or deleted with its drawing
            raise StreamRevoked
        if edges:
            with connection.cursor() as cursor:
                cursor.executemany(_upsert_sql(), _rows(stream.document_id, edges, now))
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
            adapt = connection.ops.adapt_datetimefield_value
            merged = [
                (
                    document,
                    key,
                    adapt(day_bucket(bucket)),
                    True,
                    json.dumps(edge),
                    count,
                    denied,
                    adapt(first),
                    adapt(last),
                )
                for document, key, bucket, edge, count, denied, first, last in folded
            ]
            old.delete()
            with connection.cursor() as cursor:
                cursor.executemany(_upsert_sql(), merged)
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
