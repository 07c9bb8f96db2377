"""Clients the harness runs in its own asyncio loop: publishers that keep every ack, a
hostile publisher, and a viewer that stops reading.

The acked publishers use the real :class:`~syncwatch.client.Reporter` (the agents' API):
every ack they receive is a promise "this update is durably in the hub's log", which the
checks hold the hub to. The hostile clients use raw websockets, so that they can send
what no well-behaved client would.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from syncwatch.client.reporter import BufferFullError, Reporter, ReporterError
from syncwatch.core.protocol import (
    MAX_HUB_FRAME_BYTES,
    Ack,
    Batch,
    Hello,
    Status,
    Subscribe,
    SyncUpdate,
    encode_frame,
    parse_frame,
)

_STEPS = (
    (Status.QUEUED, 0.0),
    (Status.IN_PROGRESS, 10.0),
    (Status.IN_PROGRESS, 40.0),
    (Status.IN_PROGRESS, 70.0),
    (Status.IN_PROGRESS, 95.0),
)


@dataclass
class AckLedger:
    """What one publisher was promised: every ack, and every update that got none."""

    acks: list[Ack] = field(default_factory=list)
    #: Updates refused locally (buffer full while the hub was down) - never promised.
    refused: int = 0
    #: Updates whose future failed (dropped, rejected, Reporter stopped) - never promised.
    failed: int = 0
    sent: int = 0


class AckedPublisher:
    """An agent publishing ``rate`` updates a second through a Reporter, recording acks.

    Operations go queued -> in progress (4 ticks) -> completed, or failed every 7th."""

    def __init__(self, url: str, token: str, name: str, rate: float) -> None:
        self.name = name
        self.ledger = AckLedger()
        self._reporter = Reporter(url, token, source=name, max_buffer=50_000)
        self._interval = 1.0 / rate
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._reporter.start()
        self._task = asyncio.get_running_loop().create_task(self._publish())

    async def stop(self, timeout_s: float = 60.0) -> None:
        """Stop producing, then wait for the acks of everything still buffered."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(ReporterError, TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._reporter.aclose(flush=True)

    async def _publish(self) -> None:
        number = 0
        while True:
            number += 1
            operation_id = f"{self.name}-op{number}"
            final = Status.FAILED if number % 7 == 0 else Status.COMPLETED
            for status, progress in (
                *_STEPS,
                (final, 100.0 if final is Status.COMPLETED else 95.0),
            ):
                self._send(operation_id, status, progress)
                await asyncio.sleep(self._interval)

    def _send(self, operation_id: str, status: Status, progress: float) -> None:
        update = SyncUpdate(
            operation_id=operation_id,
            operation_type="upload",
            status=status,
            progress=progress,
            timestamp_us=int(time.time() * 1e6),
            item=f"/photos/{operation_id}.jpg",
            error="disk full" if status is Status.FAILED else None,
        )
        try:
            future = self._reporter.report(update)
        except BufferFullError:
            self.ledger.refused += 1
            return
        self.ledger.sent += 1
        future.add_done_callback(self._record)

    def _record(self, future: asyncio.Future[Ack]) -> None:
        if future.cancelled() or future.exception() is not None:
            self.ledger.failed += 1
        else:
            self.ledger.acks.append(future.result())


# --------------------------------------------------------------------------- hostile


@dataclass
class HostileOutcome:
    """What the hub did to a hostile publisher (each should be a refusal, not a crash)."""

    error_frames: int = 0
    open_after_garbage: bool = False
    binary_close_code: int | None = None
    oversized_close_code: int | None = None
    flood_close_code: int | None = None
    flood_updates_sent: int = 0


_GARBAGE: tuple[str | bytes, ...] = (
    "not json at all",
    "{",
    "[]",
    '{"type": "sync_update"}',
    '{"type": "sync_update", "operation_id": "x", "operation_type": "upload", '
    '"status": "exploded", "progress": 5, "timestamp": "2026-01-01T00:00:00Z"}',
    '{"type": "no_such_type"}',
    '{"type": "sync_update", "operation_id": "' + "x" * 10_000 + '"}',
    '{"type": "sync_update", "progress": NaN}',
    "\x00\x01\x02",
)
#: Updates per flood frame: ~150 bytes each keeps a frame under the 64 KiB limit.
_FLOOD_BATCH = 300


async def run_hostile_publisher(url: str, token: str, hold_s: float) -> HostileOutcome:
    """Garbage (the link must stay open and answer errors), a binary frame (closed with
    1003), then an oversized frame
    (closed with 1009), then a flood of valid batches faster than the rate limit
    (throttled, then closed with 1008) for at most ``hold_s`` seconds."""
    outcome = HostileOutcome()
    headers = {"Authorization": f"Bearer {token}"}
    async with connect(url + "/v1/publish", additional_headers=headers, proxy=None) as ws:
        for frame in _GARBAGE:
            await ws.send(frame)
        with contextlib.suppress(TimeoutError, ConnectionClosed):
            async with asyncio.timeout(5):
                while outcome.error_frames < len(_GARBAGE):
                    if '"error"' in str(await ws.recv()):
                        outcome.error_frames += 1
        outcome.open_after_garbage = ws.close_code is None
        await ws.send(b"\xff\xfe binary frame")  # the protocol is text frames only: 1003
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            async with asyncio.timeout(5):
                while True:
                    await ws.recv()
        outcome.binary_close_code = ws.close_code
    async with connect(
        url + "/v1/publish", additional_headers=headers, proxy=None, max_size=None
    ) as ws:
        with contextlib.suppress(ConnectionClosed):
            await ws.send("x" * (70 * 1024))
            async with asyncio.timeout(5):
                while True:
                    await ws.recv()
        outcome.oversized_close_code = ws.close_code
    async with connect(url + "/v1/publish", additional_headers=headers, proxy=None) as ws:
        deadline = time.monotonic() + hold_s
        number = 0
        with contextlib.suppress(ConnectionClosed):
            while time.monotonic() < deadline:
                now = int(time.time() * 1e6)
                updates = tuple(
                    SyncUpdate(f"flood-{number + i // 5}", "scan", Status.IN_PROGRESS,
                               float(i % 5) * 20, now, source="flood")
                    for i in range(_FLOOD_BATCH)
                )  # fmt: skip
                number += _FLOOD_BATCH // 5
                await ws.send(encode_frame(Batch(updates)).decode())
                outcome.flood_updates_sent += len(updates)
                await asyncio.sleep(0)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):  # drain acks until the hub closes or idles
                    while True:
                        await ws.recv()
        outcome.flood_close_code = ws.close_code
    return outcome


# --------------------------------------------------------------------------- stalled viewer


@dataclass
class StalledViewerOutcome:
    close_code: int | None = None
    frames_after_stall: int = 0


async def run_stalled_viewer(url: str, token: str, hold_s: float) -> StalledViewerOutcome:
    """Subscribe from the start of the log, then stop reading for ``hold_s``: the hub must
    close it (or keep its memory bounded) instead of buffering without limit."""
    outcome = StalledViewerOutcome()
    headers = {"Authorization": f"Bearer {token}"}
    async with connect(
        url + "/v1/subscribe", additional_headers=headers, proxy=None, max_size=None, max_queue=4
    ) as ws:
        hello = parse_frame(await ws.recv(), max_bytes=MAX_HUB_FRAME_BYTES)
        hub_id = hello.hub_id if isinstance(hello, Hello) else None
        await ws.send(encode_frame(Subscribe(since=0, hub_id=hub_id)).decode())
        await asyncio.sleep(hold_s)
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            async with asyncio.timeout(10):
                while True:
                    await ws.recv()
                    outcome.frames_after_stall += 1
        outcome.close_code = ws.close_code
    return outcome
