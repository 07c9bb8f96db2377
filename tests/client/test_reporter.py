"""client.reporter: agents' updates reach a real hub once each, through outages and restarts.

Every test talks to a real hub on loopback (in the test's loop, or a child process that is
killed with SIGKILL) and checks what the hub stored by replaying its log as a viewer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve

from syncwatch.client.reporter import (
    BufferFullError,
    Reporter,
    ReporterAuthError,
    ReporterError,
    UpdateDroppedError,
    UpdateRejectedError,
)
from syncwatch.core.protocol import (
    ErrorFrame,
    Hello,
    ProtocolError,
    Status,
    SyncUpdate,
    encode_frame,
    parse_frame,
)
from syncwatch.hub import Role
from tests.client.connection_support import self_signed_cert
from tests.client.reporter_support import (
    eventually,
    fast_backoff,
    free_port,
    hub_on,
    read_hub_log,
    run,
)
from tests.support.hubproc import hub_process


async def send_numbered(reporter: Reporter, count: int, ops: int = 10) -> None:
    for i in range(count):
        await reporter.update(
            operation_id=f"op-{i % ops}",
            operation_type="upload",
            status=Status.IN_PROGRESS,
            progress=min(100.0, i / 10),
            item=f"Photos/2026/12/IMG_{i:04d}.HEIC",
            bytes_done=i,
            bytes_total=10_000_000,
        )


def test_updates_are_acknowledged_and_stored_once_in_order(tmp_path: Path) -> None:
    async def body() -> None:
        async with hub_on(tmp_path / "hub") as hub:
            async with Reporter(hub.url, source="agent-1") as reporter:
                await send_numbered(reporter, 2500)  # more than one batch frame
                ack = await reporter.update(
                    operation_id="op-last",
                    operation_type="scan",
                    status="completed",
                    progress=100,
                    wait=True,
                )
                assert ack is not None
                assert ack.seq == 2501
                assert not ack.duplicate
                await reporter.flush()
                assert reporter.pending == 0
                assert reporter.acked == 2501
            stored = await read_hub_log(hub.url)
        assert [u.seq for u in stored] == list(range(1, 2502))
        assert [u.bytes_done for u in stored[:-1]] == list(range(2500))
        counters = [u.counter or 0 for u in stored]
        assert counters == sorted(set(counters))
        assert {u.source for u in stored} == {"agent-1"}

    run(body())


def test_counters_start_from_the_wall_clock_so_a_restarted_agent_is_not_deduplicated(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        async with hub_on(tmp_path / "hub") as hub:
            before_us = time.time_ns() // 1000
            for _run in range(2):  # the same agent, started twice
                async with Reporter(hub.url, source="agent-1") as reporter:
                    ack = await reporter.update(
                        operation_id="op-1",
                        operation_type="upload",
                        status="queued",
                        progress=0,
                        wait=True,
                    )
                    assert ack is not None
                    assert not ack.duplicate
                    assert ack.counter is not None
                    assert ack.counter >= before_us
            stored = await read_hub_log(hub.url)
        assert len(stored) == 2

    run(body())


def test_updates_buffer_while_the_hub_is_down_and_arrive_once_it_starts(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        port = free_port()
        async with Reporter(
            f"ws://127.0.0.1:{port}", source="agent-1", backoff=fast_backoff()
        ) as reporter:
            await send_numbered(reporter, 300)
            await asyncio.sleep(0.3)
            assert not reporter.connected
            assert reporter.pending == 300
            assert reporter.last_error  # it did try, and says why it failed
            async with hub_on(tmp_path / "hub", port=port) as hub:
                async with asyncio.timeout(10):
                    await reporter.flush()
                assert reporter.connects == 1
                stored = await read_hub_log(hub.url)
        assert [u.bytes_done for u in stored] == list(range(300))

    run(body())


def test_a_hub_killed_mid_stream_and_restarted_loses_and_duplicates_nothing(
    tmp_path: Path,
) -> None:
    """kill -9 of the hub process while updates are in flight, restart on the same data
    dir and port: every update is in the log exactly once."""
    data_dir = tmp_path / "hub-data"
    port = free_port()
    total = 4000

    async def body() -> None:
        with contextlib.ExitStack() as stack:
            first = await asyncio.to_thread(
                stack.enter_context, hub_process(data_dir, args=("--port", str(port)))
            )
            async with Reporter(first.url, source="agent-1", backoff=fast_backoff()) as reporter:
                sender = asyncio.create_task(send_paced(reporter, total))
                await eventually(lambda: reporter.acked >= 1000)
                await asyncio.to_thread(first.kill)
                assert reporter.pending > 0
                with hub_process(data_dir, args=("--port", str(port))) as second:
                    await sender
                    async with asyncio.timeout(30):
                        await reporter.flush()
                    assert reporter.connects >= 2
                    stored = await read_hub_log(second.url)
        keys = [(u.operation_id, u.counter) for u in stored]
        assert len(keys) == len(set(keys)) == total
        assert sorted(u.bytes_done or 0 for u in stored) == list(range(total))
        seqs = [u.seq for u in stored]
        assert seqs == list(range(1, total + 1))

    async def send_paced(reporter: Reporter, count: int) -> None:
        for start in range(0, count, 100):
            for i in range(start, start + 100):
                await reporter.update(
                    operation_id=f"op-{i % 50}",
                    operation_type="download",
                    status="in_progress",
                    progress=50,
                    bytes_done=i,
                    bytes_total=count,
                )
            await asyncio.sleep(0.005)

    run(body(), timeout=90)


def test_a_refused_token_raises_a_clear_error_instead_of_retrying(tmp_path: Path) -> None:
    tokens = {"pub-secret": Role.PUBLISHER, "view-secret": Role.VIEWER}

    async def body() -> None:
        async with hub_on(tmp_path / "hub", tokens=tokens) as hub:
            for token, status in (("wrong", "401"), (None, "401"), ("view-secret", "403")):
                reporter = Reporter(hub.url, token, source="agent-1", backoff=fast_backoff())
                reporter.start()
                future = reporter.report(_update())
                with pytest.raises(ReporterAuthError, match=status) as caught:
                    await asyncio.wait_for(future, 5)
                assert "secret" not in str(caught.value)
                assert reporter.connects == 0
                with pytest.raises(ReporterAuthError):
                    await reporter.update(
                        operation_id="x", operation_type="scan", status="queued", progress=0
                    )
                await reporter.aclose()
            with pytest.raises(ReporterAuthError, match="401"):
                async with Reporter(hub.url, "wrong", source="agent-1") as reporter:
                    await send_numbered(reporter, 5)  # queued; leaving the block flushes
            async with Reporter(hub.url, "pub-secret", source="agent-1") as reporter:
                assert await reporter.update(
                    operation_id="x", operation_type="scan", status="queued", progress=0, wait=True
                )

    run(body())


def test_a_full_buffer_with_the_hub_down_is_a_clear_error(tmp_path: Path) -> None:
    async def body() -> None:
        port = free_port()
        reporter = Reporter(
            f"ws://127.0.0.1:{port}", source="agent-1", max_buffer=10, backoff=fast_backoff()
        )
        async with reporter:
            await send_numbered(reporter, 10)
            await eventually(lambda: reporter.last_error is not None)
            with pytest.raises(BufferFullError, match="max_buffer=10"):
                await send_numbered(reporter, 1)
            assert reporter.pending == 10
            async with hub_on(tmp_path / "hub", port=port) as hub:
                async with asyncio.timeout(10):
                    await reporter.flush()
                assert len(await read_hub_log(hub.url)) == 10

    run(body())


def test_drop_oldest_keeps_the_newest_updates(tmp_path: Path) -> None:
    async def body() -> None:
        port = free_port()
        reporter = Reporter(
            f"ws://127.0.0.1:{port}",
            source="agent-1",
            max_buffer=10,
            overflow="drop_oldest",
            backoff=fast_backoff(),
        )
        async with reporter:
            futures = [reporter.report(_update(bytes_done=i)) for i in range(15)]
            assert reporter.dropped == 5
            for future in futures[:5]:
                with pytest.raises(UpdateDroppedError):
                    await future
            async with hub_on(tmp_path / "hub", port=port) as hub:
                acks = await asyncio.wait_for(asyncio.gather(*futures[5:]), 10)
                assert [a.seq for a in acks] == list(range(1, 11))
                stored = await read_hub_log(hub.url)
        assert [u.bytes_done for u in stored] == list(range(5, 15))

    run(body())


def test_an_invalid_update_is_refused_before_it_is_queued(tmp_path: Path) -> None:
    async def body() -> None:
        async with hub_on(tmp_path / "hub") as hub, Reporter(hub.url, source="a") as reporter:
            with pytest.raises(ProtocolError, match="progress"):
                await reporter.update(
                    operation_id="x", operation_type="upload", status="queued", progress=150
                )
            with pytest.raises(ProtocolError, match="bytes_done"):
                reporter.report(_update(bytes_done=20, bytes_total=10))
            with pytest.raises(ProtocolError, match="status"):
                await reporter.update(
                    operation_id="x", operation_type="upload", status="finished", progress=1
                )
            assert reporter.pending == 0

    run(body())


def test_bad_urls_and_settings_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="ws://HOST:PORT"):
        Reporter("http://127.0.0.1:1", source="a")
    with pytest.raises(ValueError, match="source"):
        Reporter("ws://127.0.0.1:1", source="")
    with pytest.raises(ValueError, match="overflow"):
        Reporter("ws://127.0.0.1:1", source="a", overflow="block")  # type: ignore[arg-type]


def test_leaving_the_block_waits_for_acks_and_closes_with_code_1000(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def body() -> None:
        async with hub_on(tmp_path / "hub") as hub:
            with caplog.at_level(logging.INFO, logger="syncwatch.hub"):
                async with Reporter(hub.url, source="agent-1") as reporter:
                    await send_numbered(reporter, 200)
                assert reporter.acked == 200
                await asyncio.sleep(0.1)
            with pytest.raises(ReporterError, match="closed"):
                reporter.report(_update())
        assert any("disconnected (1000)" in r.getMessage() for r in caplog.records)

    run(body())


def test_closing_while_the_hub_stays_down_says_how_many_were_not_acknowledged() -> None:
    async def body() -> None:
        reporter = Reporter(
            f"ws://127.0.0.1:{free_port()}",
            source="agent-1",
            close_timeout=0.3,
            backoff=fast_backoff(),
        )
        reporter.start()
        future = reporter.report(_update())
        with pytest.raises(TimeoutError, match="1 updates were not acknowledged"):
            await reporter.aclose()
        with pytest.raises(ReporterError, match="closed"):
            await future

    run(body())


def _update(bytes_done: int = 0, bytes_total: int = 100) -> SyncUpdate:
    return SyncUpdate(
        operation_id="op-1",
        operation_type="upload",
        status=Status.IN_PROGRESS,
        progress=10.0,
        timestamp_us=time.time_ns() // 1000,
        bytes_done=bytes_done,
        bytes_total=bytes_total,
    )


def test_wss_works_with_the_hubs_ca_file_and_an_untrusted_certificate_is_a_clear_error(
    tmp_path: Path,
) -> None:
    cert, key = self_signed_cert(tmp_path)

    async def body() -> None:
        async with hub_on(tmp_path / "hub", tls_cert=cert, tls_key=key) as hub:
            assert hub.url.startswith("wss://")
            async with Reporter(hub.url, source="a", ca_file=str(cert)) as reporter:
                ack = await reporter.update(
                    operation_id="x", operation_type="scan", status="queued", progress=0, wait=True
                )
                assert ack is not None
            untrusted = Reporter(hub.url, source="a", backoff=fast_backoff())
            untrusted.start()
            with pytest.raises(ReporterError, match=r"not trusted.*--ca-file"):
                await asyncio.wait_for(untrusted.report(_update()), 5)
            await untrusted.aclose()

    run(body())


def test_updates_the_hub_rejects_fail_alone_and_a_rejected_batch_fails_whole() -> None:
    """The real hub accepts nearly everything the Reporter lets through (its one refusal,
    too_many_active, is tested in tests/hub/test_active_bound.py), so a scripted server on
    loopback plays a stricter hub: it rejects every update, one error per single update
    (with its counter) and one error without counter per batch frame."""

    async def strict_hub(ws: ServerConnection) -> None:
        await ws.send(encode_frame(Hello(hub_id="strict", seq=0)), text=True)
        async for message in ws:
            frame = parse_frame(message)
            counter = frame.counter if isinstance(frame, SyncUpdate) else None
            error = ErrorFrame(code="invalid", detail="no thanks", field="item", counter=counter)
            await ws.send(encode_frame(error), text=True)

    async def body() -> None:
        async with serve(strict_hub, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            async with Reporter(f"ws://127.0.0.1:{port}", source="a") as reporter:
                with pytest.raises(UpdateRejectedError, match=r"invalid \(item\): no thanks"):
                    await reporter.update(
                        operation_id="x",
                        operation_type="scan",
                        status="queued",
                        progress=0,
                        wait=True,
                    )
                batch = [reporter.report(_update(bytes_done=i)) for i in range(5)]
                results = await asyncio.gather(*batch, return_exceptions=True)
                assert all(isinstance(r, UpdateRejectedError) for r in results)
                await send_numbered(reporter, 3)
                with pytest.raises(UpdateRejectedError, match="and 2 more rejected"):
                    await reporter.flush()
                assert reporter.pending == 0

    run(body())


def test_a_publisher_closed_for_flooding_reconnects_and_delivers_everything_once(
    tmp_path: Path,
) -> None:
    """The hub throttles a publisher over its rate and closes it with 1008 if it keeps
    going; the Reporter reconnects, resends what was not acknowledged, and the log still
    holds every update exactly once."""

    async def body() -> None:
        async with hub_on(
            tmp_path / "hub", publisher_rate=2000.0, publisher_burst=500, rate_limit_grace_s=0.1
        ) as hub:
            async with Reporter(hub.url, source="flood", backoff=fast_backoff()) as reporter:
                await send_numbered(reporter, 3000)
                async with asyncio.timeout(30):
                    await reporter.flush()
                connects = reporter.connects
            stored = await read_hub_log(hub.url)
        assert sorted(u.bytes_done or 0 for u in stored) == list(range(3000))
        assert len({(u.operation_id, u.counter) for u in stored}) == 3000
        assert connects >= 2, "the hub should have closed the flooding publisher at least once"

    run(body())
