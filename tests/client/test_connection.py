"""HubClient against a real hub on loopback: subscribe, resume, resync, stop.

Faults (refused connections, restarts, blackholes, sleep, TLS) are in
test_connection_faults.py.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.client import connect

from syncwatch.client.connection import HubClient
from syncwatch.core.connection import ConnectionState as S
from syncwatch.core.protocol import update_to_dict
from syncwatch.hub import Role
from tests.client.connection_support import (
    RecordingListener,
    publish,
    run,
    update,
    wait_until,
)
from tests.support.hubproc import running_hub
from tests.support.tcpproxy import TcpProxy


def subscribe_url(base: str) -> str:
    return base + "/v1/subscribe"


def test_first_connection_gets_a_snapshot_then_live_updates(tmp_path: Path) -> None:
    with running_hub(tmp_path) as hub:

        async def scenario() -> RecordingListener:
            await publish(hub.url, 1, 10)  # seqs 1..10 about 7 operations
            listener = RecordingListener()
            client = HubClient(subscribe_url(hub.url), listener=listener)
            task = asyncio.create_task(client.run())
            await wait_until(lambda: listener.snapshots, what="the snapshot")
            assert await publish(hub.url, 11, 5) == [11, 12, 13, 14, 15]
            await wait_until(lambda: len(listener.updates) == 5, what="5 live updates")
            client.stop()
            await task
            return listener

        listener = run(scenario())
        hub_id = hub.hub.hub_id
    assert listener.states == [S.CONNECTING, S.CONNECTED, S.DISCONNECTED]
    assert listener.statuses[1].hub_id == hub_id
    assert listener.statuses[1].hub_url == subscribe_url(hub.url)
    [snap] = listener.snapshots
    assert (snap.hub_id, snap.gap_from, snap.snapshot.seq) == (hub_id, None, 10)
    assert sorted(u.operation_id for u in snap.snapshot.operations) == [f"op-{i}" for i in range(7)]
    assert listener.seqs == [11, 12, 13, 14, 15]
    assert [u.counter for u in listener.updates] == [11, 12, 13, 14, 15]
    assert listener.messages >= 2  # on_message heard the snapshot and the live frame(s)


def test_stop_closes_cleanly_with_1000(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="syncwatch.hub")
    with running_hub(tmp_path) as hub:

        async def scenario() -> None:
            listener = RecordingListener()
            client = HubClient(subscribe_url(hub.url), listener=listener)
            task = asyncio.create_task(client.run())
            await wait_until(lambda: listener.state is S.CONNECTED)
            client.stop()
            await task

        run(scenario())
    disconnects = [r.getMessage() for r in caplog.records if "disconnected" in r.getMessage()]
    assert disconnects, "the hub logged no viewer disconnect"
    assert disconnects[-1].endswith("(1000)"), disconnects


def test_cursor_resumes_with_a_replay_and_no_snapshot(tmp_path: Path) -> None:
    with running_hub(tmp_path) as hub:
        hub_id = hub.hub.hub_id

        async def scenario() -> RecordingListener:
            await publish(hub.url, 1, 8)
            listener = RecordingListener()
            client = HubClient(
                subscribe_url(hub.url), listener=listener, cursor=lambda: (hub_id, 5)
            )
            task = asyncio.create_task(client.run())
            await wait_until(lambda: len(listener.updates) == 3, what="the replay of 6..8")
            await publish(hub.url, 9, 2)
            await wait_until(lambda: len(listener.updates) == 5, what="live 9..10")
            client.stop()
            await task
            return listener

        listener = run(scenario())
    assert listener.snapshots == []
    assert listener.seqs == [6, 7, 8, 9, 10]


def test_a_cursor_from_another_hub_gets_a_snapshot_marking_the_gap(tmp_path: Path) -> None:
    with running_hub(tmp_path) as hub:

        async def scenario() -> RecordingListener:
            await publish(hub.url, 1, 4)
            listener = RecordingListener()
            client = HubClient(
                subscribe_url(hub.url), listener=listener, cursor=lambda: ("old-hub", 120)
            )
            task = asyncio.create_task(client.run())
            await wait_until(lambda: listener.snapshots, what="a snapshot")
            await publish(hub.url, 5, 1)
            await wait_until(lambda: listener.updates, what="the live update")
            client.stop()
            await task
            return listener

        listener = run(scenario())
        hub_id = hub.hub.hub_id
    [snap] = listener.snapshots
    assert (snap.hub_id, snap.gap_from, snap.snapshot.seq) == (hub_id, 120, 4)
    assert listener.seqs == [5]


def test_a_cursor_ahead_of_the_hub_gets_a_snapshot(tmp_path: Path) -> None:
    """Same hub_id but a shorter log (restored from an older copy): resume is impossible."""
    with running_hub(tmp_path) as hub:
        hub_id = hub.hub.hub_id

        async def scenario() -> RecordingListener:
            await publish(hub.url, 1, 3)
            listener = RecordingListener()
            client = HubClient(
                subscribe_url(hub.url), listener=listener, cursor=lambda: (hub_id, 50)
            )
            task = asyncio.create_task(client.run())
            await wait_until(lambda: listener.snapshots, what="a snapshot")
            client.stop()
            await task
            return listener

        listener = run(scenario())
    [snap] = listener.snapshots
    assert (snap.gap_from, snap.snapshot.seq) == (50, 3)


def test_a_lagging_store_cursor_never_causes_duplicates(tmp_path: Path) -> None:
    """The durable store may lag behind what was delivered: after a reconnect the client
    resumes from its own position and delivers each update exactly once."""
    with running_hub(tmp_path) as hub:

        async def scenario() -> tuple[RecordingListener, int]:
            async with TcpProxy("127.0.0.1", hub.hub.port) as proxy:
                listener = RecordingListener()
                hub_id = hub.hub.hub_id
                client = HubClient(
                    f"ws://127.0.0.1:{proxy.port}/v1/subscribe",
                    listener=listener,
                    cursor=lambda: (hub_id, 0),  # a store that never catches up
                    backoff_base=0.05,
                )
                task = asyncio.create_task(client.run())
                await publish(hub.url, 1, 20)
                await wait_until(lambda: len(listener.updates) == 20, what="20 updates")
                proxy.reset()
                await wait_until(lambda: listener.count(S.CONNECTED) == 2, what="reconnect")
                await publish(hub.url, 21, 5)
                await wait_until(lambda: len(listener.updates) == 25, what="25 updates")
                await asyncio.sleep(0.1)  # room for a duplicate to show up
                client.stop()
                await task
                return listener, proxy.accepted

        listener, accepted = run(scenario())
    assert accepted == 2
    assert listener.seqs == list(range(1, 26))
    assert listener.snapshots == []


def test_auth_failure_is_an_error_without_a_retry_loop(tmp_path: Path) -> None:
    with running_hub(tmp_path, tokens={"right": Role.VIEWER}) as hub:

        async def scenario() -> tuple[RecordingListener, int, int]:
            async with TcpProxy("127.0.0.1", hub.hub.port) as proxy:
                listener = RecordingListener()
                client = HubClient(
                    f"ws://127.0.0.1:{proxy.port}/v1/subscribe",
                    listener=listener,
                    token="wrong",
                    backoff_base=0.01,
                )
                task = asyncio.create_task(client.run())
                await wait_until(lambda: listener.state is S.ERROR, what="ERROR")
                await asyncio.sleep(0.5)  # a retry loop at base 0.01 s would try ~10 times
                attempts_while_in_error = proxy.accepted
                client.update_settings(f"ws://127.0.0.1:{proxy.port}/v1/subscribe", "right", None)
                await wait_until(lambda: listener.state is S.CONNECTED, what="CONNECTED")
                client.stop()
                await task
                return listener, attempts_while_in_error, proxy.accepted

        listener, in_error, total = run(scenario())
    error = next(s for s in listener.statuses if s.state is S.ERROR)
    assert error.reason == "hub refused the token"
    assert in_error == 1
    assert total == 2
    assert "wrong" not in repr(listener.statuses)
    assert "right" not in repr(listener.statuses)


def test_token_in_the_url_is_never_shown(tmp_path: Path) -> None:
    with running_hub(tmp_path, tokens={"s3cr3t": Role.VIEWER}) as hub:

        async def scenario() -> RecordingListener:
            listener = RecordingListener()
            client = HubClient(hub.url + "/v1/subscribe?token=s3cr3t", listener=listener)
            task = asyncio.create_task(client.run())
            await wait_until(lambda: listener.state is S.CONNECTED, what="CONNECTED")
            client.stop()
            await task
            return listener

        listener = run(scenario())
    assert {s.hub_url for s in listener.statuses} == {hub.url + "/v1/subscribe"}


def test_latency_is_measured_from_pings(tmp_path: Path) -> None:
    with running_hub(tmp_path) as hub:

        async def scenario() -> RecordingListener:
            async with TcpProxy("127.0.0.1", hub.hub.port) as proxy:
                proxy.latency_s = 0.03  # each way
                listener = RecordingListener()
                client = HubClient(
                    f"ws://127.0.0.1:{proxy.port}/v1/subscribe",
                    listener=listener,
                    ping_interval=0.05,
                )
                task = asyncio.create_task(client.run())
                await wait_until(lambda: len(listener.latencies) >= 3, what="3 pings")
                client.stop()
                await task
                return listener

        listener = run(scenario())
    stats = listener.latencies[-1]
    assert stats.samples >= 3
    assert stats.min_ms is not None
    assert stats.min_ms >= 60.0
    assert stats.p95_ms is not None
    assert stats.p95_ms < 1000.0


def test_a_cursor_older_than_the_retained_log_gets_a_snapshot_marking_the_gap(
    tmp_path: Path,
) -> None:
    """The viewer was away longer than the hub keeps its log: what it missed is gone, and
    the snapshot says from where (the history marks the gap instead of inventing data)."""
    with running_hub(tmp_path, retention_updates=5) as hub:
        hub_id = hub.hub.hub_id

        async def scenario() -> RecordingListener:
            await publish(hub.url, 1, 12)
            hub.loop.call_soon_threadsafe(hub.hub.run_maintenance, hub.loop)
            await wait_until(
                lambda: "syncwatch_hub_oldest_seq 8" in hub.hub.metrics_text(),
                what="retention to keep only 8..12",
            )
            listener = RecordingListener()
            client = HubClient(
                subscribe_url(hub.url), listener=listener, cursor=lambda: (hub_id, 2)
            )
            task = asyncio.create_task(client.run())
            await wait_until(lambda: listener.snapshots, what="a snapshot")
            client.stop()
            await task
            return listener

        listener = run(scenario())
    [snap] = listener.snapshots
    assert (snap.hub_id, snap.gap_from, snap.snapshot.seq) == (hub_id, 2, 12)
    assert listener.updates == []


def test_new_settings_switch_to_another_hub_with_a_snapshot(tmp_path: Path) -> None:
    with running_hub(tmp_path / "a") as hub_a, running_hub(tmp_path / "b") as hub_b:

        async def scenario() -> RecordingListener:
            await publish(hub_a.url, 1, 3)
            await publish(hub_b.url, 1, 6)
            listener = RecordingListener()
            client = HubClient(subscribe_url(hub_a.url), listener=listener)
            task = asyncio.create_task(client.run())
            await wait_until(lambda: len(listener.snapshots) == 1, what="hub A's snapshot")
            client.update_settings(subscribe_url(hub_b.url), None, None)
            await wait_until(lambda: len(listener.snapshots) == 2, what="hub B's snapshot")
            client.stop()
            await task
            return listener

        listener = run(scenario())
        ids = (hub_a.hub.hub_id, hub_b.hub.hub_id)
    first, second = listener.snapshots
    assert (first.hub_id, first.snapshot.seq, first.gap_from) == (ids[0], 3, None)
    assert (second.hub_id, second.snapshot.seq, second.gap_from) == (ids[1], 6, 3)
    switched = [s for s in listener.statuses if s.reason == "settings changed"]
    assert [s.state for s in switched] == [S.CONNECTING]
    assert switched[0].hub_url == subscribe_url(hub_b.url)


class ListenerBugError(Exception):
    pass


class FailingListener(RecordingListener):
    def on_updates(self, hub_id: str, updates: object) -> None:
        raise ListenerBugError("listener bug")


def test_a_listener_bug_ends_run_instead_of_looking_like_a_network_failure(
    tmp_path: Path,
) -> None:
    with running_hub(tmp_path) as hub:

        async def scenario() -> RecordingListener:
            listener = FailingListener()
            client = HubClient(subscribe_url(hub.url), listener=listener, backoff_base=0.01)
            task = asyncio.create_task(client.run())
            await wait_until(lambda: listener.snapshots, what="the snapshot")
            await publish(hub.url, 1, 1)
            with pytest.raises(ListenerBugError, match="listener bug"):
                await task
            return listener

        listener = run(scenario())
    assert S.RECONNECTING not in listener.states
    assert listener.state is S.DISCONNECTED


def test_a_snapshot_of_many_operations_is_delivered(tmp_path: Path) -> None:
    with running_hub(tmp_path) as hub:

        async def scenario() -> RecordingListener:
            async with connect(hub.url + "/v1/publish?source=many", proxy=None) as ws:
                await ws.recv()  # hello
                for first in range(0, 600, 100):
                    body = {
                        "type": "batch",
                        "updates": [
                            update_to_dict(
                                update(n)._replace(operation_id=f"op-{n}"), with_type=False
                            )
                            for n in range(first, first + 100)
                        ],
                    }
                    await ws.send(orjson.dumps(body).decode())
                for _ in range(600):
                    await ws.recv()  # acks
            listener = RecordingListener()
            client = HubClient(subscribe_url(hub.url), listener=listener, backoff_base=0.01)
            task = asyncio.create_task(client.run())
            await wait_until(
                lambda: listener.snapshots or listener.count(S.RECONNECTING) >= 2,
                what="a snapshot or repeated failures",
            )
            client.stop()
            await task
            return listener

        listener = run(scenario())
    assert len(listener.snapshots) == 1
    assert len(listener.snapshots[0].snapshot.operations) == 600
