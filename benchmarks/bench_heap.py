"""What ``syncwatch.heap`` saves: full garbage collections of the start-up heap, and the
memory a burst leaves in the C allocator.

Run: ``.venv/bin/python -m benchmarks.bench_heap`` (about three minutes).

1. Full collection (``gc.collect()``, median of 5) in a fresh interpreter after each import
   stage. The ceiling is a bare interpreter. The stages are: + PySide6 with a
   QApplication, + the app (``syncwatch.main`` and the modules it loads), + pyqtgraph, and
   then all of that after ``freeze_long_lived``. During a flood CPython runs such a
   collection every few seconds, on the GUI thread, with the GIL held.
2. A hub in this process takes a flood: 355 batch frames of 300 valid updates, 21,300
   operations left ``in_progress``, like the chaos harness's hostile publisher. RSS is
   read at the start, after the flood, after ``gc.collect()``, and after
   ``release_free_memory()`` (with the time that call took).

3. The flood as the chaos run has it, in a child process per allocator (pymalloc, the
   default, and ``PYTHONMALLOC=malloc``): a hub under a steady load (a Reporter: 100
   operations a second, each finished a second later) gets the chaos harness's hostile
   publisher and stalled viewer; once the flood's operations have been given up
   (``abandon_after_s`` 15 s) and only the bounded state is left
   (``max_finished_operations`` 2,000, as in the chaos run), RSS and the live heap after
   ``gc.collect()`` and ``release_free_memory()`` are compared with the same process's
   before the flood. The live heap is pymalloc's allocated blocks, or glibc's bytes in
   use on the C allocator (``syncwatch.heap.memory_use``).
Targets: none of its own; this measures the mechanisms behind issue #4's stall target and
issue #6's RSS target (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_QT = "from PySide6.QtWidgets import QApplication; app = QApplication([])"
_APP = (
    "import syncwatch.main, syncwatch.client.engine, syncwatch.client.store,"
    " syncwatch.hub.server, syncwatch.ui.faces, syncwatch.ui.dashboard.window"
)
#: Each stage imports what the one before did, and more.
_STAGES = {
    "bare interpreter (ceiling)": "",
    "+ PySide6, QApplication": _QT,
    "+ the app's modules": f"{_QT}; {_APP}",
    "+ pyqtgraph": f"{_QT}; {_APP}; import pyqtgraph",
}
_MEASURE = (
    "import gc, time, statistics\n"
    "{setup}\n"
    "{freeze}\n"
    "times = []\n"
    "for _ in range(5):\n"
    "    t = time.perf_counter(); gc.collect(); times.append((time.perf_counter() - t) * 1000)\n"
    "print(len(gc.get_objects()), statistics.median(times))\n"
)
_FREEZE = "from syncwatch.heap import freeze_long_lived; freeze_long_lived('bench')"


def _child_env(**extra: str) -> dict[str, str]:
    """A bare environment (no inherited allocator or debug settings) that still imports
    this checkout's code, whichever checkout the virtualenv was installed from."""
    root = Path(__file__).resolve().parents[1]
    return {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{root / 'app'}{os.pathsep}{root}", **extra}


def _collect_cost(setup: str, freeze: bool) -> tuple[int, float]:
    code = _MEASURE.format(setup=setup, freeze=_FREEZE if freeze else "")
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=_child_env(QT_QPA_PLATFORM="offscreen"),
    ).stdout.split()
    return int(out[-2]), float(out[-1])


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def _flood() -> list[tuple[str, str]]:
    from websockets.asyncio.client import connect

    from syncwatch.core.protocol import Batch, Status, SyncUpdate, encode_frame
    from syncwatch.heap import release_free_memory
    from syncwatch.hub import Hub, HubConfig

    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-heap-") as tmp:
        hub = Hub(HubConfig(data_dir=Path(tmp), port=0))
        await hub.start()
        rows.append(("hub started", f"{_rss_mib():.0f} MiB"))
        now = int(time.time() * 1_000_000)
        number = 0
        async with connect(hub.url + "/v1/publish", proxy=None) as ws:
            for _ in range(355):
                updates = tuple(
                    SyncUpdate(
                        f"flood-{number + i // 5}",
                        "scan",
                        Status.IN_PROGRESS,
                        float(i % 5) * 20,
                        now,
                        source="flood",
                    )
                    for i in range(300)
                )
                number += 60
                await ws.send(encode_frame(Batch(updates)).decode())
                await asyncio.sleep(0)
            # Until the hub has committed what it accepted (its rate limit may refuse the end).
            last = -1
            while hub.seq != last:
                last = hub.seq
                await asyncio.sleep(1.0)
        rows.append((f"after the flood ({hub.seq:,} updates)", f"{_rss_mib():.0f} MiB"))
        gc.collect()
        rows.append(("after gc.collect()", f"{_rss_mib():.0f} MiB"))
        started = time.perf_counter()
        release_free_memory()
        took = (time.perf_counter() - started) * 1000
        rows.append((f"after release_free_memory() ({took:.0f} ms)", f"{_rss_mib():.0f} MiB"))
        await hub.stop()
    return rows


async def _steady_load(url: str, token: str, stop: asyncio.Event) -> None:
    from syncwatch.client.reporter import Reporter

    async with Reporter(url, token, source="steady") as reporter:
        number = 0
        while not stop.is_set():
            for _ in range(10):
                await reporter.update(
                    operation_id=f"steady-{number}",
                    operation_type="upload",
                    status="queued",
                    progress=0.0,
                )
                if number >= 100:
                    await reporter.update(
                        operation_id=f"steady-{number - 100}",
                        operation_type="upload",
                        status="completed",
                        progress=100.0,
                    )
                number += 1
            await asyncio.sleep(0.1)


def _live() -> float:
    """The live heap: pymalloc's blocks in use, or glibc's MiB in use without pymalloc."""
    from syncwatch.heap import memory_use

    blocks = sys.getallocatedblocks()
    return float(blocks) if blocks else (memory_use().heap_in_use or 0) / 2**20


async def _after_flood() -> tuple[float, float, float, float, int]:
    """RSS (MiB) and live heap before the flood and once it is given up, operations held."""
    from tests.chaos.actors import run_hostile_publisher, run_stalled_viewer

    from syncwatch.heap import release_free_memory
    from syncwatch.hub import Hub, HubConfig
    from syncwatch.hub.config import Role

    token = "bench-heap-publisher-token"
    with tempfile.TemporaryDirectory(prefix="bench-heap-") as tmp:
        hub = Hub(
            HubConfig(
                data_dir=Path(tmp),
                port=0,
                tokens={token: Role.PUBLISHER},
                abandon_after_s=15.0,
                max_finished_operations=2_000,
                maintenance_interval_s=5.0,
            )
        )
        await hub.start()
        stop = asyncio.Event()
        load = asyncio.create_task(_steady_load(hub.url, token, stop))
        await asyncio.sleep(25)  # past the finished bound: the steady state
        gc.collect()
        release_free_memory()
        before, live_before = _rss_mib(), _live()
        await run_hostile_publisher(hub.url, token, 6.0)
        await run_stalled_viewer(hub.url, token, 10.0)
        await asyncio.sleep(30)  # the flood's operations are given up, trims have run
        gc.collect()
        release_free_memory()
        after, live_after = _rss_mib(), _live()
        held = hub.operations_held
        stop.set()
        await load
        await hub.stop()
    return before, after, live_before, live_after, held


def _allocator_rows() -> list[tuple[str, float, float, float, float, int]]:
    rows = []
    for allocator in ("pymalloc", "malloc"):
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_heap", "--after-flood"],
            capture_output=True,
            text=True,
            check=True,
            env=_child_env(PYTHONMALLOC=allocator),
        ).stdout.split()
        before, after, live_before, live_after = (float(x) for x in out[-5:-1])
        rows.append((allocator, before, after, live_before, live_after, int(out[-1])))
    return rows


def main() -> int:
    print(f"{'full gc.collect() after':<40} {'objects':>9} {'median':>10} {'frozen':>10}")
    for name, setup in _STAGES.items():
        objects, cost = _collect_cost(setup, freeze=False)
        _, frozen = _collect_cost(setup, freeze=True)
        print(f"{name:<40} {objects:>9,} {cost:>7.1f} ms {frozen:>7.1f} ms")
    print()
    for name, value in asyncio.run(_flood()):
        print(f"{name:<52} {value:>10}")
    print()
    print(
        f"{'hub after the chaos flood, allocator':<40} {'RSS before':>11} {'after':>10}"
        f" {'growth':>7}   live heap before -> after"
    )
    for allocator, before, after, live_before, live_after, held in _allocator_rows():
        unit = "blocks" if allocator == "pymalloc" else "MiB in use"
        print(
            f"{allocator + f' ({held:,} operations held)':<40} {before:>7.1f} MiB"
            f" {after:>6.1f} MiB {(after / before - 1) * 100:>+6.0f}%"
            f"   {live_before:,.1f} -> {live_after:,.1f} {unit}"
            f" ({(live_after / live_before - 1) * 100:+.0f}%)"
        )
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--after-flood"]:
        print(*asyncio.run(_after_flood()))
        sys.exit(0)
    sys.exit(main())
