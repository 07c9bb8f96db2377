"""Fan-out of committed updates to viewers: encoded once, coalesced, bounded per viewer.

Each committed update arrives here already encoded (the hub encodes it once, for the log
and for every viewer). :class:`Broadcaster` gathers updates for at most the coalescing
window when traffic is high and turns them into frames once per flush; the same bytes
objects are queued for every viewer, so a viewer's backlog costs pointers, not copies.

Each :class:`ViewerSession` sends its queue in its own task, so one slow socket never
delays the others. A viewer whose backlog exceeds its bound **falls behind**: its queued
frames are dropped, it leaves the broadcast, and its task reads what it missed from the
event log, a chunk at a time, then goes live again - the way it was brought up to date
when it subscribed. Everything is in the log already, so holding a second copy for a slow
reader was only memory: 50,000 queued updates were ~15 MiB, and a chaos run's flood left
the hub that much bigger for good. A viewer costs at most its bound plus one chunk, the
slow one loses nothing and is not disconnected. Only when retention deleted updates it
still needed is it closed with 1013 and told where to resume (it then gets a snapshot).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Final, NamedTuple

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from syncwatch.core.protocol import MAX_FRAME_BYTES, encode_prepared_batch
from syncwatch.hub.sending import send_text_frames

log = logging.getLogger(__name__)

#: Close code for a viewer that fell too far behind ("try again later", RFC 6455 1013).
CLOSE_TOO_SLOW: Final = 1013
#: Frames written to the socket in one go at most.
_WRITE_FRAMES: Final = 64
#: Room left in a frame for the batch wrapper around the encoded updates.
_BATCH_OVERHEAD: Final = 64


class OutgoingFrame(NamedTuple):
    """One frame ready for the wire, with the updates it carries (for backlog accounting)."""

    data: bytes
    updates: int
    last_seq: int


def make_frames(
    updates: Iterable[tuple[int, bytes]], max_bytes: int = MAX_FRAME_BYTES
) -> list[OutgoingFrame]:
    """Frames for consecutive (seq, encoded update) pairs: one sync_update frame for a lone
    update, otherwise batch frames that each stay under ``max_bytes`` (clients refuse more).
    ``updates`` is read once, in order (a replay passes the log's rows as they are read)."""
    frames: list[OutgoingFrame] = []
    chunk: list[bytes] = []
    size = _BATCH_OVERHEAD
    last_seq = 0
    for seq, body in updates:
        if chunk and size + len(body) + 1 > max_bytes:
            frames.append(_frame(chunk, last_seq))
            chunk, size = [], _BATCH_OVERHEAD
        chunk.append(body)
        size += len(body) + 1
        last_seq = seq
    if chunk:
        frames.append(_frame(chunk, last_seq))
    return frames


def _frame(chunk: list[bytes], last_seq: int) -> OutgoingFrame:
    if len(chunk) == 1:
        return OutgoingFrame(chunk[0], 1, last_seq)
    return OutgoingFrame(encode_prepared_batch(chunk), len(chunk), last_seq)


class ViewerSession:
    """One subscribed viewer's bounded outgoing queue and the task that drains it.

    ``on_behind(session)`` is called when the backlog passes its bound (the hub takes the
    session out of the broadcast); ``catch_up(session)``, awaited by :meth:`run`, must then
    send everything after :attr:`delivered_seq` from the log and make the session live
    again (or :meth:`drop` it).
    """

    def __init__(
        self,
        ws: ServerConnection,
        backlog_limit: int,
        on_drop: Callable[[], None],
        on_behind: Callable[[ViewerSession], None],
        catch_up: Callable[[ViewerSession], Awaitable[None]],
    ) -> None:
        self._ws = ws
        self._backlog_limit = backlog_limit
        self._on_drop = on_drop
        self._on_behind = on_behind
        self._catch_up = catch_up
        #: Frames waiting for the socket.
        self._frames: deque[OutgoingFrame] = deque()
        #: Updates in those frames (the bounded quantity).
        self.backlog = 0
        #: The highest seq handed to the socket (or covered by the snapshot/replay).
        self.delivered_seq = 0
        #: Set when the viewer was closed for being too slow.
        self.dropped = False
        #: Set while the viewer is out of the broadcast, reading from the log.
        self.behind = False
        self._wake = asyncio.Event()
        self._close_task: asyncio.Task[None] | None = None

    def offer(self, frames: Sequence[OutgoingFrame]) -> None:
        """Queue frames for this viewer; past its bound it falls behind instead."""
        if self.dropped or self.behind:
            return
        for frame in frames:
            if frame.last_seq <= self.delivered_seq and not self._frames:
                continue  # already covered by the snapshot or replay
            self._frames.append(frame)
            self.backlog += frame.updates
        if self.backlog > self._backlog_limit:
            self._fall_behind()
            return
        self._wake.set()

    def _fall_behind(self) -> None:
        self.behind = True
        self._frames.clear()
        self.backlog = 0
        self._on_behind(self)
        log.info("a viewer fell behind at seq %d: serving it from the log", self.delivered_seq)
        self._wake.set()

    def went_live(self) -> None:
        """The hub put the session back into the broadcast (see ``catch_up``)."""
        self.behind = False

    def drop(self) -> None:
        """Close the viewer with 1013 and the seq to resume from."""
        self._drop()

    def _drop(self) -> None:
        self.dropped = True
        self._frames.clear()
        self.backlog = 0
        self._on_drop()
        reason = f"too slow: resume with since={self.delivered_seq}"
        log.info("closing a viewer that fell behind (%s)", reason)
        self._close_task = asyncio.get_running_loop().create_task(
            self._ws.close(CLOSE_TOO_SLOW, reason)
        )
        self._wake.set()

    async def run(self, on_sent: Callable[[int], None]) -> None:
        """Send queued frames until the connection closes; ``on_sent(n)`` counts frames."""
        ws = self._ws
        frames = self._frames
        try:
            while not self.dropped:
                await self._wake.wait()
                self._wake.clear()
                while frames and not self.dropped:
                    batch = [frames.popleft() for _ in range(min(len(frames), _WRITE_FRAMES))]
                    self.delivered_seq = batch[-1].last_seq
                    await send_text_frames(ws, [frame.data for frame in batch])
                    if not self.behind:  # else the backlog was reset meanwhile
                        self.backlog -= sum(frame.updates for frame in batch)
                    on_sent(len(batch))
                if self.behind and not self.dropped:
                    await self._catch_up(self)
        except ConnectionClosed:
            pass
        if self._close_task is not None:
            await self._close_task


class Broadcaster:
    """Coalesces committed updates into frames and offers them to every live viewer.

    When updates arrive less often than ``window_s`` each goes out at once as its own
    frame; under load they are gathered for up to ``window_s`` (a few tens of ms) and go
    out as batch frames, which is what lets 100 viewers follow thousands of updates a
    second.
    """

    def __init__(self, window_s: float) -> None:
        self._window_s = window_s
        self.viewers: set[ViewerSession] = set()
        self._pending: list[tuple[int, bytes]] = []
        self._handle: asyncio.Handle | None = None
        self._last_flush = float("-inf")

    def publish(self, updates: list[tuple[int, bytes]]) -> None:
        """Take newly committed (seq, encoded update) pairs, in seq order."""
        self._pending.extend(updates)
        if self._handle is not None:
            return
        loop = asyncio.get_running_loop()
        wait = self._last_flush + self._window_s - loop.time()
        if wait <= 0:
            self._handle = loop.call_soon(self.flush)
        else:
            self._handle = loop.call_later(wait, self.flush)

    def flush(self) -> None:
        """Send out everything pending now (also used before a viewer goes live, so that
        it is never offered an update its replay or snapshot already covered)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if not self._pending:
            return
        self._last_flush = asyncio.get_running_loop().time()
        frames = make_frames(self._pending)
        self._pending = []
        for viewer in list(self.viewers):
            viewer.offer(frames)
