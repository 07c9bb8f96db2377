"""The hub as a program: kill -9 and restart lose nothing; signals, busy ports, bad arguments."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from syncwatch.core.protocol import Ack, Hello, Snapshot
from syncwatch.hub import Hub, HubConfig, HubStartError
from tests.hub.wire import publish, publisher, receive_updates, recv_frame, run, update_json, viewer
from tests.support.hubproc import hub_process


@pytest.mark.slow
def test_kill_9_mid_stream_then_restart_keeps_hub_id_seq_and_every_acked_update(
    tmp_path: Path,
) -> None:
    data = tmp_path / "hub"
    total = 2000
    acked: dict[int, int] = {}  # counter -> seq

    async def first_life(url: str, kill: Callable[[], None]) -> str:
        async with viewer(url) as (_, hello):
            hub_id = hello.hub_id
        async with publisher(url) as pub:

            async def send_all() -> None:
                with contextlib.suppress(ConnectionClosed):
                    for start in range(0, total, 50):
                        for counter in range(start, start + 50):
                            await pub.send(update_json(f"op-{counter % 25}", counter=counter))
                        await asyncio.sleep(0.01)

            sending = asyncio.create_task(send_all())
            with contextlib.suppress(ConnectionClosed):
                while len(acked) < total:
                    ack = await recv_frame(pub)
                    assert isinstance(ack, Ack)
                    assert ack.counter is not None
                    acked[ack.counter] = ack.seq
                    if len(acked) == 700:
                        kill()  # kill -9 while updates are still arriving
            await sending
        return hub_id

    with hub_process(data) as first:
        hub_id = run(first_life(first.url, first.kill))
        assert first.process.returncode == -9
    assert 700 <= len(acked) < total, "killed mid-stream"
    since = 100

    async def second_life(url: str) -> None:
        async with viewer(url, since=since, hub_id=hub_id) as (ws, hello):
            assert hello.hub_id == hub_id, "the hub keeps its identity across a crash"
            assert hello.seq >= max(acked.values())
            replayed = await receive_updates(ws, hello.seq - since)
            assert [u.seq for u in replayed] == list(range(since + 1, hello.seq + 1))
            by_seq = {u.seq: u for u in replayed}
            for counter, seq in acked.items():
                if seq > since:
                    assert by_seq[seq].counter == counter, "an acked update was lost"
            # The agent resends everything it had no ack for: stored once, acked once each.
            async with publisher(url) as pub:
                missing = [c for c in range(total) if c not in acked]
                answers = await publish(
                    pub, [update_json(f"op-{c % 25}", counter=c) for c in missing]
                )
            new_seqs = sorted(a.seq for a in answers if isinstance(a, Ack) and not a.duplicate)
            assert new_seqs == list(range(hello.seq + 1, hello.seq + 1 + len(new_seqs)))
            live = await receive_updates(ws, len(new_seqs))
            assert [u.seq for u in live] == new_seqs
            everything = {u.counter for u in replayed} | {u.counter for u in live}
            assert set(range(total)) - everything <= set(range(since)), "nothing missing"

    with hub_process(data) as second:
        run(second_life(second.url))


def test_sigterm_shuts_down_cleanly_and_the_next_start_continues_the_log(tmp_path: Path) -> None:
    data = tmp_path / "hub"
    with hub_process(data) as proc:

        async def one(url: str) -> Hello:
            async with viewer(url) as (ws, hello):
                assert isinstance(await recv_frame(ws), Snapshot)
            async with publisher(url) as pub:
                await publish(pub, [update_json("a"), update_json("b")])
            return hello

        hello = run(one(proc.url))
        assert proc.terminate() == 0
        assert "stopped at seq 2" in proc.log_text()
    with hub_process(data) as proc:

        async def again(url: str) -> Hello:
            async with viewer(url) as (_, hello_again):
                return hello_again

        assert run(again(proc.url)) == Hello(hub_id=hello.hub_id, seq=2)


def _hub_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syncwatch.hub", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_a_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _hub_command("--port", str(port), "--data", str(tmp_path / "d"))
        assert result.returncode == 1
        assert f"cannot listen on 127.0.0.1:{port}: the port is already in use" in result.stderr

        async def in_process() -> None:
            with pytest.raises(HubStartError, match="already in use"):
                await Hub(HubConfig(data_dir=tmp_path / "e", port=port)).start()

        run(in_process())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--token-file", "/nonexistent/tokens"), "cannot read token file"),
        (("--tls-cert", "cert.pem"), "tls_cert and tls_key"),
        (("--port", "99999"), "port: 99999"),
        (("--abandon-after", "-5"), "abandon_after_s: must be a positive number"),
        (("--abandon-after", "soon"), "--abandon-after: invalid float value"),
        (("--max-active", "0"), "max_active_operations: must be at least 1"),
        (("--max-finished", "many"), "--max-finished: invalid int value"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = _hub_command("--data", str(tmp_path / "d"), *args)
    assert result.returncode == 2
    assert message in result.stderr
