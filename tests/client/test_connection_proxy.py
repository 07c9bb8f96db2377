"""tests/support/tcpproxy.py, the fault injector the connection and chaos tests rely on:
each fault must look to the peers like the real thing."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from tests.client.connection_support import run
from tests.support.tcpproxy import TcpProxy


async def echo_server() -> asyncio.Server:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    return await asyncio.start_server(echo, "127.0.0.1", 0)


async def through_proxy() -> tuple[asyncio.Server, TcpProxy]:
    """An echo server and a (not yet started) proxy in front of it."""
    server = await echo_server()
    return server, TcpProxy("127.0.0.1", server.sockets[0].getsockname()[1])


def test_forwards_both_ways_and_counts() -> None:
    async def scenario() -> tuple[bytes, int, int, int]:
        server, proxy = await through_proxy()
        async with server, proxy:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(b"hello")
            echoed = await reader.readexactly(5)
            writer.close()
            return echoed, proxy.accepted, proxy.bytes_up, proxy.bytes_down

    assert run(scenario()) == (b"hello", 1, 5, 5)


def test_blackhole_is_silence_not_an_error_and_restore_delivers() -> None:
    async def scenario() -> bytes:
        server, proxy = await through_proxy()
        async with server, proxy:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            proxy.blackhole()
            writer.write(b"ping")
            with pytest.raises(TimeoutError):  # no data, no EOF, no reset
                async with asyncio.timeout(0.3):
                    await reader.read(1)
            proxy.restore()
            data = await reader.readexactly(4)
            writer.close()
            return data

    assert run(scenario()) == b"ping"


def test_reset_aborts_with_an_rst() -> None:
    async def scenario() -> None:
        server, proxy = await through_proxy()
        async with server, proxy:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(b"x")
            await reader.readexactly(1)
            proxy.reset()
            with pytest.raises(ConnectionResetError):
                await reader.read(1)
            writer.close()

    run(scenario())


def test_latency_and_throttle_slow_the_stream_down() -> None:
    async def scenario() -> tuple[float, float]:
        server, proxy = await through_proxy()
        async with server, proxy:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            proxy.latency_s = 0.05
            started = time.monotonic()
            writer.write(b"x")
            await reader.readexactly(1)
            round_trip = time.monotonic() - started
            proxy.latency_s = 0.0
            proxy.throttle_bps = 100_000
            started = time.monotonic()
            writer.write(b"y" * 20_000)
            await reader.readexactly(20_000)
            transfer = time.monotonic() - started
            writer.close()
            return round_trip, transfer

    round_trip, transfer = run(scenario())
    assert round_trip >= 0.1  # 50 ms each way
    assert transfer >= 0.2  # 20 kB at 100 kB/s, one direction after the other
