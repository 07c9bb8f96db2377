"""Helpers for tests that run a real SyncEngine against a real hub and a real store."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from syncwatch.client.engine import EngineConfig, SyncEngine
from syncwatch.client.reporter import Reporter
from syncwatch.client.store import HistoryStore, StoreWriter
from syncwatch.core.alerts import AlertConfig, Notification
from syncwatch.core.connection import ConnectionState, ConnectionStatus, LatencyStats
from syncwatch.core.health import Health
from syncwatch.core.metrics import MetricsSnapshot
from syncwatch.core.operations import Reduction
from syncwatch.core.protocol import Status, parse_update
from syncwatch.hub.eventlog import DB_NAME

#: Fast timers for tests: display figures every 50 ms, housekeeping every 100 ms.
FAST = {
    "display_interval_s": 0.05,
    "housekeeping_interval_s": 0.1,
    "ping_interval_s": 1.0,
    "ping_timeout_s": 2.0,
}
#: Alerts without the delays meant for people.
QUICK_ALERTS = AlertConfig(
    health_delay_s=0.0,
    connection_grace_s=0.2,
    startup_suppress_s=0.0,
    digest_gather_s=0.1,
    min_interval_s=0.0,
    rate_limit_count=100,
)


@dataclass
class Recorder:
    """An EngineListener that keeps everything it is told, in order."""

    reductions: list[Reduction] = field(default_factory=list)
    statuses: list[ConnectionStatus] = field(default_factory=list)
    latencies: list[LatencyStats] = field(default_factory=list)
    healths: list[Health] = field(default_factory=list)
    metrics: list[MetricsSnapshot] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    commits: int = 0

    def on_operations(self, reduction: Reduction) -> None:
        self.reductions.append(reduction)

    def on_connection(self, status: ConnectionStatus) -> None:
        self.statuses.append(status)

    def on_latency(self, stats: LatencyStats) -> None:
        self.latencies.append(stats)

    def on_health(self, health: Health) -> None:
        self.healths.append(health)

    def on_metrics(self, snapshot: MetricsSnapshot) -> None:
        self.metrics.append(snapshot)

    def on_notification(self, notification: Notification) -> None:
        self.notifications.append(notification)

    def on_history_committed(self) -> None:
        self.commits += 1

    @property
    def states(self) -> list[ConnectionState]:
        return [s.state for s in self.statuses]


async def wait_until(
    predicate: Callable[[], bool], within_s: float = 30.0, what: str = "condition"
) -> None:
    """Poll ``predicate`` on the running loop until it holds; fail after ``within_s``."""
    deadline = time.monotonic() + within_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within_s} s waiting for {what}")
        await asyncio.sleep(0.01)


@contextmanager
def open_store(path: Path) -> Iterator[tuple[HistoryStore, StoreWriter]]:
    """A history store and its writer thread; the writer is closed (flushed) on exit."""
    store = HistoryStore(path)
    writer = StoreWriter(store)
    try:
        yield store, writer
    finally:
        writer.close(10)


def make_engine(
    hub_url: str,
    store: HistoryStore,
    writer: StoreWriter,
    listener: Recorder | None = None,
    *,
    clock: Callable[[], float] = time.time,
    alerts: AlertConfig = QUICK_ALERTS,
    **config: object,
) -> SyncEngine:
    options: dict[str, object] = {**FAST, **config}
    return SyncEngine(
        EngineConfig(hub_url, **options),  # type: ignore[arg-type]
        writer,
        listener,
        cursor=store.cursor,
        clock=clock,
        alert_config=alerts,
    )


async def publish_lifecycles(
    url: str,
    prefix: str,
    count: int,
    *,
    fail_every: int = 0,
    source: str = "agent-1",
    until: asyncio.Event | None = None,
) -> int:
    """Publish ``count`` operations, each queued -> in_progress -> completed (or failed).

    With ``until``, keep publishing (pausing briefly every 10 operations, a steady
    stream) until the event is set; returns the number of operations published."""
    async with Reporter(url, source=source, max_buffer=100_000) as reporter:
        i = 0
        while i < count if until is None else not until.is_set():
            op = f"{prefix}-{i}"
            await reporter.update(
                operation_id=op,
                operation_type="upload",
                status="queued",
                progress=0.0,
                item=f"/library/{op}.mkv",
            )
            await reporter.update(
                operation_id=op,
                operation_type="upload",
                status="in_progress",
                progress=50.0,
                bytes_done=500,
                bytes_total=1000,
            )
            failed = fail_every and i % fail_every == 0
            await reporter.update(
                operation_id=op,
                operation_type="upload",
                status="failed" if failed else "completed",
                progress=50.0 if failed else 100.0,
                error="disk full" if failed else None,
            )
            i += 1
            if until is not None and i % 10 == 0:
                await asyncio.sleep(0.002)
            elif i % 50 == 0:
                await asyncio.sleep(0)
    return i


def hub_log(data_dir: Path) -> list[tuple[int, str, Status]]:
    """(seq, operation_id, status) of every update in a hub's durable log, in seq order."""
    with sqlite3.connect(f"file:{data_dir / DB_NAME}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT seq, body FROM events ORDER BY seq").fetchall()
    out = []
    for seq, body in rows:
        update = parse_update(bytes(body))
        out.append((int(seq), update.operation_id, update.status))
    return out
