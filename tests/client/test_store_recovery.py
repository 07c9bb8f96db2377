"""The key guarantee: after kill -9 mid-stream the history holds exactly the committed
updates (no partial transaction), and resuming from the cursor stores each update once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from syncwatch.client.store import HistoryStore
from syncwatch.client.store.schema import execute
from tests.client.store_support import lifecycle_stream

TOTAL = 100_000
HUB = "hub-crash"

_CHILD = """
import sys, time
from pathlib import Path
from syncwatch.client.store import HistoryStore, StoreWriter
from tests.client.store_support import lifecycle_stream

updates = lifecycle_stream(int(sys.argv[2]))
writer = StoreWriter(HistoryStore(Path(sys.argv[1])))
print("ready", flush=True)
for i in range(0, len(updates), 100):
    writer.submit_updates("hub-crash", updates[i : i + 100])
    time.sleep(0.002)  # a hub streaming ~50,000 updates a second
writer.close()
print("finished", flush=True)
"""


def _stored_cursor(path: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            row = con.execute("SELECT seq FROM resume_cursor").fetchone()
        finally:
            con.close()
    except sqlite3.OperationalError:
        return 0
    return int(row[0]) if row else 0


def _contents(store: HistoryStore) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    db = store._db
    ops = execute(
        db,
        "SELECT operation_id, status, progress, attempts, first_seen, started, ended, "
        "last_seq, bytes_done FROM sync_operations ORDER BY operation_id",
    ).fetchall()
    events = execute(
        db,
        "SELECT seq, operation_id, kind, from_status, status, progress, at "
        "FROM sync_operation_events ORDER BY seq",
    ).fetchall()
    return ops, events


def _reference(path: Path, n: int) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    store = HistoryStore(path)
    store.apply_updates(HUB, lifecycle_stream(n))
    contents = _contents(store)
    store.close()
    return contents


def test_kill_9_mid_stream_loses_nothing_committed_and_duplicates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path), str(TOTAL)],
        cwd=root,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"ready"
        deadline = time.monotonic() + 30
        while _stored_cursor(path) < 20_000:
            assert time.monotonic() < deadline, "the child never committed 20,000 updates"
            assert child.poll() is None, "the child ended before it was killed"
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        assert child.stdout is not None
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    store = HistoryStore(path)
    try:
        assert store.recovered_from is None
        cursor = store.cursor()
        assert cursor is not None
        hub_id, seq = cursor
        assert hub_id == HUB
        assert 20_000 <= seq < TOTAL, "the kill must land mid-stream"
        # Exactly the first `seq` updates, as if applied in one go: no partial batch.
        assert _contents(store) == _reference(tmp_path / "first.db", seq)

        # Resume: the client re-sends everything it is not sure about (here: all of it).
        stream = lifecycle_stream(TOTAL)
        for i in range(0, TOTAL, 5000):
            store.apply_updates(HUB, stream[i : i + 5000])
        assert store.cursor() == (HUB, TOTAL)
        ops, events = _contents(store)
        assert [e[0] for e in events] == list(range(1, TOTAL + 1))  # each update once
        assert (ops, events) == _reference(tmp_path / "all.db", TOTAL)
    finally:
        store.close()
