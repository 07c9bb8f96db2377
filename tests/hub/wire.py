"""Small real-websockets clients for the hub tests (no mocks: these speak over loopback)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Coroutine, Iterable
from typing import Any, TypeVar

from websockets.asyncio.client import ClientConnection, connect

from syncwatch.core.protocol import Frame, Hello, SyncUpdate, parse_frame, updates_of

T = TypeVar("T")

STAMP = "2026-12-03T12:00:00.250Z"


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run an async test body with a deadline (no pytest-asyncio here)."""

    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())


def update_json(operation_id: str = "op-1", counter: int | None = None, **fields: Any) -> str:
    """A publisher's sync_update frame; ``fields`` override or add fields (None removes)."""
    obj: dict[str, Any] = {
        "type": "sync_update",
        "operation_id": operation_id,
        "operation_type": "upload",
        "status": "in_progress",
        "progress": 10.0,
        "timestamp": STAMP,
    }
    if counter is not None:
        obj["counter"] = counter
    for key, value in fields.items():
        if value is None:
            obj.pop(key, None)
        else:
            obj[key] = value
    return json.dumps(obj)


def batch_json(updates: Iterable[str]) -> str:
    """A publisher's batch frame of sync_update frames (e.g. from update_json)."""
    return '{"type":"batch","updates":[' + ",".join(updates) + "]}"


async def recv_frame(ws: ClientConnection, limit_s: float = 10.0) -> Frame:
    """The next frame, parsed; fails the test after ``limit_s`` seconds of silence."""
    async with asyncio.timeout(limit_s):
        message = await ws.recv()
    assert isinstance(message, str), "the hub must send text frames"
    return parse_frame(message)


@contextlib.asynccontextmanager
async def publisher(
    url: str, source: str | None = None, **kwargs: Any
) -> AsyncIterator[ClientConnection]:
    """A connection to /v1/publish (as ``source``) whose hello has been read."""
    path = "/v1/publish" + (f"?source={source}" if source else "")
    async with connect(url + path, **kwargs) as ws:
        assert isinstance(await recv_frame(ws), Hello)
        yield ws


@contextlib.asynccontextmanager
async def viewer(
    url: str, since: int | None = None, hub_id: str | None = None, **kwargs: Any
) -> AsyncIterator[tuple[ClientConnection, Hello]]:
    """A connection to /v1/subscribe that has sent its subscribe frame."""
    async with connect(url + "/v1/subscribe", **kwargs) as ws:
        hello = await recv_frame(ws)
        assert isinstance(hello, Hello)
        request: dict[str, Any] = {"type": "subscribe", "since": since}
        if hub_id is not None:
            request["hub_id"] = hub_id
        await ws.send(json.dumps(request))
        yield ws, hello


async def publish(ws: ClientConnection, messages: list[str]) -> list[Frame]:
    """Send messages and return one answer (ack or error) per message."""
    for message in messages:
        await ws.send(message)
    return [await recv_frame(ws) for _ in messages]


async def stream_batches(
    url: str, total: int, *, batch: int, operations: int, pause_s: float
) -> list[Frame]:
    """Publish updates 0..total-1 in batch frames without waiting for acks (update i is
    about ``op-(i % operations)``, with counter i), pausing ``pause_s`` after each frame;
    returns the hub's answers, one per update."""
    async with publisher(url) as pub:
        for start in range(0, total, batch):
            await pub.send(
                batch_json(
                    update_json(f"op-{i % operations}", counter=i)
                    for i in range(start, min(start + batch, total))
                )
            )
            await asyncio.sleep(pause_s)
        return [await recv_frame(pub) for _ in range(total)]


async def receive_updates(ws: ClientConnection, count: int) -> list[SyncUpdate]:
    """Receive live sync_update/batch frames until ``count`` updates arrived."""
    received: list[SyncUpdate] = []
    while len(received) < count:
        frame = await recv_frame(ws)
        updates = updates_of(frame)
        assert updates, f"expected updates, got {frame!r}"
        received.extend(updates)
    return received
