"""HistoryStore: the durable history of sync operations, written by one thread.

Opening it creates or migrates the database, or sets a damaged file aside and starts
fresh (``recovered_from`` and ``recovery_message`` tell the UI). Every write method is
one transaction and is meant to be called by one thread only, the ``StoreWriter``'s;
queries from the GUI go through :meth:`reader`, a separate connection.

The guarantee the client's resume logic builds on: the resume cursor is written in the
same transaction as the rows of the updates it covers. After a crash at any moment the
file holds exactly the updates up to :meth:`cursor`, so subscribing from there and
applying what arrives stores each update exactly once (updates at or below the cursor
are skipped, should the hub or the client send them again).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import peewee

from syncwatch.client.store import ingest, retention
from syncwatch.client.store.queries import HistoryReader
from syncwatch.client.store.recovery import open_or_recover
from syncwatch.client.store.rows import CleanupResult, HealthSnapshotLike
from syncwatch.client.store.schema import execute, write_transaction
from syncwatch.core.connection import ConnectionStatus, LatencyStats
from syncwatch.core.protocol import Snapshot, SyncUpdate

#: Retention defaults (days), as the settings offer them.
DEFAULT_OPERATIONS_DAYS = 30.0
DEFAULT_SNAPSHOTS_DAYS = 90.0


class HistoryStore(HistoryReader):
    """The history database, opened for writing.

    Writes and queries on this object use one connection: call them from one thread at
    a time (the StoreWriter's, once it runs). :meth:`cursor`, :meth:`size_bytes` and
    :meth:`reader` are safe from any thread."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        #: Wall-clock time source (epoch seconds), injected for tests.
        self._clock = clock
        opened = open_or_recover(path, clock())
        self._db = opened.db
        #: Where a damaged file was moved to when opening, else None.
        self.recovered_from: Path | None = opened.recovered_from
        #: A sentence for the UI explaining the recovery, else None.
        self.recovery_message: str | None = opened.message
        #: The schema version the file had before this open migrated it (0: new file).
        self.found_version = opened.found_version
        #: The committed resume cursor, kept in memory so that any thread may read it.
        self._cursor = ingest.read_cursor(self._db)
        #: Operations queued or in progress, kept for the per-minute concurrency roll-up.
        self._active = ingest.count_active(self._db)

    def reader(self) -> HistoryReader:
        """A separate read connection for another thread (e.g. the GUI's query worker)."""
        return HistoryReader(self.path)

    # ------------------------------------------------------------------ updates

    def apply_updates(self, hub_id: str, updates: Sequence[SyncUpdate]) -> int:
        """Store hub updates and advance the cursor, in one transaction; updates at or
        below the cursor of the same hub log are skipped. Returns how many were new."""
        applied = ingest.apply_updates(
            self._db, hub_id, updates, self._clock(), active=self._active
        )
        self._cursor, self._active = applied.cursor, applied.active
        return applied.new

    def apply_snapshot(self, hub_id: str, snapshot: Snapshot, gap_from: int | None = None) -> None:
        """Reconcile with a full snapshot after a (re)subscribe; see ``ingest.apply_snapshot``."""
        applied = ingest.apply_snapshot(
            self._db, hub_id, snapshot, gap_from, self._clock(), active=self._active
        )
        self._cursor, self._active = applied.cursor, applied.active

    def cursor(self) -> tuple[str, int] | None:
        """The resume cursor as last committed (hub_id, seq); safe to call from any
        thread, and never ahead of what a crash would leave on disk."""
        return self._cursor

    # ------------------------------------------------------------------ link and health

    def record_connection(self, status: ConnectionStatus, latency: LatencyStats | None) -> None:
        """Append a connection state change (at ``status.since``) with latency figures."""
        lat = latency or LatencyStats()
        with write_transaction(self._db):
            execute(
                self._db,
                "INSERT INTO connection_status (at, state, hub_url, attempt, reason, hub_id, "
                "latency_ms, latency_avg_ms, latency_p95_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    status.since,
                    status.state.value,
                    status.hub_url,
                    status.attempt,
                    status.reason,
                    status.hub_id,
                    lat.current_ms,
                    lat.avg_ms,
                    lat.p95_ms,
                ),
            )

    def record_health_snapshot(self, snapshot: HealthSnapshotLike) -> None:
        """Append one periodic health check's findings."""
        status = snapshot.status
        with write_transaction(self._db):
            execute(
                self._db,
                "INSERT INTO sync_status_snapshots (at, status, score, error_rate, "
                "avg_sync_time_s, active_ops, throughput_ops_per_min, throughput_bps, "
                "latency_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    snapshot.at,
                    str(getattr(status, "value", status)),
                    snapshot.score,
                    snapshot.error_rate,
                    snapshot.avg_sync_time_s,
                    snapshot.active_ops,
                    snapshot.throughput_ops_per_min,
                    snapshot.throughput_bps,
                    snapshot.latency_ms,
                ),
            )

    # ------------------------------------------------------------------ maintenance

    def cleanup(
        self,
        now: float | None = None,
        *,
        operations_days: float = DEFAULT_OPERATIONS_DAYS,
        snapshots_days: float = DEFAULT_SNAPSHOTS_DAYS,
    ) -> CleanupResult:
        """Delete history older than the retention windows (in batches); counts deleted."""
        result = CleanupResult()
        for step in self.cleanup_steps(
            now, operations_days=operations_days, snapshots_days=snapshots_days
        ):
            result = step
        return result

    def cleanup_steps(
        self,
        now: float | None = None,
        *,
        operations_days: float = DEFAULT_OPERATIONS_DAYS,
        snapshots_days: float = DEFAULT_SNAPSHOTS_DAYS,
    ) -> Iterator[CleanupResult]:
        """:meth:`cleanup` one batch per step, for a writer that interleaves other work."""
        yield from retention.cleanup_steps(
            self._db,
            self._clock() if now is None else now,
            operations_days=operations_days,
            snapshots_days=snapshots_days,
        )
        # Stale in-flight operations may have gone: recount what is active.
        self._active = ingest.count_active(self._db)

    def close(self) -> None:
        """Refresh the query planner's statistics if they are stale, then close."""
        with contextlib.suppress(peewee.DatabaseError):
            execute(self._db, "PRAGMA optimize")
        super().close()

    def compact(self) -> None:
        """Give the space of deleted rows back to the file system (VACUUM) and empty the WAL."""
        execute(self._db, "VACUUM")
        execute(self._db, "PRAGMA wal_checkpoint(TRUNCATE)")
