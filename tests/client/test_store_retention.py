"""Retention: old history goes, recent history stays, the file stays bounded."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncwatch.client.store import HistoryStore
from syncwatch.core.connection import ConnectionState, ConnectionStatus
from tests.client.store_support import T0, Health, lifecycle_stream, upd

DAY = 86_400.0


def test_cleanup_deletes_old_rows_and_keeps_recent_ones(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "history.db", clock=lambda: T0 + 100 * DAY)
    try:
        store.apply_updates(
            "hub-a",
            [
                upd("old", "completed", 1, T0 + 60 * DAY),  # 40 days ago
                upd("recent", "completed", 2, T0 + 80 * DAY),  # 20 days ago
                upd("old-but-active", "in_progress", 3, T0 + 65 * DAY),
                upd("old-but-active", "in_progress", 4, T0 + 95 * DAY, 50),  # touched lately
            ],
        )
        url = "ws://127.0.0.1:1"
        for day in (5, 50):  # 95 and 50 days ago
            store.record_health_snapshot(Health(at=T0 + day * DAY))
            store.record_connection(
                ConnectionStatus(ConnectionState.CONNECTED, url, T0 + day * DAY), None
            )
        result = store.cleanup()
        assert (result.operations, result.events) == (1, 2)
        assert (result.snapshots, result.connection_status) == (1, 1)
        assert store.operation("old") is None
        assert store.operation("recent") is not None
        assert store.operation("old-but-active") is not None
        assert len(store.snapshots(T0, T0 + 100 * DAY)) == 1
        assert store.cleanup().total == 0
        with pytest.raises(ValueError, match="operations_days"):
            store.cleanup(operations_days=0)
    finally:
        store.close()


def test_the_file_stays_bounded_when_cleanup_runs_daily(tmp_path: Path) -> None:
    now = [T0]
    store = HistoryStore(tmp_path / "history.db", clock=lambda: now[0])
    sizes = []
    try:
        seq = 1
        for day in range(12):
            # 10,000 updates a day, then the daily retention run with a 3-day window.
            day_updates = [
                u._replace(timestamp_us=u.timestamp_us + round(day * DAY * 1e6))
                for u in lifecycle_stream(10_000, start_seq=seq)
            ]
            day_updates = [u._replace(operation_id=f"d{day}-{u.operation_id}") for u in day_updates]
            store.apply_updates("hub-a", day_updates)
            seq += 10_000
            now[0] = T0 + (day + 1) * DAY
            store.cleanup(operations_days=3, snapshots_days=3)
            store.compact()
            sizes.append(store.size_bytes())
        counts = store.database_info().row_counts
        assert counts["sync_operation_events"] == 3 * 10_000
        assert counts["sync_operations"] == 3 * 2_000
        # After the window fills up (day 3), the file no longer grows.
        assert max(sizes[4:]) <= sizes[3] * 1.1
    finally:
        store.close()
