"""How fast the hub is, next to the raw websockets library measured in the same run.

Run: ``.venv/bin/python -m benchmarks.bench_hub`` (about a minute and a half).

Servers run in child processes (the hub's loop and its SQLite writer thread have one
process to themselves, as in production); publishers and viewers run in this process.
Figures:

1. raw: a bare websockets server sends ~200-byte JSON messages to one client, which
   ``json.loads`` each: the ceiling of the library on this machine.
2. durable: updates/s acknowledged by the hub (each ack sent only after its group commit
   to the SQLite WAL) while one viewer receives and parses all of them. Publishers
   pipeline batch frames of 100 updates and also, separately, single sync_update frames.
3. fan-out: 1, 10 and 100 viewers while a publisher sends 2,000 updates/s; every viewer
   must receive every update; delivery latency is receipt time minus the update's own
   timestamp (set by the publisher just before sending), p50 and p99.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

from benchmarks.ceiling import Child, raw_receive_rate

DURABLE_SECONDS = 6.0
FANOUT_RATE = 2_000
FANOUT_SECONDS = 6.0


# --------------------------------------------------------------------------- children


def _hub_server(conn: Connection, data_dir: str, options: dict[str, Any]) -> None:

    from syncwatch.hub import Hub, HubConfig

    if os.environ.get("SWITCH"):
        sys.setswitchinterval(float(os.environ["SWITCH"]))

    async def main() -> None:
        hub = Hub(HubConfig(data_dir=Path(data_dir), port=0, **options))
        await hub.start()
        conn.send(hub.port)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        await hub.stop()

    asyncio.run(main())


# --------------------------------------------------------------------------- clients


def _now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _update(n: int, stamp: str) -> dict[str, Any]:
    return {
        "operation_id": f"op-{n % 500:06d}",
        "operation_type": "upload",
        "status": "in_progress",
        "progress": float(n % 100),
        "timestamp": stamp,
        "item": "photos/2026/holiday/IMG_1234.jpg",
        "bytes_done": 1234567,
        "bytes_total": 4567890,
        "counter": n,
    }


async def _viewer(url: str) -> ClientConnection:
    ws = await connect(url + "/v1/subscribe", compression=None, max_size=None, max_queue=256)
    hello = orjson.loads(await ws.recv())
    await ws.send(orjson.dumps({"type": "subscribe", "since": hello["seq"]}).decode())
    return ws


async def _receive(ws: ClientConnection, expected: int, latencies: list[float] | None) -> int:
    """Receive and parse frames until ``expected`` updates arrived, checking that seqs are
    consecutive; returns how many arrived. Latency is measured on the first (oldest)
    update of each frame, i.e. the worst one in the frame."""
    got = 0
    last_seq: int | None = None
    while got < expected:
        frame = orjson.loads(await ws.recv())
        received = time.time()
        updates = frame["updates"] if frame["type"] == "batch" else [frame]
        first, last = updates[0]["seq"], updates[-1]["seq"]
        if (last_seq is not None and first != last_seq + 1) or last - first + 1 != len(updates):
            raise AssertionError(f"gap or disorder after seq {last_seq}")
        last_seq = last
        if latencies is not None:
            stamp = datetime.fromisoformat(updates[0]["timestamp"]).timestamp()
            latencies.append((received - stamp) * 1000)
        got += len(updates)
    return got


async def _publish_for(url: str, seconds: float, batch: int, window: int) -> tuple[int, float]:
    """Publish as fast as acks allow (``window`` unacked updates); returns (acked, elapsed)."""
    async with connect(url + "/v1/publish", compression=None) as ws:
        await ws.recv()  # hello
        sent = acked = 0
        started = time.perf_counter()
        deadline = started + seconds
        stamp = _now_stamp()
        while True:
            now = time.perf_counter()
            while sent - acked < window and now < deadline:
                updates = [_update(sent + i, stamp) for i in range(batch)]
                if batch == 1:
                    await ws.send(orjson.dumps({"type": "sync_update", **updates[0]}).decode())
                else:
                    await ws.send(orjson.dumps({"type": "batch", "updates": updates}).decode())
                sent += batch
            if acked >= sent:
                break
            # The load generator must not be the bottleneck on 2 cores: check acks by
            # their prefix instead of parsing each one (the hub's acks are orjson output).
            frame = await ws.recv(decode=False)
            if not frame.startswith(b'{"type":"ack"'):
                raise AssertionError(frame)
            acked += 1
            if acked % 5000 == 0:
                stamp = _now_stamp()
        return acked, time.perf_counter() - started


async def bench_durable(url: str, batch: int) -> float:
    """Acked updates/s while one viewer receives them; fails if the viewer misses any."""
    viewer = await _viewer(url)
    received = [0]

    async def follow() -> None:
        while True:
            frame = orjson.loads(await viewer.recv())
            received[0] += len(frame["updates"]) if frame["type"] == "batch" else 1

    follower = asyncio.create_task(follow())
    try:
        acked, elapsed = await _publish_for(url, DURABLE_SECONDS, batch, window=8000)
        deadline = time.perf_counter() + 30
        while received[0] < acked and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        if received[0] != acked:
            raise AssertionError(f"the viewer got {received[0]} of {acked} updates")
        return acked / elapsed
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
        await viewer.close()


async def bench_fanout(url: str, viewers: int) -> tuple[float, float, bool]:
    sockets = [await _viewer(url) for _ in range(viewers)]
    total = int(FANOUT_RATE * FANOUT_SECONDS)
    latencies: list[list[float]] = [[] for _ in sockets]
    try:
        receivers = [
            asyncio.create_task(_receive(ws, total, lat))
            for ws, lat in zip(sockets, latencies, strict=True)
        ]
        async with connect(url + "/v1/publish", compression=None) as pub:
            await pub.recv()
            tick = 0.005
            per_tick = int(FANOUT_RATE * tick)
            started = time.perf_counter()
            sent = 0

            async def drain_acks() -> None:
                for _ in range(total):
                    await pub.recv()

            acks = asyncio.create_task(drain_acks())
            while sent < total:
                stamp = _now_stamp()
                for _ in range(per_tick):
                    body = orjson.dumps({"type": "sync_update", **_update(sent, stamp)})
                    await pub.send(body.decode())
                    sent += 1
                next_tick = started + (sent / FANOUT_RATE)
                await asyncio.sleep(max(0.0, next_tick - time.perf_counter()))
            await asyncio.wait_for(acks, 30)
        counts = await asyncio.wait_for(asyncio.gather(*receivers), 60)
        every = all(count == total for count in counts)
        merged = sorted(x for lat in latencies for x in lat)
        p50 = statistics.median(merged)
        p99 = merged[int(len(merged) * 0.99) - 1]
        return p50, p99, every
    finally:
        for ws in sockets:
            await ws.close()


async def main() -> int:
    load = os.getloadavg()[0]
    print(
        f"load average at start: {load:.1f} on {os.cpu_count()} cores (others' work skews figures)"
    )
    raw = await raw_receive_rate()
    print(f"{'measure':<58} {'figure':>14} {'vs raw':>8}")
    print(
        f"{'raw websockets: 1 client, ~200-byte JSON, json.loads':<58} {raw:>10,.0f} m/s {1:>8.2f}"
    )
    options = {"publisher_rate": 1e6, "publisher_burst": 1_000_000}
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for batch in (100, 1):
            child = Child(_hub_server, str(Path(tmp) / f"durable-{batch}"), options)
            try:
                rate = await bench_durable(f"ws://127.0.0.1:{child.port}", batch)
            finally:
                child.close()
            framing = "batch of 100" if batch > 1 else "single frames"
            label = f"durable acks, 1 viewer gets all ({framing})"
            print(f"{label:<58} {rate:>10,.0f} u/s {rate / raw:>8.2f}")
            if batch > 1 and rate < 20_000:
                failed = True
        for viewers in (1, 10, 100):
            child = Child(_hub_server, str(Path(tmp) / f"fanout-{viewers}"), options)
            try:
                p50, p99, every = await bench_fanout(f"ws://127.0.0.1:{child.port}", viewers)
            finally:
                child.close()
            delivered = viewers * FANOUT_RATE
            label = f"fan-out {viewers} viewers @ {FANOUT_RATE}/s: p50 / p99 ms"
            print(
                f"{label:<58} {p50:>5.1f} / {p99:>5.1f} {delivered / raw:>8.2f}"
                f"  ({delivered:,} deliveries/s{'' if every else ', NOT ALL RECEIVED'})"
            )
            if not every or (viewers == 100 and p99 >= 100):
                failed = True
    print("targets met" if not failed else "TARGETS MISSED")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
