"""Snapshots come from the log's operations table, not from update bodies held in memory.

The hub holds a few integers per operation; the updates themselves live in SQLite. These
tests pin both halves: a snapshot taken while a publisher streams is exact at its seq, and
the hub's Python heap grows by far less per operation than one update's body.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from pathlib import Path

from syncwatch.core.protocol import MAX_HUB_FRAME_BYTES, Ack, Snapshot, parse_frame
from syncwatch.hub import Hub, HubConfig
from tests.client.connection_support import wait_until
from tests.hub.test_subscribe import _updates
from tests.hub.wire import publish, publisher, recv_frame, run, stream_batches, update_json, viewer

OPERATIONS = 40


def _config(tmp_path: Path, **options: object) -> HubConfig:
    return HubConfig(data_dir=tmp_path / "hub", port=0, **options)  # type: ignore[arg-type]


def _expected_at(seq: int) -> dict[str, int]:
    """Update i (counter i) is about op-(i % 40) and gets seq i + 1: each operation's latest
    seq in the log once ``seq`` is committed."""
    return {f"op-{i % OPERATIONS}": i + 1 for i in range(max(0, seq - OPERATIONS), seq)}


def test_a_snapshot_taken_during_a_stream_is_the_state_at_its_seq(tmp_path: Path) -> None:
    total = 4000

    async def body() -> None:
        async with Hub(_config(tmp_path, coalesce_window_s=0.005)) as hub:

            async def stream() -> None:
                acks = await stream_batches(
                    hub.url, total, batch=50, operations=OPERATIONS, pause_s=0.001
                )
                assert all(isinstance(a, Ack) for a in acks)

            async def snapshot_viewer(after_seq: int) -> int:
                # Mid-stream, however slow the machine is.
                await wait_until(lambda: hub.seq >= after_seq, within=30, what=f"seq {after_seq}")
                async with viewer(hub.url) as (ws, _):
                    snapshot = await recv_frame(ws)
                    assert isinstance(snapshot, Snapshot)
                    state = {u.operation_id: u.seq for u in snapshot.operations}
                    assert state == _expected_at(snapshot.seq), "not the state at its seq"
                    last = snapshot.seq
                    while last < total:
                        for update in _updates(await recv_frame(ws)):
                            assert update.seq == last + 1, "gap or duplicate after the snapshot"
                            last = update.seq
                            state[update.operation_id] = last
                    assert state == _expected_at(total)
                    return snapshot.seq

            *_, first, second, third = await asyncio.gather(
                stream(),
                snapshot_viewer(1),
                snapshot_viewer(total // 4),
                snapshot_viewer(total // 2),
            )
            assert 0 < first <= second <= third, "the snapshots did not land mid-stream"

    run(body(), timeout=60)


def test_the_hub_holds_integers_per_operation_not_its_update(tmp_path: Path) -> None:
    """5,000 operations, each update ~600 bytes encoded: the hub's heap grows by a few
    hundred bytes per operation (its seq, counter and last-heard time). Holding each
    update's body for snapshots, as before, cost over 1 KiB per operation; the active
    operations in an OrderedDict and each counter in a tuple, 379 bytes; now ~320. Each
    operation is reported twice: keeping the second update's copy of its id as well (as
    re-inserting it into a dict would) costs ~60 bytes more."""
    count = 5000
    item = "photos/2026/holiday/" + "x" * 400  # a long path: the body is mostly this

    async def body() -> float:
        async with Hub(_config(tmp_path)) as hub:
            async with publisher(hub.url) as pub:
                await publish(pub, [update_json("warm-up", counter=1)])
                gc.collect()
                tracemalloc.start()
                before = tracemalloc.get_traced_memory()[0]
                # Each operation reported twice: the second update brings its own copy of
                # the operation_id, which the hub must not keep beside the first.
                for counter, progress in ((1, 10.0), (2, 60.0)):
                    for start in range(0, count, 250):
                        frames = [
                            update_json(
                                f"operation-{i:06d}", counter=counter, item=item, progress=progress
                            )
                            for i in range(start, start + 250)
                        ]
                        acks = await publish(pub, frames)
                        assert all(isinstance(a, Ack) for a in acks)
                assert hub.operations_held == count + 1
                gc.collect()
                grown = tracemalloc.get_traced_memory()[0] - before
                tracemalloc.stop()
            async with viewer(hub.url, max_size=MAX_HUB_FRAME_BYTES) as (ws, _):
                snapshot = parse_frame(await ws.recv(), max_bytes=MAX_HUB_FRAME_BYTES)
                assert isinstance(snapshot, Snapshot)
                assert len(snapshot.operations) == count + 1
                assert {u.item for u in snapshot.operations} == {item, None}
        return grown / count

    per_operation = run(body(), timeout=120)
    assert per_operation < 350, f"the hub holds {per_operation:.0f} bytes per operation"
