"""The staged report, kept in the database as observations arrive (issue 17, item 2).

A drawing's staged revision has one StagedDenial row per observed connection it would deny, with the flows
counted since the stage's date and first/last seen. Each stored piece of a stream brings a few edge keys;
only the keys this process has not judged against the revision yet are replayed (the revision is compiled
once, `StagedJudge`), the others just add their counts. Everything happens in the transaction that stores the
piece, under a lock on the stage, so the report never misses an acknowledged flow and never mixes two
revisions: starting or moving the stage rebuilds the report from every observation since its date under the
same lock.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import msgspec
import psycopg
from django.conf import settings
from django.db import connection
from django.utils import timezone

from editor.models import Revision
from editor.observation_models import Observation, StagedDenial, StagedRevision
from editor.policy.document import Document
from editor.policy.flows.staging import ObservedRow, StagedJudge, StagedReport, WouldDeny

if TYPE_CHECKING:
    from editor.observation_store import Buckets

# Per process: the compiled revisions being staged, and what each key was judged (None: not denied).
# Verdicts depend only on the revision and the edge key, so they never go stale; the cache is bounded.
_JUDGES_KEPT = 4
_KEYS_KEPT = 200_000
_judges: OrderedDict[int, tuple[StagedJudge, dict[str, WouldDeny | None]]] = OrderedDict()


def _judge(revision_id: int) -> tuple[StagedJudge, dict[str, WouldDeny | None]]:
    found = _judges.get(revision_id)
    if found is None:
        data = Revision.objects.values_list("data", flat=True).get(pk=revision_id)
        found = (StagedJudge(Document.from_json(data)), {})
        _judges[revision_id] = found
        while len(_judges) > _JUDGES_KEPT:
            _judges.popitem(last=False)
    _judges.move_to_end(revision_id)
    if len(found[1]) > _KEYS_KEPT:
        found[1].clear()
    return found


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _sum(totals: dict[str, list], key: str, edge: object, count: int, denied: int, first: datetime, last: datetime):
    """Add one bucket's flows to its edge's total: [edge, count, denied, first seen, last seen]."""
    found = totals.get(key)
    if found is None:
        totals[key] = [edge, count, denied, first, last]
        return
    found[1] += count
    found[2] += denied
    found[3], found[4] = min(found[3], first), max(found[4], last)


def observed_rows(document_id: int, since: datetime) -> list[ObservedRow]:
    """The drawing's observations since `since`, summed over their buckets per edge."""
    totals: dict[str, list] = {}
    rows = Observation.objects.filter(document_id=document_id, last_seen__gte=since).order_by("key", "bucket")
    for key, edge, count, denied, first, last in rows.values_list(
        "key", "edge", "count", "denied", "first_seen", "last_seen"
    ):
        _sum(totals, key, edge, count, denied, first, last)
    return [
        ObservedRow(key, edge, count, denied, iso(first), iso(last))
        for key, (edge, count, denied, first, last) in totals.items()
    ]


def _judge_new(revision_id: int, rows: list[ObservedRow]) -> dict[str, WouldDeny | None]:
    """The revision's verdicts in this process, once `rows` (keys it has not judged yet) are replayed."""
    judge, verdicts = _judge(revision_id)
    if rows:
        report = judge.report(rows)
        verdicts.update(dict.fromkeys((row.key for row in rows), None))
        verdicts.update((item.key, item) for items in report.would_deny.values() for item in items)
    return verdicts


def _add_denials(stage_id: int, rows: list[tuple[WouldDeny, int, int, datetime, datetime]]) -> None:
    """Add flows to the stage's denials (made when missing), in key order: two pieces never deadlock.

    On PostgreSQL one statement takes them all, as observation_store.upsert does the observations (a revision
    that denies a fifth of a piece's edges wrote 400 statements per piece, the most of its database time)."""
    if not rows:
        return
    table = connection.ops.quote_name(StagedDenial._meta.db_table)
    key = connection.ops.quote_name("key")
    least, greatest = ("LEAST", "GREATEST") if connection.vendor == "postgresql" else ("MIN", "MAX")
    columns = (
        f"(stage_id, {key}, workload, source, target, protocol, port, reason, count, denied, first_seen, last_seen)"
    )
    conflict = (
        f"ON CONFLICT (stage_id, {key}) DO UPDATE SET count = {table}.count + EXCLUDED.count, "
        f"denied = {table}.denied + EXCLUDED.denied, "
        f"first_seen = {least}({table}.first_seen, EXCLUDED.first_seen), "
        f"last_seen = {greatest}({table}.last_seen, EXCLUDED.last_seen)"
    )
    ordered = [
        (item.key, *_texts(item), item.port, item.reason, count, denied, first, last)
        for item, count, denied, first, last in sorted(rows, key=lambda row: row[0].key)
    ]
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        # Bound in binary by a plain psycopg cursor: Django's would quote every array element (see upsert).
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(
                f"INSERT INTO {table} {columns} SELECT %b, k, w, s, t, p, o, r, c, n, f, l FROM unnest(%b::varchar[], "
                "%b::varchar[], %b::varchar[], %b::varchar[], %b::varchar[], %b::integer[], %b::text[], %b::bigint[], "
                "%b::bigint[], %b::timestamptz[], %b::timestamptz[]) AS u(k, w, s, t, p, o, r, c, n, f, l) " + conflict,
                [stage_id, *(list(column) for column in zip(*ordered, strict=True))],
                prepare=False,
            )
        return
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} {columns} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) " + conflict,
            [(stage_id, *row[:-2], adapt(row[-2]), adapt(row[-1])) for row in ordered],
        )


def _texts(item: WouldDeny) -> tuple[str, str, str, str]:
    """The denial's group, ends and protocol, cut to their columns (an end can be a long FQDN or selector)."""
    return item.workload[:300], item.source[:300], item.target[:300], item.protocol[:16]


def observed(document_id: int, buckets: Buckets) -> None:
    """A piece of observations was stored for the drawing: add it to its staged report, if it has a stage.
    Call inside the piece's transaction."""
    stage = (
        StagedRevision.objects.select_for_update()
        .filter(document_id=document_id)
        .values_list("pk", "revision_id", "since")
        .first()
    )
    if stage is None:
        return
    stage_id, revision_id, since = stage
    totals: dict[str, list] = {}  # key -> [edge, count, denied, first, last], over the piece's buckets
    for (key, _), (_, edge, count, denied, first, last) in buckets.items():
        if last < since:
            continue
        _sum(totals, key, edge, count, denied, first, last)
    if not totals:
        return
    decode = msgspec.json.decode
    known = _judge(revision_id)[1]
    verdicts = _judge_new(
        revision_id,
        [
            ObservedRow(key, decode(edge), count, denied, iso(first), iso(last))
            for key, (edge, count, denied, first, last) in totals.items()
            if key not in known  # only new keys are replayed (and decoded)
        ],
    )
    denials = []
    for key, (_, count, denied, first, last) in totals.items():
        item = verdicts[key]
        if item is not None:
            denials.append((item, count, denied, first, last))
    _add_denials(stage_id, denials)


def rebuild(stage: StagedRevision) -> None:
    """The stage's report from every observation since its date (it started, or moved to another revision).
    Call inside a transaction that holds the stage's row (select_for_update)."""
    rows = observed_rows(stage.document_id, stage.since)
    known = _judge(stage.revision_id)[1]
    verdicts = _judge_new(stage.revision_id, [row for row in rows if row.key not in known])
    StagedDenial.objects.filter(stage=stage).delete()
    denials = []
    for row in rows:
        item = verdicts[row.key]
        if item is not None:
            first, last = datetime.fromisoformat(row.first_seen), datetime.fromisoformat(row.last_seen)
            denials.append((item, row.count, row.denied, first, last))
    _add_denials(stage.pk, denials)


def stored_report(stage: StagedRevision) -> tuple[StagedReport, bool]:
    """The stage's report as stored, and whether it is ready (nothing seen in the last N days would be
    denied)."""
    would_deny: dict[str, list[WouldDeny]] = {}
    for denial in StagedDenial.objects.filter(stage=stage):
        would_deny.setdefault(denial.workload, []).append(
            WouldDeny(
                denial.key,
                denial.source,
                denial.target,
                denial.protocol,
                denial.port,
                denial.count,
                iso(denial.first_seen),
                iso(denial.last_seen),
                denial.reason,
                denial.count > denial.denied,
                denial.workload,
            )
        )
    recent = timezone.now() - timedelta(days=settings.FENCELINE_STAGED_READY_DAYS)
    ready = not StagedDenial.objects.filter(stage=stage, last_seen__gte=recent).exists()
    return StagedReport.of(would_deny), ready
