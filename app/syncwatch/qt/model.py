"""SyncStateModel: the one QObject the faces observe.

The engine (asyncio, Qt-free) calls this model's EngineListener methods on the GUI
thread (with qasync the asyncio loop *is* the Qt event loop). The model keeps the
current values, and turns the engine's stream into signals a GUI can afford:

- operations: a batch arrives up to thousands of times a second; the model merges the
  changed ids into one pending :class:`OperationsDelta` and emits it from a single-shot
  timer, so views refresh at most ~30 times a second, while the state itself (and the
  store) never misses an update;
- a :class:`LiveSample` for the live plots once per second, only while something changes;
- ``historyChanged`` at most once a second.

No timer runs while nothing changes: an idle monitor costs no CPU.

Faces never touch the engine: they call this model's intents (reconnect, pause
notifications, clean up, export...), which pass them on.

Signals:
    operationsChanged(OperationsDelta): operations were added, updated, finished or
        removed (coalesced, at most ~30 Hz).
    connectionChanged(ConnectionStatus): on every change of the link's state.
    latencyChanged(LatencyStats): after each ping.
    healthChanged(Health): status, score or reasons changed (evaluated at most 1/s).
    metricsChanged(MetricsSnapshot): new rolling figures (at most 1/s).
    liveSampleAdded(LiveSample): once per second while something changes.
    notificationRaised(Notification): a desktop notification to show.
    notificationsPausedChanged(object): float epoch seconds paused until, or None.
    historyChanged(): the store committed new rows (at most 1/s).
    hubMetricsReceived(str): the hub's /metrics text (or an error message).
    exportFinished(int, str): rows exported and the path, or -1 and the error.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from syncwatch.client.engine import SyncEngine, public_url
from syncwatch.client.store import DatabaseInfo, HistoryReader
from syncwatch.core.alerts import Notification, NotificationKind
from syncwatch.core.connection import ConnectionState, ConnectionStatus, LatencyStats
from syncwatch.core.health import Health
from syncwatch.core.metrics import MetricsSnapshot
from syncwatch.core.operations import Operation, Reduction
from syncwatch.qt.network import NetworkMonitor
from syncwatch.qt.workers import Outcome, SerializedCalls, WorkDone, run_in_thread

#: 33 ms: at most ~30 operationsChanged per second.
OPERATIONS_INTERVAL_MS: Final = 33
LIVE_SAMPLE_INTERVAL_MS: Final = 1000
HISTORY_INTERVAL_MS: Final = 1000
#: The live plots show 15 minutes of one-second samples.
LIVE_SAMPLES_KEPT: Final = 15 * 60
LATENCY_SAMPLES_KEPT: Final = 360


@dataclass(frozen=True, slots=True)
class OperationsDelta:
    """Which operation ids changed since the previous operationsChanged.

    ``removed`` ids left the in-memory state (finished long enough ago, or gone from a
    hub snapshot); ids in ``added`` or ``updated`` are in :attr:`SyncStateModel.operations`.
    """

    added: frozenset[str]
    updated: frozenset[str]
    finished: frozenset[str]
    removed: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class LiveSample:
    """One point of the live plots (one per second while anything changes)."""

    at: float
    throughput_bps: float
    throughput_ops_per_min: float
    active_ops: int
    error_rate_pct: float
    latency_ms: float | None
    health_score: float
    connected: bool


class SyncStateModel(QObject):
    """The current sync state as Qt signals and properties (see the module docstring).

    Signals:
        operationsChanged(OperationsDelta): coalesced, at most ~30 Hz.
        connectionChanged(ConnectionStatus): on every change of the link's state.
        latencyChanged(LatencyStats): after each ping.
        healthChanged(Health): status, score or reasons changed (at most 1/s).
        metricsChanged(MetricsSnapshot): new rolling figures (at most 1/s).
        liveSampleAdded(LiveSample): once per second while something changes.
        notificationRaised(Notification): a desktop notification to show.
        notificationsPausedChanged(object): paused until (epoch s), or None.
        historyChanged(): the store committed new rows (at most 1/s).
        hubMetricsReceived(str): the hub's /metrics text, or an error message.
        exportFinished(int, str): rows exported and the path, or -1 and the error.
    """

    operationsChanged = Signal(object)  # noqa: N815 - Qt signal names are camelCase
    connectionChanged = Signal(object)  # noqa: N815
    latencyChanged = Signal(object)  # noqa: N815
    healthChanged = Signal(object)  # noqa: N815
    metricsChanged = Signal(object)  # noqa: N815
    liveSampleAdded = Signal(object)  # noqa: N815
    notificationRaised = Signal(object)  # noqa: N815
    notificationsPausedChanged = Signal(object)  # noqa: N815
    historyChanged = Signal()  # noqa: N815
    hubMetricsReceived = Signal(str)  # noqa: N815
    exportFinished = Signal(int, str)  # noqa: N815

    def __init__(
        self,
        engine: SyncEngine,
        parent: QObject | None = None,
        *,
        reader: HistoryReader | None = None,
        network: NetworkMonitor | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(parent)
        self._engine = engine
        #: The store's read side (queries from worker threads only, one at a time), or None.
        self._reader: Any = SerializedCalls(reader) if reader is not None else None
        self._clock = clock
        #: Ids changed since the last operationsChanged.
        self._added: set[str] = set()
        self._updated: set[str] = set()
        self._finished: set[str] = set()
        self._removed: set[str] = set()
        self._live: deque[LiveSample] = deque(maxlen=LIVE_SAMPLES_KEPT)
        self._latency_history: deque[tuple[float, float]] = deque(maxlen=LATENCY_SAMPLES_KEPT)
        self._connected_since: float | None = None
        self._ever_connected = False
        self._reconnects = 0
        self._last_message_at: float | None = None
        self._paused_until: float | None = None
        #: Outstanding background jobs (kept alive until they report).
        self._jobs: set[WorkDone] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._ops_timer = self._single_shot("operations", OPERATIONS_INTERVAL_MS, self._flush_ops)
        self._live_timer = self._single_shot("live-sample", LIVE_SAMPLE_INTERVAL_MS, self._sample)
        self._history_timer = self._single_shot(
            "history", HISTORY_INTERVAL_MS, self.historyChanged.emit
        )
        engine.set_listener(self)
        if network is not None:
            # Platform hints reach the link through the engine, never from the faces.
            network.onlineChanged.connect(engine.set_network_online)
            network.resumed.connect(self._on_resumed)

    def _single_shot(self, name: str, interval_ms: int, slot: Callable[[], None]) -> QTimer:
        timer = QTimer(self)
        timer.setObjectName(name)
        timer.setSingleShot(True)
        timer.setInterval(interval_ms)
        timer.timeout.connect(slot)
        return timer

    # ------------------------------------------------------------------ properties

    @property
    def engine(self) -> SyncEngine:
        """For the composition root (main) only; faces use the intents below."""
        return self._engine

    @property
    def operations(self) -> Mapping[str, Operation]:
        return self._engine.operations

    @property
    def active_operations(self) -> list[Operation]:
        """Operations not yet terminal, oldest first."""
        active = [op for op in self._engine.operations.values() if not op.is_terminal]
        active.sort(key=lambda op: op.first_seen_us)
        return active

    @property
    def connection(self) -> ConnectionStatus:
        return self._engine.connection

    @property
    def latency(self) -> LatencyStats:
        return self._engine.latency

    @property
    def health(self) -> Health:
        return self._engine.health

    @property
    def metrics(self) -> MetricsSnapshot:
        return self._engine.metrics

    @property
    def hub_url(self) -> str:
        """The hub's address without credentials (safe to show)."""
        return public_url(self._engine.config.hub_url)

    @property
    def live_samples(self) -> Sequence[LiveSample]:
        return tuple(self._live)

    @property
    def latency_history(self) -> Sequence[tuple[float, float]]:
        """(epoch s, round trip ms) of recent pings, oldest first."""
        return tuple(self._latency_history)

    @property
    def notifications_paused_until(self) -> float | None:
        until = self._paused_until
        return until if until is not None and until > self._clock() else None

    @property
    def uptime_s(self) -> float | None:
        """Seconds since the link last connected; None while it is not connected."""
        since = self._connected_since
        return None if since is None else max(0.0, self._clock() - since)

    @property
    def last_message_at(self) -> float | None:
        return self._last_message_at

    @property
    def reconnect_count(self) -> int:
        return self._reconnects

    def database_info(self) -> DatabaseInfo | None:
        """The store's location, size and row counts, or None without a store (a query:
        call it from a worker thread)."""
        reader = self._reader
        return None if reader is None else cast(DatabaseInfo, reader.database_info())

    def history_reader(self) -> HistoryReader | None:
        """The store's read side (queries, series, totals, export), or None without a
        store. Call it from worker threads only (see qt.workers); calls take turns."""
        return cast("HistoryReader | None", self._reader)

    # ------------------------------------------------------------------ EngineListener

    def on_operations(self, reduction: Reduction) -> None:
        self._added |= reduction.added
        self._updated |= reduction.updated
        self._finished |= reduction.finished
        self._removed |= reduction.removed
        if reduction.added or reduction.updated:
            self._last_message_at = self._clock()
        if not self._ops_timer.isActive():
            self._ops_timer.start()
        self._something_changed()

    def on_connection(self, status: ConnectionStatus) -> None:
        if status.state is ConnectionState.CONNECTED:
            if self._connected_since is None:
                self._connected_since = status.since
                if self._ever_connected:
                    self._reconnects += 1
                self._ever_connected = True
        else:
            self._connected_since = None
        self.connectionChanged.emit(status)
        self._something_changed()

    def on_latency(self, stats: LatencyStats) -> None:
        if stats.current_ms is not None:
            self._latency_history.append((self._clock(), stats.current_ms))
        self.latencyChanged.emit(stats)

    def on_health(self, health: Health) -> None:
        self.healthChanged.emit(health)
        self._something_changed()

    def on_metrics(self, snapshot: MetricsSnapshot) -> None:
        self.metricsChanged.emit(snapshot)
        self._something_changed()

    def on_notification(self, notification: Notification) -> None:
        self.notificationRaised.emit(notification)

    def on_history_committed(self) -> None:
        if not self._history_timer.isActive():
            self._history_timer.start()

    # ------------------------------------------------------------------ coalescing

    def _flush_ops(self) -> None:
        ops = self._engine.operations
        removed = frozenset(i for i in self._removed if i not in ops)
        added = frozenset(i for i in self._added if i in ops)
        updated = frozenset(i for i in self._updated if i in ops and i not in added)
        finished = frozenset(i for i in self._finished if i in ops)
        self._added.clear()
        self._updated.clear()
        self._finished.clear()
        self._removed.clear()
        if added or updated or finished or removed:
            self.operationsChanged.emit(OperationsDelta(added, updated, finished, removed))

    def _something_changed(self) -> None:
        if not self._live_timer.isActive():
            self._live_timer.start()

    def _sample(self) -> None:
        metrics = self._engine.metrics
        connection = self._engine.connection
        sample = LiveSample(
            at=self._clock(),
            throughput_bps=metrics.throughput_bps,
            throughput_ops_per_min=metrics.throughput_ops_per_min,
            active_ops=self._engine.state.active_count,
            error_rate_pct=metrics.error_rate_pct,
            latency_ms=self._engine.latency.current_ms,
            health_score=self._engine.health.score,
            connected=connection.state is ConnectionState.CONNECTED,
        )
        self._live.append(sample)
        self.liveSampleAdded.emit(sample)

    def _on_resumed(self, slept_s: float) -> None:
        self._engine.notify_resumed()

    # ------------------------------------------------------------------ intents

    @Slot()
    def reconnect_now(self) -> None:
        self._engine.reconnect_now()

    def pause_notifications(self, until: float | None) -> None:
        """Mute notifications until ``until`` (epoch seconds); None resumes them."""
        self._engine.pause_notifications(until)
        self._paused_until = until
        self.notificationsPausedChanged.emit(until)

    def set_notification_kind_enabled(self, kind: str, enabled: bool) -> None:
        self._engine.set_notification_kind_enabled(NotificationKind(kind), enabled)

    @Slot()
    def cleanup_now(self) -> None:
        self._engine.cleanup_now()

    @Slot()
    def compact_database(self) -> None:
        self._engine.compact_database()

    @Slot()
    def request_hub_metrics(self) -> None:
        """Fetch the hub's /metrics; the text (or an error) arrives by hubMetricsReceived."""
        task = asyncio.ensure_future(self._fetch_hub_metrics())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fetch_hub_metrics(self) -> None:
        try:
            text = await self._engine.fetch_hub_metrics()
        except (OSError, ValueError, TimeoutError) as exc:
            text = f"Could not read the hub's metrics: {exc}"
        self.hubMetricsReceived.emit(text)

    def export_history(self, query: Any, path: str | Path, fmt: str) -> None:
        """Export the history rows ``query`` selects to ``path`` as ``fmt`` (csv or json),
        on a worker thread; the outcome arrives by exportFinished."""
        reader = self._reader
        target = Path(path)
        if reader is None:
            self.exportFinished.emit(-1, "no history store is open")
            return

        def done(outcome: Outcome[int]) -> None:
            self._jobs.discard(job)
            if outcome.error is not None:
                self.exportFinished.emit(-1, f"export failed: {outcome.error}")
            else:
                self.exportFinished.emit(int(outcome.value or 0), str(target))

        job = run_in_thread(lambda: int(reader.export(query, target, fmt)), done)
        self._jobs.add(job)

    def shutdown(self) -> None:
        """Stop the timers (the app is quitting)."""
        for timer in (self._ops_timer, self._live_timer, self._history_timer):
            timer.stop()
