"""A viewer that stops reading falls behind: the hub stops queueing for it and serves it
from the log once it reads again - everything once, in order, without a disconnect.
Only when retention deleted what it still needed is it closed with 1013."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from syncwatch.core.protocol import updates_of
from syncwatch.hub import Hub, HubConfig
from tests.hub.wire import publisher, receive_updates, recv_frame, run, update_json, viewer

TOTAL = 6000
BIG_ITEM = "x" * 3000  # large updates fill the socket buffers quickly


async def _stalled_viewer(hub: Hub) -> ClientConnection:
    """A viewer that subscribes from 0 and then reads nothing (tiny receive queue)."""
    stalled = await connect(hub.url + "/v1/subscribe", max_queue=1)
    await recv_frame(stalled)
    await stalled.send(json.dumps({"type": "subscribe", "since": 0}))
    return stalled


async def _publish_while_a_healthy_viewer_follows(hub: Hub) -> None:
    async with viewer(hub.url, since=0) as (healthy, _), publisher(hub.url) as pub:
        following = asyncio.create_task(receive_updates(healthy, TOTAL))
        for start in range(0, TOTAL, 100):
            for i in range(start, start + 100):
                await pub.send(update_json(f"op-{i % 10}", item=BIG_ITEM))
            for _ in range(100):
                await recv_frame(pub)
        # The healthy viewer is unaffected by its stalled neighbour.
        got = await following
        assert [u.seq for u in got] == list(range(1, TOTAL + 1))


def test_a_stalled_viewer_falls_behind_and_is_served_from_the_log(tmp_path: Path) -> None:
    async def body() -> None:
        config = HubConfig(data_dir=tmp_path / "hub", port=0, viewer_backlog_updates=1000)
        async with Hub(config) as hub:
            stalled = await _stalled_viewer(hub)
            await _publish_while_a_healthy_viewer_follows(hub)
            assert hub.counters.viewers_behind >= 1
            assert "syncwatch_hub_viewers_behind_total" in hub.metrics_text()
            # Reading again, it gets every update once, in order, and stays connected.
            seqs: list[int] = []
            while len(seqs) < TOTAL:
                seqs.extend(u.seq or 0 for u in updates_of(await recv_frame(stalled)))
            assert seqs == list(range(1, TOTAL + 1))
            assert stalled.close_code is None
            assert hub.counters.viewers_dropped == 0
            # And it is live again: the next update arrives as it is published.
            async with publisher(hub.url) as pub:
                await pub.send(update_json("after"))
                await recv_frame(pub)
            (after,) = updates_of(await recv_frame(stalled))
            assert (after.operation_id, after.seq) == ("after", TOTAL + 1)
            await stalled.close()

    run(asyncio.wait_for(body(), 60), timeout=90)


def test_a_viewer_that_retention_overtook_is_closed_with_a_resume_point(tmp_path: Path) -> None:
    async def body() -> None:
        config = HubConfig(
            data_dir=tmp_path / "hub",
            port=0,
            viewer_backlog_updates=1000,
            retention_updates=500,
            close_timeout_s=2.0,
        )
        async with Hub(config) as hub:
            stalled = await _stalled_viewer(hub)
            await _publish_while_a_healthy_viewer_follows(hub)
            hub.run_maintenance()  # keeps only the newest 500 updates
            await asyncio.sleep(0.5)
            seqs: list[int] = []
            try:
                while True:
                    seqs.extend(u.seq or 0 for u in updates_of(await recv_frame(stalled)))
            except ConnectionClosed:
                pass
            assert stalled.close_code == 1013
            assert stalled.close_reason is not None
            assert stalled.close_reason.startswith("too slow: resume with since=")
            assert seqs == list(range(1, len(seqs) + 1)), "a prefix, in order, no gap"
            assert len(seqs) < TOTAL
            assert hub.counters.viewers_dropped == 1

    run(asyncio.wait_for(body(), 60), timeout=90)
