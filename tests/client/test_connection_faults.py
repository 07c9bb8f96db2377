"""HubClient through faults, against a real hub and a real TCP proxy on loopback:
refused connections, hub restarts, blackholes, offline hints, sleep/resume, TLS."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from syncwatch.client.connection import HubClient
from syncwatch.core.connection import ConnectionState as S
from tests.client.connection_support import (
    FixedRandom,
    RecordingListener,
    closed_port,
    entered_in_thread,
    hub_started_from_loop,
    publish,
    run,
    self_signed_cert,
    wait_until,
)
from tests.support.hubproc import hub_process, running_hub
from tests.support.tcpproxy import TcpProxy


def test_refused_connections_back_off_with_growing_delays_and_rebuild() -> None:
    async def scenario() -> tuple[RecordingListener, HubClient]:
        listener = RecordingListener()
        client = HubClient(
            f"ws://127.0.0.1:{closed_port()}/v1/subscribe",
            listener=listener,
            rng=FixedRandom(0.5),
            backoff_base=0.02,
            backoff_cap=0.1,
        )
        task = asyncio.create_task(client.run())
        await wait_until(lambda: listener.count(S.RECONNECTING) >= 6, what="6 retries")
        client.stop()
        await task
        return listener, client

    listener, client = run(scenario())
    retries = [s for s in listener.statuses if s.state is S.RECONNECTING][:6]
    assert [s.attempt for s in retries] == [1, 2, 3, 4, 5, 6]
    assert [s.retry_in_s for s in retries] == [0.01, 0.02, 0.04, 0.05, 0.05, 0.05]
    assert {s.reason for s in retries} == {"connection refused"}
    # The waits really happened: attempts are spaced by the announced delays.
    times = [t for s, t in zip(listener.statuses, listener.status_times, strict=True)]
    assert times[-2] - times[1] >= 0.01 + 0.02 + 0.04 + 0.05 + 0.05 - 0.005
    assert client.rebuilds >= 2  # after attempts 3 and 6
    assert listener.state is S.DISCONNECTED


def test_hub_restart_resumes_with_nothing_lost_or_duplicated(tmp_path: Path) -> None:
    data_dir = tmp_path / "hub-data"

    async def scenario() -> tuple[RecordingListener, int]:
        async with hub_started_from_loop(tmp_path, data_dir=data_dir) as hub:
            proxy = TcpProxy("127.0.0.1", hub.hub.port)
            await proxy.start()
            listener = RecordingListener()
            client = HubClient(
                f"ws://127.0.0.1:{proxy.port}/v1/subscribe",
                listener=listener,
                backoff_base=0.05,
            )
            task = asyncio.create_task(client.run())
            await wait_until(lambda: listener.state is S.CONNECTED, what="CONNECTED")
            await publish(hub.url, 1, 30)
            await wait_until(lambda: len(listener.updates) == 30, what="30 updates")
        # The hub is stopped: the client notices and retries.
        await wait_until(lambda: listener.state is S.RECONNECTING, what="RECONNECTING")
        for round_ in range(3):
            async with hub_started_from_loop(tmp_path, data_dir=data_dir) as hub:
                proxy.set_target("127.0.0.1", hub.hub.port)
                client.reconnect_now()
                connections, delivered = round_ + 2, 50 + 20 * round_

                def reconnected(n: int = connections) -> bool:
                    return listener.count(S.CONNECTED) == n

                def caught_up(n: int = delivered) -> bool:
                    return len(listener.updates) == n

                await wait_until(reconnected, what="reconnected")
                await publish(hub.url, delivered - 19, 20)
                await wait_until(caught_up, what="20 more updates")
            await wait_until(lambda: listener.state is S.RECONNECTING, what="down again")
        client.stop()
        await task
        await proxy.stop()
        return listener, len(listener.snapshots)

    listener, snapshots = run(scenario())
    assert snapshots == 1  # the first connection only; every restart resumed
    assert listener.seqs == list(range(1, 91))
    assert [u.counter for u in listener.updates] == list(range(1, 91))
    assert down_reason_ok(listener)


def down_reason_ok(listener: RecordingListener) -> bool:
    reasons = {s.reason for s in listener.statuses if s.state is S.RECONNECTING}
    # Through the proxy, a hub that is down looks like a connection closed at once.
    return reasons <= {"hub is shutting down", "connection closed during the handshake"}


def test_blackhole_is_detected_within_ping_interval_plus_timeout(tmp_path: Path) -> None:
    with running_hub(tmp_path) as hub:

        async def scenario() -> tuple[RecordingListener, float]:
            async with TcpProxy("127.0.0.1", hub.hub.port) as proxy:
                listener = RecordingListener()
                client = HubClient(
                    f"ws://127.0.0.1:{proxy.port}/v1/subscribe",
                    listener=listener,
                    ping_interval=0.2,
                    ping_timeout=0.3,
                    open_timeout=1.0,
                    backoff_base=0.05,
                )
                task = asyncio.create_task(client.run())
                await wait_until(lambda: len(listener.latencies) >= 1, what="a first pong")
                proxy.blackhole()
                started = time.monotonic()
                await wait_until(lambda: listener.state is S.RECONNECTING, what="detection")
                detected_after = time.monotonic() - started
                proxy.restore()
                await wait_until(lambda: listener.count(S.CONNECTED) == 2, what="reconnect")
                await publish(hub.url, 1, 3)
                await wait_until(lambda: len(listener.updates) == 3, what="updates after")
                client.stop()
                await task
                return listener, detected_after

        listener, detected_after = run(scenario())
    print(f"blackhole detected after {detected_after * 1000:.0f} ms (bound 500 ms)")
    assert detected_after <= 0.2 + 0.3 + 0.15  # interval + timeout, plus scheduling slack
    dead = next(s for s in listener.statuses if s.state is S.RECONNECTING)
    assert dead.reason == "no answer to ping within 0.3 s"


def test_offline_stops_retrying_and_online_reconnects_at_once(tmp_path: Path) -> None:
    with running_hub(tmp_path) as hub:

        async def scenario() -> tuple[RecordingListener, int, int, float]:
            async with TcpProxy("127.0.0.1", closed_port()) as proxy:
                listener = RecordingListener()
                client = HubClient(
                    f"ws://127.0.0.1:{proxy.port}/v1/subscribe",
                    listener=listener,
                    rng=FixedRandom(0.5),
                    backoff_base=0.02,
                    backoff_cap=0.04,
                    ignore_offline_for_loopback=False,  # pretend the hub is remote
                )
                task = asyncio.create_task(client.run())
                await wait_until(lambda: proxy.accepted >= 3, what="retries")
                client.set_network_online(False)
                await wait_until(lambda: listener.state is S.OFFLINE, what="OFFLINE")
                offline_attempts = proxy.accepted
                await asyncio.sleep(0.4)  # ten retry delays: none may happen
                still = proxy.accepted
                proxy.set_target("127.0.0.1", hub.hub.port)  # the hub becomes reachable
                online_at = time.monotonic()
                client.set_network_online(True)
                await wait_until(lambda: listener.state is S.CONNECTED, what="CONNECTED")
                took = time.monotonic() - online_at
                client.stop()
                await task
                return listener, offline_attempts, still, took

        listener, offline_attempts, still, took = run(scenario())
    assert still == offline_attempts
    offline = listener.states.index(S.OFFLINE)
    assert listener.statuses[offline].reason == "network is offline"
    # Back online: an attempt at once (CONNECTING), no backoff wait (RECONNECTING) first.
    assert listener.states[offline:] == [S.OFFLINE, S.CONNECTING, S.CONNECTED, S.DISCONNECTED]
    assert took < 0.5


def test_offline_hint_does_not_cut_a_loopback_hub_or_a_live_link(tmp_path: Path) -> None:
    with running_hub(tmp_path) as hub:

        async def scenario() -> RecordingListener:
            listener = RecordingListener()
            client = HubClient(hub.url + "/v1/subscribe", listener=listener, ping_interval=30)
            task = asyncio.create_task(client.run())
            await wait_until(lambda: len(listener.latencies) == 1, what="first ping")
            client.set_network_online(False)
            # The hint makes the client probe the link at once instead of in 30 s.
            await wait_until(lambda: len(listener.latencies) == 2, within=2, what="probe")
            await publish(hub.url, 1, 2)
            await wait_until(lambda: len(listener.updates) == 2, what="updates while 'offline'")
            client.stop()
            await task
            return listener

        listener = run(scenario())
    assert S.OFFLINE not in listener.states
    assert listener.states == [S.CONNECTING, S.CONNECTED, S.DISCONNECTED]


def test_wall_clock_jump_reconnects_at_once_and_resumes(tmp_path: Path) -> None:
    with running_hub(tmp_path) as hub:
        offset = [0.0]

        async def scenario() -> tuple[RecordingListener, int, float]:
            async with TcpProxy("127.0.0.1", hub.hub.port) as proxy:
                listener = RecordingListener()
                client = HubClient(
                    f"ws://127.0.0.1:{proxy.port}/v1/subscribe",
                    listener=listener,
                    wall_clock=lambda: time.time() + offset[0],
                    clock_check_interval=0.05,
                    backoff_base=30,  # a normal retry would not come within the test
                )
                await publish(hub.url, 1, 5)
                task = asyncio.create_task(client.run())
                await wait_until(lambda: listener.snapshots, what="the snapshot")
                offset[0] += 3600.0  # the machine slept for an hour
                jumped = time.monotonic()
                await wait_until(lambda: proxy.accepted == 2, what="a new connection")
                await wait_until(lambda: listener.count(S.CONNECTED) == 2, what="CONNECTED")
                took = time.monotonic() - jumped
                await publish(hub.url, 6, 5)
                await wait_until(lambda: 10 in listener.seqs, what="update 10")
                client.stop()
                await task
                return listener, proxy.accepted, took

        listener, accepted, took = run(scenario())
    assert accepted == 2
    assert took < 1.0
    resumed = [s for s in listener.statuses if s.reason == "resumed from sleep"]
    assert [s.state for s in resumed] == [S.CONNECTING]
    assert [snap.snapshot.seq for snap in listener.snapshots] == [5]  # then a resume
    assert listener.seqs == [6, 7, 8, 9, 10]


def test_notify_resumed_skips_a_long_backoff_wait() -> None:
    async def scenario() -> tuple[float, int]:
        async with TcpProxy("127.0.0.1", closed_port()) as proxy:
            listener = RecordingListener()
            client = HubClient(
                f"ws://127.0.0.1:{proxy.port}/v1/subscribe",
                listener=listener,
                rng=FixedRandom(0.9),
                backoff_base=30,
            )
            task = asyncio.create_task(client.run())
            await wait_until(lambda: listener.state is S.RECONNECTING, what="a 27 s wait")
            resumed = time.monotonic()
            client.notify_resumed()
            await wait_until(lambda: proxy.accepted == 2, what="an attempt right away")
            took = time.monotonic() - resumed
            client.stop()
            await task
            return took, proxy.accepted

    took, accepted = run(scenario())
    assert took < 1.0
    assert accepted == 2


@pytest.fixture(scope="module")
def trusted_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


def tls_scenario(tmp_path: Path, cert: tuple[Path, Path], ca_file: str | None) -> RecordingListener:
    with running_hub(tmp_path, tls_cert=cert[0], tls_key=cert[1]) as hub:
        assert hub.url.startswith("wss://")

        async def scenario() -> RecordingListener:
            listener = RecordingListener()
            client = HubClient(
                hub.url + "/v1/subscribe", listener=listener, ca_file=ca_file, backoff_base=0.01
            )
            task = asyncio.create_task(client.run())
            await wait_until(lambda: listener.state in (S.CONNECTED, S.ERROR), what="verdict")
            await asyncio.sleep(0.2)  # no retry loop either way
            client.stop()
            await task
            return listener

        return run(scenario())


def test_wss_with_an_untrusted_certificate_is_an_error(
    tmp_path: Path, trusted_cert: tuple[Path, Path]
) -> None:
    listener = tls_scenario(tmp_path, trusted_cert, ca_file=None)
    assert listener.states == [S.CONNECTING, S.ERROR, S.DISCONNECTED]
    assert listener.statuses[1].reason == "certificate not trusted"


def test_wss_with_the_ca_file_connects(tmp_path: Path, trusted_cert: tuple[Path, Path]) -> None:
    listener = tls_scenario(tmp_path, trusted_cert, ca_file=str(trusted_cert[0]))
    assert listener.states == [S.CONNECTING, S.CONNECTED, S.DISCONNECTED]
    assert listener.snapshots


def test_wss_with_a_certificate_for_another_name_is_an_error(tmp_path: Path) -> None:
    cert = self_signed_cert(tmp_path, san="DNS:hub.example.com")
    listener = tls_scenario(tmp_path, cert, ca_file=str(cert[0]))
    assert listener.states == [S.CONNECTING, S.ERROR, S.DISCONNECTED]
    assert listener.statuses[1].reason == "hostname does not match the certificate"


def test_a_missing_ca_file_is_an_error_in_words(
    tmp_path: Path, trusted_cert: tuple[Path, Path]
) -> None:
    listener = tls_scenario(tmp_path, trusted_cert, ca_file=str(tmp_path / "nope.pem"))
    assert listener.statuses[1].state is S.ERROR
    assert listener.statuses[1].reason == f"CA file not found: {tmp_path / 'nope.pem'}"


def test_hub_killed_with_sigkill_and_restarted_loses_and_duplicates_nothing(
    tmp_path: Path,
) -> None:
    """A hub process killed -9 twice mid-stream: the client resumes each time from what it
    delivered, without a snapshot, and ends with every update exactly once."""
    data_dir = tmp_path / "hub-data"

    async def scenario() -> RecordingListener:
        listener = RecordingListener()
        proxy = TcpProxy("127.0.0.1", closed_port())
        await proxy.start()
        client = HubClient(
            f"ws://127.0.0.1:{proxy.port}/v1/subscribe", listener=listener, backoff_base=0.05
        )
        task = asyncio.create_task(client.run())
        for round_ in range(3):
            async with entered_in_thread(hub_process(data_dir)) as hub:
                proxy.set_target("127.0.0.1", int(hub.url.rsplit(":", 1)[1]))
                client.reconnect_now()
                delivered = 40 * (round_ + 1)

                def connected(n: int = round_ + 1) -> bool:
                    return listener.count(S.CONNECTED) == n

                def caught_up(n: int = delivered) -> bool:
                    return len(listener.updates) >= n

                await wait_until(connected, within=10, what="connected to the new hub")
                await publish(hub.url, delivered - 39, 40)
                await wait_until(caught_up, what="40 more updates")
                await asyncio.to_thread(hub.kill)
            await wait_until(lambda: listener.state is S.RECONNECTING, what="hub gone")
        client.stop()
        await task
        await proxy.stop()
        return listener

    listener = run(scenario(), timeout=60)
    assert len(listener.snapshots) == 1  # the first connection; both restarts resumed
    assert listener.seqs == list(range(1, 121))
