"""The read side of the history: what the dashboard's history, plots and admin panel ask.

:class:`HistoryReader` owns its own SQLite connection, so the GUI's worker thread can
query while the writer thread commits (WAL lets readers and one writer run together).
One reader is meant for one thread at a time.

Speed on a million event rows comes from the indexes created in ``schema.py``: every
query either walks an index in the order it returns (newest first, ``(at, id)``) and
stops after one page, or reads a time range of the per-minute roll-up. Text search
(``LIKE`` with escaping, so ``%`` and ``_`` are literal) picks one of two plans that
return the same rows: when few operations match by item, id or source (at most
TEXT_PLAN_OPS), it collects their events through the operation index plus the events
whose own error matches (a partial index), then applies the text test to each; when
many match, matches are dense and walking the events newest-first finds a page at once.
An event whose item differs from its operation's current item (a renamed item) is
found by the second plan only: renames are not part of the protocol today.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import orjson
import peewee

from syncwatch.client.store.recovery import connect

if TYPE_CHECKING:
    from syncwatch.client.store.export import ExportFormat
from syncwatch.client.store.rows import (
    Count,
    DatabaseInfo,
    EventFilter,
    EventRow,
    OperationRow,
    PageKey,
    SeriesPoint,
    SnapshotRow,
    Totals,
)
from syncwatch.client.store.schema import current_version, execute

EVENT_COLUMNS: Final = (
    "id",
    "at",
    "operation_id",
    "operation_type",
    "kind",
    "from_status",
    "status",
    "progress",
    "item",
    "source",
    "error",
    "bytes_done",
    "seq",
    "hub_id",
)
OPERATION_COLUMNS: Final = OperationRow._fields
TABLES: Final = (
    "sync_minute_stats",
    "sync_operations",
    "sync_operation_events",
    "connection_status",
    "sync_status_snapshots",
    "sync_gaps",
)
#: The filter that matches every event.
ANY: Final = EventFilter()
#: Most buckets one series call returns (30 days at one minute is 43,200).
MAX_SERIES_POINTS: Final = 200_000
#: A health snapshot's active-ops and latency figures stand for the buckets after it
#: for this long (the health check runs every 2 minutes by default).
SNAPSHOT_CARRY_S: Final = 300.0


def escape_like(text: str) -> str:
    """``text`` as a LIKE pattern that matches it literally anywhere (escape char '\\')."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


#: Most operations matching a text search for which the candidate-set plan is used.
TEXT_PLAN_OPS: Final = 20_000
_TEXT_COLUMNS: Final = ("item", "operation_id", "error", "source")
#: The text columns that belong to the operation rather than to one event.
_OPERATION_TEXT_COLUMNS: Final = ("item", "operation_id", "source")


def _text_test(pattern: str, columns: tuple[str, ...] = _TEXT_COLUMNS) -> tuple[str, list[Any]]:
    clause = " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in columns)
    return f"({clause})", [pattern] * len(columns)


def where_clause(flt: EventFilter) -> tuple[str, list[Any]]:
    """The SQL condition (possibly empty) and parameters of a filter, text aside."""
    clauses: list[str] = []
    params: list[Any] = []
    if flt.statuses:
        clauses.append(f"status IN ({','.join('?' * len(flt.statuses))})")
        params.extend(sorted(flt.statuses))
    if flt.operation_types:
        clauses.append(f"operation_type IN ({','.join('?' * len(flt.operation_types))})")
        params.extend(sorted(flt.operation_types))
    if flt.source is not None:
        clauses.append("source = ?")
        params.append(flt.source)
    return " AND ".join(clauses), params


def _and(*parts: str) -> str:
    kept = [p for p in parts if p]
    return (" WHERE " + " AND ".join(kept)) if kept else ""


class HistoryReader:
    """Queries over a history database that a :class:`HistoryStore` created."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise FileNotFoundError(f"no history database at {path}")
        #: The database file.
        self.path = path
        #: This reader's own connection.
        self._db: peewee.SqliteDatabase = connect(path)

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------------ events

    def _event_where(self, flt: EventFilter, time_column: str) -> tuple[str, list[Any]]:
        cond, params = where_clause(flt)
        parts = [cond]
        if flt.text:
            text_cond, text_params = self._text_condition(flt.text, time_column == "at")
            parts.append(text_cond)
            params += text_params
        if flt.start is not None:
            parts.append(f"{time_column} >= ?")
            params.append(flt.start)
        if flt.end is not None:
            parts.append(f"{time_column} < ?")
            params.append(flt.end)
        return _and(*parts), params

    def _text_condition(self, text: str, on_events: bool) -> tuple[str, list[Any]]:
        pattern = escape_like(text)
        test, params = _text_test(pattern)
        if not on_events:
            return test, params
        # Item, id and source are the operation's: one pass over the operations (4x
        # fewer rows than events) finds them and picks the plan. An error belongs to one
        # event and is found through the events' partial index on error.
        by_operation, operation_params = _text_test(pattern, _OPERATION_TEXT_COLUMNS)
        matching = [
            row[0]
            for row in execute(
                self._db,
                f"SELECT operation_id FROM sync_operations WHERE {by_operation} LIMIT ?",
                [*operation_params, TEXT_PLAN_OPS + 1],
            )
        ]
        if len(matching) > TEXT_PLAN_OPS:
            return test, params
        candidates = (
            "id IN (SELECT id FROM sync_operation_events WHERE operation_id IN "
            "(SELECT value FROM json_each(?)) UNION ALL "
            "SELECT id FROM sync_operation_events WHERE error IS NOT NULL AND error LIKE ? "
            "ESCAPE '\\')"
        )
        return f"{candidates} AND {test}", [orjson.dumps(matching).decode(), pattern, *params]

    def query_events(
        self,
        flt: EventFilter = ANY,
        *,
        offset: int = 0,
        limit: int = 100,
        before: PageKey | None = None,
    ) -> list[EventRow]:
        """Events matching ``flt``, newest first (by time, then insertion order).

        For deep paging pass the last row's ``key`` as ``before`` (keyset paging, constant
        time) rather than a large ``offset``."""
        if limit < 0 or offset < 0:
            raise ValueError("offset and limit must not be negative")
        where, params = self._event_where(flt, "at")
        if before is not None:
            where = _and(where.removeprefix(" WHERE "), "at <= ? AND (at < ? OR id < ?)")
            params += [before.at, before.at, before.id]
        sql = (
            f"SELECT {', '.join(EVENT_COLUMNS)} FROM sync_operation_events{where} "
            "ORDER BY at DESC, id DESC LIMIT ? OFFSET ?"
        )
        rows = execute(self._db, sql, [*params, limit, offset]).fetchall()
        return [EventRow._make(r) for r in rows]

    def count_events(self, flt: EventFilter = ANY, *, cap: int | None = None) -> Count:
        """How many events match; with ``cap``, counting stops there (``exact`` False)."""
        where, params = self._event_where(flt, "at")
        if cap is None:
            sql = f"SELECT count(*) FROM sync_operation_events{where}"
            return Count(int(execute(self._db, sql, params).fetchone()[0]), True)
        sql = f"SELECT count(*) FROM (SELECT 1 FROM sync_operation_events{where} LIMIT ?)"
        found = int(execute(self._db, sql, [*params, cap + 1]).fetchone()[0])
        return Count(min(found, cap), found <= cap)

    def iter_events(self, flt: EventFilter = ANY) -> Iterator[EventRow]:
        """Every matching event, oldest first, streamed from the cursor (for export)."""
        where, params = self._event_where(flt, "at")
        sql = f"SELECT {', '.join(EVENT_COLUMNS)} FROM sync_operation_events{where} ORDER BY at, id"
        cursor = execute(self._db, sql, params)
        while rows := cursor.fetchmany(1000):
            for row in rows:
                yield EventRow._make(row)

    def export(self, flt: EventFilter, path: Path, fmt: ExportFormat) -> int:
        """Write the matching events to ``path`` as "csv" or "json"; returns rows written."""
        from syncwatch.client.store.export import export_events  # noqa: PLC0415 - cycle

        return export_events(self.iter_events(flt), path, fmt)

    # ------------------------------------------------------------------ operations

    def query_operations(
        self, flt: EventFilter = ANY, *, offset: int = 0, limit: int = 100
    ) -> list[OperationRow]:
        """Operations matching ``flt`` (time range on last activity), most recent first."""
        if limit < 0 or offset < 0:
            raise ValueError("offset and limit must not be negative")
        where, params = self._event_where(flt, "updated_at")
        sql = (
            f"SELECT {', '.join(OPERATION_COLUMNS)} FROM sync_operations{where} "
            "ORDER BY updated_at DESC, id DESC LIMIT ? OFFSET ?"
        )
        rows = execute(self._db, sql, [*params, limit, offset]).fetchall()
        return [OperationRow._make(r) for r in rows]

    def operation(self, operation_id: str) -> OperationRow | None:
        sql = f"SELECT {', '.join(OPERATION_COLUMNS)} FROM sync_operations WHERE operation_id = ?"
        row = execute(self._db, sql, (operation_id,)).fetchone()
        return None if row is None else OperationRow._make(row)

    # ------------------------------------------------------------------ plots

    def series(self, start: float, end: float, bucket_s: float = 60.0) -> list[SeriesPoint]:
        """Per-bucket figures for ``[start, end)``, one point per bucket, for the plots.

        Read from the per-minute roll-up (``sync_minute_stats``), so a 30-day range costs
        43,200 small rows at most whatever the traffic; ``bucket_s`` is therefore a
        whole number of minutes, and each minute counts in the bucket its start falls in
        (a minute that starts before ``start`` in the first).
        """
        if not bucket_s >= 60 or bucket_s % 60:
            raise ValueError(f"bucket_s must be a whole number of minutes, got {bucket_s!r}")
        if end <= start:
            return []
        n = math.ceil((end - start) / bucket_s)
        if n > MAX_SERIES_POINTS:
            raise ValueError(
                f"{n} buckets requested; use a bucket of at least "
                f"{(end - start) / MAX_SERIES_POINTS:.0f} s for this range"
            )
        completed = [0] * n
        failed = [0] * n
        nbytes = [0.0] * n
        active: list[int | None] = [None] * n
        last_end: list[int | None] = [None] * n
        rows = execute(
            self._db,
            "SELECT minute, completed, failed, bytes_completed, peak_active, active_end "
            "FROM sync_minute_stats WHERE minute >= ? AND minute < ? ORDER BY minute",
            (math.floor(start / 60), math.ceil(end / 60)),
        )
        for minute, done, bad, nbytes_done, peak, active_end in rows:
            b = max(0, int((minute * 60 - start) // bucket_s))
            completed[b] += done
            failed[b] += bad
            nbytes[b] += nbytes_done
            if peak is not None:
                current = active[b]
                active[b] = peak if current is None else max(current, peak)
                last_end[b] = active_end
        # Between events the number of active operations does not change: carry it.
        before = execute(
            self._db,
            "SELECT active_end FROM sync_minute_stats WHERE minute < ? "
            "ORDER BY minute DESC LIMIT 1",
            (math.floor(start / 60),),
        ).fetchone()
        carried = before[0] if before is not None else None
        for i in range(n):
            if active[i] is None:
                active[i] = carried
            else:
                carried = last_end[i]
        latency = self._latency_series(start, end, bucket_s, n)
        connected = self._connected_series(start, end, bucket_s, n)
        per_min = 60.0 / bucket_s
        points = []
        for i in range(n):
            done, bad = completed[i], failed[i]
            points.append(
                SeriesPoint(
                    at=start + i * bucket_s,
                    completed=done,
                    failed=bad,
                    error_rate=bad / (done + bad) if done + bad else None,
                    throughput_ops_per_min=done * per_min,
                    throughput_bps=nbytes[i] / bucket_s,
                    active_ops=active[i],
                    latency_ms=latency[i],
                    connected=connected[i],
                )
            )
        return points

    def _latency_series(
        self, start: float, end: float, bucket_s: float, n: int
    ) -> list[float | None]:
        """The mean of the latency figures of health snapshots and connection changes in
        each bucket, carried forward from the last one for SNAPSHOT_CARRY_S (the health
        check samples every 2 minutes, the buckets may be 1 minute)."""
        total = [0.0] * n
        count = [0] * n
        rows = execute(
            self._db,
            "SELECT at, latency_ms FROM sync_status_snapshots "
            "WHERE at >= ? AND at < ? AND latency_ms IS NOT NULL UNION ALL "
            "SELECT at, latency_ms FROM connection_status "
            "WHERE at >= ? AND at < ? AND latency_ms IS NOT NULL ORDER BY at",
            (start - SNAPSHOT_CARRY_S, end, start - SNAPSHOT_CARRY_S, end),
        ).fetchall()
        for at, lat in rows:
            b = math.floor((at - start) / bucket_s)
            if b >= 0:
                total[b] += lat
                count[b] += 1
        latency: list[float | None] = [None] * n
        last: tuple[float, float] | None = None
        j = 0
        for i in range(n):
            bucket_start = start + i * bucket_s
            while j < len(rows) and rows[j][0] < bucket_start + bucket_s:
                last = rows[j]
                j += 1
            if count[i]:
                latency[i] = total[i] / count[i]
            elif last is not None and bucket_start - last[0] < SNAPSHOT_CARRY_S:
                latency[i] = last[1]
        return latency

    def _connected_series(self, start: float, end: float, bucket_s: float, n: int) -> list[bool]:
        """Whether the link was connected at any moment of each bucket."""
        before = execute(
            self._db,
            "SELECT state FROM connection_status WHERE at < ? ORDER BY at DESC, id DESC LIMIT 1",
            (start,),
        ).fetchone()
        up = before is not None and before[0] == "connected"
        connected = [False] * n
        changes = execute(
            self._db,
            "SELECT at, state FROM connection_status WHERE at >= ? AND at < ? ORDER BY at, id",
            (start, end),
        ).fetchall()
        i = 0
        for at, state in changes:
            b = min(n - 1, int((at - start) // bucket_s))
            while i < b:
                connected[i] = connected[i] or up
                i += 1
            connected[b] = connected[b] or up or state == "connected"
            up = state == "connected"
        while i < n:
            connected[i] = connected[i] or up
            i += 1
        return connected

    def snapshots(self, start: float, end: float, max_points: int = 2000) -> list[SnapshotRow]:
        """Health snapshots in ``[start, end)``; when there are more than ``max_points``,
        the means per equal time bucket (status: the bucket's latest)."""
        if max_points < 1:
            raise ValueError("max_points must be at least 1")
        fields = (
            "status, score, error_rate, avg_sync_time_s, active_ops, "
            "throughput_ops_per_min, throughput_bps, latency_ms"
        )
        (count,) = execute(
            self._db,
            "SELECT count(*) FROM sync_status_snapshots WHERE at >= ? AND at < ?",
            (start, end),
        ).fetchone()
        if count <= max_points:
            rows = execute(
                self._db,
                f"SELECT at, {fields} FROM sync_status_snapshots "
                "WHERE at >= ? AND at < ? ORDER BY at",
                (start, end),
            ).fetchall()
            return [SnapshotRow._make(r) for r in rows]
        width = (end - start) / max_points
        rows = execute(
            self._db,
            "SELECT max(at), status, avg(score), avg(error_rate), avg(avg_sync_time_s), "
            "avg(active_ops), avg(throughput_ops_per_min), avg(throughput_bps), "
            "avg(latency_ms) FROM sync_status_snapshots WHERE at >= ? AND at < ? "
            "GROUP BY CAST((at - ?) / ? AS INTEGER) ORDER BY 1",
            (start, end, start, width),
        ).fetchall()
        return [SnapshotRow._make(r) for r in rows]

    def totals(self, start: float, end: float) -> Totals:
        """Headline figures for ``[start, end)``, from the per-minute roll-up (so to the
        minute: every minute that overlaps the range counts)."""
        row = execute(
            self._db,
            "SELECT total(new_ops), total(completed), total(failed), total(cancelled), "
            "total(interrupted), total(duration_completed_s), max(peak_active) "
            "FROM sync_minute_stats WHERE minute >= ? AND minute < ?",
            (math.floor(start / 60), math.ceil(end / 60)),
        ).fetchone()
        new_ops, completed, failed, cancelled, interrupted, duration, peak = row
        before = execute(
            self._db,
            "SELECT active_end FROM sync_minute_stats WHERE minute < ? "
            "ORDER BY minute DESC LIMIT 1",
            (math.floor(start / 60),),
        ).fetchone()
        peak = max(peak or 0, before[0] or 0 if before else 0)
        settled = completed + failed + interrupted
        return Totals(
            operations=int(new_ops),
            completed=int(completed),
            failed=int(failed),
            cancelled=int(cancelled),
            interrupted=int(interrupted),
            success_rate=completed / settled if settled else None,
            avg_duration_s=duration / completed if completed else None,
            peak_concurrency=int(peak),
        )

    # ------------------------------------------------------------------ admin

    def cursor(self) -> tuple[str, int] | None:
        """The resume cursor: the hub log and the last seq the history covers."""
        row = execute(self._db, "SELECT hub_id, seq FROM resume_cursor WHERE id = 1").fetchone()
        return None if row is None else (str(row[0]), int(row[1]))

    def size_bytes(self) -> int:
        """The database file plus its write-ahead log, in bytes."""
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(FileNotFoundError):
                total += self.path.with_name(self.path.name + suffix).stat().st_size
        return total

    def database_info(self) -> DatabaseInfo:
        counts = {
            table: int(execute(self._db, f"SELECT count(*) FROM {table}").fetchone()[0])
            for table in TABLES
        }
        return DatabaseInfo(
            path=self.path,
            size_bytes=self.size_bytes(),
            schema_version=current_version(self._db),
            row_counts=counts,
            cursor=self.cursor(),
        )
