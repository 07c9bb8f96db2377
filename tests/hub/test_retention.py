"""Retention and expiry, driven by an injected clock: old updates leave the log (viewers
asking for them get a snapshot), finished operations leave snapshots, even after a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

from syncwatch.core.protocol import Snapshot, SyncUpdate
from syncwatch.hub import Hub, HubConfig
from tests.hub.wire import publish, publisher, receive_updates, recv_frame, run, update_json, viewer


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def _maintain(hub: Hub) -> None:
    """Run one maintenance pass and wait until its result reached the hub."""
    before = hub.metrics_text()
    hub.run_maintenance()
    for _ in range(500):
        await asyncio.sleep(0.01)
        if hub.metrics_text() != before:
            return


def _config(tmp_path: Path, **options: object) -> HubConfig:
    return HubConfig(data_dir=tmp_path / "hub", port=0, **options)  # type: ignore[arg-type]


def test_updates_past_the_size_limit_are_deleted_and_too_old_since_gets_a_snapshot(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        async with Hub(_config(tmp_path, retention_updates=10)) as hub:
            async with publisher(hub.url) as pub:
                await publish(pub, [update_json(f"op-{i}") for i in range(30)])
            await _maintain(hub)
            assert "syncwatch_hub_oldest_seq 21" in hub.metrics_text()
            async with viewer(hub.url, since=5) as (ws, _):
                snapshot = await recv_frame(ws)
                assert isinstance(snapshot, Snapshot)
                assert snapshot.seq == 30
                assert len(snapshot.operations) == 30, "operation states outlive the log"
            async with viewer(hub.url, since=20) as (ws, _):
                assert [u.seq for u in await receive_updates(ws, 10)] == list(range(21, 31))

    run(body())


def test_updates_older_than_the_retention_time_are_deleted(tmp_path: Path) -> None:
    clock = FakeClock()

    async def body() -> None:
        async with Hub(_config(tmp_path, retention_s=3600), clock=clock) as hub:
            async with publisher(hub.url) as pub:
                await publish(pub, [update_json(f"old-{i}") for i in range(5)])
                clock.now += 7200
                await publish(pub, [update_json(f"new-{i}") for i in range(3)])
            await _maintain(hub)
            assert "syncwatch_hub_oldest_seq 6" in hub.metrics_text()
            async with viewer(hub.url, since=4) as (ws, _):
                assert isinstance(await recv_frame(ws), Snapshot)

    run(body())


def test_finished_operations_expire_from_snapshots_and_stay_gone_after_restart(
    tmp_path: Path,
) -> None:
    clock = FakeClock()

    async def snapshot_ids(hub: Hub) -> set[str]:
        async with viewer(hub.url) as (ws, _):
            snapshot = await recv_frame(ws)
            assert isinstance(snapshot, Snapshot)
            return {u.operation_id for u in snapshot.operations}

    async def body() -> None:
        config = _config(tmp_path, finished_expiry_s=600)
        async with Hub(config, clock=clock) as hub:
            async with publisher(hub.url) as pub:
                await publish(
                    pub,
                    [
                        update_json("done", status="completed", progress=100.0),
                        update_json("failed", status="failed", error="disk full"),
                        update_json("running"),
                    ],
                )
                clock.now += 300
                await publish(pub, [update_json("fresh", status="cancelled")])
            clock.now += 400  # done/failed finished 700 s ago, fresh 400 s ago
            await _maintain(hub)
            assert await snapshot_ids(hub) == {"running", "fresh"}
        async with Hub(config, clock=clock) as hub:
            assert await snapshot_ids(hub) == {"running", "fresh"}
            assert hub.seq == 4

    run(body())


def test_an_expired_operation_that_reports_again_comes_back(tmp_path: Path) -> None:
    clock = FakeClock()

    async def body() -> None:
        async with Hub(_config(tmp_path, finished_expiry_s=60), clock=clock) as hub:
            async with publisher(hub.url) as pub:
                await publish(pub, [update_json("retry", status="failed", counter=1)])
                clock.now += 120
                await _maintain(hub)
                await publish(pub, [update_json("retry", counter=2)])
            async with viewer(hub.url) as (ws, _):
                snapshot = await recv_frame(ws)
                assert isinstance(snapshot, Snapshot)
                assert [(u.operation_id, u.seq) for u in snapshot.operations] == [("retry", 2)]
                assert all(isinstance(u, SyncUpdate) for u in snapshot.operations)

    run(body())
