"""A publisher connection's outgoing side: acknowledgements in order, once committed.

The read loop of a publisher never waits for SQLite: it validates a frame, has the hub
assign seqs, and queues one entry per update here. An entry becomes sendable when the
log has committed its seq; error frames are queued with seq 0, i.e. sendable at once,
yet still in order behind earlier acks. One task per connection sends what is sendable,
so publishers can pipeline thousands of updates while each ack still means "durable".

An accepted update is queued as its :class:`LoggedUpdate` (the record the log commits,
which is alive until then anyway) and its ack encoded only when it is sent: encoding it
up front held one more bytes object and a tuple per update for the whole wait, thousands
at once in a burst, and a burst's peak is what the allocator keeps afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Final

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from syncwatch.core.protocol import Ack, encode_frame
from syncwatch.hub.eventlog import LoggedUpdate
from syncwatch.hub.sending import send_text_frames

#: A publisher with this many unacknowledged updates is not read until acks catch up.
MAX_UNACKED: Final = 20_000
#: Acks written to the socket in one go at most.
_WRITE_FRAMES: Final = 512

#: One entry of the queue: an accepted update, acked once its seq is committed, or
#: (seq that must be committed first, encoded frame). Either way the seq comes first.
Outgoing = LoggedUpdate | tuple[int, bytes]


def _encoded(entry: Outgoing) -> bytes:
    if isinstance(entry, LoggedUpdate):
        return encode_frame(
            Ack(seq=entry.seq, operation_id=entry.operation_id, counter=entry.counter)
        )
    return entry[1]


class PublisherSession:
    """The ack queue of one publisher connection (see the module docstring)."""

    def __init__(self, ws: ServerConnection, committed_seq: Callable[[], int]) -> None:
        self._ws = ws
        self._committed_seq = committed_seq
        #: In the order they were queued.
        self._outgoing: deque[Outgoing] = deque()
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    def queue(self, entry: Outgoing) -> None:
        """Send an accepted update's ack once its seq is committed, or ``(after_seq,
        frame)`` once ``after_seq`` is (0: as soon as the frames before it are)."""
        self._outgoing.append(entry)
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
                        frames.append(_encoded(outgoing.popleft()))
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
