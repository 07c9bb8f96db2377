"""SyncEngine: the client's brain, composing the link, the reducer, metrics, health,
alerts and the history store. Asyncio, no Qt.

HubClient delivers connection states, latency, snapshots and update batches; the engine
folds each batch into the core's immutable :class:`OperationsState` (one ``apply_many``
per batch), feeds the rolling :class:`MetricsWindow`, hands the same facts to the store's
writer thread (never blocking the loop on I/O) and tells its :class:`EngineListener`.
The Qt model is one such listener; tests and the benchmark use others. Keeping the engine
Qt-free is what lets it be tested and benchmarked without a GUI.

What is evaluated when:

- per received batch: reducer, metrics, store submit, ``on_operations`` (the listener
  coalesces for display);
- at most once per ``display_interval_s`` while something changed: metrics snapshot,
  health (operations rule combined with the link), alerts; listeners hear only changes;
- every ``health_check_interval_s`` (120 s): a HealthSnapshot written to the history;
- every ``housekeeping_interval_s``: finished operations older than ``keep_finished_s``
  (and the oldest-finished beyond ``max_finished``) leave the in-memory state (the
  history keeps them), and health is re-evaluated so that an error rate decays and a
  disconnect beyond its grace turns critical;
- daily and on demand: retention cleanup in the store;
- after each write the store's thread settles: ``on_history_committed`` (the listener
  coalesces the re-queries), and reading from the hub resumes if it was held back.

The history is the engine's pace-setter. Updates go to the writer thread faster than it
can commit them during a catch-up (50,000 a second in, ~35,000 committed), and a backlog
held in memory is not only memory: every queued update is an object the garbage
collector scans in each full collection, and full collections of a few hundred thousand
objects froze the GUI for 100-250 ms (measured). So once ``HISTORY_BACKLOG_HIGH``
updates wait for the writer, :meth:`SyncEngine.room_for_updates` makes the HubClient stop
reading until the backlog is down to ``HISTORY_BACKLOG_LOW``: TCP flow control holds the
hub back, a replay simply waits, and a hub that finds a live viewer too slow closes it,
after which the resume from the durable cursor loses nothing.

Nothing runs while nothing changes except those slow periodic checks, so an idle client
costs no CPU. Time comes from an injected wall clock (epoch seconds).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Protocol
from urllib.parse import urlsplit, urlunsplit

from syncwatch.client.connection import HubClient
from syncwatch.client.endpoint import HubEndpoint
from syncwatch.client.store.rows import CleanupResult
from syncwatch.client.store.writer import StoreWriter
from syncwatch.core.alerts import AlertConfig, AlertEngine, Notification, NotificationKind
from syncwatch.core.connection import ConnectionState, ConnectionStatus, LatencyStats
from syncwatch.core.health import (
    DEFAULT_THRESHOLDS,
    Health,
    HealthSnapshot,
    HealthStatus,
    HealthThresholds,
    combine_with_connection,
    score_operations,
)
from syncwatch.core.metrics import MetricsSnapshot, MetricsWindow
from syncwatch.core.operations import (
    EMPTY_STATE,
    Operation,
    OperationsState,
    Reduction,
    apply_many,
    expire,
    replace_all,
)
from syncwatch.core.protocol import Snapshot, Status, SyncUpdate
from syncwatch.heap import release_free_memory

log = logging.getLogger(__name__)

_US: Final = 1_000_000
_MAX_METRICS_BYTES: Final = 1 << 20
#: The hub's viewer endpoint (docs/protocol.md).
SUBSCRIBE_PATH: Final = "/v1/subscribe"
#: Updates waiting for the history writer at which reading from the hub pauses...
HISTORY_BACKLOG_HIGH: Final = 20_000
#: ...and at which it resumes (the writer commits up to 5,000 per transaction).
HISTORY_BACKLOG_LOW: Final = 5_000
#: Housekeeping hands freed memory back to the system at most this often (seconds).
MEMORY_RELEASE_INTERVAL_S: Final = 60.0


class EngineListener(Protocol):
    """What the engine tells its observer (the Qt model), on the event loop's thread."""

    def on_operations(self, reduction: Reduction) -> None:
        """The in-memory state changed (a batch, a snapshot or an expiry)."""

    def on_connection(self, status: ConnectionStatus) -> None: ...

    def on_latency(self, stats: LatencyStats) -> None: ...

    def on_health(self, health: Health) -> None:
        """Health changed (status, score or reasons); at most once per display interval."""

    def on_metrics(self, snapshot: MetricsSnapshot) -> None:
        """New rolling figures; at most once per display interval, only after changes."""

    def on_notification(self, notification: Notification) -> None: ...

    def on_history_committed(self) -> None:
        """The store committed new rows (called on the loop, not the writer thread)."""


class NullListener:
    """A listener that ignores everything (headless use, benchmarks)."""

    def on_operations(self, reduction: Reduction) -> None:
        pass

    def on_connection(self, status: ConnectionStatus) -> None:
        pass

    def on_latency(self, stats: LatencyStats) -> None:
        pass

    def on_health(self, health: Health) -> None:
        pass

    def on_metrics(self, snapshot: MetricsSnapshot) -> None:
        pass

    def on_notification(self, notification: Notification) -> None:
        pass

    def on_history_committed(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long the history keeps rows (days): operations with their events, snapshots."""

    operations_days: int = 30
    snapshots_days: int = 90


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Everything the engine is told by settings; immutable, replaced as a whole."""

    hub_url: str
    token: str | None = None
    ca_file: str | None = None
    ping_interval_s: float = 10.0
    ping_timeout_s: float = 10.0
    health_check_interval_s: float = 120.0
    thresholds: HealthThresholds = DEFAULT_THRESHOLDS
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    #: Finished operations stay in memory (tables show them as "recent") this long...
    keep_finished_s: float = 300.0
    #: ...but no more than this many, newest-finished kept (the history has them all).
    max_finished: int = 2_000
    display_interval_s: float = 1.0
    housekeeping_interval_s: float = 10.0
    cleanup_interval_s: float = 86_400.0
    #: Updates waiting for the history writer at which reading from the hub pauses,
    #: and at which it resumes (see the module doc).
    history_backlog_high: int = HISTORY_BACKLOG_HIGH
    history_backlog_low: int = HISTORY_BACKLOG_LOW


class SyncEngine:
    """Composes the link to the hub with the core and the store (see the module docstring).

    ``writer`` is the store's StoreWriter (its thread does the I/O); ``cursor`` returns the
    store's durable resume cursor (hub_id, seq), which the link sends in ``subscribe``.
    """

    def __init__(
        self,
        config: EngineConfig,
        writer: StoreWriter,
        listener: EngineListener | None = None,
        *,
        cursor: Callable[[], tuple[str, int] | None],
        clock: Callable[[], float] = time.time,
        alert_config: AlertConfig | None = None,
    ) -> None:
        self._config = config
        self._writer = writer
        self._listener: EngineListener = listener or NullListener()
        self._durable_cursor = cursor
        self._clock = clock
        #: The reducer's current state (immutable; replaced per batch).
        self._state: OperationsState = EMPTY_STATE
        #: The hub log the state comes from, once a snapshot or hello named it.
        self._hub_id: str | None = None
        self._metrics = MetricsWindow(window_s=config.thresholds.window_s)
        self._alerts = AlertEngine(alert_config, started_at=clock())
        self._connection = ConnectionStatus(
            ConnectionState.CONNECTING, public_url(config.hub_url), clock()
        )
        self._latency = LatencyStats()
        self._health = self._evaluate_health(self._clock())
        self._metrics_snapshot: MetricsSnapshot = self._metrics.snapshot(_to_us(clock()))
        #: Pending "publish display figures" call, or None while nothing changed.
        self._display_handle: asyncio.TimerHandle | None = None
        #: Set while the writer's backlog is below the low mark (see room_for_updates).
        self._history_room = asyncio.Event()
        self._history_room.set()
        #: A "the writer settled something" call is queued to the loop (writer sets it,
        #: the loop clears it before looking: see _on_writer_commit).
        self._commit_signalled = False
        #: Wall-clock time of the last frame from the hub (None before the first).
        self.last_message_at: float | None = None
        self._last_display = 0.0
        self._last_cleanup: float | None = None
        #: Loop time of the last release_free_memory() (see housekeeping).
        self._last_release = 0.0
        self._client: HubClient | None = None
        self._stopping = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.updates_received = 0

    # ------------------------------------------------------------------ read side

    @property
    def config(self) -> EngineConfig:
        return self._config

    @property
    def state(self) -> OperationsState:
        return self._state

    @property
    def operations(self) -> MappingProxyType[str, Operation]:
        ops = self._state.operations
        assert isinstance(ops, MappingProxyType)
        return ops

    @property
    def connection(self) -> ConnectionStatus:
        return self._connection

    @property
    def latency(self) -> LatencyStats:
        return self._latency

    @property
    def health(self) -> Health:
        return self._health

    @property
    def metrics(self) -> MetricsSnapshot:
        return self._metrics_snapshot

    @property
    def hub_id(self) -> str | None:
        return self._hub_id

    def set_listener(self, listener: EngineListener) -> None:
        """Tell ``listener`` from now on (the Qt model registers itself when built)."""
        self._listener = listener

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        """Connect and keep the state current until :meth:`stop`; returns after a clean stop.

        The writer is not closed here: its owner closes it (off the loop) after run returns.
        """
        self._loop = asyncio.get_running_loop()
        config = self._config
        client = HubClient(
            subscribe_url(config.hub_url),
            listener=self,
            token=config.token or None,
            ca_file=config.ca_file or None,
            ping_interval=config.ping_interval_s,
            ping_timeout=config.ping_timeout_s,
            cursor=self._cursor,
        )
        self._client = client
        self._writer.set_on_commit(self._on_writer_commit)
        tasks = [
            asyncio.create_task(client.run(), name="hub-client"),
            asyncio.create_task(self._health_check_loop(), name="health-check"),
            asyncio.create_task(self._housekeeping_loop(), name="housekeeping"),
        ]
        stop = asyncio.create_task(self._stopping.wait(), name="engine-stop")
        try:
            done, _ = await asyncio.wait([*tasks, stop], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stop and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            client.stop()
            for task in tasks[1:]:
                task.cancel()
            stop.cancel()
            await asyncio.gather(*tasks, stop, return_exceptions=True)
            self._writer.set_on_commit(None)
            self._history_room.set()
            if self._display_handle is not None:
                self._display_handle.cancel()
            self._display_handle = None
            self._client = None

    def stop(self) -> None:
        """Ask :meth:`run` to disconnect and return."""
        self._stopping.set()

    # ------------------------------------------------------------------ intents

    def reconnect_now(self) -> None:
        if self._client is not None:
            self._client.reconnect_now()

    def set_network_online(self, online: bool) -> None:
        if self._client is not None:
            self._client.set_network_online(online)

    def notify_resumed(self) -> None:
        """The machine woke up: reconnect at once and suppress disconnect alerts a while."""
        self._alerts.suppress_until(self._clock() + self._alerts.config.startup_suppress_s)
        if self._client is not None:
            self._client.notify_resumed()

    def update_config(self, config: EngineConfig) -> None:
        """New settings: the link reconnects if its own settings changed."""
        old = self._config
        self._config = config
        link = (config.hub_url, config.token, config.ca_file)
        if self._client is not None and link != (old.hub_url, old.token, old.ca_file):
            self._client.update_settings(
                subscribe_url(config.hub_url), config.token or None, config.ca_file or None
            )
        if config.thresholds.window_s != old.thresholds.window_s:
            # A new window length: the rolling figures start over (they are not rescalable).
            self._metrics = MetricsWindow(window_s=config.thresholds.window_s)
            self._metrics.observe_connection(self._connection.state, _to_us(self._clock()))
        if config.thresholds != old.thresholds:
            self._mark_dirty()

    def pause_notifications(self, until: float | None) -> None:
        """Mute every notification until ``until`` (epoch seconds); None resumes."""
        if until is None:
            self._alerts.resume()
        else:
            self._alerts.pause_until(until)

    def set_notification_kind_enabled(self, kind: NotificationKind, enabled: bool) -> None:
        self._alerts.set_enabled(kind, enabled)

    def cleanup_now(self) -> Future[CleanupResult]:
        """Apply the retention policy in the store now (on the writer thread); the future
        resolves to the rows deleted."""
        self._last_cleanup = self._clock()
        retention = self._config.retention
        return self._writer.submit_cleanup(
            operations_days=retention.operations_days,
            snapshots_days=retention.snapshots_days,
        )

    def compact_database(self) -> Future[None]:
        """VACUUM the history file (on the writer thread)."""
        return self._writer.submit_compact()

    async def fetch_hub_metrics(self, timeout_s: float = 10.0) -> str:
        """The hub's /metrics page (Prometheus text), for the admin panel."""
        config = self._config
        endpoint = HubEndpoint(config.hub_url, config.token or None, config.ca_file or None)
        return await asyncio.wait_for(_http_get(endpoint, "/metrics"), timeout_s)

    # ------------------------------------------------------------------ HubClient listener

    def on_status(self, status: ConnectionStatus) -> None:
        self._connection = status
        now = self._clock()
        self._metrics.observe_connection(status.state, _to_us(now))
        if status.hub_id is not None:
            self._hub_id = status.hub_id
        self._writer.submit_connection(status, self._latency)
        self._listener.on_connection(status)
        self._notify(self._alerts.on_connection(status, now))
        self._mark_dirty()
        if status.state is not ConnectionState.CONNECTED:
            # Health turns critical, and "connection lost" fires, once the grace is over.
            self._look_again_in(self._config.thresholds.disconnect_grace_s)
            self._look_again_in(self._alerts.config.connection_grace_s)

    def on_message(self) -> None:
        """Every frame from the hub (HubClient looks this up): "last heard from the hub"."""
        self.last_message_at = self._clock()

    def on_latency(self, stats: LatencyStats) -> None:
        self._latency = stats
        self._listener.on_latency(stats)

    def on_snapshot(self, hub_id: str, snapshot: Snapshot, gap_from: int | None) -> None:
        """A full state from the hub (first connect, a gap, or a new hub_id)."""
        before = self._state
        previous = before if hub_id == self._hub_id else None
        after = replace_all(snapshot.operations, snapshot.seq, previous)
        self._hub_id = hub_id
        self._state = after
        self._writer.submit_snapshot(hub_id, snapshot, gap_from)
        self._metrics.observe_concurrency(after.active_count, _to_us(self._clock()))
        self._listener.on_operations(_diff(before, after))
        self._mark_dirty()

    def on_updates(self, hub_id: str, updates: Sequence[SyncUpdate]) -> None:
        """A batch of live or replayed updates: reduce, count, store, tell."""
        before = self._state
        reduction = apply_many(before, updates)
        self._state = reduction.state
        self._hub_id = hub_id
        self.updates_received += len(updates)
        self._writer.submit_updates(hub_id, updates)
        if reduction.state is not before:
            now = self._clock()
            self._metrics.observe_reduction(before, reduction, _to_us(now))
            self._listener.on_operations(reduction)
            if reduction.finished:
                self._observe_finished(reduction, now)
            self._mark_dirty()

    def _observe_finished(self, reduction: Reduction, now: float) -> None:
        operations = reduction.state.operations
        notifications: list[Notification] = []
        failed = False
        for op_id in reduction.finished:
            operation = operations[op_id]
            failed = failed or operation.status is Status.FAILED
            notifications.extend(self._alerts.on_operation_finished(operation, now))
        self._notify(notifications)
        if failed:
            self._look_again_in(self._alerts.config.digest_gather_s)

    # ------------------------------------------------------------------ evaluation

    def _cursor(self) -> tuple[str, int] | None:
        """Where to resume: the store's durable cursor (what survives a crash)."""
        return self._durable_cursor()

    def _mark_dirty(self) -> None:
        """Something changed: publish display figures within the display interval."""
        loop = self._loop
        if self._display_handle is not None or loop is None or self._stopping.is_set():
            return
        delay = max(0.0, self._last_display + self._config.display_interval_s - loop.time())
        self._display_handle = loop.call_later(delay, self._publish_display)

    def _publish_display(self) -> None:
        self._display_handle = None
        if self._loop is not None:
            self._last_display = self._loop.time()
        now = self._clock()
        snapshot = self._metrics.snapshot(_to_us(now))
        if _figures(snapshot) != _figures(self._metrics_snapshot):
            self._metrics_snapshot = snapshot
            self._listener.on_metrics(snapshot)
        else:
            self._metrics_snapshot = snapshot
        health = self._evaluate_health(now)
        changed = _verdict(health) != _verdict(self._health)
        self._health = health
        if changed:
            self._listener.on_health(health)
        self._notify(self._alerts.on_health(health, now))
        if changed and health.status is HealthStatus.CRITICAL:
            self._look_again_in(self._alerts.config.health_delay_s)

    def _evaluate_health(self, now: float) -> Health:
        thresholds = self._config.thresholds
        metrics = self._metrics.snapshot(_to_us(now))
        operations = score_operations(
            metrics.error_rate_pct,
            self._state.active_count,
            metrics.avg_duration_s,
            thresholds,
            _to_us(now),
        )
        return combine_with_connection(operations, self._connection, now, thresholds)

    def _notify(self, notifications: Sequence[Notification]) -> None:
        for notification in notifications:
            self._listener.on_notification(notification)

    def _look_again_in(self, delay_s: float) -> None:
        """Re-evaluate health and alerts after ``delay_s`` (a grace or delay ending)."""
        if self._loop is not None and not self._stopping.is_set():
            self._loop.call_later(delay_s + 0.25, self._mark_dirty)

    def health_snapshot(self) -> HealthSnapshot:
        """The figures the periodic health check writes to the history."""
        now = self._clock()
        health = self._evaluate_health(now)
        metrics = self._metrics.snapshot(_to_us(now))
        return HealthSnapshot(
            at_us=_to_us(now),
            status=health.status,
            score=health.score,
            error_rate=health.error_rate,
            avg_sync_time_s=health.avg_sync_time_s,
            active_ops=health.active_ops,
            throughput_ops_per_min=metrics.throughput_ops_per_min,
            throughput_bps=metrics.throughput_bps,
            latency_ms=self._latency.current_ms,
        )

    def check_health_now(self) -> HealthSnapshot:
        """Run the periodic health check now: evaluate and write a snapshot to the store."""
        snapshot = self.health_snapshot()
        self._writer.submit_health(snapshot)
        return snapshot

    async def _health_check_loop(self) -> None:
        while True:
            await asyncio.sleep(self._config.health_check_interval_s)
            self.check_health_now()

    async def _housekeeping_loop(self) -> None:
        while True:
            await asyncio.sleep(self._config.housekeeping_interval_s)
            self.housekeeping()

    def housekeeping(self) -> None:
        """Expire old finished operations, re-evaluate health, run the daily cleanup."""
        now = self._clock()
        reduction = expire(
            self._state, _to_us(now), self._config.keep_finished_s, self._config.max_finished
        )
        if reduction.removed:
            self._state = reduction.state
            self._listener.on_operations(reduction)
        self._mark_dirty()
        last = self._last_cleanup
        if last is None or now - last >= self._config.cleanup_interval_s:
            self.cleanup_now()
        loop = self._loop
        if loop is not None and loop.time() - self._last_release >= MEMORY_RELEASE_INTERVAL_S:
            # What a flood or a catch-up freed goes back to the system (syncwatch.heap).
            self._last_release = loop.time()
            release_free_memory()

    # ------------------------------------------------------------------ the history's pace

    def room_for_updates(self) -> Awaitable[object] | None:
        """None while the history writer keeps up; otherwise something to await before
        more updates are read (HubClient looks this up; see the module doc)."""
        if self._writer.updates_pending < self._config.history_backlog_high:
            return None
        if self._history_room.is_set():
            log.debug(
                "history writer %d updates behind: holding the hub back",
                self._writer.updates_pending,
            )
            self._history_room.clear()
        return self._history_room.wait()

    def _on_writer_commit(self) -> None:
        """On the writer thread: tell the loop, once per burst of commits."""
        loop = self._loop
        if loop is not None and not self._commit_signalled:
            self._commit_signalled = True
            try:
                loop.call_soon_threadsafe(self._history_committed)
            except RuntimeError:  # the loop closed during shutdown: nobody to tell
                self._commit_signalled = False

    def _history_committed(self) -> None:
        # Cleared before looking: a commit landing after this line queues another call.
        self._commit_signalled = False
        if (
            not self._history_room.is_set()
            and self._writer.updates_pending <= self._config.history_backlog_low
        ):
            self._history_room.set()
        self._listener.on_history_committed()


def _to_us(seconds: float) -> int:
    return int(seconds * _US)


def _figures(snapshot: MetricsSnapshot) -> tuple[object, ...]:
    """A snapshot without its timestamp: equal figures mean nothing to tell."""
    return (
        snapshot.total_operations,
        snapshot.failed,
        snapshot.started,
        snapshot.retries,
        snapshot.current_concurrency,
        round(snapshot.throughput_bps),
        round(snapshot.throughput_ops_per_min, 2),
        snapshot.reconnects,
    )


def _verdict(health: Health) -> tuple[object, ...]:
    return (health.status, round(health.score, 1), health.reasons, health.active_ops)


def _diff(before: OperationsState, after: OperationsState) -> Reduction:
    """A Reduction describing a wholesale replacement of the state (a snapshot)."""
    old, new = before.operations, after.operations
    added = frozenset(k for k in new if k not in old)
    removed = frozenset(k for k in old if k not in new)
    updated = frozenset(k for k in new if k in old and old[k] != new[k])
    finished = frozenset(
        k
        for k in added | updated
        if new[k].is_terminal and (k not in old or not old[k].is_terminal)
    )
    return Reduction(after, added, updated, finished, removed)


async def _http_get(endpoint: HubEndpoint, path: str) -> str:
    """A minimal HTTP/1.1 GET on the hub's port (the hub serves /metrics beside /v1/*)."""
    parts = urlsplit(endpoint.url)
    port = parts.port or (443 if endpoint.secure else 80)
    context = endpoint.ssl_context()
    reader, writer = await asyncio.open_connection(
        endpoint.host, port, ssl=context, server_hostname=endpoint.host if context else None
    )
    try:
        headers = {"Host": parts.netloc.rpartition("@")[2], "Connection": "close"}
        headers.update(endpoint.headers())
        request = f"GET {path} HTTP/1.1\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in headers.items()
        )
        writer.write((request + "\r\n").encode("latin-1"))
        await writer.drain()
        raw = b""
        while len(raw) <= _MAX_METRICS_BYTES:
            chunk = await reader.read(65536)
            if not chunk:
                break
            raw += chunk
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    fields = status_line.split(" ", 2)
    if len(fields) < 2 or fields[1] != "200":
        raise ValueError(f"hub answered {status_line!r}")
    return body.decode("utf-8", "replace")


def hub_is_loopback(hub_url: str) -> bool:
    """Whether the hub runs on this machine (no network state can cut it off); False for
    a URL that is not a valid hub address."""
    try:
        return HubEndpoint(hub_url).is_loopback
    except ValueError:
        return False


def public_url(hub_url: str) -> str:
    """The hub URL without user info or a ``token`` query parameter: safe to show."""
    parts = urlsplit(hub_url)
    netloc = parts.netloc.rpartition("@")[2]
    query = "&".join(p for p in parts.query.split("&") if p and not p.startswith("token="))
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def subscribe_url(hub_url: str) -> str:
    """The viewer endpoint of a hub: a bare ``ws://host:port`` gets ``/v1/subscribe``."""
    parts = urlsplit(hub_url)
    if parts.path in ("", "/"):
        return urlunsplit((parts.scheme, parts.netloc, SUBSCRIBE_PATH, parts.query, ""))
    return hub_url
