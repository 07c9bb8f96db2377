"""Helpers for the publisher-side tests: bounded async runs, free ports, and reading back
everything a hub stored (a viewer replaying its event log from seq 0)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from websockets.asyncio.client import connect

from syncwatch.core.backoff import Backoff
from syncwatch.core.protocol import (
    Hello,
    Snapshot,
    Subscribe,
    SyncUpdate,
    encode_frame,
    parse_frame,
    updates_of,
)
from syncwatch.hub import Hub, HubConfig

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Run one async test body on a fresh loop, bounded in time."""

    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())


async def eventually(predicate: Callable[[], bool], within_s: float = 10.0) -> None:
    """Wait until ``predicate()`` holds, polling every 10 ms; fail after ``within_s``."""
    for _ in range(int(within_s / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"condition still false after {within_s} s")


def free_port() -> int:
    """A loopback port that nothing listens on right now (for a hub started later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def fast_backoff(seed: int = 0) -> Backoff:
    """Retries within a fraction of a second, so that tests of outages stay short."""
    return Backoff(random.Random(seed), base=0.05, factor=2.0, cap=0.2)


@contextlib.asynccontextmanager
async def hub_on(data_dir: Path, port: int = 0, **options: Any) -> AsyncIterator[Hub]:
    """A real hub on 127.0.0.1 in the test's own event loop."""
    hub = Hub(HubConfig(data_dir=data_dir, port=port, **options))
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


async def read_hub_log(url: str, token: str | None = None) -> list[SyncUpdate]:
    """Every update the hub at ``url`` stored, in seq order, replayed from seq 0."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with connect(url + "/v1/subscribe", additional_headers=headers, proxy=None) as ws:
        hello = parse_frame(await ws.recv())
        assert isinstance(hello, Hello)
        await ws.send(encode_frame(Subscribe(since=0, hub_id=hello.hub_id)), text=True)
        stored: list[SyncUpdate] = []
        while hello.seq and (not stored or (stored[-1].seq or 0) < hello.seq):
            frame = parse_frame(await asyncio.wait_for(ws.recv(), 10))
            assert not isinstance(frame, Snapshot), "expected a replay of the whole log"
            stored.extend(updates_of(frame))
        return stored
