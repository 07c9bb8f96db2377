"""A viewer that stops reading is closed with 1013 once its backlog passes the bound;
it then resumes from the log and misses nothing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from syncwatch.core.protocol import updates_of
from syncwatch.hub import Hub, HubConfig
from tests.hub.wire import publisher, receive_updates, recv_frame, run, update_json, viewer


def test_a_stalled_viewer_is_dropped_with_a_resume_point_and_catches_up(tmp_path: Path) -> None:
    total = 6000
    big_item = "x" * 3000  # large updates fill the socket buffers quickly

    async def body() -> None:
        config = HubConfig(
            data_dir=tmp_path / "hub", port=0, viewer_backlog_updates=1000, close_timeout_s=2.0
        )
        async with Hub(config) as hub:
            # A viewer that subscribes and then stops reading: tiny receive queue.
            stalled = await connect(hub.url + "/v1/subscribe", max_queue=1)
            await recv_frame(stalled)
            await stalled.send(json.dumps({"type": "subscribe", "since": 0}))
            async with viewer(hub.url, since=0) as (healthy, _), publisher(hub.url) as pub:
                following = asyncio.create_task(receive_updates(healthy, total))
                for start in range(0, total, 100):
                    for i in range(start, start + 100):
                        await pub.send(update_json(f"op-{i % 10}", item=big_item))
                    for _ in range(100):
                        await recv_frame(pub)
                # The healthy viewer is unaffected by its stalled neighbour.
                got = await following
                assert [u.seq for u in got] == list(range(1, total + 1))
            assert hub.counters.viewers_dropped == 1
            # The stalled viewer now reads: what was sent, then a 1013 naming where to resume.
            seqs: list[int] = []
            try:
                while True:
                    seqs.extend(u.seq or 0 for u in updates_of(await recv_frame(stalled)))
            except ConnectionClosed:
                pass
            assert stalled.close_code == 1013
            assert stalled.close_reason is not None
            assert stalled.close_reason.startswith("too slow: resume with since=")
            assert seqs == list(range(1, len(seqs) + 1))
            assert len(seqs) < total
            resume = int(stalled.close_reason.rsplit("=", 1)[1])
            assert resume >= (seqs[-1] if seqs else 0)
            # Resuming from its own last seq, it gets the rest, once.
            last = seqs[-1] if seqs else 0
            async with viewer(hub.url, since=last) as (again, _):
                rest = await receive_updates(again, total - last)
                assert [u.seq for u in rest] == list(range(last + 1, total + 1))

    run(asyncio.wait_for(body(), 60), timeout=90)
