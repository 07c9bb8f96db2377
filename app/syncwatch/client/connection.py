"""The viewer's connection to a hub: resumable, self-healing, honest about its state.

:class:`HubClient` keeps one WebSocket subscription alive for as long as the app runs and
tells a :class:`ClientListener` what happens, on the asyncio loop's thread:

- **Delivery.** Each connection answers the hub's hello with ``subscribe`` from the last
  known position (the durable store's cursor at first, then what this client delivered),
  so a reconnect replays what was missed instead of resending everything. Updates reach
  the listener in seq order, never twice, never across a gap: a gap, an unreadable frame
  or a changed hub_id makes the client reconnect asking for a snapshot (after a backoff
  delay, so a misbehaving hub cannot cause a reconnect loop), reported with ``gap_from``
  (see :mod:`syncwatch.client.resume`).
- **States.** CONNECTING, CONNECTED, RECONNECTING (attempt number and the delay before the
  next try), OFFLINE (the network is down: no retries), ERROR (a refused token or an
  untrusted certificate: retrying cannot help, so it waits for ``reconnect_now()`` or
  ``update_settings()``; the network coming back or a resume also earn it one new try,
  never a loop), DISCONNECTED (after ``stop()``; a stopped client stays stopped).
- **Backoff.** The core's full-jitter backoff (1 s base, x2, 60 s cap), reset once a
  connection has lived ``stable_after_s``, so a hub that accepts and then drops
  connections in a loop does not get hammered.
- **Rebuild after 3 failed attempts.** Every third consecutive failure discards all that
  the client carries between attempts: the TLS context (rebuilt from the CA file on disk)
  and, being per attempt, the connection object and DNS resolution (the stdlib keeps no
  resolver cache, so every attempt resolves the name afresh). The network coming back and
  a resume from sleep rebuild too: both may mean another network.
- **Liveness and latency.** One mechanism (websockets' own keepalive is off): a ping right
  after connecting and every ``ping_interval``; the round trip feeds a LatencyTracker and
  ``on_latency``; no pong within ``ping_timeout`` means the link is dead (a blackhole
  sends no FIN, no RST) and the client reconnects.
- **Sleep and network changes.** ``notify_resumed()``, or a wall-clock jump against the
  monotonic clock seen by the client's own watchdog (the monotonic clock stops during
  suspend), drops the possibly stale connection and reconnects at once.
  ``set_network_online(False)`` (a hint from QNetworkInformation) stops retrying and shows
  OFFLINE; a live connection is kept but probed with a ping at once, because a hint is not
  proof. A hub on loopback ignores offline hints (``ignore_offline_for_loopback``): the
  embedded hub stays reachable whatever the Wi-Fi does.

All public methods must be called on the loop's thread (with qasync, the GUI thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from enum import Enum
from typing import Any, Final, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from syncwatch.client.endpoint import HubEndpoint
from syncwatch.client.failures import Failure, classify_failure
from syncwatch.client.resume import ResumeCursor
from syncwatch.core.backoff import Backoff, RandomSource
from syncwatch.core.connection import (
    ConnectionState,
    ConnectionStatus,
    LatencyStats,
)
from syncwatch.core.latency import LatencyTracker
from syncwatch.core.protocol import (
    MAX_HUB_FRAME_BYTES,
    PROTOCOL_VERSION,
    Batch,
    ErrorFrame,
    Hello,
    ProtocolError,
    Snapshot,
    SyncUpdate,
    encode_frame,
    parse_frame,
)

log = logging.getLogger(__name__)

#: Seconds a clean close (1000) may take before the socket is dropped.
CLOSE_TIMEOUT_S: Final = 2.0
#: Longest stretch of frame handling before the reader lets other callbacks run.
READ_SLICE_S: Final = 0.005

Cursor = Callable[[], tuple[str, int] | None]


class ClientListener(Protocol):
    """What the connection reports. Calls happen on the asyncio loop's thread.

    A listener may also define ``on_message() -> None``, called for every frame received
    (for "last heard from the hub" displays), and ``room_for_updates() -> Awaitable[object]
    | None``, asked before each frame is read: an awaitable means "not now", and the
    client reads nothing until it completes (TCP flow control then holds the hub back).
    Pongs then wait behind the unread frames, so the ping timeout does not run out while
    the reader is held: dead-link detection resumes with reading, and a connection that
    closes meanwhile is noticed at once. Both are looked up once, at construction.
    """

    def on_status(self, status: ConnectionStatus) -> None:
        """The link changed state (each change once, in order)."""

    def on_latency(self, stats: LatencyStats) -> None:
        """A new ping round trip was measured."""

    def on_snapshot(self, hub_id: str, snapshot: Snapshot, gap_from: int | None) -> None:
        """Replace all state with ``snapshot``. ``gap_from`` is the last seq known before
        it when the snapshot replaces a resume that was impossible (a gap to mark)."""

    def on_updates(self, hub_id: str, updates: Sequence[SyncUpdate]) -> None:
        """Apply updates: consecutive seqs following the last ones delivered."""


class _Interrupt(Enum):
    """Why the current attempt or connection must end now."""

    STOP = "stopped"
    SETTINGS = "settings changed"
    RESUMED = "resumed from sleep"


class _ListenerError(Exception):
    """Wraps an exception raised by the listener, so it is not taken for a network error."""


class HubClient:
    """A self-healing subscription to a hub's update stream (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        listener: ClientListener,
        token: str | None = None,
        ca_file: str | None = None,
        ping_interval: float = 10.0,
        ping_timeout: float = 10.0,
        cursor: Cursor = lambda: None,
        rng: RandomSource | None = None,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        stable_after_s: float = 30.0,
        backoff_base: float = 1.0,
        backoff_factor: float = 2.0,
        backoff_cap: float = 60.0,
        open_timeout: float = 10.0,
        rebuild_after_failures: int = 3,
        clock_check_interval: float = 1.0,
        resume_jump_s: float = 5.0,
        ignore_offline_for_loopback: bool = True,
    ) -> None:
        for name, value in (
            ("ping_interval", ping_interval),
            ("ping_timeout", ping_timeout),
            ("open_timeout", open_timeout),
            ("clock_check_interval", clock_check_interval),
            ("resume_jump_s", resume_jump_s),
        ):
            if not value > 0:
                raise ValueError(f"{name} must be > 0 seconds, got {value}")
        if not stable_after_s >= 0:
            raise ValueError(f"stable_after_s must be >= 0 seconds, got {stable_after_s}")
        if rebuild_after_failures < 1:
            raise ValueError(f"rebuild_after_failures must be >= 1, got {rebuild_after_failures}")
        #: Hub address and credentials (replaced by update_settings).
        self._endpoint = HubEndpoint(url, token, ca_file)
        self._listener = listener
        self._on_message: Callable[[], object] | None = getattr(listener, "on_message", None)
        self._room_for_updates: Callable[[], Awaitable[object] | None] | None = getattr(
            listener, "room_for_updates", None
        )
        #: The reader is waiting for room_for_updates now...
        self._holding = False
        #: ...and how many such waits began (the pinger tells a held round trip by it).
        self._holds = 0
        self._cursor = cursor
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._open_timeout = open_timeout
        self._wall_clock = wall_clock
        self._monotonic = monotonic
        self._stable_after_s = stable_after_s
        self._rebuild_after = rebuild_after_failures
        self._clock_check_interval = clock_check_interval
        self._resume_jump_s = resume_jump_s
        self._ignore_offline_for_loopback = ignore_offline_for_loopback
        #: Delays between failed attempts; attempt = failures since the last stable link.
        self._backoff = Backoff(
            rng or random.Random(), base=backoff_base, factor=backoff_factor, cap=backoff_cap
        )
        #: Position delivered so far and the resync decisions.
        self._resume = ResumeCursor()
        self._latency = LatencyTracker()
        #: The last status reported.
        self._status = ConnectionStatus(
            ConnectionState.DISCONNECTED, self._endpoint.public_url, wall_clock()
        )
        #: TLS context kept between attempts until a rebuild (None: build at next attempt).
        self._ssl_context: ssl.SSLContext | None = None
        #: How many times the carried state was rebuilt (observable in tests and logs).
        self.rebuilds = 0
        #: Connection attempts started (observable in tests).
        self.attempts = 0
        self._running = False
        self._stop_requested = False
        #: Network hint from the Qt layer, and a one-off override by reconnect_now().
        self._online = True
        self._force_attempt = False
        #: Ends waits (backoff, ERROR, OFFLINE).
        self._wake = asyncio.Event()
        #: Ends the current attempt or connection; _interrupt says why.
        self._interrupted = asyncio.Event()
        self._interrupt: _Interrupt | None = None
        #: Makes the pinger ping now (network hint changed).
        self._probe = asyncio.Event()
        #: Background clean closes of connections left behind.
        self._closing: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ public API

    @property
    def status(self) -> ConnectionStatus:
        return self._status

    @property
    def latency(self) -> LatencyStats:
        return self._latency.stats()

    def stop(self) -> None:
        """End run(): close the connection cleanly (1000) and report DISCONNECTED."""
        self._stop_requested = True
        self._interrupt_with(_Interrupt.STOP)

    def reconnect_now(self) -> None:
        """Try at once: skips the backoff wait, leaves ERROR, or tries once while OFFLINE.

        Does nothing while connected or already connecting."""
        if self._status.state in (
            ConnectionState.RECONNECTING,
            ConnectionState.ERROR,
            ConnectionState.OFFLINE,
        ):
            self._force_attempt = True
            self._wake.set()

    def set_network_online(self, online: bool) -> None:
        """A hint about the network (QNetworkInformation): offline stops retrying; back
        online reconnects at once with rebuilt state."""
        was_online, self._online = self._online, online
        if online and not was_online:
            self._rebuild("network back online")
            self._backoff.reset()
            self._wake.set()
        elif not online and was_online:
            self._probe.set()  # a live connection proves itself or dies within ping_timeout
            self._wake.set()  # a waiting loop shows OFFLINE instead of retrying

    def notify_resumed(self) -> None:
        """The machine woke from sleep: the connection may be stale; reconnect at once."""
        log.info("resumed from sleep: reconnecting")
        self._rebuild("resumed from sleep")
        self._backoff.reset()
        self._interrupt_with(_Interrupt.RESUMED)

    def update_settings(self, url: str, token: str | None, ca_file: str | None) -> None:
        """Use another hub address or credentials from now on (validated here: ValueError).

        The current connection is closed and a new one opened with the new settings."""
        self._endpoint = HubEndpoint(url, token, ca_file)
        self._rebuild("settings changed")
        self._backoff.reset()
        self._latency.reset()
        self._interrupt_with(_Interrupt.SETTINGS)

    async def run(self) -> None:
        """Keep the subscription alive until stop() (or cancellation)."""
        if self._running:
            raise RuntimeError("HubClient.run() is already running")
        self._running = True
        watchdog = asyncio.create_task(self._watch_clock())
        try:
            await self._keep_connected()
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
            if self._closing:
                await asyncio.gather(*self._closing, return_exceptions=True)
            self._running = False
            self._set_status(ConnectionState.DISCONNECTED)

    # ------------------------------------------------------------------ the loop

    async def _keep_connected(self) -> None:
        if not self._stop_requested:
            self._set_status(ConnectionState.CONNECTING)
        while not self._stop_requested:
            if self._offline_blocks():
                self._set_status(ConnectionState.OFFLINE, reason="network is offline")
                await self._wait(None)
                continue
            failure = await self._attempt()
            if self._stopping():
                break
            if failure is None:
                continue  # ended on purpose (resume, new settings, resync): go again now
            if not failure.retryable:
                log.warning("hub connection failed: %s (waiting for new settings)", failure.reason)
                self._backoff.reset()
                self._set_status(ConnectionState.ERROR, reason=failure.reason)
                await self._wait(None)
                continue
            if self._offline_blocks():
                continue
            delay = self._backoff.next_delay()
            attempt = self._backoff.attempt
            if attempt % self._rebuild_after == 0:
                self._rebuild(f"{attempt} failed attempts")
            log.info(
                "hub connection failed: %s; retry %d in %.1f s", failure.reason, attempt, delay
            )
            self._set_status(
                ConnectionState.RECONNECTING,
                attempt=attempt,
                retry_in_s=delay,
                reason=failure.reason,
            )
            await self._wait(delay)

    async def _attempt(self) -> Failure | None:
        """One connection from opening to its end: the failure, or None if interrupted."""
        self._wake.clear()
        self._interrupted.clear()
        reason = self._interrupt.value if self._interrupt is not None else None
        self._interrupt = None
        self._force_attempt = False
        if self._status.state not in (ConnectionState.CONNECTING, ConnectionState.RECONNECTING):
            self._set_status(ConnectionState.CONNECTING, reason=reason)
        self.attempts += 1
        opening = asyncio.create_task(self._open())
        if not await self._unless_interrupted(opening):
            return None
        try:
            ws, hello = opening.result()
        except Exception as exc:  # every failure to connect has a reason and a policy
            return classify_failure(exc)
        try:
            return await self._serve(ws, hello)
        finally:
            self._dispose(ws)

    async def _open(self) -> tuple[ClientConnection, Hello]:
        """Connect, read the hello and subscribe, all within open_timeout."""
        endpoint = self._endpoint
        if endpoint.secure and self._ssl_context is None:
            self._ssl_context = endpoint.ssl_context()
        options: dict[str, Any] = {"ssl": self._ssl_context} if endpoint.secure else {}
        async with asyncio.timeout(self._open_timeout):
            ws = await connect(
                endpoint.url,
                additional_headers=endpoint.headers(),
                proxy=None,
                ping_interval=None,
                ping_timeout=None,
                open_timeout=None,
                close_timeout=CLOSE_TIMEOUT_S,
                max_size=MAX_HUB_FRAME_BYTES,
                **options,
            )
            try:
                hello = parse_frame(await ws.recv(decode=False), max_bytes=MAX_HUB_FRAME_BYTES)
                if not isinstance(hello, Hello):
                    raise ProtocolError("the hub must send hello first", field="type")
                if hello.protocol != PROTOCOL_VERSION:
                    raise ProtocolError(
                        f"hub speaks protocol {hello.protocol}, this app {PROTOCOL_VERSION}",
                        field="protocol",
                    )
                await ws.send(
                    encode_frame(self._resume.subscribe(hello, self._cursor())), text=True
                )
            except BaseException:
                ws.transport.abort()
                raise
        return ws, hello

    async def _serve(self, ws: ClientConnection, hello: Hello) -> Failure | None:
        """Deliver frames until the link ends; returns why (None if interrupted)."""
        connected_at = self._monotonic()
        self._set_status(ConnectionState.CONNECTED, hub_id=hello.hub_id)
        reader = asyncio.create_task(self._read(ws))
        pinger = asyncio.create_task(self._ping(ws))
        interrupted = asyncio.create_task(self._interrupted.wait())
        # The reader may be held back (room_for_updates) when the link drops: the end of
        # the connection is noticed by itself, not at the next read or ping.
        closed = asyncio.create_task(ws.wait_closed())
        tasks = (reader, pinger, interrupted, closed)
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._monotonic() - connected_at >= self._stable_after_s:
            self._backoff.reset()
        for task in (reader, pinger):  # a listener's bug is never hidden by a reconnect
            failed = task.exception() if task.done() and not task.cancelled() else None
            if isinstance(failed, _ListenerError):
                raise failed.__cause__ or failed
        if interrupted.done() and not interrupted.cancelled():
            return None
        if pinger.done() and not pinger.cancelled():
            ping_exc = pinger.exception()
            if ping_exc is not None:
                return classify_failure(ping_exc)
            ws.transport.abort()  # a dead link would make a clean close wait in vain
            return Failure(pinger.result(), retryable=True)
        if not reader.done() or reader.cancelled():
            # The link ended while the reader waited: what it had not read is fetched
            # again by the resume, from the durable cursor.
            return Failure(_closed_reason(ws.protocol.close_exc), retryable=True)
        exc = reader.exception()
        if isinstance(exc, ConnectionClosed):
            return Failure(_closed_reason(exc), retryable=True)
        return classify_failure(exc) if exc is not None else reader.result()

    async def _read(self, ws: ClientConnection) -> Failure:
        """Parse and deliver frames until the connection closes or a resync is needed.

        A resync reconnects asking for a snapshot, after a backoff delay like any failure:
        a hub that keeps sending gaps or garbage must not get a reconnect loop."""
        resume = self._resume
        listener = self._listener
        on_message = self._on_message
        room_for_updates = self._room_for_updates
        monotonic = time.monotonic
        slice_started = monotonic()
        while True:
            # recv() does not yield while frames are buffered, so a replayed backlog would
            # be parsed in one long callback and freeze the GUI sharing this loop: hand the
            # loop back every few milliseconds of work.
            if monotonic() - slice_started > READ_SLICE_S:
                await asyncio.sleep(0)
                slice_started = monotonic()
            room = room_for_updates() if room_for_updates is not None else None
            if room is not None:
                self._holding = True
                self._holds += 1
                try:
                    await room
                finally:
                    self._holding = False
                slice_started = monotonic()
            data = await ws.recv(decode=False)
            try:
                frame = parse_frame(data, max_bytes=MAX_HUB_FRAME_BYTES)
            except ProtocolError as exc:
                log.warning("unreadable frame from the hub (%s): resynchronising", exc)
                resume.force_resync()
                return Failure("hub sent an unreadable frame: resynchronising", retryable=True)
            try:
                if on_message is not None:
                    on_message()
                if isinstance(frame, SyncUpdate | Batch):
                    delivery = resume.updates(
                        (frame,) if isinstance(frame, SyncUpdate) else frame.updates
                    )
                    if delivery.updates:
                        listener.on_updates(self._require_hub_id(), delivery.updates)
                    if delivery.resync:
                        log.warning("gap in the hub's updates: resynchronising")
                        return Failure("updates were missing: resynchronising", retryable=True)
                elif isinstance(frame, Snapshot):
                    hub_id, gap_from = resume.snapshot(frame)
                    listener.on_snapshot(hub_id, frame, gap_from)
                elif isinstance(frame, ErrorFrame):
                    log.warning("hub reported an error: %s (%s)", frame.detail, frame.code)
                else:
                    log.warning("ignoring an unexpected %s frame", type(frame).__name__)
            except Exception as exc:
                raise _ListenerError() from exc

    async def _ping(self, ws: ClientConnection) -> str:
        """Measure round trips until one goes unanswered; returns the reason then."""
        while True:
            started = self._monotonic()
            holds = self._holds
            try:
                pong = await ws.ping()
                while True:
                    try:
                        async with asyncio.timeout(self._ping_timeout):
                            await asyncio.shield(pong)
                        break
                    except TimeoutError:
                        # While the reader is held back (room_for_updates) the pong waits
                        # behind frames this client chose not to read: that is no dead
                        # link. The wait starts over once reading has resumed.
                        if not self._holding and self._holds == holds:
                            return f"no answer to ping within {self._ping_timeout:g} s"
                        holds = self._holds
            except ConnectionClosed:
                return "connection lost"
            if not self._holding and self._holds == holds:  # a held round trip is no latency
                self._latency.add(max(0.0, (self._monotonic() - started) * 1000.0))
                self._call(self._listener.on_latency, self._latency.stats())
            self._probe.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._ping_interval):
                    await self._probe.wait()

    async def _watch_clock(self) -> None:
        """Detect sleep/resume: the wall clock runs on during suspend, the monotonic one not."""
        last_wall, last_mono = self._wall_clock(), self._monotonic()
        while True:
            await asyncio.sleep(self._clock_check_interval)
            wall, mono = self._wall_clock(), self._monotonic()
            jump = (wall - last_wall) - (mono - last_mono)
            last_wall, last_mono = wall, mono
            if abs(jump) >= self._resume_jump_s:
                log.info("wall clock jumped %+.0f s against the monotonic clock", jump)
                self.notify_resumed()

    # ------------------------------------------------------------------ helpers

    def _stopping(self) -> bool:
        # A method, not the attribute: the flag changes behind the awaits of the loop.
        return self._stop_requested

    def _offline_blocks(self) -> bool:
        if self._online or self._force_attempt:
            return False
        return not (self._ignore_offline_for_loopback and self._endpoint.is_loopback)

    def _interrupt_with(self, why: _Interrupt) -> None:
        if self._interrupt is not _Interrupt.STOP:
            self._interrupt = why
        self._interrupted.set()
        self._wake.set()

    def _rebuild(self, why: str) -> None:
        """Drop what is carried between attempts, so the next one starts from scratch."""
        self._ssl_context = None
        self.rebuilds += 1
        log.info("rebuilding the connection state (%s)", why)

    async def _wait(self, delay_s: float | None) -> None:
        """Sleep for ``delay_s`` (None: for ever) unless something wakes the loop.

        A wake-up is consumed: it ends one wait (even one that starts after it), not all."""
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay_s):
                    await self._wake.wait()
        finally:
            self._wake.clear()

    async def _unless_interrupted(self, task: asyncio.Task[Any]) -> bool:
        """Await ``task`` unless interrupted first (then cancel it): True if it finished."""
        interrupted = asyncio.create_task(self._interrupted.wait())
        try:
            await asyncio.wait((task, interrupted), return_when=asyncio.FIRST_COMPLETED)
        finally:
            interrupted.cancel()
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        return task.done() and not task.cancelled()

    def _dispose(self, ws: ClientConnection) -> None:
        """Close a finished connection: cleanly (1000) unless the link is suspect."""
        if self._interrupt is _Interrupt.RESUMED:
            ws.transport.abort()
            return
        task = asyncio.create_task(ws.close(1000))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _require_hub_id(self) -> str:
        position = self._resume.position
        assert position is not None
        return position.hub_id

    def _call(self, method: Callable[..., object], *args: object) -> None:
        try:
            method(*args)
        except Exception as exc:
            raise _ListenerError() from exc

    def _set_status(
        self,
        state: ConnectionState,
        *,
        attempt: int = 0,
        retry_in_s: float | None = None,
        reason: str | None = None,
        hub_id: str | None = None,
    ) -> None:
        status = ConnectionStatus(
            state=state,
            hub_url=self._endpoint.public_url,
            since=self._wall_clock(),
            attempt=attempt,
            retry_in_s=retry_in_s,
            reason=reason,
            hub_id=hub_id,
        )
        if status.state is self._status.state and _same_details(status, self._status):
            return  # woken without anything changing (e.g. still offline)
        self._status = status
        self._listener.on_status(status)


def _same_details(a: ConnectionStatus, b: ConnectionStatus) -> bool:
    return (a.attempt, a.retry_in_s, a.reason, a.hub_id) == (
        b.attempt,
        b.retry_in_s,
        b.reason,
        b.hub_id,
    )


def _closed_reason(exc: ConnectionClosed) -> str:
    rcvd = exc.rcvd
    if rcvd is None:
        return "connection lost"
    if rcvd.code == 1001:
        return "hub is shutting down"
    if rcvd.code == 1013:
        return "hub dropped a slow connection"
    return f"hub closed the connection ({rcvd.code}{': ' + rcvd.reason if rcvd.reason else ''})"
