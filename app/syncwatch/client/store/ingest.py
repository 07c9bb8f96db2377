"""Folding the hub's updates and snapshots into the history tables, in bulk.

This is the writer's hot path (tens of thousands of updates a second), so it speaks
SQL through ``executemany`` instead of building one Peewee query per row: for a batch
it reads the touched operations once, folds every update in Python, then writes the
operations, the events and the resume cursor in one transaction.

What gets an event row (the audit trail):

* every status transition (including an operation's first sight, "None -> queued");
* a progress tick of an in-progress operation only when at least
  :data:`PROGRESS_SAMPLE_S` seconds (by the updates' own timestamps) or
  :data:`PROGRESS_SAMPLE_STEP` percentage points separate it from the last tick kept.
  At 10 ticks a second per operation this keeps ~1 row in 50: the history stays
  searchable for 30 days without growing by gigabytes;
* an operation set to ``interrupted`` by a resync (see :func:`apply_snapshot`).

The operation fields follow ``core.operations`` (the live view), so that the history
and the dashboard never disagree: ``started`` is the first time it was seen in
progress (kept across retries), a terminal -> active step is a new attempt, the error
is the one of the current status.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final, NamedTuple

import peewee

from syncwatch.client.store.schema import INTERRUPTED, execute, raw_cursor, write_transaction
from syncwatch.core.protocol import Snapshot, SyncUpdate

#: Keep a progress tick when this many seconds passed since the last one kept...
PROGRESS_SAMPLE_S: Final = 5.0
#: ...or when progress moved by this many percentage points.
PROGRESS_SAMPLE_STEP: Final = 10.0

_TERMINAL: Final = frozenset({"completed", "failed", "cancelled"})
_ACTIVE: Final = ("queued", "in_progress")
#: Variables per IN (...) list; SQLite allows far more, this keeps statements cached.
_CHUNK: Final = 500

_OP_COLUMNS: Final = (
    "operation_id",
    "operation_type",
    "status",
    "progress",
    "item",
    "source",
    "error",
    "bytes_done",
    "bytes_total",
    "attempts",
    "first_seen",
    "started",
    "ended",
    "duration_s",
    "updated_at",
    "last_seq",
    "hub_id",
    "sampled_at",
    "sampled_progress",
)
(
    _ID,
    _TYPE,
    _STATUS,
    _PROGRESS,
    _ITEM,
    _SOURCE,
    _ERROR,
    _BYTES_DONE,
    _BYTES_TOTAL,
    _ATTEMPTS,
    _FIRST_SEEN,
    _STARTED,
    _ENDED,
    _DURATION,
    _UPDATED,
    _LAST_SEQ,
    _HUB,
    _SAMPLED_AT,
    _SAMPLED_PROGRESS,
) = range(len(_OP_COLUMNS))

_SELECT_OPS: Final = f"SELECT {', '.join(_OP_COLUMNS)} FROM sync_operations WHERE operation_id IN "
_UPSERT_OP: Final = (
    f"INSERT INTO sync_operations ({', '.join(_OP_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_OP_COLUMNS))}) ON CONFLICT (operation_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _OP_COLUMNS[1:])
)
_INSERT_EVENT: Final = (
    "INSERT INTO sync_operation_events (operation_id, hub_id, seq, at, kind, from_status, "
    "status, operation_type, progress, item, error, bytes_done, source) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SET_CURSOR: Final = (
    "INSERT INTO resume_cursor (id, hub_id, seq, updated_at) VALUES (1, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET hub_id = excluded.hub_id, seq = excluded.seq, "
    "updated_at = excluded.updated_at"
)
_MINUTE_COLUMNS: Final = (
    "new_ops",
    "completed",
    "failed",
    "cancelled",
    "interrupted",
    "bytes_completed",
    "duration_completed_s",
)
_UPSERT_MINUTE: Final = (
    f"INSERT INTO sync_minute_stats (minute, {', '.join(_MINUTE_COLUMNS)}, peak_active, "
    "active_end) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (minute) DO UPDATE SET "
    + ", ".join(f"{c} = {c} + excluded.{c}" for c in _MINUTE_COLUMNS)
    + ", peak_active = max(coalesce(peak_active, 0), excluded.peak_active)"
    + ", active_end = excluded.active_end"
)
#: Index in a minute's tally list of each terminal status's counter.
_END_COUNTER: Final = {"completed": 1, "failed": 2, "cancelled": 3, INTERRUPTED: 4}
_ACTIVE_SET: Final = frozenset(_ACTIVE)
_INSERT_GAP: Final = (
    "INSERT INTO sync_gaps (hub_id, from_seq, to_seq, at, reason) VALUES (?, ?, ?, ?, ?)"
)

EventTuple = tuple[
    str,
    str,
    int | None,
    float,
    str,
    str | None,
    str,
    str,
    float,
    str | None,
    str | None,
    int | None,
    str | None,
]


def read_cursor(db: peewee.SqliteDatabase) -> tuple[str, int] | None:
    row = execute(db, "SELECT hub_id, seq FROM resume_cursor WHERE id = 1").fetchone()
    return None if row is None else (str(row[0]), int(row[1]))


def _load(db: peewee.SqliteDatabase, ids: Iterable[str]) -> dict[str, list[object]]:
    wanted = list(ids)
    found: dict[str, list[object]] = {}
    for i in range(0, len(wanted), _CHUNK):
        chunk = wanted[i : i + _CHUNK]
        sql = _SELECT_OPS + "(" + ",".join("?" * len(chunk)) + ")"
        for row in execute(db, sql, chunk):
            found[row[0]] = list(row)
    return found


class _Fold:
    """The operations touched by one transaction and the events it will append."""

    __slots__ = ("active", "changed", "events", "hub_id", "minutes", "ops")

    def __init__(self, hub_id: str, ops: dict[str, list[object]], active: int) -> None:
        self.hub_id = hub_id
        self.ops = ops
        self.changed: dict[str, list[object]] = {}
        self.events: list[EventTuple] = []
        #: Operations queued or in progress (all hubs), as of the newest folded update.
        self.active = active
        #: Per epoch minute: new ops, completed, failed, cancelled, interrupted, bytes
        #: completed, duration completed, peak active, active at the end.
        self.minutes: dict[int, list[float]] = {}

    def _tally(self, at: float, counter: int | None, op: list[object] | None) -> None:
        """Count a new operation (counter 0) or an end (1-4) in ``at``'s minute."""
        minute = int(at // 60)
        row = self.minutes.get(minute)
        if row is None:
            row = self.minutes[minute] = [0, 0, 0, 0, 0, 0, 0.0, 0, 0]
        if counter is not None:
            row[counter] += 1
            if counter == 1 and op is not None:
                row[5] += op[_BYTES_DONE] or 0  # type: ignore[operator]
                row[6] += op[_DURATION] or 0.0  # type: ignore[operator]
        row[7] = max(row[7], self.active)
        row[8] = self.active

    def step(self, u: SyncUpdate) -> None:
        """Fold one update; an update not newer than the operation's last one from the
        same hub log is a replay and changes nothing."""
        seq = u.seq
        if seq is None:
            raise ValueError(
                f"update for {u.operation_id!r} has no seq: only hub updates are stored"
            )
        ts = u.timestamp_us / 1_000_000
        status = u.status.value
        progress = u.progress
        op = self.ops.get(u.operation_id)
        if op is None:
            terminal = status in _TERMINAL
            op = [
                u.operation_id,
                u.operation_type,
                status,
                100.0 if status == "completed" else progress,
                u.item,
                u.source,
                u.error,
                u.bytes_total if status == "completed" and u.bytes_total else u.bytes_done,
                u.bytes_total,
                1,
                ts,
                ts if status == "in_progress" else None,
                ts if terminal else None,
                0.0 if terminal else None,
                ts,
                seq,
                self.hub_id,
                ts,
                progress,
            ]
            self.ops[u.operation_id] = op
            self.changed[u.operation_id] = op
            self._event(op, seq, ts, "transition", None)
            if status in _ACTIVE_SET:
                self.active += 1
            self._tally(ts, 0, None)
            if terminal:
                self._tally(ts, _END_COUNTER[status], op)
            return
        if op[_HUB] == self.hub_id and seq <= op[_LAST_SEQ]:  # type: ignore[operator]
            return
        prev_status = op[_STATUS]
        changed = status != prev_status
        terminal = status in _TERMINAL
        if prev_status in _TERMINAL and not terminal:
            op[_ATTEMPTS] = op[_ATTEMPTS] + 1  # type: ignore[operator]
        if op[_STARTED] is None and status == "in_progress":
            op[_STARTED] = ts
        if terminal:
            if prev_status not in _TERMINAL:
                op[_ENDED] = ts
            start = op[_STARTED] if op[_STARTED] is not None else op[_FIRST_SEEN]
            op[_DURATION] = max(0.0, op[_ENDED] - start)  # type: ignore[operator]
        else:
            op[_ENDED] = None
            op[_DURATION] = None
        if u.error is not None or changed:
            op[_ERROR] = u.error
        if u.item is not None:
            op[_ITEM] = u.item
        if u.source is not None:
            op[_SOURCE] = u.source
        if u.bytes_total is not None:
            op[_BYTES_TOTAL] = u.bytes_total
        if u.bytes_done is not None:
            op[_BYTES_DONE] = u.bytes_done
        if status == "completed":
            progress = 100.0
            if op[_BYTES_TOTAL] is not None:
                op[_BYTES_DONE] = op[_BYTES_TOTAL]
        op[_TYPE] = u.operation_type
        op[_STATUS] = status
        op[_PROGRESS] = progress
        op[_UPDATED] = ts
        op[_LAST_SEQ] = seq
        op[_HUB] = self.hub_id
        self.changed[u.operation_id] = op
        if changed:
            self._event(op, seq, ts, "transition", prev_status)  # type: ignore[arg-type]
            self.active += (status in _ACTIVE_SET) - (prev_status in _ACTIVE_SET)
            self._tally(ts, _END_COUNTER.get(status), op)
        elif status == "in_progress" and (
            ts - op[_SAMPLED_AT] >= PROGRESS_SAMPLE_S  # type: ignore[operator]
            or abs(progress - op[_SAMPLED_PROGRESS]) >= PROGRESS_SAMPLE_STEP  # type: ignore[operator]
        ):
            self._event(op, seq, ts, "progress", prev_status)  # type: ignore[arg-type]

    def interrupt(self, op: list[object], now: float) -> None:
        """Mark an in-flight operation that nobody can account for any more."""
        prev_status = op[_STATUS]
        op[_STATUS] = INTERRUPTED
        op[_ENDED] = now
        start = op[_STARTED] if op[_STARTED] is not None else op[_FIRST_SEEN]
        op[_DURATION] = max(0.0, now - start)  # type: ignore[operator]
        op[_UPDATED] = now
        op[_ERROR] = "interrupted: the hub no longer knew this operation after a resync"
        self.changed[op[_ID]] = op  # type: ignore[index]
        self._event(op, None, now, "interrupted", prev_status)  # type: ignore[arg-type]
        self.active -= prev_status in _ACTIVE_SET
        self._tally(now, _END_COUNTER[INTERRUPTED], op)

    def _event(
        self, op: list[object], seq: int | None, at: float, kind: str, from_status: str | None
    ) -> None:
        if kind != "interrupted":
            op[_SAMPLED_AT] = at
            op[_SAMPLED_PROGRESS] = op[_PROGRESS]
        self.events.append(
            (
                op[_ID],
                op[_HUB],
                seq,
                at,
                kind,
                from_status,
                op[_STATUS],
                op[_TYPE],
                op[_PROGRESS],
                op[_ITEM],
                op[_ERROR],
                op[_BYTES_DONE],
                op[_SOURCE],
            )  # type: ignore[arg-type]
        )

    def write(self, db: peewee.SqliteDatabase) -> None:
        cursor = raw_cursor(db)
        if self.changed:
            cursor.executemany(_UPSERT_OP, list(self.changed.values()))
        if self.events:
            cursor.executemany(_INSERT_EVENT, self.events)
        if self.minutes:
            cursor.executemany(
                _UPSERT_MINUTE, [(minute, *row) for minute, row in self.minutes.items()]
            )


class Applied(NamedTuple):
    """What one committed write changed: for the store's in-memory copies."""

    #: Updates stored (not skipped as replays).
    new: int
    cursor: tuple[str, int] | None
    #: Operations queued or in progress after the write.
    active: int


def count_active(db: peewee.SqliteDatabase) -> int:
    sql = "SELECT count(*) FROM sync_operations WHERE status IN (?, ?)"
    return int(execute(db, sql, _ACTIVE).fetchone()[0])


def apply_updates(
    db: peewee.SqliteDatabase,
    hub_id: str,
    updates: Sequence[SyncUpdate],
    now: float,
    *,
    active: int,
) -> Applied:
    """Store ``updates`` from the log ``hub_id`` and move the cursor past them, in one
    transaction; updates at or below the cursor are skipped. ``active`` is the number of
    queued or in-progress operations before (see ``sync_minute_stats``)."""
    if not hub_id:
        raise ValueError("hub_id must not be empty")
    with write_transaction(db):
        stored = read_cursor(db)
        floor = stored[1] if stored is not None and stored[0] == hub_id else 0
        fresh = [u for u in updates if u.seq is None or u.seq > floor]
        if not fresh:
            return Applied(0, stored, active)
        fold = _Fold(hub_id, _load(db, {u.operation_id for u in fresh}), active)
        for u in fresh:
            fold.step(u)
        fold.write(db)
        top = max(u.seq for u in fresh if u.seq is not None)
        if stored is not None and stored[0] != hub_id:
            execute(db, _INSERT_GAP, (hub_id, stored[1], top, now, "hub_changed"))
        cursor = (hub_id, max(top, floor))
        execute(db, _SET_CURSOR, (*cursor, now))
        return Applied(len(fresh), cursor, fold.active)


def apply_snapshot(
    db: peewee.SqliteDatabase,
    hub_id: str,
    snapshot: Snapshot,
    gap_from: int | None,
    now: float,
    *,
    active: int,
) -> Applied:
    """Reconcile the history with the hub's full state after a resync, in one transaction.

    Operations in the snapshot are folded like updates. Operations the history holds as
    queued or in progress that the snapshot does not know finished while nobody was
    listening, or were lost by the hub: they become ``interrupted`` (with an event), so
    nothing in flight silently vanishes. A ``sync_gaps`` row records that the history
    has a hole (``gap_from`` is the last seq seen before it) or that the hub changed.
    """
    if not hub_id:
        raise ValueError("hub_id must not be empty")
    with write_transaction(db):
        stored = read_cursor(db)
        known = {u.operation_id for u in snapshot.operations}
        in_flight = [
            row[0]
            for row in execute(
                db, "SELECT operation_id FROM sync_operations WHERE status IN (?, ?)", _ACTIVE
            )
        ]
        fold = _Fold(hub_id, _load(db, known | set(in_flight)), active)
        for u in sorted(snapshot.operations, key=lambda u: u.seq or 0):
            fold.step(u)
        for operation_id in in_flight:
            if operation_id not in known:
                fold.interrupt(fold.ops[operation_id], now)
        fold.write(db)
        hub_changed = stored is not None and stored[0] != hub_id
        if gap_from is not None or hub_changed:
            from_seq = gap_from if gap_from is not None else stored[1] if stored else None
            reason = "hub_changed" if hub_changed else "gap"
            execute(db, _INSERT_GAP, (hub_id, from_seq, snapshot.seq, now, reason))
        execute(db, _SET_CURSOR, (hub_id, snapshot.seq, now))
        return Applied(len(snapshot.operations), (hub_id, snapshot.seq), fold.active)
