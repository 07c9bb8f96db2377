"""Retention: deleting history older than the configured window, a batch at a time.

Each step deletes at most :data:`BATCH_ROWS` rows in its own short transaction, so the
writer thread can commit incoming updates between steps (see ``StoreWriter``) instead
of stalling behind one huge DELETE.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Final

import peewee

from syncwatch.client.store.rows import CleanupResult
from syncwatch.client.store.schema import execute, write_transaction

BATCH_ROWS: Final = 5000
_DAY: Final = 86_400.0

# (CleanupResult field, table, key, time column, seconds per unit of the time column);
# every time column is indexed (or the key).
_OPERATION_TABLES: Final = (
    ("events", "sync_operation_events", "id", "at", 1),
    ("operations", "sync_operations", "id", "updated_at", 1),
)
_SNAPSHOT_TABLES: Final = (
    ("snapshots", "sync_status_snapshots", "id", "at", 1),
    ("connection_status", "connection_status", "id", "at", 1),
    ("gaps", "sync_gaps", "id", "at", 1),
    ("minute_stats", "sync_minute_stats", "minute", "minute", 60),
)


def validate_days(operations_days: float, snapshots_days: float) -> None:
    for name, value in (("operations_days", operations_days), ("snapshots_days", snapshots_days)):
        if not value > 0:
            raise ValueError(f"{name} must be a positive number of days, got {value!r}")


def cleanup_steps(
    db: peewee.SqliteDatabase,
    now: float,
    *,
    operations_days: float,
    snapshots_days: float,
    batch_rows: int = BATCH_ROWS,
) -> Iterator[CleanupResult]:
    """Delete old rows one batch per step; each yielded value is the running total.

    Operations (and their events) go after ``operations_days`` without activity; health
    snapshots, connection changes, gap markers and the per-minute roll-up (which the
    long-range plots read) after ``snapshots_days``."""
    validate_days(operations_days, snapshots_days)
    result = CleanupResult()
    plan = [(t, now - operations_days * _DAY) for t in _OPERATION_TABLES] + [
        (t, now - snapshots_days * _DAY) for t in _SNAPSHOT_TABLES
    ]
    for (name, table, key, column, unit), cutoff in plan:
        sql = (
            f"DELETE FROM {table} WHERE {key} IN "
            f"(SELECT {key} FROM {table} WHERE {column} < ? ORDER BY {column} LIMIT ?)"
        )
        while True:
            with write_transaction(db):
                deleted = execute(db, sql, (cutoff / unit, batch_rows)).rowcount
            result = dataclasses.replace(result, **{name: getattr(result, name) + deleted})
            yield result
            if deleted < batch_rows:
                break
