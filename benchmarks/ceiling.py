"""The raw-library ceiling every benchmark reports its figures against.

One bare websockets server in a child process sends ~200-byte sync_update JSON messages
as fast as it can to one client, which ``json.loads`` each: the receive rate the raw
library reaches on this machine, in this run. Benchmarks print their own figures as
ratios to it, because absolute figures swing by +-50% on these shared 2-core machines.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
from multiprocessing.connection import Connection
from typing import Any

#: Messages the raw client receives in one measurement.
RAW_MESSAGES = 200_000
#: A typical update as the hub broadcasts it.
MESSAGE = json.dumps(
    {
        "type": "sync_update",
        "seq": 123456,
        "operation_id": "op-000123",
        "operation_type": "upload",
        "status": "in_progress",
        "progress": 42.5,
        "timestamp": "2026-12-03T12:00:00.123456Z",
        "item": "photos/2026/holiday/IMG_1234.jpg",
        "bytes_done": 1234567,
        "bytes_total": 4567890,
    }
)


class Child:
    """A server in a child process; ``first`` is its first message (port or URL)."""

    def __init__(self, target: Any, *args: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self._process = context.Process(target=target, args=(child, *args), daemon=True)
        self._process.start()
        self.first: Any = self.conn.recv()

    @property
    def port(self) -> int:
        return int(self.first)

    def close(self) -> None:
        self.conn.send("stop")
        self._process.join(30)


def raw_server(conn: Connection) -> None:
    """Child process: a bare websockets server that sends MESSAGE as often as asked."""
    from websockets.asyncio.server import ServerConnection, serve

    async def handler(ws: ServerConnection) -> None:
        count = int(await ws.recv())
        for _ in range(count):
            await ws.send(MESSAGE)
        await ws.wait_closed()

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, compression=None) as server:
            conn.send(next(iter(server.sockets)).getsockname()[1])
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)

    asyncio.run(main())


async def raw_receive_rate(messages: int = RAW_MESSAGES) -> float:
    """Messages/s a bare websockets client receives and json-parses on the running loop."""
    from websockets.asyncio.client import connect

    child = Child(raw_server)
    try:
        async with connect(
            f"ws://127.0.0.1:{child.port}", compression=None, max_size=None, proxy=None
        ) as ws:
            await ws.send(str(messages))
            started = time.perf_counter()
            for _ in range(messages):
                json.loads(await ws.recv())
            return messages / (time.perf_counter() - started)
    finally:
        child.close()
