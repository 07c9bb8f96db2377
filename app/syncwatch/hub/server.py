"""The hub: one port for viewers, publishers, /healthz and /metrics (docs/protocol.md).

Flow of an update: a publisher's frame is parsed by core.protocol, the hub gives each
update the next seq and encodes it once; the :class:`EventLog` writer thread commits it
with whatever else queued up; only then does the event loop ack it, note the operation's
latest seq and hand it to the :class:`Broadcaster`. Viewers therefore never see an
update that a crash could take back, and a seq, once seen, always means the same update.

Everything here runs on one asyncio loop; the only other thread is the log writer,
which reports back through ``call_soon_threadsafe`` (reads of the log run in worker
threads through their own connection).

Memory: per operation the hub holds a few integers (its latest seq, the publisher's last
counter, when it was last heard of), never the update itself: a snapshot is read from the
log's operations table, which the same commits keep, and then brought up to date by a
replay (holding every operation's encoded update cost ~1.1 KiB per operation). And at
most ``max_uncommitted_updates`` wait for the log's commit at a time: after a burst the
allocator keeps the pages its peak filled (a few long-lived objects pin each of them), so
the peak, not the total, decides how much bigger a burst leaves the hub
(docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import functools
import http
import logging
import ssl
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Final, TypeVar, TypeVarTuple
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from syncwatch.core.protocol import (
    MAX_SOURCE_LEN,
    Ack,
    Batch,
    ErrorFrame,
    Hello,
    ProtocolError,
    Status,
    Subscribe,
    SyncUpdate,
    encode_frame,
    encode_update,
    parse_frame,
    parse_update,
    with_seq,
)
from syncwatch.heap import memory_use, release_free_memory
from syncwatch.hub.auth import RedactingLogger, origin_allowed, request_token, token_role
from syncwatch.hub.config import HubConfig, Role
from syncwatch.hub.eventlog import EventLog, LoggedUpdate, Maintenance, StoredOperation
from syncwatch.hub.metrics import HubCounters, HubGauges, render_metrics
from syncwatch.hub.publishers import Outgoing, PublisherSession
from syncwatch.hub.ratelimit import RateLimiter, RateLimitError
from syncwatch.hub.sending import send_text_frames
from syncwatch.hub.viewers import Broadcaster, ViewerSession, make_frames

log = logging.getLogger(__name__)

SUBSCRIBE_PATH: Final = "/v1/subscribe"
PUBLISH_PATH: Final = "/v1/publish"
#: Close code for binary messages: the protocol is JSON text only.
CLOSE_UNSUPPORTED_DATA: Final = 1003
CLOSE_GOING_AWAY: Final = 1001
CLOSE_POLICY: Final = 1008
CLOSE_SERVER_ERROR: Final = 1011
#: Updates read from the log per query during a replay.
REPLAY_CHUNK: Final = 2000
#: Seconds between two calls of release_free_memory (see Hub._release_loop).
RELEASE_INTERVAL_S: Final = 10.0
#: Verdicts on idle operations built and committed at a time (see Hub._give_up).
ABANDON_CHUNK: Final = 500
#: Hub._counters packs (counter, seq) as counter << 64 | seq; seqs stay below 2**63.
_COUNTER_SHIFT: Final = 64
_SEQ_MASK: Final = (1 << _COUNTER_SHIFT) - 1
_T = TypeVar("_T")
_Args = TypeVarTuple("_Args")

#: Marks "not in Hub._abandoning any more" (None is the value of the ones that are).
_HEARD_OF: Final = object()


class HubStartError(RuntimeError):
    """The hub could not start (busy port, unreadable certificate, unusable data dir)."""


class Hub:
    """A sync-status hub serving one event log (see the module docstring).

    ``clock`` gives wall-clock seconds (arrival times, retention, expiry); pass a fake
    one to test retention without waiting days.
    """

    def __init__(self, config: HubConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self.counters = HubCounters()
        self._log: EventLog | None = None
        #: The one thread the log's reads run on (replays, snapshots, give-ups): they are
        #: serialized by the log's reader lock anyway, and with asyncio's default pool
        #: every new worker thread that read got its own C-allocator arena, which kept
        #: what the reads had used.
        self._reader: ThreadPoolExecutor | None = None
        self._server: Server | None = None
        self._port = 0
        self._hub_id = ""
        #: The last seq handed out (committed or not).
        self._assigned_seq = 0
        #: The last seq the log has committed: acks, snapshots and viewers never go past it.
        self._committed_seq = 0
        self._oldest_seq: int | None = None
        #: Assigned but not yet committed updates, in seq order.
        self._pending: deque[LoggedUpdate] = deque()
        #: (operation_id, counter) -> seq of pending updates, for duplicates in flight.
        self._pending_keys: dict[tuple[str, int], int] = {}
        #: operation_id -> seq of the latest committed update of every operation held
        #: (not expired, not evicted); the update itself is in the log's operations table.
        self._held: dict[str, int] = {}
        #: The finished ones among them, oldest-finished first: operation_id -> seq of its
        #: state. Beyond ``max_finished_operations`` the first ones are evicted, in O(1).
        self._finished: OrderedDict[str, int] = OrderedDict()
        #: The active ones: operation_id -> arrival time (us) of its latest accepted
        #: update (kept by _accept, so an update still waiting for its commit counts).
        #: Those idle for ``abandon_after_s`` are found by a scan each maintenance pass
        #: (_abandon_idle). Kept in least-recently-heard order (an OrderedDict, or a dict
        #: an operation is re-inserted into) they cost one more small object each (a
        #: node, or a second copy of the key: the one each update brings), and a flood's
        #: operations are the bulk of what a burst leaves in the allocator.
        self._active: dict[str, int] = {}
        #: Operations found idle and not yet given up (see _give_up); any update accepted
        #: for one of them takes it off.
        self._abandoning: dict[str, None] = {}
        #: The active-operations bound refused an update (cleared below 90% of it).
        self._at_active_limit = False
        #: operation_id -> the last counter accepted and its seq, including pending
        #: updates, packed into one integer (_pack_counter): a tuple of two costs two or
        #: three small allocations per operation, this one.
        self._counters: dict[str, int] = {}
        self._broadcaster = Broadcaster(config.coalesce_window_s)
        self._publishers: set[PublisherSession] = set()
        self._viewer_connections = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        #: The log reported a failed commit: nothing more will commit.
        self._log_failed = False
        #: Set after each group commit (stop() waits on it).
        self._commit_event = asyncio.Event()
        self._logger = RedactingLogger(logging.getLogger("syncwatch.hub.websockets"))

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """Base URL (``ws://127.0.0.1:PORT``); endpoints are /v1/subscribe and /v1/publish."""
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        return f"{self.config.scheme}://{host}:{self._port}"

    @property
    def hub_id(self) -> str:
        return self._hub_id

    @property
    def seq(self) -> int:
        """The latest committed seq."""
        return self._committed_seq

    @property
    def operations_held(self) -> int:
        """Operations held for snapshots: the active ones and the finished ones the
        bounds keep."""
        return len(self._held)

    async def start(self) -> None:
        """Open the log and listen; raises HubStartError with a clear message on failure."""
        if self._server is not None:
            raise RuntimeError("the hub is already started")
        ssl_context = self._ssl_context()
        event_log = await asyncio.to_thread(
            EventLog, self.config.data_dir, synchronous=self.config.synchronous
        )
        self._load(event_log)
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="syncwatch-hub-reader")
        loop = asyncio.get_running_loop()
        event_log.start(
            on_commit=lambda seq: loop.call_soon_threadsafe(self._on_commit, seq),
            on_failure=lambda exc: loop.call_soon_threadsafe(self._on_log_failure, exc),
        )
        try:
            self._server = await serve(
                self._handle,
                self.config.host,
                self.config.port,
                process_request=self._process_request,
                max_size=self.config.max_frame_bytes,
                compression=None,
                ssl=ssl_context,
                close_timeout=self.config.close_timeout_s,
                logger=self._logger,
                server_header="syncwatch-hub",
            )
        except OSError as exc:
            self._reader.shutdown()
            await asyncio.to_thread(event_log.close)
            self._log = None
            where = f"{self.config.host}:{self.config.port}"
            if exc.errno == errno.EADDRINUSE:
                raise HubStartError(
                    f"cannot listen on {where}: the port is already in use"
                ) from exc
            raise HubStartError(f"cannot listen on {where}: {exc.strerror or exc}") from exc
        sockets = list(self._server.sockets)
        self._port = int(sockets[0].getsockname()[1])
        self._spawn(self._maintenance_loop())
        self._spawn(self._release_loop())
        log.info(
            "hub %s listening on %s (log %s, seq %d, auth %s)",
            self._hub_id,
            self.url,
            event_log.path,
            self._committed_seq,
            "on" if self.config.auth_enabled else "off",
        )

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self.config.tls_cert is None or self.config.tls_key is None:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(self.config.tls_cert, self.config.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise HubStartError(f"cannot load the TLS certificate or key: {exc}") from exc
        return context

    def _load(self, event_log: EventLog) -> None:
        self._log = event_log
        self._hub_id = event_log.hub_id
        self._assigned_seq = self._committed_seq = event_log.last_seq
        self._oldest_seq = event_log.oldest_seq
        active: list[StoredOperation] = []
        for operation in event_log.operations():  # in seq order
            self._held[operation.operation_id] = operation.seq
            if operation.terminal:
                self._finished[operation.operation_id] = operation.seq
            else:
                active.append(operation)
            if operation.counter is not None:
                self._counters[operation.operation_id] = _pack_counter(
                    operation.counter, operation.seq
                )
        # Idle time counts from this start at the earliest: while the hub was down, its
        # agents could not report.
        started_us = int(self._clock() * 1_000_000)
        self._active.update((op.operation_id, max(op.updated_us, started_us)) for op in active)
        # A lower bound than the last run's, or evictions the log had not committed yet.
        self._evict_finished()

    async def stop(self, *, code: int = CLOSE_GOING_AWAY, reason: str = "") -> None:
        """Stop cleanly: refuse new input, commit and ack what was accepted, close every
        connection with ``code`` (1001, going away), close the log."""
        if self._server is None or self._stopping:
            return
        self._stopping = True
        event_log = self._log
        assert event_log is not None
        await self._wait_committed(limit_s=10.0)
        self._broadcaster.flush()
        for publisher in list(self._publishers):
            await publisher.drain(limit_s=1.0)
        self._server.close(code=code, reason=reason)
        await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._reader is not None:
            await asyncio.to_thread(self._reader.shutdown)  # after the read in flight
        await asyncio.to_thread(event_log.close)
        self._server = None
        log.info("hub %s stopped at seq %d", self._hub_id, self._committed_seq)

    async def _read(self, read: Callable[[*_Args], _T], *args: *_Args) -> _T:
        """``read(*args)``, one of the log's blocking reads, on the reader thread."""
        return await asyncio.get_running_loop().run_in_executor(self._reader, read, *args)

    async def _wait_committed(self, limit_s: float) -> None:
        """Wait (at most ``limit_s``) until everything accepted so far is committed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit_s):
                await self._commits_until(
                    lambda: self._committed_seq >= self._assigned_seq, while_stopping=True
                )

    async def __aenter__(self) -> Hub:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def serve_until(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then stop cleanly (the command line's main loop)."""
        await stop.wait()
        await self.stop()

    def _spawn(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ HTTP side

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "ok\n")
        if path == "/metrics":
            response = connection.respond(http.HTTPStatus.OK, self.metrics_text())
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
            return response
        if path not in (SUBSCRIBE_PATH, PUBLISH_PATH):
            return connection.respond(http.HTTPStatus.NOT_FOUND, "not found\n")
        if not origin_allowed(request.headers.get("Origin"), self.config.origins):
            return connection.respond(http.HTTPStatus.FORBIDDEN, "origin not allowed\n")
        role = self._role(request.path, request.headers)
        if role is None:
            response = connection.respond(
                http.HTTPStatus.UNAUTHORIZED, "missing or unknown token\n"
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="syncwatch"'
            return response
        if path == PUBLISH_PATH and role is not Role.PUBLISHER:
            return connection.respond(http.HTTPStatus.FORBIDDEN, "this token may not publish\n")
        if path == PUBLISH_PATH and _source_of(request.path) is False:
            return connection.respond(
                http.HTTPStatus.BAD_REQUEST,
                f"source must be 1 to {MAX_SOURCE_LEN} printable characters\n",
            )
        return None

    def _role(self, path: str, headers: Headers) -> Role | None:
        if not self.config.auth_enabled:
            return Role.PUBLISHER
        return token_role(self.config.tokens, request_token(path, headers))

    def metrics_text(self) -> str:
        """The /metrics body (Prometheus text format)."""
        return render_metrics(
            self.counters,
            HubGauges(
                viewers=self._viewer_connections,
                publishers=len(self._publishers),
                seq=self._committed_seq,
                oldest_seq=self._oldest_seq or 0,
                operations=self.operations_held,
                event_log_bytes=self._log.size_bytes() if self._log is not None else 0,
                memory=dataclasses.asdict(memory_use()),
            ),
        )

    # ------------------------------------------------------------------ connections

    async def _handle(self, ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None  # process_request let it through
        path = urlsplit(request.path).path
        peer = _peer(ws)
        if path == PUBLISH_PATH:
            source = _source_of(request.path)
            log.info("publisher connected from %s", peer)
            await self._serve_publisher(ws, source if isinstance(source, str) else None)
        else:
            log.info("viewer connected from %s", peer)
            await self._serve_viewer(ws)
        log.info("%s from %s disconnected (%s)", path.rsplit("/", 1)[-1], peer, ws.close_code)

    async def _hello(self, ws: ServerConnection) -> None:
        await ws.send(encode_frame(Hello(hub_id=self._hub_id, seq=self._committed_seq)), text=True)

    async def _serve_publisher(self, ws: ServerConnection, source: str | None) -> None:
        session = PublisherSession(ws, lambda: self._committed_seq)
        loop = asyncio.get_running_loop()
        limiter = RateLimiter(
            self.config.publisher_rate,
            self.config.publisher_burst,
            self.config.rate_limit_grace_s,
            loop.time(),
        )
        self._publishers.add(session)
        sender = loop.create_task(session.run())
        try:
            await self._hello(ws)
            async for message in ws:
                if self._stopping:
                    break
                if not isinstance(message, str):
                    self.counters.updates_rejected += 1
                    await _close_and_discard(
                        ws, CLOSE_UNSUPPORTED_DATA, "binary messages are not supported"
                    )
                    break
                updates = self._publisher_updates(message, session)
                if not updates:
                    continue
                wait = limiter.delay(len(updates), loop.time())
                if wait > 0:
                    await asyncio.sleep(wait)
                await session.wait_for_room()
                await self._room_to_accept()
                for entry in self._accept(updates, source):
                    session.queue(entry)
        except RateLimitError as exc:
            self.counters.publishers_rate_limited += 1
            log.warning("closing a publisher from %s: %s", _peer(ws), exc)
            await _close_and_discard(ws, CLOSE_POLICY, "rate limit exceeded")
        except ConnectionClosed:
            pass
        finally:
            self._publishers.discard(session)
            if not sender.done():
                await session.drain(limit_s=0.5)
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)

    def _publisher_updates(self, message: str, session: PublisherSession) -> Sequence[SyncUpdate]:
        """The valid updates of a publisher's message; an invalid one queues an error frame."""
        try:
            frame = parse_frame(message, max_bytes=self.config.max_frame_bytes)
            if isinstance(frame, SyncUpdate):
                if frame.seq is not None:
                    raise ProtocolError(
                        "assigned by the hub; publishers must not send it", field="seq"
                    )
                return (frame,)
            if isinstance(frame, Batch):
                for index, update in enumerate(frame.updates):
                    if update.seq is not None:
                        raise ProtocolError(
                            "assigned by the hub; publishers must not send it",
                            field=f"updates[{index}].seq",
                        )
                return frame.updates
            raise ProtocolError(
                f"publishers send sync_update or batch, not {type(frame).__name__.lower()}",
                field="type",
                code="unexpected_type",
            )
        except ProtocolError as exc:
            self.counters.updates_rejected += 1
            error = ErrorFrame(code=exc.code, detail=exc.reason, field=exc.field)
            session.queue((0, encode_frame(error)))
            return ()

    async def _serve_viewer(self, ws: ServerConnection) -> None:
        self._viewer_connections += 1
        session: ViewerSession | None = None
        sender: asyncio.Task[None] | None = None
        try:
            await self._hello(ws)
            async for message in ws:
                if not isinstance(message, str):
                    await _close_and_discard(
                        ws, CLOSE_UNSUPPORTED_DATA, "binary messages are not supported"
                    )
                    break
                error = self._viewer_frame_error(message, subscribed=session is not None)
                if isinstance(error, ErrorFrame):
                    await ws.send(encode_frame(error), text=True)
                    continue
                session = ViewerSession(
                    ws,
                    self.config.viewer_backlog_updates,
                    self._viewer_dropped,
                    self._viewer_behind,
                    functools.partial(self._catch_up, ws),
                )
                await self._subscribe(ws, session, error)
                sender = asyncio.get_running_loop().create_task(
                    session.run(self._count_broadcast_frames)
                )
        except ConnectionClosed:
            pass
        finally:
            self._viewer_connections -= 1
            if session is not None:
                self._broadcaster.viewers.discard(session)
            if sender is not None:
                sender.cancel()
                await asyncio.gather(sender, return_exceptions=True)

    def _viewer_frame_error(self, message: str, *, subscribed: bool) -> ErrorFrame | Subscribe:
        try:
            frame = parse_frame(message, max_bytes=self.config.max_frame_bytes)
        except ProtocolError as exc:
            return ErrorFrame(code=exc.code, detail=exc.reason, field=exc.field)
        if not isinstance(frame, Subscribe):
            return ErrorFrame(
                code="unexpected_type",
                detail="viewers send subscribe frames only",
                field="type",
            )
        if subscribed:
            return ErrorFrame(code="already_subscribed", detail="subscribe once per connection")
        return frame

    def _viewer_dropped(self) -> None:
        self.counters.viewers_dropped += 1

    def _viewer_behind(self, session: ViewerSession) -> None:
        self.counters.viewers_behind += 1
        self._broadcaster.viewers.discard(session)

    async def _catch_up(self, ws: ServerConnection, session: ViewerSession) -> None:
        """Serve a viewer that fell behind from the log, then make it live again; if
        retention deleted what it still needs, close it with 1013 (it resumes with a
        snapshot)."""
        cursor = await self._replay(ws, session.delivered_seq)
        if cursor is None:
            session.drop()
            return
        self._go_live(session, cursor)

    def _count_broadcast_frames(self, count: int) -> None:
        self.counters.broadcast_frames += count

    async def _subscribe(
        self, ws: ServerConnection, session: ViewerSession, request: Subscribe
    ) -> None:
        """Bring a viewer up to date (snapshot or replay), then make it live, with neither a
        gap nor a duplicate at the hand-over (see _go_live)."""
        since = request.since
        replayable = (
            since is not None
            and (request.hub_id is None or request.hub_id == self._hub_id)
            and 0 <= since <= self._committed_seq
            and (
                since == self._committed_seq
                or (self._oldest_seq is not None and since >= self._oldest_seq - 1)
            )
        )
        cursor = None if not replayable or since is None else await self._replay(ws, since)
        if cursor is None:
            await self._send_snapshot(ws, session)
            return
        # No await since _replay's last check: cursor == committed seq right now.
        self._go_live(session, cursor)

    async def _replay(self, ws: ServerConnection, since: int) -> int | None:
        """Send the log after ``since`` up to the committed seq, a chunk at a time; returns
        the last seq sent (== the committed seq, with no await since that was checked), or
        None when retention removed updates that were needed."""
        event_log = self._log
        assert event_log is not None
        cursor = since
        while cursor < self._committed_seq:
            frames = await self._read(
                event_log.read_after, cursor, self._committed_seq, REPLAY_CHUNK, make_frames
            )
            # Seqs have no holes, except where retention deleted the oldest updates.
            if not frames or frames[-1].last_seq - cursor != sum(f.updates for f in frames):
                return None
            await send_text_frames(ws, [frame.data for frame in frames])
            cursor = frames[-1].last_seq
        return cursor

    def _go_live(self, session: ViewerSession, delivered_seq: int) -> None:
        """Register a viewer that has everything up to ``delivered_seq`` == the committed seq.

        Must run without an await after that was checked: flushing the broadcaster first
        hands updates committed so far to the existing viewers only, so the new one gets
        exactly those after ``delivered_seq``."""
        assert delivered_seq == self._committed_seq
        self._broadcaster.flush()
        session.delivered_seq = delivered_seq
        session.went_live()
        self._broadcaster.viewers.add(session)

    async def _send_snapshot(self, ws: ServerConnection, session: ViewerSession) -> None:
        """Send the operations as one commit left them, replay what was committed since,
        then go live.

        The log's operations table is read in one transaction together with the seq it
        covers (:meth:`EventLog.snapshot`), so the snapshot is exact at that seq. Operations
        the hub no longer holds (evicted) are left out: their removal from the table may
        still be waiting for the next commit. If retention removes updates between the
        snapshot and the replay (only with a tiny ``retention_updates``), the snapshot is
        taken again."""
        event_log = self._log
        assert event_log is not None
        while True:
            seq, bodies = await self._read(event_log.snapshot, self._held)
            # The writer reports a commit to the loop just after SQLite has it.
            if not await self._committed(seq):
                await _close_and_discard(ws, CLOSE_GOING_AWAY, "hub stopping")
                return
            head = b'{"type":"snapshot","seq":%d,"hub_id":"%s","operations":[' % (
                seq,
                self._hub_id.encode(),
            )
            data = b"".join((head, bodies, b"]}"))
            del bodies  # the snapshot can be large: nothing of it stays alive during the replay
            await ws.send(data, text=True)
            del data
            cursor = await self._replay(ws, seq)
            if cursor is not None:
                # No await since _replay's last check: cursor == committed seq right now.
                self._go_live(session, cursor)
                return

    # ------------------------------------------------------------------ the log

    def _accept(
        self, updates: Sequence[SyncUpdate], source: str | None, *, answer: bool = True
    ) -> list[Outgoing]:
        """Give each new update its seq and queue it for commit; answer duplicates.

        Returns, per update, what its publisher is to be sent (publishers.Outgoing): the
        accepted update itself, acked once committed, or the answer to a duplicate or a
        refusal; nothing when ``answer`` is false (the hub's own updates).
        Also keeps :attr:`_active` (when each operation was last heard of) up to date."""
        event_log = self._log
        assert event_log is not None
        now_us = int(self._clock() * 1_000_000)
        records: list[LoggedUpdate] = []
        acks: list[Outgoing] = []
        active, abandoning = self._active, self._abandoning
        room = self.config.max_active_operations - len(active) - len(abandoning)
        if self._at_active_limit and room > self.config.max_active_operations // 10:
            self._at_active_limit = False  # warn again the next time the bound is reached
        for update in updates:
            operation_id, counter = update.operation_id, update.counter
            if counter is not None:
                last = self._counters.get(operation_id)
                if last is not None and counter <= last >> _COUNTER_SHIFT:
                    seq = self._duplicate_seq(operation_id, counter, last)
                    self.counters.updates_duplicate += 1
                    ack = Ack(seq=seq, operation_id=operation_id, counter=counter, duplicate=True)
                    acks.append((seq, encode_frame(ack)))
                    continue
            starts = not update.status.is_terminal and operation_id not in active
            if starts and operation_id not in abandoning:
                if room <= 0:
                    acks.append((self._assigned_seq, self._refuse_new_active(update)))
                    continue
                room -= 1
            self._assigned_seq += 1
            seq = self._assigned_seq
            body = encode_update(with_seq(update, seq, source))
            record = LoggedUpdate(
                seq, operation_id, counter, update.status.is_terminal, now_us, body
            )
            records.append(record)
            if counter is not None:
                self._counters[operation_id] = _pack_counter(counter, seq)
                self._pending_keys[(operation_id, counter)] = seq
            if update.status.is_terminal:
                active.pop(operation_id, None)
            else:
                active[operation_id] = now_us
            if abandoning:
                abandoning.pop(operation_id, None)  # heard of again: not idle any more
            if answer:
                acks.append(record)
        if records:
            self._pending.extend(records)
            self.counters.uncommitted_peak = max(self.counters.uncommitted_peak, len(self._pending))
            event_log.append(records)
            self.counters.updates_accepted += len(records)
        return acks

    def _refuse_new_active(self, update: SyncUpdate) -> bytes:
        """The error frame for an update that would start an active operation beyond
        ``max_active_operations`` (sent after the acks of the updates before it).

        Without the bound, a publisher that keeps starting operations and never ends them
        (a bug, or a token in the wrong hands) grows the hub by ~0.4 KiB per operation for
        a whole ``abandon_after_s``; at the rate limit that is gigabytes. With it, the hub
        stays bounded and every known operation can still be reported to the end, so the
        refusals stop as soon as some finish. A warning is logged each time the bound is
        reached, not per refused update."""
        self.counters.updates_rejected += 1
        self.counters.active_limit_refusals += 1
        if not self._at_active_limit:
            self._at_active_limit = True
            log.warning(
                "holding %d active operations (max_active_operations): updates starting "
                "new ones are refused until some finish",
                self.config.max_active_operations,
            )
        error = ErrorFrame(
            code="too_many_active",
            detail=(
                f"the hub holds {self.config.max_active_operations:,} active operations, its "
                "limit: an update starting a new one is refused until some finish"
            ),
            field="operation_id",
            operation_id=update.operation_id,
            counter=update.counter,
        )
        return encode_frame(error)

    def _duplicate_seq(self, operation_id: str, counter: int, last: int) -> int:
        """The seq at which ``counter`` of ``operation_id`` was accepted (``last``: the
        operation's packed latest counter and seq, with ``counter`` at most that one)."""
        if counter == last >> _COUNTER_SHIFT:
            return last & _SEQ_MASK
        pending = self._pending_keys.get((operation_id, counter))
        if pending is not None:
            return pending
        assert self._log is not None
        stored = self._log.find_seq(operation_id, counter)
        # Gone from the log (retention): the operation's latest accepted seq stands in.
        return stored if stored is not None else last & _SEQ_MASK

    def _on_commit(self, seq: int) -> None:
        """The log committed everything up to ``seq`` (runs on the loop)."""
        pending = self._pending
        committed: list[tuple[int, bytes]] = []
        held = self._held
        finished = self._finished
        while pending and pending[0].seq <= seq:
            record = pending.popleft()
            committed.append((record.seq, record.body))
            operation_id = record.operation_id
            held[operation_id] = record.seq
            if record.terminal:
                finished[operation_id] = record.seq
                finished.move_to_end(operation_id)
            else:
                finished.pop(operation_id, None)
            if record.counter is not None:
                self._pending_keys.pop((operation_id, record.counter), None)
        if len(finished) > self.config.max_finished_operations:
            self._evict_finished()
        self._committed_seq = seq
        self._commit_event.set()
        if self._oldest_seq is None and committed:
            self._oldest_seq = committed[0][0]
        self._broadcaster.publish(committed)
        for publisher in self._publishers:
            publisher.committed()

    def _on_log_failure(self, exc: Exception) -> None:
        """The log can no longer commit: acks would be lies, so the hub stops serving."""
        log.critical("stopping the hub: %s", exc)
        self._log_failed = True
        self._commit_event.set()  # wake whoever waits for a commit: none will come
        self._spawn(self.stop(code=CLOSE_SERVER_ERROR, reason="event log failure"))

    async def _maintenance_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.run_maintenance(loop)
            await asyncio.sleep(self.config.maintenance_interval_s)

    def run_maintenance(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Give up idle operations, and queue a retention and expiry pass now (this also
        runs every maintenance interval)."""
        assert self._log is not None
        loop = loop or asyncio.get_running_loop()
        now_us = int(self._clock() * 1_000_000)
        self._abandon_idle(now_us)
        self._log.maintain(
            now_us=now_us,
            retention_us=int(self.config.retention_s * 1_000_000),
            retention_updates=self.config.retention_updates,
            expiry_us=int(self.config.finished_expiry_s * 1_000_000),
            done=lambda result: loop.call_soon_threadsafe(self._on_maintenance, result),
        )

    async def _release_loop(self) -> None:
        """Hand the memory the C allocator keeps after a burst (a flood, a replay to many
        viewers) back to the system, every RELEASE_INTERVAL_S (syncwatch.heap). Once a
        maintenance interval, as before, let the hub's RSS climb by 2-3 MiB between two
        calls in the chaos run. A call holds the allocator ~0.3 ms when 4 MiB were freed
        since the last one, ~3 ms for 40 MiB, and under 0.4 ms when nothing was (20 KB
        blocks with one survivor in eight, measured on this project's 2-core machine)."""
        while True:
            await asyncio.sleep(RELEASE_INTERVAL_S)
            release_free_memory()

    def _on_maintenance(self, result: Maintenance) -> None:
        self._oldest_seq = result.oldest_seq
        for operation_id, seq in result.expired_operations:
            if self._held.get(operation_id) != seq:
                continue  # updated again since the pass looked at it
            self._finished.pop(operation_id, None)
            self._forget(operation_id, seq)
        if result.deleted_events or result.expired_operations:
            log.info(
                "maintenance: %d updates past retention deleted, %d finished operations expired",
                result.deleted_events,
                len(result.expired_operations),
            )

    def _abandon_idle(self, now_us: int) -> None:
        """Append a ``failed`` update for every active operation that no update has named
        for ``abandon_after_s`` (docs/protocol.md, section 8).

        An agent that died, or a publisher that started operations and never ended them,
        would otherwise hold them in every snapshot and in every viewer's memory for ever,
        shown as syncing. The verdict is an ordinary update in the log: it gets a seq,
        viewers and histories record it like any other, and the operation then ages out
        like every finished one. It keeps the operation's last progress, item and source
        and says why in ``error``. An agent that reports again later simply retries the
        operation (a new attempt); its resent old updates are still answered as duplicates.
        """
        if self._stopping or self._log_failed:
            return
        cutoff_us = now_us - int(self.config.abandon_after_s * 1_000_000)
        active = self._active
        # A scan (~6 ms for 100,000 active operations) once a maintenance interval.
        idle = [operation_id for operation_id, heard_us in active.items() if heard_us <= cutoff_us]
        if not idle:
            return
        for operation_id in idle:
            # Off the list now, so that the next pass does not find it again; an update
            # accepted before its verdict puts it back and takes it off _abandoning.
            del active[operation_id]
            self._abandoning[operation_id] = None
        self._spawn(self._give_up(idle, now_us))

    async def _give_up(self, idle: list[str], now_us: int) -> None:
        """Append the verdicts for ``idle``, ABANDON_CHUNK at a time, each chunk committed
        before the next is built.

        In one go, 15,000 verdicts left the hub 12 MiB bigger for good: their short-lived
        objects (parsed states, encoded bodies, log records) were interleaved in the
        allocator's arenas with the new operation states that stay, so the arenas could
        not be handed back (measured in-process). A chunk at a time reuses the same few."""
        reason = f"abandoned: no update for {_exact_span(self.config.abandon_after_s)}"
        abandoning = self._abandoning
        given_up = 0
        for start in range(0, len(idle), ABANDON_CHUNK):
            chunk = idle[start : start + ABANDON_CHUNK]
            assert self._log is not None
            # Their latest updates are in the log's table once what was accepted is
            # committed (long since, unless abandon_after_s is tiny).
            if not await self._committed(self._assigned_seq):
                break
            bodies = await self._read(self._log.bodies, chunk)
            if not self._writing():  # stopping, or the log failed, meanwhile
                break
            verdicts: list[SyncUpdate] = []
            for operation_id in chunk:
                if abandoning.pop(operation_id, _HEARD_OF) is _HEARD_OF:
                    continue  # reported again since it was found idle
                body = bodies.get(operation_id)
                if body is None:
                    continue  # not held any more (cannot happen to an active one)
                last = parse_update(body)
                verdicts.append(
                    last._replace(
                        status=Status.FAILED,
                        timestamp_us=max(now_us, last.timestamp_us),
                        seq=None,
                        error=reason,
                        counter=None,
                    )
                )
            if not verdicts:
                continue
            self._accept(verdicts, None, answer=False)
            given_up += len(verdicts)
            self.counters.operations_abandoned += len(verdicts)
            await self._committed(self._assigned_seq)
        for operation_id in idle:  # left over after a stop
            abandoning.pop(operation_id, None)
        if given_up:
            log.info("%d active operations abandoned (%s)", given_up, reason)

    async def _room_to_accept(self) -> None:
        """Wait while ``max_uncommitted_updates`` or more wait for the log's commit (see
        HubConfig): each publisher then stops being read, and TCP holds the rest back."""
        bound = self.config.max_uncommitted_updates
        if len(self._pending) >= bound:
            self.counters.publisher_reads_held += 1
            await self._commits_until(lambda: len(self._pending) < bound)

    def _writing(self) -> bool:
        """Whether the hub still appends to its log (not stopping, the log not failed)."""
        return not (self._stopping or self._log_failed)

    async def _committed(self, seq: int) -> bool:
        """Wait until the log has committed ``seq``; False if it never will (the log
        failed or the hub is stopping)."""
        return await self._commits_until(lambda: self._committed_seq >= seq)

    async def _commits_until(
        self, done: Callable[[], bool], *, while_stopping: bool = False
    ) -> bool:
        """Wait for group commits until ``done()``; False, without waiting further, once
        the log has failed or (unless ``while_stopping``: stop() itself waits for the last
        commits) the hub is stopping."""
        while not done():
            if self._log_failed or (self._stopping and not while_stopping):
                return False
            self._commit_event.clear()
            await self._commit_event.wait()
        return True

    def _evict_finished(self) -> None:
        """Drop the oldest-finished operations beyond ``max_finished_operations``, from memory
        now and from the log's operations table with its next commit: an evicted operation
        is gone from snapshots, also after a restart, exactly as if it had expired. The
        updates themselves stay in the log (retention is separate)."""
        finished = self._finished
        evicted: list[tuple[str, int]] = []
        while len(finished) > self.config.max_finished_operations:
            operation_id, seq = finished.popitem(last=False)
            self._forget(operation_id, seq)
            evicted.append((operation_id, seq))
        if evicted:
            self.counters.operations_evicted += len(evicted)
            assert self._log is not None
            self._log.forget(evicted)

    def _forget(self, operation_id: str, seq: int) -> None:
        """Stop holding an operation whose state is the one at ``seq`` (expired or evicted).

        Its duplicate-detection counter goes too, unless a newer update, still pending,
        set it: a resend after this is stored anew (docs/protocol.md, section 6)."""
        del self._held[operation_id]
        counter = self._counters.get(operation_id)
        if counter is not None and counter & _SEQ_MASK <= seq:
            del self._counters[operation_id]


def _pack_counter(counter: int, seq: int) -> int:
    """A publisher's counter (at most 2**53 - 1) and the seq it got, as one integer."""
    return counter << _COUNTER_SHIFT | seq


def _exact_span(seconds: float) -> str:
    """``86400`` -> "24 h", ``600`` -> "10 min", ``90`` -> "90 s": the configured span as
    given, not rounded the way the faces round ages (an error text must not say 2 min
    for 90 s)."""
    whole = round(seconds)
    for unit, size in (("h", 3600), ("min", 60)):
        if whole >= size and whole % size == 0:
            return f"{whole // size} {unit}"
    return f"{whole} s"


async def _close_and_discard(ws: ServerConnection, code: int, reason: str) -> None:
    """Close, reading and dropping what the client still sends meanwhile: its close frame
    may be queued behind a flood, which must be read for the handshake to complete."""
    closing = asyncio.get_running_loop().create_task(ws.close(code, reason))
    with contextlib.suppress(ConnectionClosed):
        async for _ in ws:
            pass
    await closing


def _peer(ws: ServerConnection) -> str:
    address = ws.remote_address
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


def _source_of(path: str) -> str | bool | None:
    """The ``?source=`` of a publisher (its id, stamped on updates that carry none);
    None when absent, False when invalid."""
    values = parse_qs(urlsplit(path).query).get("source")
    if not values:
        return None
    source = values[-1]
    if not 0 < len(source) <= MAX_SOURCE_LEN or not source.isprintable():
        return False
    return source
