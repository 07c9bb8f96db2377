"""Fixtures for the Qt bridge: a qasync loop inside pytest-qt, and a live model.

pytest-qt owns the QApplication and spins Qt's event loop in ``qtbot.wait*``; a qasync
loop created with ``already_running=True`` makes asyncio run inside those spins, as it
does in the app (where the asyncio loop *is* the Qt event loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import qasync
from pytestqt.qtbot import QtBot

from syncwatch.client.engine import SyncEngine
from syncwatch.client.store import HistoryStore, StoreWriter
from syncwatch.core.connection import ConnectionState
from syncwatch.qt.model import SyncStateModel
from syncwatch.qt.network import NetworkMonitor
from tests.client.engine_support import make_engine
from tests.support.hubproc import RunningHub, running_hub


@pytest.fixture(scope="session")
def _session_loop(qapp: Any) -> asyncio.AbstractEventLoop:
    """One qasync loop for the session, as the app has one.

    It is never stopped: ``QEventLoop.stop()`` calls ``QApplication.exit()``, after which
    a new qasync loop in the same process no longer runs its callbacks. Between tests it
    is not the thread's running loop, so that other folders' ``asyncio.run`` still works.
    """
    loop: asyncio.AbstractEventLoop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.events._set_running_loop(None)
    return loop


@pytest.fixture
def aio_loop(
    _session_loop: asyncio.AbstractEventLoop, qtbot: QtBot
) -> Iterator[asyncio.AbstractEventLoop]:
    """The qasync loop, running for this test; tasks the test leaves behind are cancelled
    and finished after it."""
    asyncio.events._set_running_loop(_session_loop)
    try:
        yield _session_loop
        pending = [t for t in asyncio.all_tasks(_session_loop) if not t.done()]
        for task in pending:
            task.cancel()
        qtbot.waitUntil(lambda: all(t.done() for t in pending), timeout=30_000)
    finally:
        asyncio.events._set_running_loop(None)


@dataclass
class LiveModel:
    """A hub, a history store, an engine running on the qasync loop, and its model."""

    hub: RunningHub
    store: HistoryStore
    writer: StoreWriter
    engine: SyncEngine
    model: SyncStateModel
    task: asyncio.Task[None]
    db_path: Path
    network: NetworkMonitor
    #: [wall, monotonic] clocks of ``network``: move wall alone to fake a sleep.
    clocks: list[float]

    def publish(self, coro: Any, qtbot: QtBot, timeout_ms: int = 30_000) -> None:
        """Run a publishing coroutine on the hub's own loop thread until it finishes, while
        the GUI thread keeps serving Qt and the engine."""
        future = asyncio.run_coroutine_threadsafe(coro, self.hub.loop)
        qtbot.waitUntil(future.done, timeout=timeout_ms)
        future.result()


@pytest.fixture
def live(tmp_path: Path, qtbot: QtBot, aio_loop: asyncio.AbstractEventLoop) -> Iterator[LiveModel]:
    with running_hub(tmp_path, publisher_rate=1e6, publisher_burst=100_000) as hub:
        db_path = tmp_path / "history.sqlite3"
        store = HistoryStore(db_path)
        writer = StoreWriter(store)
        engine = make_engine(hub.url, store, writer, housekeeping_interval_s=10.0)
        clocks = [1_750_000_000.0, 100.0]
        network = NetworkMonitor(wall_clock=lambda: clocks[0], monotonic=lambda: clocks[1])
        model = SyncStateModel(engine, reader=store.reader(), network=network)
        task = aio_loop.create_task(engine.run())
        try:
            qtbot.waitUntil(
                lambda: model.connection.state is ConnectionState.CONNECTED or task.done(),
                timeout=30_000,
            )
            yield LiveModel(hub, store, writer, engine, model, task, db_path, network, clocks)
        finally:
            engine.stop()
            qtbot.waitUntil(task.done, timeout=30_000)
            model.shutdown()
            writer.close(10)
            reader = model.history_reader()
            if reader is not None:
                reader.close()
        if task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
