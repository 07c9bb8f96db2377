"""Active operations nobody reports about any more are given up, in the log, for everyone.

Driven by an injected clock: an operation idle for ``abandon_after_s`` gets a ``failed``
update from the hub itself (with a seq, broadcast live, in snapshots), the hub stops
holding it as active, and an agent that comes back simply retries it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from syncwatch.core.protocol import Ack, Snapshot, Status, SyncUpdate
from syncwatch.hub import Hub, HubConfig
from tests.hub.test_retention import FakeClock, _maintain
from tests.hub.wire import publish, publisher, receive_updates, recv_frame, run, update_json, viewer


def _config(tmp_path: Path, **options: object) -> HubConfig:
    return HubConfig(data_dir=tmp_path / "hub", port=0, **options)  # type: ignore[arg-type]


async def _snapshot(hub: Hub) -> dict[str, SyncUpdate]:
    async with viewer(hub.url) as (ws, _):
        snapshot = await recv_frame(ws)
        assert isinstance(snapshot, Snapshot)
        return {u.operation_id: u for u in snapshot.operations}


def test_an_idle_active_operation_is_failed_by_the_hub_and_viewers_see_it_live(
    tmp_path: Path,
) -> None:
    clock = FakeClock()

    async def body() -> None:
        async with Hub(_config(tmp_path, abandon_after_s=3600), clock=clock) as hub:
            async with publisher(hub.url, source="nas") as pub:
                await publish(
                    pub,
                    [
                        update_json("stuck", counter=1, progress=40.0, item="a.jpg"),
                        update_json("queued", counter=1, status="queued", progress=0.0),
                        update_json("done", counter=1, status="completed", progress=100.0),
                    ],
                )
                clock.now += 1800
                await publish(pub, [update_json("alive", counter=1)])
                async with viewer(hub.url, since=4) as (ws, _):
                    clock.now += 1801  # stuck/queued idle 3601 s, alive 1801 s
                    await _maintain(hub)
                    verdicts = await receive_updates(ws, 2)
            assert [(u.operation_id, u.seq) for u in verdicts] == [("stuck", 5), ("queued", 6)]
            stuck = verdicts[0]
            assert stuck.status is Status.FAILED
            assert stuck.error == "abandoned: no update for 1 h"
            # What was known stays: progress, item, type and the publisher's source.
            assert (stuck.progress, stuck.item, stuck.operation_type, stuck.source) == (
                40.0,
                "a.jpg",
                "upload",
                "nas",
            )
            assert stuck.counter is None
            assert "syncwatch_hub_operations_abandoned_total 2" in hub.metrics_text()
            states = await _snapshot(hub)
            assert states["stuck"].status is Status.FAILED
            assert states["alive"].status is Status.IN_PROGRESS
            assert states["done"].seq == 3, "finished operations are left alone"
            # A second pass gives nothing up twice.
            await _maintain_quietly(hub)
            assert hub.seq == 6

    run(body())


async def _maintain_quietly(hub: Hub) -> None:
    hub.run_maintenance()
    await asyncio.sleep(0.2)


def test_an_agent_that_reports_again_retries_and_its_resends_stay_duplicates(
    tmp_path: Path,
) -> None:
    clock = FakeClock()

    async def body() -> None:
        async with Hub(_config(tmp_path, abandon_after_s=60), clock=clock) as hub:
            async with publisher(hub.url) as pub:
                await publish(pub, [update_json("slow", counter=3)])
                clock.now += 61
                await _maintain(hub)
                assert hub.seq == 2
                # The old update, resent: a duplicate, answered with its own seq.
                (ack,) = await publish(pub, [update_json("slow", counter=3)])
                assert isinstance(ack, Ack)
                assert (ack.seq, ack.duplicate) == (1, True)
                await publish(pub, [update_json("slow", counter=4, progress=50.0)])
            state = (await _snapshot(hub))["slow"]
            assert (state.seq, state.status, state.progress) == (3, Status.IN_PROGRESS, 50.0)
            clock.now += 30
            await _maintain_quietly(hub)
            assert hub.seq == 3, "the new update restarted its idle time"

    run(body())


def test_idle_time_counts_from_the_hubs_start_after_a_long_downtime(tmp_path: Path) -> None:
    """Agents cannot report to a hub that is down: a restart gives them a full window."""
    clock = FakeClock()

    async def body() -> None:
        config = _config(tmp_path, abandon_after_s=600)
        async with Hub(config, clock=clock) as hub, publisher(hub.url) as pub:
            await publish(pub, [update_json("long", counter=1)])
        clock.now += 86_400  # the hub was down for a day
        async with Hub(config, clock=clock) as hub:
            await _maintain_quietly(hub)
            assert hub.seq == 1, "nothing given up at start"
            clock.now += 601
            await _maintain(hub)
            assert hub.seq == 2
            assert (await _snapshot(hub))["long"].status is Status.FAILED
        async with Hub(config, clock=clock) as hub:
            assert hub.seq == 2, "the verdict is in the log, not redone after a restart"
            assert "syncwatch_hub_operations_abandoned_total 0" in hub.metrics_text()

    run(body())


def test_many_idle_operations_are_given_up_in_chunks_each_exactly_once(tmp_path: Path) -> None:
    clock = FakeClock()
    count = 1234  # more than two chunks (ABANDON_CHUNK)

    async def body() -> None:
        async with Hub(_config(tmp_path, abandon_after_s=60), clock=clock) as hub:
            async with publisher(hub.url) as pub:
                for start in range(0, count, 200):
                    await publish(
                        pub,
                        [update_json(f"op-{i:04d}") for i in range(start, min(count, start + 200))],
                    )
            async with viewer(hub.url, since=count) as (ws, _):
                clock.now += 61
                hub.run_maintenance()
                verdicts = await receive_updates(ws, count)
            assert [u.seq for u in verdicts] == list(range(count + 1, 2 * count + 1))
            assert [u.operation_id for u in verdicts] == [f"op-{i:04d}" for i in range(count)]
            assert {u.status for u in verdicts} == {Status.FAILED}
            await _maintain_quietly(hub)
            assert hub.seq == 2 * count
            assert f"syncwatch_hub_operations_abandoned_total {count}" in hub.metrics_text()

    run(body())
