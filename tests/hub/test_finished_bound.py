"""The bound on finished operations (``max_finished_operations``): snapshots and the hub's
memory hold at most that many finished operations, the newest-finished, and every active
one; the bound holds across restarts, and the event log itself is left to retention."""

from __future__ import annotations

import re
from pathlib import Path

from syncwatch.core.protocol import Ack, Snapshot
from syncwatch.hub import Hub, HubConfig
from tests.hub.wire import publish, publisher, receive_updates, recv_frame, run, update_json, viewer


def _config(tmp_path: Path, bound: int) -> HubConfig:
    return HubConfig(data_dir=tmp_path / "hub", port=0, max_finished_operations=bound)


def _metric(hub: Hub, name: str) -> int:
    found = re.search(rf"^syncwatch_hub_{name} (\d+)$", hub.metrics_text(), re.MULTILINE)
    assert found is not None, name
    return int(found.group(1))


async def _snapshot_ids(hub: Hub) -> list[str]:
    async with viewer(hub.url) as (ws, _):
        snapshot = await recv_frame(ws)
        assert isinstance(snapshot, Snapshot)
        return [u.operation_id for u in snapshot.operations]


def _finished(index: int) -> str:
    return update_json(f"done-{index}", status="completed", progress=100.0)


ACTIVE = {"active-early", "active-middle", "active-late"}


def test_snapshots_hold_the_newest_finished_within_the_bound_and_every_active_one(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        async with Hub(_config(tmp_path, 10)) as hub:
            async with publisher(hub.url) as pub:
                await publish(pub, [update_json("active-early")])
                for start in range(0, 30, 5):
                    await publish(pub, [_finished(i) for i in range(start, start + 5)])
                    assert _metric(hub, "operations") <= 10 + 1, "the gauge stays bounded"
                await publish(pub, [update_json("active-middle")])
                await publish(pub, [_finished(i) for i in range(30, 40)])
                await publish(pub, [update_json("active-late")])
            ids = await _snapshot_ids(hub)
            assert set(ids) == ACTIVE | {f"done-{i}" for i in range(30, 40)}
            assert _metric(hub, "operations") == 13
            assert _metric(hub, "operations_evicted_total") == 30
            # The updates themselves stay in the log: a replay from 0 still has all 43.
            async with viewer(hub.url, since=0) as (ws, _):
                replayed = await receive_updates(ws, 43)
                assert [u.seq for u in replayed] == list(range(1, 44))

    run(body())


def test_the_bound_holds_after_a_restart_and_evicted_operations_do_not_come_back(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        async with Hub(_config(tmp_path, 10)) as hub, publisher(hub.url) as pub:
            await publish(pub, [update_json("active-early")])
            await publish(pub, [_finished(i) for i in range(20)])
            await publish(pub, [update_json("active-middle"), update_json("active-late")])
        newest_10 = {f"done-{i}" for i in range(10, 20)}
        async with Hub(_config(tmp_path, 10)) as hub:
            assert set(await _snapshot_ids(hub)) == ACTIVE | newest_10
            assert _metric(hub, "operations") == 13
        # A lower bound applies at start-up, to memory and to the stored states...
        async with Hub(_config(tmp_path, 4)) as hub:
            assert set(await _snapshot_ids(hub)) == ACTIVE | {f"done-{i}" for i in range(16, 20)}
        # ...so a higher bound later brings nothing evicted back.
        async with Hub(_config(tmp_path, 1000)) as hub:
            assert set(await _snapshot_ids(hub)) == ACTIVE | {f"done-{i}" for i in range(16, 20)}
            assert hub.seq == 23

    run(body())


def test_a_retried_operation_is_active_again_and_not_evicted(tmp_path: Path) -> None:
    async def body() -> None:
        async with Hub(_config(tmp_path, 3)) as hub:
            async with publisher(hub.url) as pub:
                await publish(pub, [update_json("retried", status="failed", error="disk full")])
                await publish(pub, [update_json("retried", status="queued", progress=0.0)])
                await publish(pub, [_finished(i) for i in range(10)])
            ids = await _snapshot_ids(hub)
            assert ids == ["retried", "done-7", "done-8", "done-9"]

    run(body())


def test_a_finished_operation_that_reports_again_moves_to_the_newest(tmp_path: Path) -> None:
    async def body() -> None:
        async with Hub(_config(tmp_path, 3)) as hub:
            async with publisher(hub.url) as pub:
                await publish(pub, [_finished(i) for i in range(3)])
                # A late terminal update (a corrected error message, say) renews done-0.
                await publish(pub, [update_json("done-0", status="failed", error="late")])
                await publish(pub, [_finished(3)])
            assert set(await _snapshot_ids(hub)) == {"done-2", "done-0", "done-3"}

    run(body())


def test_an_evicted_operation_forgets_its_counter_like_an_expired_one(tmp_path: Path) -> None:
    async def body() -> None:
        async with Hub(_config(tmp_path, 1)) as hub:
            async with publisher(hub.url) as pub:
                first = update_json("evicted", counter=5, status="completed", progress=100.0)
                [ack] = await publish(pub, [first])
                assert isinstance(ack, Ack)
                assert ack.seq == 1
                # Still held: a resend is a duplicate.
                [again] = await publish(pub, [first])
                assert isinstance(again, Ack)
                assert again.duplicate
                await publish(pub, [_finished(0)])  # evicts "evicted"
                [resent] = await publish(pub, [first])
                assert isinstance(resent, Ack)
                assert (resent.duplicate, resent.seq) == (False, 3)
            assert await _snapshot_ids(hub) == ["evicted"]

    run(body())
