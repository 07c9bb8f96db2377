"""Publishers: acks after commit, idempotent resends, and every kind of bad input."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from syncwatch.core.protocol import Ack, ErrorFrame, Snapshot
from syncwatch.hub import Hub, HubConfig
from tests.hub.wire import (
    STAMP,
    publish,
    publisher,
    receive_updates,
    recv_frame,
    run,
    update_json,
    viewer,
)


def _config(tmp_path: Path, **options: object) -> HubConfig:
    return HubConfig(data_dir=tmp_path / "hub", port=0, **options)  # type: ignore[arg-type]


def test_seqs_are_consecutive_and_a_resent_update_is_acked_once_not_stored_twice(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        async with Hub(_config(tmp_path)) as hub, publisher(hub.url) as pub:
            acks = await publish(pub, [update_json("op", counter=c) for c in (1, 2, 3)])
            assert [(a.seq, a.counter, a.duplicate) for a in acks if isinstance(a, Ack)] == [
                (1, 1, False),
                (2, 2, False),
                (3, 3, False),
            ]
            # The agent lost its connection before reading the acks of 2 and 3: it resends.
            again = await publish(pub, [update_json("op", counter=c) for c in (2, 3)])
            assert [(a.seq, a.duplicate) for a in again if isinstance(a, Ack)] == [
                (2, True),
                (3, True),
            ]
            # Another operation's counters are its own; updates without a counter always count.
            more = await publish(
                pub, [update_json("other", counter=1), update_json("op"), update_json("op")]
            )
            assert [a.seq for a in more if isinstance(a, Ack)] == [4, 5, 6]
            assert hub.seq == 6
            assert hub.counters.updates_duplicate == 2
            async with viewer(hub.url, since=0) as (ws, _):
                replayed = await receive_updates(ws, 6)
                assert [u.seq for u in replayed] == [1, 2, 3, 4, 5, 6]

    run(body())


def test_a_publisher_batch_is_acked_update_by_update(tmp_path: Path) -> None:
    async def body() -> None:
        async with Hub(_config(tmp_path)) as hub, publisher(hub.url) as pub:
            updates = [json.loads(update_json(f"op-{i}", counter=i)) for i in range(5)]
            await pub.send(json.dumps({"type": "batch", "updates": updates}))
            acks = [await recv_frame(pub) for _ in range(5)]
            assert [(a.seq, a.operation_id) for a in acks if isinstance(a, Ack)] == [
                (i + 1, f"op-{i}") for i in range(5)
            ]

    run(body())


BAD_FRAMES = [
    ("{not json", "invalid_json", None),
    ("[1, 2]", "invalid_json", None),
    ('{"operation_id": "x"}', "invalid", "type"),
    ('{"type": "launch_missiles"}', "unknown_type", "type"),
    ('{"type": "subscribe", "since": 0}', "unexpected_type", "type"),
    (update_json(progress=150.0), "invalid", "progress"),
    (update_json(progress="half"), "invalid", "progress"),
    (update_json(status="exploded"), "invalid", "status"),
    (update_json(timestamp="yesterday"), "invalid", "timestamp"),
    (update_json(timestamp=None), "invalid", "timestamp"),
    (update_json(operation_id=""), "invalid", "operation_id"),
    (update_json(operation_type="Not A Type!"), "invalid", "operation_type"),
    (update_json(bytes_done=10, bytes_total=5), "invalid", "bytes_done"),
    (update_json(counter=-1), "invalid", "counter"),
    (update_json(seq=7), "invalid", "seq"),
    (update_json(colour="red"), "invalid", "colour"),
    ('{"type":"batch","updates":[]}', "invalid", "updates"),
    (
        '{"type":"batch","updates":[' + update_json("ok") + "," + update_json(status="nope") + "]}",
        "invalid",
        "updates[1].status",
    ),
    ('{"type":"sync_update","status":"queued","status":"completed"}', "invalid", None),
]


@pytest.mark.parametrize(("message", "code", "field"), BAD_FRAMES)
def test_invalid_input_gets_an_error_naming_the_field_and_nothing_is_stored(
    tmp_path: Path, message: str, code: str, field: str | None
) -> None:
    async def body() -> None:
        async with Hub(_config(tmp_path)) as hub, viewer(hub.url) as (view, _):
            assert isinstance(await recv_frame(view), Snapshot)
            async with publisher(hub.url) as pub:
                [error] = await publish(pub, [message])
                assert isinstance(error, ErrorFrame)
                assert error.code == code
                if field is not None:
                    assert error.field == field
                assert error.detail
                # The connection stays open and usable.
                [ack] = await publish(pub, [update_json("fine")])
                assert isinstance(ack, Ack)
                assert ack.seq == 1
            # The viewer saw only the valid update.
            [only] = await receive_updates(view, 1)
            assert only.operation_id == "fine"
            assert only.seq == 1
            assert hub.counters.updates_rejected == 1

    run(body())


async def _closed_with(ws: ClientConnection) -> int | None:
    """Read until the hub closes the connection; the close code."""
    with contextlib.suppress(ConnectionClosed):
        while True:
            await recv_frame(ws)
    return ws.close_code


def test_binary_frames_close_the_connection_with_1003(tmp_path: Path) -> None:
    async def body() -> None:
        async with Hub(_config(tmp_path)) as hub:
            async with publisher(hub.url) as pub:
                await pub.send(update_json().encode())
                assert await _closed_with(pub) == 1003
            async with viewer(hub.url) as (view, _):
                await recv_frame(view)
                await view.send(b"\x00\x01")
                assert await _closed_with(view) == 1003
            assert hub.seq == 0

    run(body())


def test_a_frame_over_the_size_limit_closes_with_1009(tmp_path: Path) -> None:
    async def body() -> None:
        async with Hub(_config(tmp_path, max_frame_bytes=4096)) as hub, publisher(hub.url) as pub:
            await pub.send(update_json(item="x" * 3000))
            assert isinstance(await recv_frame(pub), Ack)
            await pub.send(update_json(item="x" * 5000))
            assert await _closed_with(pub) == 1009
            assert hub.seq == 1

    run(body())


def test_a_flooding_publisher_is_throttled_then_closed_with_1008(tmp_path: Path) -> None:
    async def body() -> None:
        config = _config(tmp_path, publisher_rate=200.0, publisher_burst=50, rate_limit_grace_s=0.5)
        async with Hub(config) as hub:
            loop = asyncio.get_running_loop()
            async with publisher(hub.url) as pub:
                started = loop.time()

                async def flood() -> None:
                    for i in range(5_000):  # 25 s worth at 200/s
                        await pub.send(update_json(f"op-{i}"))

                flooding = asyncio.create_task(flood())
                code = await _closed_with(pub)
                flooding.cancel()
                await asyncio.gather(flooding, return_exceptions=True)
            assert code == 1008
            assert pub.close_reason == "rate limit exceeded"
            elapsed = loop.time() - started
            # Throttled first: at most burst + rate * (grace + slack) updates got in.
            assert elapsed >= 0.5
            assert 50 < hub.seq <= 50 + 200 * (elapsed + 0.2)
            assert hub.counters.publishers_rate_limited == 1

    run(body())


def test_a_slow_but_steady_publisher_is_only_throttled(tmp_path: Path) -> None:
    async def body() -> None:
        config = _config(tmp_path, publisher_rate=500.0, publisher_burst=20, rate_limit_grace_s=5.0)
        async with Hub(config) as hub, publisher(hub.url) as pub:
            answers = await publish(pub, [update_json(f"op-{i}") for i in range(200)])
            assert all(isinstance(a, Ack) for a in answers)
            assert hub.seq == 200

    run(body())


def test_the_publishers_timestamp_survives_to_the_viewer(tmp_path: Path) -> None:
    async def body() -> None:
        async with Hub(_config(tmp_path)) as hub, viewer(hub.url, since=0) as (view, _):
            async with publisher(hub.url) as pub:
                await publish(pub, [update_json(bytes_done=5, bytes_total=10, error="disk full")])
            [update] = await receive_updates(view, 1)
            assert update.timestamp_us == 1_796_299_200_250_000
            assert (update.bytes_done, update.bytes_total, update.error) == (5, 10, "disk full")

    assert STAMP == "2026-12-03T12:00:00.250Z"
    run(body())
