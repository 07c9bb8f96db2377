"""A publisher connection's outgoing side: acknowledgements in order, once committed.

The read loop of a publisher never waits for SQLite: it validates a frame, has the hub
assign seqs, and queues one entry per update here. An entry becomes sendable when the
log has committed its seq; error frames are queued with seq 0, i.e. sendable at once,
yet still in order behind earlier acks. One task per connection sends what is sendable,
so publishers can pipeline thousands of updates while each ack still means "durable".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Final

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from syncwatch.hub.sending import send_text_frames

#: A publisher with this many unacknowledged updates is not read until acks catch up.
MAX_UNACKED: Final = 20_000
#: Acks written to the socket in one go at most.
_WRITE_FRAMES: Final = 512


class PublisherSession:
    """The ack queue of one publisher connection (see the module docstring)."""

    def __init__(self, ws: ServerConnection, committed_seq: Callable[[], int]) -> None:
        self._ws = ws
        self._committed_seq = committed_seq
        #: (seq that must be committed first, encoded frame), in the order they were queued.
        self._outgoing: deque[tuple[int, bytes]] = deque()
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    def queue(self, after_seq: int, frame: bytes) -> None:
        """Send ``frame`` once ``after_seq`` is committed (0: as soon as earlier frames are)."""
        self._outgoing.append((after_seq, frame))
        if len(self._outgoing) >= MAX_UNACKED:
            self._room.clear()
        self._wake.set()

    def committed(self) -> None:
        """Called by the hub after each group commit."""
        if self._outgoing:
            self._wake.set()

    async def wait_for_room(self) -> None:
        """Backpressure: wait while too many acks are outstanding."""
        await self._room.wait()

    async def run(self) -> None:
        """Send acks and errors as they become sendable, until the connection closes."""
        outgoing = self._outgoing
        ws = self._ws
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                committed = self._committed_seq()
                while outgoing and outgoing[0][0] <= committed:
                    frames: list[bytes] = []
                    while outgoing and outgoing[0][0] <= committed and len(frames) < _WRITE_FRAMES:
                        frames.append(outgoing.popleft()[1])
                    await send_text_frames(ws, frames)
                    if len(outgoing) < MAX_UNACKED // 2:
                        self._room.set()
                    committed = self._committed_seq()
        except ConnectionClosed:
            pass

    async def drain(self, limit_s: float) -> None:
        """Wait (at most ``limit_s``) until every frame whose seq is committed was sent."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit_s):
                while self._outgoing and self._outgoing[0][0] <= self._committed_seq():
                    self._wake.set()
                    await asyncio.sleep(0.005)
