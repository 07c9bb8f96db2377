"""Helpers for the HubClient tests: a recording listener, a publisher, waits, certificates."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson
from websockets.asyncio.client import connect

from syncwatch.core.connection import ConnectionState, ConnectionStatus, LatencyStats
from syncwatch.core.protocol import Snapshot, Status, SyncUpdate, parse_frame, update_to_dict
from tests.support.hubproc import RunningHub, running_hub

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run one async test body on a fresh loop, bounded in time."""

    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())


@contextlib.asynccontextmanager
async def entered_in_thread(manager: contextlib.AbstractContextManager[T]) -> AsyncIterator[T]:
    """A blocking context manager (a hub starting or stopping) entered and left in a worker
    thread, so that the calling loop, where the client runs, keeps answering meanwhile
    (close handshakes included)."""
    stack = contextlib.ExitStack()
    value = await asyncio.to_thread(stack.enter_context, manager)
    try:
        yield value
    finally:
        await asyncio.to_thread(stack.close)


def hub_started_from_loop(
    tmp_path: Path, **options: Any
) -> contextlib.AbstractAsyncContextManager[RunningHub]:
    """running_hub() started and stopped without blocking the calling loop."""
    return entered_in_thread(running_hub(tmp_path, **options))


@dataclass
class SnapshotCall:
    hub_id: str
    snapshot: Snapshot
    gap_from: int | None


@dataclass
class RecordingListener:
    """Records every callback of a HubClient, with the monotonic time of each status."""

    statuses: list[ConnectionStatus] = field(default_factory=list)
    status_times: list[float] = field(default_factory=list)
    latencies: list[LatencyStats] = field(default_factory=list)
    snapshots: list[SnapshotCall] = field(default_factory=list)
    updates: list[SyncUpdate] = field(default_factory=list)
    messages: int = 0

    def on_status(self, status: ConnectionStatus) -> None:
        self.statuses.append(status)
        self.status_times.append(time.monotonic())

    def on_latency(self, stats: LatencyStats) -> None:
        self.latencies.append(stats)

    def on_snapshot(self, hub_id: str, snapshot: Snapshot, gap_from: int | None) -> None:
        self.snapshots.append(SnapshotCall(hub_id, snapshot, gap_from))

    def on_updates(self, hub_id: str, updates: Sequence[SyncUpdate]) -> None:
        self.updates.extend(updates)

    def on_message(self) -> None:
        self.messages += 1

    @property
    def states(self) -> list[ConnectionState]:
        return [s.state for s in self.statuses]

    @property
    def state(self) -> ConnectionState | None:
        return self.statuses[-1].state if self.statuses else None

    def count(self, state: ConnectionState) -> int:
        return self.states.count(state)

    @property
    def seqs(self) -> list[int | None]:
        return [u.seq for u in self.updates]


async def wait_until(condition: Callable[[], object], within: float = 5.0, what: str = "") -> None:
    """Poll ``condition`` every 5 ms; fail with ``what`` when it stays false ``within`` s."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what or condition}")
        await asyncio.sleep(0.005)


def update(n: int, status: Status = Status.IN_PROGRESS) -> SyncUpdate:
    """A publisher's n-th update, about one of a few operations."""
    return SyncUpdate(
        operation_id=f"op-{n % 7}",
        operation_type="upload",
        status=status,
        progress=float(n % 100),
        timestamp_us=1_700_000_000_000_000 + n,
        item=f"/photos/{n}.jpg",
        counter=n,
    )


async def publish(base_url: str, first: int, count: int, token: str | None = None) -> list[int]:
    """Publish updates ``first .. first+count-1`` as one batch; returns the acked seqs."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with connect(
        base_url + "/v1/publish?source=test", additional_headers=headers, proxy=None
    ) as ws:
        await ws.recv()  # hello
        body = {
            "type": "batch",
            "updates": [
                update_to_dict(update(n), with_type=False) for n in range(first, first + count)
            ],
        }
        await ws.send(orjson.dumps(body).decode())
        seqs: list[int] = []
        while len(seqs) < count:
            frame = parse_frame(await ws.recv())
            seq = getattr(frame, "seq", None)
            assert isinstance(seq, int), frame
            seqs.append(seq)
        return seqs


def closed_port() -> int:
    """A loopback port with nothing listening (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def self_signed_cert(directory: Path, san: str = "IP:127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate and key for ``san``, made with the openssl CLI."""
    cert, key = directory / "hub.crt", directory / "hub.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=syncwatch-test", "-addext", f"subjectAltName={san}",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


class FixedRandom:
    """Jitter pinned to one fraction, so backoff delays are exact."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value
