"""The publisher side for sync agents: report updates, lose none, store none twice.

``async with Reporter(url, token, source="nas-photos") as r: await r.update(...)``.

Guarantees, and how they are kept:

- **Nothing lost.** Every update stays in the Reporter's buffer until the hub acknowledged
  it (an ack means "committed to the hub's durable log"). While the hub is unreachable
  the Reporter keeps buffering and reconnects with the core backoff (full jitter), then
  resends every unacknowledged update in the original order.
- **Nothing duplicated.** Each update carries ``counter``, this Reporter's own strictly
  increasing number; a resent update keeps its counter, and the hub acknowledges an
  (operation_id, counter) it already stored as a duplicate instead of storing it again.
  Counters start from the wall clock in microseconds (and never fall behind it), so an
  agent that restarts never reuses a counter of its previous run.
- **Bounded memory.** At most ``max_buffer`` updates wait for an ack. When the buffer is
  full while connected (or still connecting), ``update()`` waits for acks to make room
  (flow control: the hub is draining it). When full while the hub is unreachable (the
  last attempt to connect failed), ``overflow="error"`` (the default)
  makes ``update()`` and ``report()`` raise :class:`BufferFullError`, so the agent decides;
  ``overflow="drop_oldest"`` drops the oldest waiting update instead (its future fails
  with :class:`UpdateDroppedError`), for feeds where only the latest state matters, such
  as the demo.
- **Clear failures.** A refused token (HTTP 401/403), a URL that is not a hub (other
  4xx) or an untrusted TLS certificate stops the Reporter with :class:`ReporterAuthError`
  or :class:`ReporterError` instead of retrying forever; an update that breaks
  docs/protocol.md is refused before it is queued (``ProtocolError``); one the hub
  rejects fails with :class:`UpdateRejectedError`.

Sends are pipelined: the sender packs waiting updates into ``batch`` frames (up to 1,000
updates and under the 64 KiB frame limit) without waiting for acks, and acks are matched
by counter. Leaving the ``async with`` block waits (up to ``close_timeout``) for every ack
and closes the connection with code 1000.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl as ssl_module
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Literal
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from syncwatch.core.backoff import Backoff
from syncwatch.core.protocol import (
    MAX_BATCH_UPDATES,
    MAX_FRAME_BYTES,
    Ack,
    ErrorFrame,
    Hello,
    ProtocolError,
    Status,
    SyncUpdate,
    encode_prepared_batch,
    encode_update,
    parse_frame,
    parse_update,
)

log = logging.getLogger(__name__)

PUBLISH_PATH: Final = "/v1/publish"
#: Batch frames stay this far under the hub's frame limit.
_BATCH_BYTES: Final = MAX_FRAME_BYTES - 4096


class ReporterError(Exception):
    """The Reporter cannot go on (a wrong URL, a refused token, closed)."""


class ReporterAuthError(ReporterError):
    """The hub refused the token (HTTP 401) or its role (HTTP 403). Not retried."""


class BufferFullError(ReporterError):
    """``max_buffer`` updates already wait for the hub (overflow policy "error")."""


class UpdateDroppedError(ReporterError):
    """The update was dropped unsent to make room (overflow policy "drop_oldest")."""


class UpdateRejectedError(ReporterError):
    """The hub refused the update (an ``error`` frame); it was not stored."""

    def __init__(self, update: SyncUpdate, error: ErrorFrame, *, others: int = 0) -> None:
        field = f" ({error.field})" if error.field else ""
        more = f" (and {others} more rejected)" if others else ""
        super().__init__(
            f"hub rejected update {update.operation_id!r} #{update.counter}:"
            f" {error.code}{field}: {error.detail}{more}"
        )
        self.update = update
        self.error = error
        #: How many other updates flush() found rejected besides this one.
        self.others = others


@dataclass(slots=True)
class _Entry:
    """An update waiting for its ack: the update, its encoded frame and who awaits it."""

    update: SyncUpdate
    data: bytes
    future: asyncio.Future[Ack]


def publish_url(url: str) -> str:
    """The hub's publish endpoint for ``url``: a bare ``ws://host:port`` gets /v1/publish."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"hub URL must look like ws://HOST:PORT or wss://HOST:PORT, got {url!r}")
    path = parts.path if parts.path not in ("", "/") else PUBLISH_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _shown(url: str) -> str:
    """The URL for messages: without a query, which may carry a token."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _fail_quietly(future: asyncio.Future[Ack], error: ReporterError) -> None:
    """Fail a future without asyncio's "exception never retrieved" log: drops and
    closing are counted and reported by the Reporter itself, whoever awaits still sees
    the error."""
    future.set_exception(error)
    future.exception()


def wall_clock_us() -> int:
    return time.time_ns() // 1000


class Reporter:
    """A resilient publisher connection for one agent (see the module docstring)."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        source: str,
        ssl: ssl_module.SSLContext | None = None,
        ca_file: str | None = None,
        max_buffer: int = 10_000,
        overflow: Literal["error", "drop_oldest"] = "error",
        backoff: Backoff | None = None,
        open_timeout: float = 10.0,
        close_timeout: float = 30.0,
        clock_us: Callable[[], int] = wall_clock_us,
    ) -> None:
        if not source:
            raise ValueError("source (this agent's name) must not be empty")
        if max_buffer < 1:
            raise ValueError(f"max_buffer must be >= 1, got {max_buffer}")
        if overflow not in ("error", "drop_oldest"):
            raise ValueError(f"overflow must be 'error' or 'drop_oldest', got {overflow!r}")
        #: Endpoint to dial, and the same without its query for messages.
        self.url = publish_url(url)
        self._shown_url = _shown(self.url)
        self.source = source
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        if ssl is None and ca_file is not None:
            ssl = ssl_module.create_default_context(cafile=ca_file)
        #: TLS settings for connect(): a context for wss:// if given (else the defaults).
        self._tls: dict[str, Any] = (
            {"ssl": ssl} if ssl is not None and self.url.startswith("wss:") else {}
        )
        self._max_buffer = max_buffer
        self._overflow = overflow
        self._backoff = backoff or Backoff(random.Random(), base=1.0, factor=2.0, cap=60.0)
        self._open_timeout = open_timeout
        self._close_timeout = close_timeout
        self._clock_us = clock_us
        #: Updates not yet acknowledged, by counter, oldest first.
        self._pending: OrderedDict[int, _Entry] = OrderedDict()
        #: Counters still to send on the current connection, in order.
        self._unsent: deque[int] = deque()
        #: Frames sent on this connection and not yet fully answered: their counters.
        self._in_flight: deque[deque[int]] = deque()
        #: Wakes the sender when something was queued.
        self._wake = asyncio.Event()
        #: Set when acks made room in a full buffer, or when the connection dropped.
        self._room = asyncio.Event()
        #: The last attempt to connect failed (cleared on connecting).
        self._unreachable = False
        #: The counter of the newest update.
        self._last_counter = 0
        #: Rejections of updates queued with update() (no one else awaits them).
        self._rejections: list[UpdateRejectedError] = []
        #: The error that stopped the Reporter, raised to every later caller.
        self._fatal: ReporterError | None = None
        self._task: asyncio.Task[None] | None = None
        self._ws: ClientConnection | None = None
        self._closing = False
        self._stop = asyncio.Event()
        self.hub_id: str | None = None
        #: Why the last attempt to connect or the last connection failed.
        self.last_error: str | None = None
        #: Counters for tests, logs and the demo's status line.
        self.acked = 0
        self.duplicates = 0
        self.dropped = 0
        self.connects = 0

    # ------------------------------------------------------------------ life cycle

    async def __aenter__(self) -> Reporter:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose(flush=exc_type is None)

    def start(self) -> None:
        """Start connecting in the background (``async with`` does it)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"reporter {self.source}")

    async def aclose(self, *, flush: bool = True) -> None:
        """Wait up to ``close_timeout`` for every ack (if ``flush``), then close with 1000.

        Raises, after closing, TimeoutError naming how many updates were not acknowledged,
        or what flush() raises (a refused token, rejected updates).
        """
        unacked = 0
        try:
            if flush and self._fatal is None and self._task is not None:
                try:
                    async with asyncio.timeout(self._close_timeout):
                        await self.flush()
                except TimeoutError:
                    unacked = len(self._pending)
        finally:
            await self._shut_down()
        if unacked:
            raise TimeoutError(
                f"{unacked} updates were not acknowledged by {self._shown_url}"
                f" within {self._close_timeout:g} s"
            )

    async def _shut_down(self) -> None:
        """Stop the background task, close the connection (1000), fail what is left."""
        self._closing = True
        self._stop.set()
        self._room.set()
        self._wake.set()
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()  # code 1000; the receive loop then ends by itself
        task = self._task
        if task is not None:
            if ws is None:
                task.cancel()  # it is connecting or waiting to retry: nothing to finish
            with contextlib.suppress(asyncio.CancelledError):
                await task
        error = self._fatal or ReporterError("the Reporter is closed")
        for entry in self._pending.values():
            if not entry.future.done():
                _fail_quietly(entry.future, error)
        self._pending.clear()

    @property
    def connected(self) -> bool:
        return self._ws is not None

    @property
    def error(self) -> ReporterError | None:
        """The error that stopped the Reporter (a refused token...), None while it runs."""
        return self._fatal

    @property
    def pending(self) -> int:
        """Updates waiting for an ack."""
        return len(self._pending)

    # ------------------------------------------------------------------ reporting

    def report(self, update: SyncUpdate) -> asyncio.Future[Ack]:
        """Queue ``update`` (numbered and stamped here) and return the future of its ack.

        Raises ProtocolError at once if the update breaks the wire format, BufferFullError when
        the buffer is full, and the fatal error once the Reporter has stopped.
        """
        if self._fatal is not None:
            raise self._fatal
        if self._closing:
            raise ReporterError("the Reporter is closed")
        counter = max(self._last_counter + 1, self._clock_us())
        update = update._replace(source=update.source or self.source, counter=counter, seq=None)
        data = encode_update(update)
        parse_update(data, from_publisher=True)  # refuse here what the hub would refuse
        if len(self._pending) >= self._max_buffer:
            self._make_room()
        self._last_counter = counter
        future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        self._pending[counter] = _Entry(update, data, future)
        if self._ws is not None:  # else the next connection resends all that is pending
            self._unsent.append(counter)
        self._wake.set()
        return future

    async def submit(self, update: SyncUpdate) -> asyncio.Future[Ack]:
        """Like report(), but when the buffer is full wait for acks to make room first,
        unless the hub is unreachable (then the overflow policy applies)."""
        if len(self._pending) >= self._max_buffer:
            await self._wait_for_room()
        return self.report(update)

    def post(self, update: SyncUpdate) -> None:
        """Queue ``update`` without awaiting its ack (for feeds such as the demo);
        rejections are logged and raised by flush(). Same errors as report()."""
        self.report(update).add_done_callback(self._note_outcome)

    async def update(
        self,
        *,
        operation_id: str,
        operation_type: str,
        status: Status | str,
        progress: float,
        item: str | None = None,
        bytes_done: int | None = None,
        bytes_total: int | None = None,
        error: str | None = None,
        timestamp_us: int | None = None,
        wait: bool = False,
    ) -> Ack | None:
        """Queue one update; with ``wait=True`` return its ack (or raise UpdateRejectedError).

        Without ``wait`` it returns once queued; a rejection is then raised by flush().
        """
        try:
            status = Status(status)
        except ValueError:
            raise ProtocolError(
                f"unknown status {status!r} (expected one of {', '.join(Status)})", field="status"
            ) from None
        future = await self.submit(
            SyncUpdate(
                operation_id=operation_id,
                operation_type=operation_type,
                status=status,
                progress=float(progress),
                timestamp_us=self._clock_us() if timestamp_us is None else timestamp_us,
                item=item,
                bytes_done=bytes_done,
                bytes_total=bytes_total,
                error=error,
            )
        )
        if wait:
            return await future
        future.add_done_callback(self._note_outcome)
        return None

    async def flush(self) -> None:
        """Wait until every update queued so far is acknowledged (or rejected).

        Bound it with ``asyncio.timeout``. Raises the fatal error if the Reporter stopped,
        and UpdateRejectedError if the hub refused updates queued with update().
        """
        if self._fatal is not None:
            raise self._fatal
        futures = [entry.future for entry in self._pending.values()]
        if futures:
            await asyncio.wait(futures)
        if self._fatal is not None:
            raise self._fatal
        if self._rejections:
            first, count = self._rejections[0], len(self._rejections)
            self._rejections.clear()
            raise UpdateRejectedError(first.update, first.error, others=count - 1)

    def _note_outcome(self, future: asyncio.Future[Ack]) -> None:
        """Keep rejections of fire-and-forget updates for flush(); retrieve other errors."""
        if future.cancelled():
            return
        exc = future.exception()
        if isinstance(exc, UpdateRejectedError):
            log.warning("%s", exc)
            if len(self._rejections) < 1000:
                self._rejections.append(exc)

    async def _wait_for_room(self) -> None:
        """Flow control unless the hub is unreachable: wait until acks drained half of
        the buffer."""
        while (
            len(self._pending) >= self._max_buffer
            and not self._unreachable
            and not self._stop.is_set()
        ):
            self._room.clear()
            await self._room.wait()

    def _make_room(self) -> None:
        if self._overflow == "error":
            raise BufferFullError(
                f"{len(self._pending)} updates already wait for {self._shown_url}"
                f" (max_buffer={self._max_buffer}); the hub is unreachable or too slow"
            )
        _, oldest = self._pending.popitem(last=False)
        self.dropped += 1
        if self.dropped == 1 or self.dropped % 1000 == 0:
            log.warning("%s: buffer full, dropped %d oldest updates", self.source, self.dropped)
        if not oldest.future.done():
            _fail_quietly(oldest.future, UpdateDroppedError("dropped unsent: the buffer was full"))

    # ------------------------------------------------------------------ the connection

    async def _run(self) -> None:
        """Connect, send and receive until closed; reconnect with backoff in between."""
        stop = self._stop
        try:
            while not stop.is_set():
                try:
                    await self._session()
                except (
                    OSError,
                    TimeoutError,
                    InvalidHandshake,
                    ConnectionClosed,
                    ProtocolError,
                ) as exc:
                    self.last_error = str(exc) or type(exc).__name__
                    if not stop.is_set():
                        log.info("%s: hub %s unreachable (%s)", self.source, self._shown_url, exc)
                self._unreachable = True
                self._room.set()  # writers waiting for acks now get the overflow policy
                if stop.is_set():
                    break
                delay = self._backoff.next_delay()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
        except ReporterError as exc:
            self._stop_with(exc)
        except Exception as exc:  # a bug must not leave callers waiting forever
            log.exception("%s: reporter stopped", self.source)
            self._stop_with(ReporterError(f"reporter stopped: {exc!r}"))

    def _stop_with(self, error: ReporterError) -> None:
        self._fatal = error
        self._room.set()
        for entry in self._pending.values():
            if not entry.future.done():
                _fail_quietly(entry.future, error)
        self._pending.clear()

    async def _session(self) -> None:
        """One connection: hello, resend what is unacknowledged, then pipeline."""
        try:
            ws = await connect(
                self.url,
                additional_headers=self._headers,
                **self._tls,
                open_timeout=self._open_timeout,
                proxy=None,
                compression=None,
                close_timeout=2.0,
            )
        except InvalidStatus as exc:
            raise self._refusal(exc.response.status_code) from None
        except ssl_module.SSLCertVerificationError as exc:
            raise ReporterError(
                f"the TLS certificate of {self._shown_url} is not trusted"
                f" ({exc.verify_message}): pass the hub's CA certificate (ca_file / --ca-file)"
            ) from None
        except InvalidURI as exc:
            raise ReporterError(f"invalid hub URL {self._shown_url}: {exc}") from None
        try:
            async with asyncio.timeout(self._open_timeout):
                hello = parse_frame(await ws.recv())
            if not isinstance(hello, Hello):
                raise ProtocolError(f"expected hello, got {type(hello).__name__}")
            self.hub_id = hello.hub_id
            self._ws = ws
            self._unreachable = False
            self.connects += 1
            self._backoff.reset()
            self._unsent = deque(self._pending)
            self._in_flight.clear()
            log.info(
                "%s: connected to %s, %d to (re)send",
                self.source,
                self._shown_url,
                len(self._unsent),
            )
            sender = asyncio.create_task(self._send_loop(ws))
            try:
                async for message in ws:
                    self._on_frame(parse_frame(message))
            finally:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await sender
        finally:
            self._ws = None
            if not self._closing:
                await ws.close()

    def _refusal(self, status: int) -> ReporterError | OSError:
        where = self._shown_url
        if status == 401:
            return ReporterAuthError(
                f"the hub at {where} refused the token (HTTP 401): check the token"
            )
        if status == 403:
            return ReporterAuthError(
                f"the hub at {where} does not let this token publish (HTTP 403):"
                " use a publisher token"
            )
        if 400 <= status < 500 and status not in (408, 429):
            return ReporterError(f"{where} is not a Syncwatch hub publish endpoint (HTTP {status})")
        return ConnectionRefusedError(f"hub answered HTTP {status}")  # retried

    async def _send_loop(self, ws: ClientConnection) -> None:
        pending, unsent = self._pending, self._unsent
        while True:
            while not unsent:
                self._wake.clear()
                await self._wake.wait()
            chunk: list[bytes] = []
            counters: deque[int] = deque()
            size = 64
            while unsent and len(chunk) < MAX_BATCH_UPDATES:
                entry = pending.get(unsent[0])
                if entry is None:  # dropped or already answered
                    unsent.popleft()
                    continue
                if chunk and size + len(entry.data) + 1 > _BATCH_BYTES:
                    break
                chunk.append(entry.data)
                size += len(entry.data) + 1
                counters.append(unsent.popleft())
            if chunk:
                self._in_flight.append(counters)
                await ws.send(
                    chunk[0] if len(chunk) == 1 else encode_prepared_batch(chunk), text=True
                )

    def _on_frame(self, frame: object) -> None:
        if isinstance(frame, Ack):
            for entry in self._answered(frame.counter):
                self.acked += 1
                self.duplicates += frame.duplicate
                if not entry.future.done():
                    entry.future.set_result(frame)
        elif isinstance(frame, ErrorFrame):
            entries = self._answered(frame.counter)
            if not entries:
                log.warning("%s: hub error: %s: %s", self.source, frame.code, frame.detail)
            for entry in entries:
                if not entry.future.done():
                    entry.future.set_exception(UpdateRejectedError(entry.update, frame))
        if len(self._pending) <= self._max_buffer // 2 and not self._room.is_set():
            self._room.set()

    def _answered(self, counter: int | None) -> list[_Entry]:
        """The updates an ack or error answers: the one with its counter; without a
        counter, every unanswered update of the oldest frame in flight (the hub refuses
        an invalid batch as a whole, with one error frame)."""
        in_flight, pending = self._in_flight, self._pending
        while in_flight:
            head = in_flight[0]
            while head and head[0] not in pending:
                head.popleft()
            if head:
                break
            in_flight.popleft()
        if counter is None:
            if not in_flight:
                return []
            head = in_flight.popleft()
            return [pending.pop(c) for c in head if c in pending]
        if in_flight and in_flight[0][0] == counter:
            in_flight[0].popleft()
        entry = pending.pop(counter, None)
        return [] if entry is None else [entry]
