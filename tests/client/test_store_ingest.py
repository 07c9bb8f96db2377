"""HistoryStore writes: operations, the audit trail, the cursor, snapshots and gaps."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncwatch.client.store import EventFilter, HistoryStore
from syncwatch.client.store.ingest import PROGRESS_SAMPLE_S
from syncwatch.client.store.schema import execute
from syncwatch.core.connection import ConnectionState, ConnectionStatus, LatencyStats
from syncwatch.core.protocol import Snapshot
from tests.client.store_support import T0, Health, upd


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    s = HistoryStore(tmp_path / "history.db", clock=lambda: T0 + 1000)
    yield s
    s.close()


def _transitions(store: HistoryStore, operation_id: str) -> list[tuple[str | None, str, str]]:
    rows = store.query_events(EventFilter(text=operation_id), limit=1000)
    return [(r.from_status, r.status, r.kind) for r in reversed(rows)]


def test_lifecycle_gives_one_operation_row_and_every_transition(store: HistoryStore) -> None:
    updates = [
        upd("op1", "queued", 1, T0, bytes_total=1000),
        upd("op1", "in_progress", 2, T0 + 1, 10, bytes_done=100),
        upd("op1", "in_progress", 3, T0 + 2, 12, bytes_done=120),  # sampled away
        upd("op1", "failed", 4, T0 + 3, 12, error="disk full"),
        upd("op1", "in_progress", 5, T0 + 10, 50),  # retry
        upd("op1", "completed", 6, T0 + 14, 100),
    ]
    assert store.apply_updates("hub-a", updates) == 6

    op = store.operation("op1")
    assert op is not None
    assert (op.status, op.attempts, op.progress) == ("completed", 2, 100.0)
    assert op.first_seen == T0
    assert op.started == T0 + 1  # first start, kept across the retry
    assert op.ended == T0 + 14
    assert op.duration_s == pytest.approx(13.0)
    assert op.bytes_done == op.bytes_total == 1000
    assert op.error is None  # the failure belonged to the failed status
    assert op.last_seq == 6
    assert _transitions(store, "op1") == [
        (None, "queued", "transition"),
        ("queued", "in_progress", "transition"),
        ("in_progress", "failed", "transition"),
        ("failed", "in_progress", "transition"),
        ("in_progress", "completed", "transition"),
    ]
    failed = store.query_events(EventFilter(statuses=frozenset({"failed"})))
    assert [(e.error, e.seq) for e in failed] == [("disk full", 4)]
    assert store.cursor() == ("hub-a", 6)


def test_progress_ticks_are_sampled_by_time_and_by_step(store: HistoryStore) -> None:
    ticks = [upd("op1", "in_progress", 1, T0, 0.0)]
    # 0.5 s apart, +1 % each: a tick is kept every 10 points (5 s would come later).
    ticks += [upd("op1", "in_progress", n + 1, T0 + n * 0.5, float(n)) for n in range(1, 31)]
    # then slow: 0.1 % per tick, 1 s apart: kept every PROGRESS_SAMPLE_S seconds.
    ticks += [upd("op1", "in_progress", 32 + n, T0 + 16 + n, 30 + n * 0.1) for n in range(0, 20)]
    store.apply_updates("hub-a", ticks)
    kept = [e for e in store.query_events(EventFilter(), limit=1000) if e.kind == "progress"]
    kept_progress = sorted(e.progress for e in kept)
    assert kept_progress[:3] == [10.0, 20.0, 30.0]
    slow = sorted(e.at for e in kept if e.at >= T0 + 16)
    assert all(b - a >= PROGRESS_SAMPLE_S for a, b in itertools.pairwise(slow))
    assert 2 <= len(slow) <= 4
    assert len(kept) + 1 < len(ticks) / 5  # far fewer rows than ticks


def test_redelivered_updates_are_stored_once(store: HistoryStore) -> None:
    first = [upd(f"op{n}", "queued", n, T0 + n) for n in range(1, 11)]
    assert store.apply_updates("hub-a", first) == 10
    again = [*first[5:], upd("op11", "queued", 11, T0 + 11)]
    assert store.apply_updates("hub-a", again) == 1
    assert store.apply_updates("hub-a", first) == 0
    assert store.count_events().value == 11
    assert store.cursor() == ("hub-a", 11)


def test_a_new_hub_log_starts_a_new_cursor_and_marks_a_gap(store: HistoryStore) -> None:
    store.apply_updates("hub-a", [upd("op1", "in_progress", 500, T0)])
    assert store.apply_updates("hub-b", [upd("op1", "completed", 3, T0 + 5)]) == 1
    assert store.cursor() == ("hub-b", 3)
    op = store.operation("op1")
    assert op is not None
    assert op.status == "completed"
    assert store.database_info().row_counts["sync_gaps"] == 1


def test_update_without_seq_is_refused(store: HistoryStore) -> None:
    bad = upd("op1", "queued", 1, T0)._replace(seq=None)
    with pytest.raises(ValueError, match="no seq"):
        store.apply_updates("hub-a", [bad])
    assert store.cursor() is None
    assert store.count_events().value == 0


def test_snapshot_interrupts_in_flight_operations_it_does_not_know(store: HistoryStore) -> None:
    store.apply_updates(
        "hub-a",
        [
            upd("kept", "in_progress", 1, T0, 10),
            upd("lost", "in_progress", 2, T0, 20),
            upd("done", "completed", 3, T0, 100),
        ],
    )
    snapshot = Snapshot(seq=40, operations=(upd("kept", "in_progress", 39, T0 + 30, 90),))
    store.apply_snapshot("hub-a", snapshot, gap_from=3)

    lost = store.operation("lost")
    assert lost is not None
    assert lost.status == "interrupted"
    assert lost.ended == T0 + 1000
    kept = store.operation("kept")
    assert kept is not None
    assert (kept.status, kept.progress) == ("in_progress", 90.0)
    done = store.operation("done")
    assert done is not None
    assert done.status == "completed"
    interrupted = store.query_events(EventFilter(statuses=frozenset({"interrupted"})))
    assert [(e.operation_id, e.from_status, e.kind) for e in interrupted] == [
        ("lost", "in_progress", "interrupted")
    ]
    assert store.cursor() == ("hub-a", 40)
    gaps = execute(store._db, "SELECT hub_id, from_seq, to_seq, reason FROM sync_gaps")
    assert list(gaps) == [("hub-a", 3, 40, "gap")]


def test_snapshot_from_another_hub_marks_the_change(store: HistoryStore) -> None:
    store.apply_updates("hub-a", [upd("op1", "queued", 7, T0)])
    store.apply_snapshot("hub-b", Snapshot(seq=2, operations=()), gap_from=None)
    gaps = execute(store._db, "SELECT hub_id, from_seq, to_seq, reason FROM sync_gaps")
    assert list(gaps) == [("hub-b", 7, 2, "hub_changed")]
    assert store.cursor() == ("hub-b", 2)
    # An update of the new log with a low seq is not mistaken for a replay.
    assert store.apply_updates("hub-b", [upd("op1", "in_progress", 3, T0 + 9)]) == 1


def test_connection_changes_and_health_snapshots_are_recorded(store: HistoryStore) -> None:
    status = ConnectionStatus(ConnectionState.CONNECTED, "ws://127.0.0.1:1", T0, hub_id="h")
    store.record_connection(status, LatencyStats(current_ms=4.0, avg_ms=5.0, p95_ms=9.0))
    down = ConnectionStatus(ConnectionState.RECONNECTING, "ws://127.0.0.1:1", T0 + 60, attempt=1)
    store.record_connection(down, None)
    store.record_health_snapshot(Health(at=T0 + 120, status="warning", score=61.0))
    rows = list(execute(store._db, "SELECT state, latency_ms FROM connection_status ORDER BY at"))
    assert rows == [("connected", 4.0), ("reconnecting", None)]
    (snap,) = store.snapshots(T0, T0 + 200)
    assert (snap.status, snap.score, snap.active_ops) == ("warning", 61.0, 2)
