"""The hub's memory under a steady stream of short operations, with the bound on finished
operations (``max_finished_operations``) and without it (issue #6's soak requirement: RSS
at the end within 20% of RSS after warm-up).

Run: ``.venv/bin/python -m benchmarks.bench_memory`` (under two minutes: a small bound so
that it is reached early); the soak figures come from
``--seconds 240 --warmup 60 --bound 10000`` (the default bound, about nine minutes).

The hub runs in a child process, one per configuration, each on a fresh data directory;
its RSS is read from ``/proc/PID/status`` (VmRSS) every ``--sample`` seconds. This process
publishes ``--rate`` operations a second through a Reporter (queued and in_progress at
once, completed a second later, so about ``rate`` operations are active at any time) and
keeps one viewer draining the live stream, as the desktop app would. Figures per
configuration: RSS after the warm-up and at the end, the growth between them, the
operations the hub holds (/metrics) and the size of a new viewer's snapshot.

Targets (bounded configuration): growth within 20%, at most bound + active operations held.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

from benchmarks.ceiling import Child

#: The bound of the "unbounded" configuration: more than any run finishes.
UNBOUNDED = 1_000_000_000
#: An operation is completed this long after it was queued.
OPERATION_S = 1.0
TARGET_GROWTH = 0.20


# --------------------------------------------------------------------------- child


def _hub_server(conn: Connection, data_dir: str, bound: int) -> None:
    """Child process: a hub with ``max_finished_operations=bound`` until told to stop."""
    from syncwatch.hub import Hub, HubConfig

    async def main() -> None:
        hub = Hub(HubConfig(data_dir=Path(data_dir), port=0, max_finished_operations=bound))
        await hub.start()
        conn.send((hub.port, os.getpid()))
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        await hub.stop()

    asyncio.run(main())


# --------------------------------------------------------------------------- this process


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc (psutil is not a dependency)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def _operations_held(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    found = re.search(r"^syncwatch_hub_operations (\d+)$", text, re.MULTILINE)
    assert found is not None
    return int(found.group(1))


@dataclass
class Run:
    """What one configuration measured."""

    label: str
    bound: int
    #: (seconds since the publisher started, RSS KiB, operations held)
    samples: list[tuple[float, int, int]] = field(default_factory=list)
    published: int = 0
    snapshot_bytes: int = 0

    def rss_at(self, seconds: float) -> int:
        """The first sample taken at or after ``seconds``."""
        return next(rss for t, rss, _ in self.samples if t >= seconds - 0.5)


async def _publish(url: str, rate: float, seconds: float) -> int:
    """Publish ``rate`` operations a second for ``seconds``; returns how many."""
    from syncwatch.client.reporter import Reporter
    from syncwatch.core.protocol import Status, SyncUpdate

    def update(op_id: str, status: Status, progress: float) -> SyncUpdate:
        return SyncUpdate(
            op_id,
            "upload",
            status,
            progress,
            time.time_ns() // 1000,
            item=f"/library/media/{op_id}.mkv",
            bytes_done=int(progress * 10_000),
            bytes_total=1_000_000,
        )

    started = time.monotonic()
    active: deque[tuple[float, str]] = deque()
    count = 0
    async with Reporter(url, source="bench-memory", max_buffer=100_000) as reporter:
        while (now := time.monotonic()) - started < seconds:
            while count < (now - started) * rate:
                op_id = f"op-{count:07d}"
                reporter.post(update(op_id, Status.QUEUED, 0.0))
                reporter.post(update(op_id, Status.IN_PROGRESS, 1.0))
                active.append((now, op_id))
                count += 1
            while active and now - active[0][0] >= OPERATION_S:
                reporter.post(update(active.popleft()[1], Status.COMPLETED, 100.0))
            await asyncio.sleep(0.05)
        for _, op_id in active:
            reporter.post(update(op_id, Status.COMPLETED, 100.0))
        await reporter.flush()
    return count


async def _drain(ws: ClientConnection) -> None:
    while True:
        await ws.recv(decode=False)


async def _subscribe(url: str) -> tuple[ClientConnection, bytes]:
    """A viewer that has received its snapshot (returned)."""
    ws = await connect(url + "/v1/subscribe", max_size=None, compression=None)
    await ws.recv(decode=False)  # hello
    await ws.send('{"type":"subscribe","since":null}')
    return ws, await ws.recv(decode=False)


async def measure(run: Run, data_dir: Path, rate: float, seconds: float, every: float) -> None:
    child = Child(_hub_server, str(data_dir), run.bound)
    port, pid = child.first
    url = f"ws://127.0.0.1:{port}"
    try:
        viewer, _ = await _subscribe(url)
        drain = asyncio.create_task(_drain(viewer))
        started = time.monotonic()
        publisher = asyncio.create_task(_publish(url, rate, seconds))

        async def sample() -> None:
            held = await asyncio.to_thread(_operations_held, port)
            run.samples.append((time.monotonic() - started, rss_kib(pid), held))

        await sample()
        while not publisher.done():
            await asyncio.wait({publisher}, timeout=every - (time.monotonic() - started) % every)
            await sample()
        run.published = publisher.result()
        drain.cancel()
        await asyncio.gather(drain, return_exceptions=True)
        await viewer.close()
        late_viewer, snapshot = await _subscribe(url)
        run.snapshot_bytes = len(snapshot)
        await late_viewer.close()
    finally:
        child.close()


def _mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_memory")
    parser.add_argument("--rate", type=float, default=100.0, help="operations/s (default 100)")
    parser.add_argument("--seconds", type=float, default=50.0, help="run length (default 50)")
    parser.add_argument("--warmup", type=float, default=20.0, help="warm-up (default 20)")
    parser.add_argument("--bound", type=int, default=1_000, help="max_finished_operations")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between samples")
    args = parser.parse_args(argv)
    if not 0 < args.warmup < args.seconds:
        parser.error("--warmup must be between 0 and --seconds")
    print(
        f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
        f"{args.rate:.0f} operations/s for {args.seconds:.0f} s, warm-up {args.warmup:.0f} s"
    )
    runs = [
        Run(f"bounded (max_finished_operations={args.bound:,})", args.bound),
        Run("unbounded (24 h expiry only)", UNBOUNDED),
    ]
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        for run in runs:
            data_dir = Path(tmp) / f"hub-{run.bound}"
            await measure(run, data_dir, args.rate, args.seconds, args.sample)
    print(f"\n{'t (s)':>6} " + " ".join(f"{'RSS MiB':>9} {'ops held':>9}" for _ in runs))
    for row in zip(*(run.samples for run in runs), strict=False):
        cells = " ".join(f"{_mib(rss):>9} {held:>9,}" for _, rss, held in row)
        print(f"{row[0][0]:>6.0f} {cells}")
    print(
        f"\n{'configuration':<42} {'published':>9} {'warm-up MiB':>11} {'end MiB':>8} "
        f"{'growth':>7} {'ops held':>9} {'snapshot':>10}"
    )
    failed = False
    for run in runs:
        warm, end = run.rss_at(args.warmup), run.samples[-1][1]
        growth = end / warm - 1
        held = run.samples[-1][2]
        print(
            f"{run.label:<42} {run.published:>9,} {_mib(warm):>11} {_mib(end):>8} "
            f"{growth:>+7.0%} {held:>9,} {run.snapshot_bytes / 1024:>7,.0f} KiB"
        )
        if run.bound != UNBOUNDED:
            active = int(args.rate * OPERATION_S) + 1
            failed = failed or growth > TARGET_GROWTH or held > run.bound + active
    print("targets met" if not failed else "TARGETS MISSED")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
