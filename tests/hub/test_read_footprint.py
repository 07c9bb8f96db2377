"""What viewers' catch-ups, snapshots and group commits leave behind in the hub.

Replays, snapshots and give-ups read the log through one connection, on one thread: the
connection's page cache is small (each page is read once, in seq order), and no pool of
worker threads each keeps a C-allocator arena of its own. In the chaos run each catch-up
of the app grew the hub by ~2 MiB for good before this.
"""

from __future__ import annotations

import asyncio
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from syncwatch.core.protocol import Ack
from syncwatch.heap import memory_use
from syncwatch.hub import Hub, HubConfig
from syncwatch.hub.eventlog import EventLog, LoggedUpdate
from tests.hub.wire import (
    batch_json,
    publisher,
    receive_updates,
    recv_frame,
    run,
    update_json,
    viewer,
)

#: ~400 bytes each: ~5 MiB of log, more than SQLite's default page cache of 2 MiB.
UPDATES = 12_000
VIEWERS = 3


def test_catch_ups_read_through_one_small_cache_on_one_thread(tmp_path: Path) -> None:
    if memory_use().sqlite is None:
        pytest.skip("SQLite's memory figure is not available here")
    item = "photos/2026/holiday/" + "x" * 200

    async def body() -> tuple[int, set[str]]:
        async with Hub(HubConfig(data_dir=tmp_path / "hub", port=0)) as hub:
            async with publisher(hub.url) as pub:
                for start in range(0, UPDATES, 100):
                    await pub.send(
                        batch_json(
                            update_json(f"op-{i}", counter=1, item=item)
                            for i in range(start, start + 100)
                        )
                    )
                    answers = [await recv_frame(pub) for _ in range(100)]
                    assert all(isinstance(a, Ack) for a in answers)
            assert hub.seq == UPDATES
            threads_before = {t.name for t in threading.enumerate()}
            sqlite_before = memory_use().sqlite or 0

            async def catch_up() -> None:
                async with viewer(hub.url, since=0, max_size=None) as (ws, _):
                    updates = await receive_updates(ws, UPDATES)
                    assert [u.seq for u in updates] == list(range(1, UPDATES + 1))

            for _ in range(2):
                await asyncio.gather(*(catch_up() for _ in range(VIEWERS)))
            grown = (memory_use().sqlite or 0) - sqlite_before
            new_threads = {t.name for t in threading.enumerate()} - threads_before
        return grown, new_threads

    grown, new_threads = run(body(), timeout=120)
    assert grown < 1 << 20, f"SQLite grew by {grown / 2**20:.1f} MiB over the catch-ups"
    assert all(name.startswith("syncwatch-hub-reader") for name in new_threads), new_threads
    assert len(new_threads) <= 1, f"the log was read on {len(new_threads)} new threads"


def _started_log(path: Path) -> tuple[EventLog, Callable[[list[LoggedUpdate]], None]]:
    """An event log with its writer thread running, and a function that appends updates
    and returns once the last of them is committed."""
    log = EventLog(path)
    changed = threading.Condition()
    committed = [0]
    failures: list[Exception] = []

    def on_commit(seq: int) -> None:
        with changed:
            committed[0] = seq
            changed.notify_all()

    def append_committed(updates: list[LoggedUpdate]) -> None:
        log.append(updates)
        with changed:
            assert changed.wait_for(lambda: committed[0] >= updates[-1].seq, 30), failures

    log.start(on_commit=on_commit, on_failure=failures.append)
    return log, append_committed


def test_a_snapshot_is_joined_as_it_is_read_not_listed_first(tmp_path: Path) -> None:
    """The snapshot's peak memory is about its own size: no tuple, str and bytes object per
    operation alive at once next to it (with 150-byte updates those were more than the
    updates themselves)."""
    count = 20_000
    log, append_committed = _started_log(tmp_path / "hub")
    append_committed(
        [
            LoggedUpdate(seq, f"op-{seq:06d}", None, False, 0, b'{"operation_id":"op-%06d"}' % seq)
            for seq in range(1, count + 1)
        ]
    )
    keep = {f"op-{seq:06d}" for seq in range(1, count + 1, 2)}  # every other one
    tracemalloc.start()
    try:
        seq, bodies = log.snapshot(keep)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        log.close()
    assert seq == count
    operations = orjson.loads(b"[" + bodies + b"]")
    assert [o["operation_id"] for o in operations] == sorted(keep)
    assert peak < 1.5 * len(bodies), f"peak {peak:,} bytes for a {len(bodies):,}-byte snapshot"


def test_a_group_commit_adds_no_object_per_update(tmp_path: Path) -> None:
    """The writer hands SQLite each row as it is made: a group commit of 5,000 updates (the
    size a publisher's burst reaches, ``max_uncommitted_updates``) costs a few KiB beyond
    the updates themselves, not a list of 5,000 parameter tuples (~300 KiB at the top of
    a burst, when the hub's heap is largest)."""
    count = 5_000
    log, append_committed = _started_log(tmp_path / "hub")

    def updates(first: int) -> list[LoggedUpdate]:
        return [
            LoggedUpdate(
                seq, f"flood-{seq // 5}", None, False, 1, update_json(f"flood-{seq // 5}").encode()
            )
            for seq in range(first, first + count)
        ]

    append_committed(updates(1))  # so that the commit measured is not the log's first
    group = updates(count + 1)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        append_committed(group)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
        log.close()
    assert peak < 100 * 1024, f"a commit of {count:,} updates peaked at {peak:,} bytes"
