"""Start-up and footprint of the desktop app: time to the tray icon, RSS, idle CPU.

Run: ``.venv/bin/python -m benchmarks.bench_startup [--idle 60]`` (about 1.5 minutes).

A child process runs the app as users get it: a QApplication on a real X server with a
system tray (Xvfb + trayer, started here when there is no $DISPLAY), the embedded hub on
loopback, the engine with its SQLite history, the state model and the faces (tray first,
dashboard built only on demand). Figures:

1. raw: a bare PySide6 process that docks a plain tray icon - the ceiling on this machine;
2. tray: process start (the parent's clock before spawning) to the icon docked in the tray;
3. RSS tray-only after ``--idle`` seconds of idle, and CPU seconds used over that idle time;
4. RSS with the dashboard open (overview), then with the live-metrics tab shown (pyqtgraph
   is imported only then).

Targets (issue 5): tray within 0.5 s, tray-only RSS under 90 MiB, idle CPU under 0.5%.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

TARGET_TRAY_S = 0.5
TARGET_RSS_MIB = 90.0
TARGET_IDLE_CPU_PCT = 0.5


# --------------------------------------------------------------------------- child side


def _emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, "at": time.time(), **fields}), flush=True)


def _child_raw() -> None:
    """A bare tray icon: QApplication + QSystemTrayIcon with a filled pixmap."""
    from PySide6.QtGui import QColor, QIcon, QPixmap
    from PySide6.QtWidgets import QApplication, QSystemTrayIcon

    app = QApplication([])
    pixmap = QPixmap(22, 22)
    pixmap.fill(QColor("#2e7d32"))
    tray = QSystemTrayIcon(QIcon(pixmap))
    tray.show()
    while tray.geometry().x() <= 0:
        app.processEvents()
        time.sleep(0.002)
    _emit("tray")


def _child_app(data_dir: Path) -> None:
    """The app composed as main.py should: the tray icon first (syncwatch.ui.early_tray),
    then the engine, model and faces; driven by commands on stdin."""
    from PySide6.QtWidgets import QApplication

    from syncwatch.ui.early_tray import show_starting_icon
    from syncwatch.ui.icons import IconFactory

    app = QApplication([])
    app.setQuitOnLastWindowClosed(False)
    icons = IconFactory()
    early = show_starting_icon(icons)
    docked_early = early.geometry().x() > 0
    if docked_early:  # docked: the user sees it
        _emit("tray")

    import asyncio

    import qasync

    from syncwatch.client.engine import EngineConfig, SyncEngine
    from syncwatch.client.store import HistoryStore, StoreWriter
    from syncwatch.hub import Hub, HubConfig
    from syncwatch.qt.model import SyncStateModel
    from syncwatch.qt.settings import Settings
    from syncwatch.ui.faces import Faces

    settings = Settings.open(data_dir / "config")
    settings.set("floating_visible", False)

    async def main() -> None:
        hub = Hub(HubConfig(data_dir=data_dir / "hub", port=0))
        await hub.start()
        store = HistoryStore(data_dir / "history.sqlite3")
        writer = StoreWriter(store)
        reader = store.reader()
        engine = SyncEngine(EngineConfig(hub_url=hub.url), writer, cursor=reader.cursor)
        model = SyncStateModel(engine, reader=reader)
        faces = Faces(model, settings, tray_icon=early)
        faces.start()
        engine_task = asyncio.create_task(engine.run())
        while faces.tray.tray.geometry().x() <= 0:  # noqa: ASYNC110 - polling Qt, not asyncio
            await asyncio.sleep(0.002)
        if not docked_early:
            _emit("tray")
        _emit("app-ready")
        commands: asyncio.Queue[str] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        threading.Thread(
            target=lambda: [
                loop.call_soon_threadsafe(commands.put_nowait, line.strip()) for line in sys.stdin
            ],
            daemon=True,
        ).start()
        while True:
            command = await commands.get()
            if command == "dashboard":
                faces.open_dashboard("overview")
                await asyncio.sleep(0.5)
                _emit("dashboard")
            elif command == "plots":
                faces.open_dashboard("metrics")
                await asyncio.sleep(0.5)
                _emit("plots", pyqtgraph="pyqtgraph" in sys.modules)
            elif command == "quit":
                break
        faces.close()
        engine.stop()
        await engine_task
        model.shutdown()
        writer.close()
        reader.close()
        await hub.stop()
        _emit("stopped")

    asyncio.run(main(), loop_factory=qasync.QEventLoop)


# --------------------------------------------------------------------------- parent side


class Child:
    """A child process whose JSON event lines are read on a thread."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.started = time.time()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.bench_startup", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.events.put(json.loads(line))

    def wait_for(self, event: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if got["event"] == event:
                return got

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def finish(self) -> int:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def run(idle_s: float, repeats: int) -> int:
    from tests.support.xserver import VirtualDisplay

    display = None
    env = dict(os.environ, QT_QPA_PLATFORM="xcb", PYTHONWARNINGS="ignore")
    if not env.get("DISPLAY"):
        display = VirtualDisplay.start_if_available()
        if display is None:
            print("bench_startup needs Xvfb and trayer (apt-get install xvfb trayer xdotool)")
            return 2
        env["DISPLAY"] = display.name
    try:
        raw = []
        for _ in range(repeats):
            child = Child(["--child-raw"], env)
            raw.append(child.wait_for("tray")["at"] - child.started)
            child.finish()
        tray = []
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(repeats):
                child = Child(["--child-app", str(Path(tmp) / f"run{i}")], env)
                tray.append(child.wait_for("tray")["at"] - child.started)
                if i < repeats - 1:
                    child.send("quit")
                    child.wait_for("stopped")
                    child.finish()
            ready_s = child.wait_for("app-ready")["at"] - child.started
            time.sleep(2.0)  # settle after start-up work
            cpu_before, idle_started = child.cpu_s(), time.monotonic()
            time.sleep(idle_s)
            idle_cpu = child.cpu_s() - cpu_before
            idle_pct = 100.0 * idle_cpu / (time.monotonic() - idle_started)
            rss_tray = child.rss_mib()
            child.send("dashboard")
            child.wait_for("dashboard")
            time.sleep(1.0)
            rss_dashboard = child.rss_mib()
            child.send("plots")
            plots = child.wait_for("plots")
            time.sleep(1.0)
            rss_plots = child.rss_mib()
            child.send("quit")
            child.wait_for("stopped")
            code = child.finish()
    finally:
        if display is not None:
            display.stop()

    raw_s, tray_s = _median(raw), _median(tray)
    rows = [
        ("raw: bare tray icon docked", f"{raw_s * 1000:.0f} ms", "", ""),
        (
            "app: process start to tray icon",
            f"{tray_s * 1000:.0f} ms",
            f"{tray_s / raw_s:.2f}x raw",
            _verdict(tray_s <= TARGET_TRAY_S, "<= 500 ms"),
        ),
        ("app: process start to connected faces", f"{ready_s * 1000:.0f} ms", "", ""),
        (
            f"RSS tray-only after {idle_s:.0f} s idle",
            f"{rss_tray:.0f} MiB",
            "",
            _verdict(rss_tray < TARGET_RSS_MIB, "< 90 MiB"),
        ),
        (
            f"CPU over {idle_s:.0f} s idle",
            f"{idle_cpu:.2f} s ({idle_pct:.2f}%)",
            "",
            _verdict(idle_pct < TARGET_IDLE_CPU_PCT, "< 0.5%"),
        ),
        ("RSS dashboard open (overview)", f"{rss_dashboard:.0f} MiB", "", ""),
        (
            "RSS dashboard + live metrics (pyqtgraph)",
            f"{rss_plots:.0f} MiB",
            f"pyqtgraph loaded: {plots['pyqtgraph']}",
            "",
        ),
    ]
    print(f"\nbench_startup (median of {repeats} starts; python {sys.version.split()[0]})")
    for name, value, ratio, verdict in rows:
        print(f"  {name:<42} {value:>20}  {ratio:<22} {verdict}")
    ok = tray_s <= TARGET_TRAY_S and rss_tray < TARGET_RSS_MIB and idle_pct < TARGET_IDLE_CPU_PCT
    return 0 if ok and code == 0 else 1


def _verdict(ok: bool, target: str) -> str:
    return f"{'ok' if ok else 'MISSED'} (target {target})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=float, default=60.0, help="idle seconds measured")
    parser.add_argument("--repeats", type=int, default=3, help="start-ups timed (median)")
    parser.add_argument("--child-raw", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-app", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_raw:
        _child_raw()
        return 0
    if args.child_app is not None:
        _child_app(args.child_app)
        return 0
    return run(args.idle, args.repeats)


if __name__ == "__main__":
    sys.exit(main())
