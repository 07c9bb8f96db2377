"""A real SyncStateModel for face tests: a hub on loopback, agents publishing through the
Reporter, and the app's engine, store and model on the Qt thread (qasync).

    with live_model(loop, qtbot, tmp_path) as live:
        live.publish([upd("a", progress=40)])
        live.wait_for(lambda: len(live.model.active_operations) == 1)

The hub runs on its own loop thread (tests/support/hubproc.py); the Reporter runs there
too, so that ``publish`` returns once the hub acknowledged every update. The engine runs
on a qasync loop over the test's QApplication, exactly as in the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import qasync
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from syncwatch.client.engine import EngineConfig, SyncEngine
from syncwatch.client.reporter import Reporter
from syncwatch.client.store import HistoryReader, HistoryStore, StoreWriter
from syncwatch.core.alerts import AlertConfig
from syncwatch.core.protocol import Status
from syncwatch.qt.model import SyncStateModel
from tests.support.hubproc import RunningHub, running_hub

T = TypeVar("T")

#: Alert rules without waiting periods, so that a test sees notifications at once.
QUICK_ALERTS = AlertConfig(
    health_delay_s=0,
    connection_grace_s=0,
    startup_suppress_s=0,
    digest_gather_s=0,
    min_interval_s=0,
)


@dataclass(frozen=True, slots=True)
class Upd:
    """One update an agent reports (the Reporter stamps time and counter)."""

    operation_id: str
    status: Status = Status.IN_PROGRESS
    progress: float = 0.0
    operation_type: str = "upload"
    item: str | None = None
    bytes_done: int | None = None
    bytes_total: int | None = None
    error: str | None = None
    #: When it happened (epoch s); None: now. Spacing updates gives real speeds and ETAs.
    at: float | None = None


def upd(
    op_id: str,
    progress: float = 0.0,
    status: Status = Status.IN_PROGRESS,
    total: int | None = 50_000_000,
    **kw: Any,
) -> Upd:
    """An update with bytes derived from progress, as a real uploader reports them."""
    done = None if total is None else round(total * progress / 100)
    item = kw.pop("item", f"/library/photos/2026/IMG_{op_id}.jpg")
    return Upd(op_id, status, progress, item=item, bytes_done=done, bytes_total=total, **kw)


@dataclass
class LiveModel:
    """The running pieces (see module doc)."""

    hub: RunningHub
    model: SyncStateModel
    engine: SyncEngine
    store: HistoryStore
    reader: HistoryReader
    qtbot: QtBot

    def publish(self, updates: Sequence[Upd], source: str = "agent-1") -> None:
        """Report ``updates`` in order; returns when the hub acknowledged all of them."""

        async def send() -> None:
            async with Reporter(self.hub.url, source=source) as reporter:
                for u in updates:
                    await reporter.update(
                        operation_id=u.operation_id,
                        operation_type=u.operation_type,
                        status=u.status,
                        progress=u.progress,
                        item=u.item,
                        bytes_done=u.bytes_done,
                        bytes_total=u.bytes_total,
                        error=u.error,
                        timestamp_us=None if u.at is None else round(u.at * 1_000_000),
                    )
                await asyncio.wait_for(reporter.flush(), 10)

        self.on_hub(send())

    def on_hub(self, coro: Coroutine[Any, Any, T], timeout_ms: int = 20_000) -> T:
        """Run ``coro`` on the hub's loop while the Qt loop keeps running (the app's side
        must answer pings and close handshakes meanwhile, as it would in real life)."""
        future = asyncio.run_coroutine_threadsafe(coro, self.hub.loop)
        self.qtbot.waitUntil(future.done, timeout=timeout_ms)
        return future.result()

    def wait_for(self, condition: Callable[[], bool], timeout_ms: int = 10_000) -> None:
        self.qtbot.waitUntil(condition, timeout=timeout_ms)

    def wait_connected(self) -> None:
        self.wait_for(lambda: self.model.connection.state.value == "connected")


@contextlib.contextmanager
def qt_asyncio_loop(qapp: QApplication) -> Iterator[asyncio.AbstractEventLoop]:
    """One qasync loop over the test QApplication, for the whole session: several qasync
    loops in one thread steal each other's callbacks, so tests share this one."""
    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        loop.stop()  # marks it stopped (qasync: app.exit() is a no-op without exec())
        asyncio.events._set_running_loop(None)
        asyncio.set_event_loop(None)
        loop.close()


@contextlib.contextmanager
def live_model(
    loop: asyncio.AbstractEventLoop,
    qtbot: QtBot,
    tmp_path: Path,
    *,
    clock: Callable[[], float] = time.time,
    config: dict[str, Any] | None = None,
    alerts: AlertConfig | None = None,
) -> Iterator[LiveModel]:
    """A connected model over a real hub (see module doc); everything stopped on exit."""
    with running_hub(tmp_path) as hub:
        store = HistoryStore(tmp_path / "history.sqlite3")
        writer = StoreWriter(store)
        reader = store.reader()
        engine = SyncEngine(
            EngineConfig(hub_url=hub.url, display_interval_s=0.05, **(config or {})),
            writer,
            cursor=reader.cursor,
            clock=clock,
            alert_config=alerts or QUICK_ALERTS,
        )
        model = SyncStateModel(engine, reader=reader, clock=clock)
        task = loop.create_task(engine.run())
        live = LiveModel(hub, model, engine, store, reader, qtbot)
        try:
            live.wait_connected()
            yield live
        finally:
            engine.stop()
            qtbot.waitUntil(task.done, timeout=10_000)
            model.shutdown()
            writer.close()
            reader.close()
