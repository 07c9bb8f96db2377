"""Viewers: hello, snapshot or replay, then live updates without gaps or duplicates."""

from __future__ import annotations

import asyncio
from pathlib import Path

from syncwatch.core.protocol import Ack, Batch, Hello, Snapshot, Status, SyncUpdate
from syncwatch.hub import Hub, HubConfig
from tests.hub.wire import (
    publish,
    publisher,
    receive_updates,
    recv_frame,
    run,
    stream_batches,
    update_json,
    viewer,
)


def _config(tmp_path: Path, **options: object) -> HubConfig:
    return HubConfig(data_dir=tmp_path / "hub", port=0, **options)  # type: ignore[arg-type]


def test_snapshot_holds_each_operations_latest_state_then_live_updates_follow(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        async with Hub(_config(tmp_path)) as hub:
            async with publisher(hub.url, source="agent-1") as pub:
                await publish(
                    pub,
                    [
                        update_json("a", progress=10.0),
                        update_json("b", status="queued", progress=0.0),
                        update_json("a", progress=55.5, item="photos/x.jpg"),
                    ],
                )
            async with viewer(hub.url) as (ws, hello):
                assert hello == Hello(hub_id=hub.hub_id, seq=3)
                snapshot = await recv_frame(ws)
                assert isinstance(snapshot, Snapshot)
                assert snapshot.seq == 3
                assert snapshot.hub_id == hub.hub_id
                latest = {u.operation_id: u for u in snapshot.operations}
                assert set(latest) == {"a", "b"}
                assert (latest["a"].seq, latest["a"].progress, latest["a"].item) == (
                    3,
                    55.5,
                    "photos/x.jpg",
                )
                assert latest["b"].status is Status.QUEUED
                assert latest["b"].source == "agent-1", "the publisher's id is stamped on updates"
                async with publisher(hub.url) as pub:
                    [ack] = await publish(
                        pub, [update_json("b", status="completed", progress=100.0)]
                    )
                assert isinstance(ack, Ack)
                assert ack.seq == 4
                [live] = await receive_updates(ws, 1)
                assert (live.seq, live.operation_id, live.status) == (4, "b", Status.COMPLETED)

    run(body())


def test_replay_sends_exactly_what_came_after_since_in_order(tmp_path: Path) -> None:
    async def body() -> None:
        async with Hub(_config(tmp_path)) as hub:
            async with publisher(hub.url) as pub:
                await publish(pub, [update_json(f"op-{i}", counter=1) for i in range(50)])
            async with viewer(hub.url, since=20, hub_id=hub.hub_id) as (ws, _):
                replayed = await receive_updates(ws, 30)
                assert [u.seq for u in replayed] == list(range(21, 51))
                assert replayed[0].operation_id == "op-20"
            # Up to date: nothing is replayed, the next frame is live.
            async with viewer(hub.url, since=50) as (ws, _), publisher(hub.url) as pub:
                await publish(pub, [update_json("new")])
                [live] = await receive_updates(ws, 1)
                assert live.seq == 51

    run(body())


def test_unknown_hub_id_or_impossible_since_gets_a_snapshot(tmp_path: Path) -> None:
    async def body() -> None:
        async with Hub(_config(tmp_path)) as hub:
            async with publisher(hub.url) as pub:
                await publish(pub, [update_json("a"), update_json("b")])
            for since, hub_id in ((1, "another-hub"), (99, None), (None, hub.hub_id)):
                async with viewer(hub.url, since=since, hub_id=hub_id) as (ws, _):
                    frame = await recv_frame(ws)
                    assert isinstance(frame, Snapshot), (since, hub_id)
                    assert frame.seq == 2

    run(body())


def test_viewers_joining_during_a_stream_get_every_update_exactly_once(tmp_path: Path) -> None:
    """The hand-over from replay (or snapshot) to live is where gaps and duplicates hide:
    viewers subscribe while a publisher streams, each must see a gap-free run to the end."""
    total = 3000

    async def body() -> None:
        async with Hub(_config(tmp_path, coalesce_window_s=0.005)) as hub:

            async def stream() -> None:
                acks = await stream_batches(hub.url, total, batch=100, operations=40, pause_s=0.002)
                assert [a.seq for a in acks if isinstance(a, Ack)] == list(range(1, total + 1))

            async def late_viewer(delay: float, since: int | None) -> list[int]:
                await asyncio.sleep(delay)
                async with viewer(hub.url, since=since) as (ws, _):
                    seqs: list[int] = []
                    first = await recv_frame(ws)
                    if isinstance(first, Snapshot):
                        start = first.seq
                    else:
                        start = since or 0
                        seqs.extend(u.seq or 0 for u in _updates(first))
                    while (seqs[-1] if seqs else start) < total:
                        seqs.extend(u.seq or 0 for u in _updates(await recv_frame(ws)))
                    assert seqs == list(range(start + 1, total + 1)), "gap or duplicate"
                    return seqs

            results = await asyncio.gather(
                stream(),
                late_viewer(0.0, 0),
                late_viewer(0.02, 0),
                late_viewer(0.05, None),
                late_viewer(0.08, 5),
            )
            assert all(results[1:])

    run(body(), timeout=60)


def _updates(frame: object) -> tuple[SyncUpdate, ...]:
    if isinstance(frame, SyncUpdate):
        return (frame,)
    assert isinstance(frame, Batch), frame
    return frame.updates


def test_busy_traffic_is_coalesced_into_batch_frames(tmp_path: Path) -> None:
    async def body() -> None:
        async with (
            Hub(_config(tmp_path, coalesce_window_s=0.05)) as hub,
            viewer(hub.url, since=0) as (ws, _),
            publisher(hub.url) as pub,
        ):
            for i in range(200):
                await pub.send(update_json(f"op-{i}"))
            frames = []
            received = 0
            while received < 200:
                frame = await recv_frame(ws)
                frames.append(frame)
                received += len(_updates(frame))
            assert any(isinstance(f, Batch) for f in frames)
            assert len(frames) < 50, "200 quick updates should need far fewer frames"
            seqs = [u.seq for f in frames for u in _updates(f)]
            assert seqs == list(range(1, 201))
            acks = [await recv_frame(pub) for _ in range(200)]
            assert all(isinstance(ack, Ack) for ack in acks)

    run(body())


def test_a_viewer_subscribes_once(tmp_path: Path) -> None:
    async def body() -> None:
        async with Hub(_config(tmp_path)) as hub, viewer(hub.url) as (ws, _):
            assert isinstance(await recv_frame(ws), Snapshot)
            await ws.send('{"type":"subscribe","since":null}')
            error = await recv_frame(ws)
            assert getattr(error, "code", None) == "already_subscribed"

    run(body())
