"""SyncEngine against a real hub on loopback and a real SQLite history (no Qt)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from syncwatch.client.engine import SyncEngine, public_url, subscribe_url
from syncwatch.client.reporter import Reporter
from syncwatch.client.store import EventFilter, HistoryReader
from syncwatch.core.alerts import NotificationKind
from syncwatch.core.connection import ConnectionState
from syncwatch.core.health import HealthStatus
from syncwatch.core.protocol import Status, SyncUpdate
from tests.client.engine_support import (
    Recorder,
    hub_log,
    make_engine,
    open_store,
    publish_lifecycles,
    wait_until,
)
from tests.support.hubproc import running_hub


async def _run(engine: SyncEngine) -> asyncio.Task[None]:
    task = asyncio.create_task(engine.run())
    await wait_until(
        lambda: engine.connection.state is ConnectionState.CONNECTED or task.done(),
        what="the engine to connect",
    )
    if task.done():
        task.result()
    return task


async def _stop(engine: SyncEngine, task: asyncio.Task[None]) -> None:
    engine.stop()
    await asyncio.wait_for(task, 10)


def _store_events(path: Path) -> list[tuple[int, str, str]]:
    reader = HistoryReader(path)
    try:
        return sorted(
            (e.seq, e.operation_id, e.status)
            for e in reader.iter_events(EventFilter())
            if e.seq is not None
        )
    finally:
        reader.close()


def test_subscribe_url_adds_the_viewer_path_to_a_bare_hub_address() -> None:
    assert subscribe_url("ws://127.0.0.1:8765") == "ws://127.0.0.1:8765/v1/subscribe"
    assert subscribe_url("wss://hub.example.org/") == "wss://hub.example.org/v1/subscribe"
    assert subscribe_url("ws://h:1/v1/subscribe?x=1") == "ws://h:1/v1/subscribe?x=1"


def test_public_url_hides_credentials() -> None:
    assert public_url("wss://u:p@hub.example.org/v1/subscribe?token=s3cr3t&x=1") == (
        "wss://hub.example.org/v1/subscribe?x=1"
    )
    assert public_url("ws://127.0.0.1:8765") == "ws://127.0.0.1:8765"


def test_published_updates_reach_the_state_the_listener_and_the_store(tmp_path: Path) -> None:
    recorder = Recorder()
    db = tmp_path / "history.sqlite3"
    with running_hub(tmp_path) as hub, open_store(db) as (store, writer):

        async def scenario() -> None:
            engine = make_engine(hub.url, store, writer, recorder)
            task = await _run(engine)
            await publish_lifecycles(hub.url, "op", 20, fail_every=5)
            await wait_until(lambda: engine.state.last_seq == hub.hub.seq, what="all updates")
            ops = engine.operations
            assert len(ops) == 20
            assert sum(op.status is Status.FAILED for op in ops.values()) == 4
            assert sum(op.status is Status.COMPLETED for op in ops.values()) == 16
            assert ops["op-0"].error == "disk full"
            assert engine.state.active_count == 0
            await wait_until(lambda: recorder.commits > 0, what="a history commit")
            await wait_until(lambda: recorder.metrics != [], what="metrics")
            assert recorder.metrics[-1].failed == 4
            assert recorder.metrics[-1].completed == 16
            await _stop(engine, task)

        asyncio.run(scenario())
        writer.flush(10)
        assert store.cursor() == (hub.hub.hub_id, hub.hub.seq)
        assert _store_events(db) == sorted((s, o, str(st)) for s, o, st in hub_log(hub.data_dir))
    assert recorder.states[0] in (ConnectionState.CONNECTING, ConnectionState.CONNECTED)
    assert ConnectionState.CONNECTED in recorder.states
    assert recorder.states[-1] is ConnectionState.DISCONNECTED
    seen = set().union(*(r.added for r in recorder.reductions))
    assert seen == {f"op-{i}" for i in range(20)}


def test_health_turns_critical_and_alerts_when_failures_are_published(tmp_path: Path) -> None:
    recorder = Recorder()
    with running_hub(tmp_path) as hub, open_store(tmp_path / "h.sqlite3") as (store, writer):

        async def scenario() -> None:
            engine = make_engine(hub.url, store, writer, recorder)
            task = await _run(engine)
            await publish_lifecycles(hub.url, "ok", 5)
            await wait_until(lambda: len(engine.operations) == 5, what="5 operations")
            await wait_until(lambda: recorder.healths != [] or engine.health.score == 100)
            assert engine.health.status is HealthStatus.HEALTHY
            await publish_lifecycles(hub.url, "bad", 5, fail_every=1)
            await wait_until(
                lambda: engine.health.status is HealthStatus.CRITICAL, what="critical health"
            )
            assert recorder.healths[-1].status is HealthStatus.CRITICAL
            assert any("error rate 50%" in r for r in recorder.healths[-1].reasons)
            await wait_until(
                lambda: any(
                    n.kind is NotificationKind.OPERATIONS_FAILED for n in recorder.notifications
                ),
                what="a failure digest",
            )
            digest = [
                n for n in recorder.notifications if n.kind is NotificationKind.OPERATIONS_FAILED
            ]
            assert "failed" in digest[0].title
            snapshot = engine.check_health_now()
            assert snapshot.status is HealthStatus.CRITICAL
            await _stop(engine, task)

        asyncio.run(scenario())
        writer.flush(10)
        rows = store.snapshots(0, 4e9)
        assert rows
        assert rows[-1].status == "critical"


def test_a_new_engine_resumes_from_the_store_cursor_without_loss_or_duplicates(
    tmp_path: Path,
) -> None:
    db = tmp_path / "history.sqlite3"
    with running_hub(tmp_path, publisher_rate=1e6, publisher_burst=100_000) as hub:

        async def scenario() -> int:
            enough = asyncio.Event()
            with open_store(db) as (store, writer):
                first = make_engine(hub.url, store, writer)
                task = await _run(first)
                publisher = asyncio.create_task(publish_lifecycles(hub.url, "op", 0, until=enough))
                await wait_until(lambda: first.updates_received >= 300, what="300 updates")
                await _stop(first, task)  # mid-stream: the publisher goes on
                stopped_at = first.state.last_seq
            with open_store(db) as (store, writer):
                assert store.cursor() == (hub.hub.hub_id, stopped_at)
                second = make_engine(hub.url, store, writer)
                task = await _run(second)
                await wait_until(lambda: second.updates_received >= 300, what="300 more")
                enough.set()
                published = await publisher
                final = hub.hub.seq
                await wait_until(lambda: second.state.last_seq == final, what="the last update")
                await _stop(second, task)
                assert second.updates_received == final - stopped_at
                assert stopped_at < final - 300
            assert final == 3 * published
            return final

        final = asyncio.run(scenario())
        with open_store(db) as (store, _):
            assert store.cursor() == (hub.hub.hub_id, final)
        events = _store_events(db)
        assert len(events) == len({seq for seq, _, _ in events}), "duplicate events"
        assert events == sorted((s, o, str(st)) for s, o, st in hub_log(hub.data_dir))


def test_reading_pauses_while_the_history_writer_is_behind_and_nothing_is_lost(
    tmp_path: Path,
) -> None:
    """A history that cannot keep up holds the hub back instead of queueing in memory,
    for longer than the ping timeout without the link being taken for dead."""
    recorder = Recorder()
    db = tmp_path / "history.sqlite3"
    with (
        running_hub(tmp_path, publisher_rate=1e6, publisher_burst=100_000) as hub,
        open_store(db) as (store, writer),
    ):

        async def scenario() -> None:
            engine = make_engine(
                hub.url,
                store,
                writer,
                recorder,
                history_backlog_high=300,
                history_backlog_low=100,
                ping_interval_s=0.3,
                ping_timeout_s=0.6,
            )
            task = await _run(engine)
            # Another connection holds the history's write lock: the writer cannot commit.
            blocker = sqlite3.connect(db)
            blocker.execute("BEGIN IMMEDIATE")
            try:
                # 6,000 updates, queued at once: more frames than websockets queues before
                # it stops reading the socket (16), so pongs too wait behind unread frames.
                async with Reporter(hub.url, source="agent-1", max_buffer=10_000) as reporter:
                    for n in range(2000):
                        for status, progress in (
                            (Status.QUEUED, 0.0),
                            (Status.IN_PROGRESS, 50.0),
                            (Status.COMPLETED, 100.0),
                        ):
                            reporter.report(
                                SyncUpdate(
                                    f"op-{n}", "upload", status, progress, int(time.time() * 1e6)
                                )
                            )
                    await reporter.flush()
                assert hub.hub.seq == 6000
                await asyncio.sleep(0.5)
                held_at = engine.updates_received
                # It stopped reading once 300 waited (plus at most the frame in hand).
                assert 300 <= held_at < 300 + 400, held_at
                await asyncio.sleep(1.5)  # pongs wait behind unread frames: 2 ping timeouts
                assert engine.updates_received == held_at
                assert engine.connection.state is ConnectionState.CONNECTED
            finally:
                blocker.rollback()
                blocker.close()
            await wait_until(lambda: engine.state.last_seq == 6000, what="every update")
            await wait_until(lambda: writer.updates_pending == 0, what="the history to commit")
            assert engine.updates_received == 6000
            await _stop(engine, task)

        asyncio.run(scenario())
        assert writer.error_count == 0
        assert store.cursor() == (hub.hub.hub_id, 6000)
    assert _store_events(db) == sorted((s, o, str(st)) for s, o, st in hub_log(hub.data_dir))
    # Held back, not cut off: one connection throughout.
    assert recorder.states.count(ConnectionState.CONNECTED) == 1


def test_finished_operations_leave_memory_after_keep_finished_s(tmp_path: Path) -> None:
    recorder = Recorder()
    now = [1_750_000_000.0]
    with running_hub(tmp_path) as hub, open_store(tmp_path / "h.sqlite3") as (store, writer):

        async def scenario() -> None:
            engine = make_engine(
                hub.url, store, writer, recorder, clock=lambda: now[0], keep_finished_s=60.0
            )
            task = await _run(engine)
            await publish_lifecycles(hub.url, "op", 3)
            await wait_until(lambda: len(engine.operations) == 3, what="3 operations")
            # The updates carry the real time; the engine's clock jumps past their expiry.
            now[0] = 4_000_000_000.0
            await wait_until(lambda: not engine.operations, what="expiry")
            removed = set().union(*(r.removed for r in recorder.reductions))
            assert removed == {"op-0", "op-1", "op-2"}
            await _stop(engine, task)

        asyncio.run(scenario())
        assert {row.operation_id for row in store.query_operations()} == {"op-0", "op-1", "op-2"}


def test_only_the_newest_max_finished_operations_stay_in_memory(tmp_path: Path) -> None:
    recorder = Recorder()
    with running_hub(tmp_path) as hub, open_store(tmp_path / "h.sqlite3") as (store, writer):

        async def scenario() -> None:
            engine = make_engine(hub.url, store, writer, recorder, max_finished=3)
            task = await _run(engine)
            async with Reporter(hub.url, source="agent-1") as reporter:
                await reporter.update(
                    operation_id="running",
                    operation_type="upload",
                    status="in_progress",
                    progress=5.0,
                )
            await publish_lifecycles(hub.url, "op", 10)

            def bounded_after_the_last_finished() -> bool:
                ops = engine.operations
                return "op-9" in ops and ops["op-9"].is_terminal and len(ops) == 4

            await wait_until(bounded_after_the_last_finished, what="the bound to apply")
            assert set(engine.operations) == {"running", "op-7", "op-8", "op-9"}
            removed = set().union(*(r.removed for r in recorder.reductions))
            assert removed == {f"op-{i}" for i in range(7)}
            await _stop(engine, task)

        asyncio.run(scenario())
        assert len(store.query_operations()) == 11, "the history keeps every operation"


def test_cleanup_and_hub_metrics_on_demand(tmp_path: Path) -> None:
    with running_hub(tmp_path) as hub, open_store(tmp_path / "h.sqlite3") as (store, writer):

        async def scenario() -> None:
            engine = make_engine(hub.url, store, writer)
            task = await _run(engine)
            text = await engine.fetch_hub_metrics()
            assert "syncwatch_hub" in text
            future = engine.cleanup_now()
            result = await asyncio.wrap_future(future)
            assert result.total == 0
            await _stop(engine, task)

        asyncio.run(scenario())


def test_an_unreachable_hub_is_reported_and_turns_health_critical(tmp_path: Path) -> None:
    recorder = Recorder()
    with running_hub(tmp_path) as hub:
        url = hub.url
    # The hub is gone: its port refuses connections now.
    with open_store(tmp_path / "h.sqlite3") as (store, writer):

        async def scenario() -> None:
            engine = make_engine(url, store, writer, recorder)
            task = asyncio.create_task(engine.run())
            await wait_until(
                lambda: ConnectionState.RECONNECTING in recorder.states, what="reconnecting"
            )
            reconnecting = next(
                s for s in recorder.statuses if s.state is ConnectionState.RECONNECTING
            )
            assert reconnecting.reason
            await wait_until(lambda: engine.health.status is not HealthStatus.HEALTHY)
            await _stop(engine, task)

        asyncio.run(scenario())


@pytest.mark.parametrize("bad", ["http://example.org", "ws://"])
def test_a_bad_hub_url_is_refused_when_the_engine_starts(tmp_path: Path, bad: str) -> None:
    with open_store(tmp_path / "h.sqlite3") as (store, writer):
        engine = make_engine(bad, store, writer)
        with pytest.raises(ValueError, match="hub URL"):
            asyncio.run(engine.run())
