"""What ``syncwatch.heap`` saves: full garbage collections of the start-up heap, and the
memory a burst leaves in the C allocator.

Run: ``.venv/bin/python -m benchmarks.bench_heap`` (about half a minute).

1. Full collection (``gc.collect()``, median of 5) in a fresh interpreter after each import
   stage. The ceiling is a bare interpreter. The stages are: + PySide6 with a
   QApplication, + the app (``syncwatch.main`` and the modules it loads), + pyqtgraph, and
   then all of that after ``freeze_long_lived``. During a flood CPython runs such a
   collection every few seconds, on the GUI thread, with the GIL held.
2. A hub in this process takes a flood: 355 batch frames of 300 valid updates, 21,300
   operations left ``in_progress``, like the chaos harness's hostile publisher. RSS is
   read at the start, after the flood, after ``gc.collect()``, and after
   ``release_free_memory()`` (with the time that call took).

Targets: none of its own; this measures the mechanisms behind issue #4's stall target and
issue #6's RSS target (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import gc
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


def _collect_cost(setup: str, freeze: bool) -> tuple[int, float]:
    code = _MEASURE.format(setup=setup, freeze=_FREEZE if freeze else "")
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"},
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


def main() -> int:
    print(f"{'full gc.collect() after':<40} {'objects':>9} {'median':>10} {'frozen':>10}")
    for name, setup in _STAGES.items():
        objects, cost = _collect_cost(setup, freeze=False)
        _, frozen = _collect_cost(setup, freeze=True)
        print(f"{name:<40} {objects:>9,} {cost:>7.1f} ms {frozen:>7.1f} ms")
    print()
    for name, value in asyncio.run(_flood()):
        print(f"{name:<52} {value:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
