"""StoreWriter: one thread, group commit, flush/close, errors surfaced, reads beside it."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncwatch.client.store import EventFilter, HistoryStore, StoreWriter
from syncwatch.core.protocol import Snapshot, SyncUpdate
from tests.client.store_support import T0, Health, upd


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    s = HistoryStore(tmp_path / "history.db", clock=lambda: T0 + 10_000)
    yield s
    s.close()


def test_queued_batches_are_committed_together_and_in_order(store: HistoryStore) -> None:
    writer = StoreWriter(store)
    try:
        # Hold the writer inside its first transaction so the rest queues up behind it.
        gate = threading.Event()
        original = store.apply_updates

        def slow_apply(hub_id: str, updates: object) -> int:
            gate.wait(5)
            return original(hub_id, updates)  # type: ignore[arg-type]

        store.apply_updates = slow_apply  # type: ignore[method-assign]
        seq = 0
        for n in range(200):
            batch: list[SyncUpdate] = []
            for _ in range(5):
                seq += 1
                batch.append(upd(f"op{n}", "queued" if not batch else "in_progress", seq, T0 + n))
            writer.submit_updates("hub-a", batch)
        writer.submit_snapshot("hub-a", Snapshot(seq=seq, operations=()), gap_from=None)
        writer.submit_health(Health(at=T0 + 300))
        gate.set()
        assert writer.flush(10)
        assert writer.last_error is None
        assert writer.transactions <= 3  # 200 batches, but committed as 1-2 transactions
        assert store.cursor() == ("hub-a", 1000)
        # The snapshot came after every update: none of them was mistaken for lost.
        assert store.count_events(EventFilter(statuses=frozenset({"interrupted"}))).value == 200
        assert len(store.snapshots(T0, T0 + 400)) == 1
    finally:
        assert writer.close(10)


def test_close_commits_everything_submitted(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    store = HistoryStore(path)
    writer = StoreWriter(store)
    for n in range(1, 5001):
        writer.submit_updates("hub-a", [upd(f"op{n}", "queued", n, T0 + n)])
    assert writer.close(30)
    store.close()
    reopened = HistoryStore(path)
    assert reopened.cursor() == ("hub-a", 5000)
    assert reopened.count_events().value == 5000
    reopened.close()
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit_updates("hub-a", [upd("late", "queued", 5001, T0)])


def test_a_failed_write_is_surfaced_and_the_writer_goes_on(store: HistoryStore) -> None:
    seen: list[BaseException] = []
    writer = StoreWriter(store, on_error=seen.append)
    try:
        writer.submit_updates("hub-a", [upd("op1", "queued", 1, T0)._replace(seq=None)])
        assert writer.flush(5)
        assert writer.error_count == 1
        assert isinstance(writer.last_error, ValueError)
        assert seen == [writer.last_error]
        writer.submit_updates("hub-b", [upd("op2", "queued", 1, T0)])
        assert writer.flush(5)
        assert store.cursor() == ("hub-b", 1)
        assert writer.error_count == 1
    finally:
        writer.close(5)


def test_cleanup_runs_in_batches_between_updates(store: HistoryStore) -> None:
    old = [upd(f"old{n}", "completed", n, T0 + n) for n in range(1, 12_001)]
    store.apply_updates("hub-a", old)
    writer = StoreWriter(store)
    try:
        future = writer.submit_cleanup(T0 + 40 * 86_400, operations_days=30)
        writer.submit_updates("hub-a", [upd("new", "queued", 12_001, T0 + 40 * 86_400)])
        result = future.result(10)
        assert (result.events, result.operations) == (12_000, 12_000)
        assert writer.flush(5)
        assert store.count_events().value == 1
        writer.submit_compact().result(10)
    finally:
        writer.close(5)


def test_a_reader_queries_while_the_writer_commits(store: HistoryStore) -> None:
    writer = StoreWriter(store)
    reader = store.reader()
    try:
        counts = []
        for chunk in range(20):
            base = chunk * 500
            writer.submit_updates(
                "hub-a", [upd(f"op{base + n}", "queued", base + n, T0) for n in range(1, 501)]
            )
            counts.append(reader.count_events().value)
        assert writer.flush(10)
        assert counts == sorted(counts)  # a reader sees whole transactions, growing
        assert reader.count_events().value == 10_000
        assert reader.cursor() == ("hub-a", 10_000)
    finally:
        reader.close()
        writer.close(5)


def test_pending_updates_and_commit_callbacks_follow_the_writer(tmp_path: Path) -> None:
    """updates_pending counts what is submitted and not settled; the commit callback fires
    on the writer thread once each write is settled, with the backlog already lowered."""
    path = tmp_path / "history.db"
    store = HistoryStore(path)
    writer = StoreWriter(store)
    seen: list[tuple[str, int]] = []

    def on_commit() -> None:
        seen.append((threading.current_thread().name, writer.updates_pending))

    writer.set_on_commit(on_commit)
    # Another connection holds the write lock: the writer waits inside its transaction.
    blocker = sqlite3.connect(path)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        seq = 0
        for n in range(30):
            batch = []
            for status in ("queued", "in_progress", "completed"):
                seq += 1
                batch.append(upd(f"op{n}", status, seq, T0 + n))
            writer.submit_updates("hub-a", batch)
        assert writer.updates_pending == 90
        assert seen == []
    finally:
        blocker.rollback()
        blocker.close()
    try:
        assert writer.flush(10)
        assert writer.updates_pending == 0
        assert seen, "no commit callback"
        assert {name for name, _ in seen} == {"syncwatch-store-writer"}
        assert seen[-1][1] == 0
        assert store.cursor() == ("hub-a", 90)
        calls = len(seen)
        writer.set_on_commit(None)
        writer.submit_updates("hub-a", [upd("op-late", "queued", 91, T0 + 99)])
        assert writer.flush(10)
        assert store.cursor() == ("hub-a", 91)
        assert len(seen) == calls  # removed: not called any more
    finally:
        assert writer.close(10)
        store.close()


def _hold_write_lock(path: Path) -> sqlite3.Connection:
    """Another process's connection holding the database's write lock (as a backup tool
    or a second program would), until it is rolled back."""
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    return blocker


def test_a_write_refused_past_the_busy_timeout_is_retried_and_nothing_is_lost(
    tmp_path: Path,
) -> None:
    """The lock is held for longer than the 5 s busy timeout: SQLite refuses the
    transaction ("database is locked"). Before, the writer logged it and went on with the
    next batch, whose cursor then passed updates that were never stored."""
    path = tmp_path / "history.db"
    store = HistoryStore(path)
    seen: list[BaseException] = []
    writer = StoreWriter(store, on_error=seen.append)
    blocker = _hold_write_lock(path)
    try:
        for n in range(1, 11):
            writer.submit_updates("hub-a", [upd(f"op{n}", "queued", n, T0 + n)])
        deadline = time.monotonic() + 20
        while writer.error_count == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert writer.error_count >= 1, "the lock was never refused"
        assert "database is locked" in str(writer.last_error)
        assert len(seen) == 1, "a run of refusals is reported once"
        for n in range(11, 21):  # arrive while the first batch waits: they queue behind it
            writer.submit_updates("hub-a", [upd(f"op{n}", "queued", n, T0 + n)])
        assert store.cursor() is None
        assert writer.updates_pending == 20
    finally:
        blocker.rollback()
        blocker.close()
    try:
        assert writer.flush(20)
        assert store.cursor() == ("hub-a", 20)
        assert store.count_events().value == 20
        assert writer.updates_pending == 0
    finally:
        assert writer.close(10)
        store.close()


def test_quitting_while_writes_are_refused_leaves_the_cursor_before_what_was_not_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "history.db"
    store = HistoryStore(path)
    writer = StoreWriter(store)
    writer.submit_updates("hub-a", [upd("op1", "queued", 1, T0)])
    assert writer.flush(10)
    blocker = _hold_write_lock(path)
    try:
        writer.submit_updates("hub-a", [upd("op2", "queued", 2, T0)])
        deadline = time.monotonic() + 20
        while writer.error_count == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert writer.error_count >= 1
        writer.submit_updates("hub-a", [upd("op3", "queued", 3, T0)])
        assert writer.close(20), "close() must not wait for the lock for ever"
        assert writer.updates_pending == 0
    finally:
        blocker.rollback()
        blocker.close()
    store.close()
    reopened = HistoryStore(path)
    try:
        # op3 was never written either: a cursor at 3 would hide op2 for good.
        assert reopened.cursor() == ("hub-a", 1)
        assert reopened.count_events().value == 1
    finally:
        reopened.close()
