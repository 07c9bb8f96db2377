"""Stopping: a clean stop says 1001 after acking what it accepted; a log that can no
longer commit stops the hub with 1011 instead of acknowledging what it did not store."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

from websockets.exceptions import ConnectionClosed

from syncwatch.core.protocol import Ack, ErrorFrame, Snapshot
from syncwatch.hub import Hub, HubConfig
from syncwatch.hub.eventlog import DB_NAME
from tests.hub.wire import publish, publisher, recv_frame, run, update_json, viewer


def test_a_clean_stop_acks_everything_accepted_then_closes_with_1001(tmp_path: Path) -> None:
    async def body() -> None:
        hub = Hub(HubConfig(data_dir=tmp_path / "hub", port=0))
        await hub.start()
        async with viewer(hub.url) as (view, _), publisher(hub.url) as pub:
            assert isinstance(await recv_frame(view), Snapshot)
            for i in range(100):
                await pub.send(update_json(f"op-{i}"))
            answers = [await recv_frame(pub)]  # at least one accepted before the stop

            async def read_until_closed() -> None:
                with contextlib.suppress(ConnectionClosed):
                    while True:
                        answers.append(await recv_frame(pub))

            reading = asyncio.create_task(read_until_closed())
            await hub.stop()
            await reading
            assert pub.close_code == 1001
            assert view.close_code == 1001
            acks = [a for a in answers if isinstance(a, Ack)]
            # Every ack that went out is for an update the log holds.
            assert all(a.seq <= hub.seq for a in acks)
        restarted = Hub(HubConfig(data_dir=tmp_path / "hub", port=0))
        async with restarted:
            assert restarted.seq == hub.seq

    run(body())


def test_a_failing_event_log_stops_the_hub_with_1011_and_acks_nothing_unstored(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        hub = Hub(HubConfig(data_dir=tmp_path / "hub", port=0))
        await hub.start()
        async with publisher(hub.url) as pub:
            [ack] = await publish(pub, [update_json("stored")])
            assert isinstance(ack, Ack)
            # Someone breaks the database under the running hub.
            with contextlib.closing(sqlite3.connect(tmp_path / "hub" / DB_NAME)) as db:
                db.execute("DROP TABLE events")
                db.commit()
            await pub.send(update_json("lost"))
            answers = []
            with contextlib.suppress(ConnectionClosed):
                while True:
                    answers.append(await recv_frame(pub))
            assert pub.close_code == 1011
            assert not [a for a in answers if isinstance(a, Ack | ErrorFrame)]
        await hub.stop()

    run(body())
