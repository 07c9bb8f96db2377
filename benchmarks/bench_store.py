"""History store benchmark: ingest rate through the real StoreWriter, and the dashboard's
queries on a history of a million event rows (``python -m benchmarks.bench_store``).

Ingest is reported as a ratio to raw ``sqlite3`` executemany of the same event rows in
the same run (the ceiling for this machine). The synthetic history
(:func:`fill_synthetic`) is also what ``tests/client/test_store_scale.py`` queries.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from syncwatch.client.store import EventFilter, HistoryStore, PageKey, StoreWriter
from syncwatch.client.store.schema import PRAGMAS, execute, raw_cursor
from syncwatch.core.protocol import Status, SyncUpdate

DAY = 86_400.0
END = 1_750_000_000.0
TYPES = ("upload", "download", "delete", "metadata", "scan")
ERRORS = ("disk full", "permission denied", "connection reset by peer", "checksum mismatch")


def fill_synthetic(path: Path, events: int = 1_000_000, *, days: float = 30.0) -> HistoryStore:
    """A history of ``events`` event rows (four per operation) spread over ``days`` before
    END, with health snapshots every 2 minutes and a connection change every 6 hours;
    written with executemany, as fast as SQLite takes it."""
    rng = random.Random(7)
    store = HistoryStore(path, clock=lambda: END)
    ops, evs = [], []
    start = END - days * DAY
    for n in range(events // 4):
        op_id = f"op-{n:07d}"
        kind = TYPES[n % 5]
        source = f"agent-{n % 20:02d}"
        item = f"/library/{kind}/{rng.choice('abcdefgh')}/{n:07d}-episode.mkv"
        t = start + rng.random() * (days * DAY - 600)
        roll = rng.random()
        final = "completed" if roll < 0.85 else "failed" if roll < 0.95 else "cancelled"
        error = rng.choice(ERRORS) if final == "failed" else None
        duration = 60 + rng.random() * 240
        size = rng.randrange(1_000, 2_000_000_000)
        ops.append(
            (op_id, kind, final, 100.0 if final == "completed" else 50.0, item, source, error,
             size, size, 1, t, t + 1, t + 1 + duration, duration, t + 1 + duration, n * 4 + 4,
             "hub-bench", t + 31, 50.0)
        )  # fmt: skip
        base = (op_id, "hub-bench")
        evs += [
            (*base, n * 4 + 1, t, "transition", None, "queued", kind, 0.0, item, None, 0, source),
            (*base, n * 4 + 2, t + 1, "transition", "queued", "in_progress", kind, 1.0, item,
             None, 0, source),
            (*base, n * 4 + 3, t + 31, "progress", "in_progress", "in_progress", kind, 50.0,
             item, None, size // 2, source),
            (*base, n * 4 + 4, t + 1 + duration, "transition", "in_progress", final, kind,
             100.0 if final == "completed" else 50.0, item, error, size, source),
        ]  # fmt: skip
    evs.sort(key=lambda e: e[3])  # a live history is written in time order
    ops.sort(key=lambda o: o[14])
    minutes = _minute_stats(evs)
    snaps = [
        (t, "healthy", 95.0, 0.02, 120.0, rng.randrange(0, 40), 8.0, 5e6, 12.0)
        for t in (start + i * 120 for i in range(int(days * DAY / 120)))
    ]
    links = [
        (start + i * 6 * 3600 + (0 if i % 2 == 0 else 1800),
         "connected" if i % 2 == 0 else "reconnecting", "ws://127.0.0.1:1", 0, None, None,
         10.0, 11.0, 20.0)
        for i in range(int(days * 4) * 2)
    ]  # fmt: skip
    db = store._db
    execute(db, "PRAGMA cache_size = -400000")  # the indexes' pages stay in memory
    with db.atomic():
        cur = raw_cursor(db)
        cur.executemany(
            "INSERT INTO sync_operations (operation_id, operation_type, status, progress, item, "
            "source, error, bytes_done, bytes_total, attempts, first_seen, started, ended, "
            "duration_s, updated_at, last_seq, hub_id, sampled_at, sampled_progress) "
            f"VALUES ({','.join('?' * 19)})",
            ops,
        )
        cur.executemany(
            "INSERT INTO sync_operation_events (operation_id, hub_id, seq, at, kind, from_status, "
            "status, operation_type, progress, item, error, bytes_done, source) "
            f"VALUES ({','.join('?' * 13)})",
            evs,
        )
        cur.executemany(
            "INSERT INTO sync_status_snapshots (at, status, score, error_rate, avg_sync_time_s, "
            "active_ops, throughput_ops_per_min, throughput_bps, latency_ms) "
            f"VALUES ({','.join('?' * 9)})",
            snaps,
        )
        cur.executemany(
            "INSERT INTO connection_status (at, state, hub_url, attempt, reason, hub_id, "
            f"latency_ms, latency_avg_ms, latency_p95_ms) VALUES ({','.join('?' * 9)})",
            links,
        )
        cur.executemany(f"INSERT INTO sync_minute_stats VALUES ({','.join('?' * 10)})", minutes)
        cur.execute(
            "INSERT INTO resume_cursor VALUES (1, 'hub-bench', ?, ?)", ((events // 4) * 4, END)
        )
    execute(db, f"PRAGMA cache_size = {dict(PRAGMAS)['cache_size']}")  # back to the app's
    execute(db, "PRAGMA wal_checkpoint(TRUNCATE)")
    return store


def _minute_stats(evs: Sequence[tuple[Any, ...]]) -> list[tuple[object, ...]]:
    """The per-minute roll-up the writer would have kept for these (time-ordered) events."""
    rows: dict[int, list[float]] = {}
    active = 0
    for _op, _hub, _seq, at, kind, from_status, status, *_rest in evs:
        minute = int(at // 60)
        row = rows.setdefault(minute, [0, 0, 0, 0, 0, 0, 0.0, 0, 0])
        if from_status is None:
            row[0] += 1
            active += 1
        elif kind == "transition" and status in ("completed", "failed", "cancelled"):
            row[{"completed": 1, "failed": 2, "cancelled": 3}[status]] += 1
            active -= 1
        row[7] = max(row[7], active)
        row[8] = active
    return [(minute, *row) for minute, row in rows.items()]


def dashboard_queries(store: HistoryStore) -> dict[str, Callable[[], object]]:
    """Every query the dashboard makes, as it makes them, on the synthetic history."""
    last_page = store.query_events(EventFilter(), limit=100)
    deep = PageKey(END - 20 * DAY, 0)
    failed = frozenset({"failed"})
    return {
        "events: newest page": lambda: store.query_events(EventFilter(), limit=100),
        "events: next page (keyset)": lambda: store.query_events(
            EventFilter(), limit=100, before=last_page[-1].key
        ),
        "events: page 20 days back (keyset)": lambda: store.query_events(
            EventFilter(), limit=100, before=deep
        ),
        "events: offset 10,000": lambda: store.query_events(EventFilter(), offset=10_000),
        "events: failed": lambda: store.query_events(EventFilter(statuses=failed)),
        "events: failed+cancelled, 2 types": lambda: store.query_events(
            EventFilter(
                statuses=frozenset({"failed", "cancelled"}),
                operation_types=frozenset({"upload", "scan"}),
            )
        ),
        "events: one source": lambda: store.query_events(EventFilter(source="agent-07")),
        "events: one day": lambda: store.query_events(
            EventFilter(start=END - 10 * DAY, end=END - 9 * DAY)
        ),
        "events: text, common": lambda: store.query_events(EventFilter(text="episode")),
        "events: text, rare": lambda: store.query_events(EventFilter(text="op-0123456")),
        "events: text, none matches": lambda: store.query_events(EventFilter(text="zzz-none")),
        "events: text + status + 1 day": lambda: store.query_events(
            EventFilter(text="checksum", statuses=failed, start=END - 2 * DAY, end=END - DAY)
        ),
        "count: all": store.count_events,
        "count: failed": lambda: store.count_events(EventFilter(statuses=failed)),
        "count: text (cap 10,000)": lambda: store.count_events(
            EventFilter(text="disk"), cap=10_000
        ),
        "operations: failed page": lambda: store.query_operations(EventFilter(statuses=failed)),
        "series: 1 h / 60 s": lambda: store.series(END - 3600, END, 60),
        "series: 24 h / 60 s": lambda: store.series(END - DAY, END, 60),
        "series: 7 d / 300 s": lambda: store.series(END - 7 * DAY, END, 300),
        "series: 30 d / 900 s": lambda: store.series(END - 30 * DAY, END, 900),
        "series: 30 d / 60 s": lambda: store.series(END - 30 * DAY, END, 60),
        "snapshots: 30 d, 2000 points": lambda: store.snapshots(END - 30 * DAY, END, 2000),
        "totals: 24 h": lambda: store.totals(END - DAY, END),
        "totals: 30 d": lambda: store.totals(END - 30 * DAY, END),
        "database info": store.database_info,
    }


def time_query(fn: Callable[[], object], repeat: int = 3) -> float:
    """Median seconds of ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _stream(n: int) -> list[SyncUpdate]:
    steps = (
        (Status.QUEUED, 0.0),
        (Status.IN_PROGRESS, 1.0),
        (Status.IN_PROGRESS, 50.0),
        (Status.COMPLETED, 100.0),
    )
    out = []
    for i in range(n):
        block, rest = divmod(i, 4000)
        step, lane = divmod(rest, 1000)
        status, progress = steps[step]
        at_us = 1_700_000_000_000_000 + i * 50
        item = f"/library/{block}/{lane}.mkv"
        out.append(
            SyncUpdate(f"op{block}-{lane}", "upload", status, progress, at_us, i + 1, item,
                       None, 1000, None, "agent-1")
        )  # fmt: skip
    return out


def bench_ingest(directory: Path, n: int = 200_000) -> tuple[float, float]:
    """(updates/s through StoreWriter, raw sqlite3 executemany rows/s of the event rows)."""
    updates = _stream(n)
    store = HistoryStore(directory / "ingest.db")
    writer = StoreWriter(store)
    started = time.perf_counter()
    for i in range(0, n, 200):  # the engine submits what one received frame carried
        writer.submit_updates("hub", updates[i : i + 200])
    assert writer.flush(300)
    rate = n / (time.perf_counter() - started)
    assert writer.last_error is None
    assert store.cursor() == ("hub", n)
    writer.close()
    store.close()
    con = sqlite3.connect(directory / "raw.db")
    con.execute("PRAGMA journal_mode=wal")
    con.execute("PRAGMA synchronous=normal")
    con.execute("CREATE TABLE e (op TEXT, hub TEXT, seq INT, at REAL, kind TEXT, st TEXT)")
    rows = [(u.operation_id, "hub", u.seq, u.timestamp, "t", u.status.value) for u in updates]
    started = time.perf_counter()
    with con:
        con.executemany("INSERT INTO e VALUES (?, ?, ?, ?, ?, ?)", rows)
    raw = n / (time.perf_counter() - started)
    con.close()
    return rate, raw


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        rate, raw = bench_ingest(directory)
        print(f"ingest through StoreWriter: {rate:,.0f} updates/s")
        print(f"raw sqlite3 executemany (no indexes): {raw:,.0f} rows/s  ratio {rate / raw:.2f}")
        started = time.perf_counter()
        store = fill_synthetic(directory / "million.db")
        print(f"built 1,000,000 event rows in {time.perf_counter() - started:.1f} s, "
              f"{store.size_bytes() / 2**20:.0f} MiB")  # fmt: skip
        worst = 0.0
        print(f"{'query (1M events, 250k operations)':40} {'median ms':>10}")
        for name, fn in dashboard_queries(store).items():
            seconds = time_query(fn)
            worst = max(worst, seconds)
            print(f"{name:40} {seconds * 1000:10.1f}")
        print(f"slowest query: {worst * 1000:.0f} ms")
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
