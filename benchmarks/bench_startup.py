"""Start-up and footprint of the desktop app: time to the tray icon, RSS, idle CPU.

Run: ``.venv/bin/python -m benchmarks.bench_startup [--idle 60]`` (about 1.5 minutes).

Everything runs on a real X server with a system tray (Xvfb + trayer, started here when
there is no $DISPLAY). Figures:

1. raw: a bare PySide6 process that docks a plain tray icon - the ceiling on this machine;
2. the ``syncwatch`` command itself, as users start it (the embedded hub on loopback, the
   SQLite history, the tray; the floating widget hidden in its saved settings, so
   tray-only): process start (this process's clock before spawning) to the icon docked,
   read from the timestamp of the app's "tray icon docked" log line; RSS after ``--idle``
   seconds of idle and the CPU seconds used over that time; RSS once a second launch has
   raised the dashboard (the app's single-instance path);
3. a composed child (the engine, model and faces built the way main.py builds them,
   driven over stdin): the same figures without the command line, logging, network
   monitor and single-instance server, and the RSS with the live-metrics tab shown
   (pyqtgraph is imported only then), which the real command offers no way to open from
   outside.

Targets (issue 5), judged on the ``syncwatch`` command: tray within 0.5 s, tray-only RSS
under 90 MiB, idle CPU under 0.5%.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
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


def _proc_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
        return _proc_rss_mib(self.proc.pid)

    def cpu_s(self) -> float:
        return _proc_cpu_s(self.proc.pid)

    def finish(self) -> int:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


def _logged_at(log_file: Path, offset: int, text: str, proc: subprocess.Popen[bytes]) -> float:
    """Epoch seconds of the first line after ``offset`` in the app's log holding ``text``
    (the app runs with TZ=UTC, so its timestamps are UTC, to the millisecond)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if log_file.exists():
            with log_file.open("rb") as f:
                f.seek(offset)
                for line in f.read().decode("utf-8", "replace").splitlines():
                    if text in line:
                        stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
                        return stamp.replace(tzinfo=UTC).timestamp()
        if proc.poll() is not None:
            raise RuntimeError(f"syncwatch exited ({proc.returncode}) before logging {text!r}")
        time.sleep(0.01)
    raise TimeoutError(f"syncwatch did not log {text!r} within 60 s")


def _real_app(env: dict[str, str], idle_s: float, repeats: int) -> dict[str, float]:
    """The figures of the ``syncwatch`` command (see the module docstring, item 2)."""
    script = Path(sys.executable).with_name("syncwatch")
    launcher = [str(script)] if script.exists() else [sys.executable, "-m", "syncwatch.cli"]
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        base = Path(tmp)
        data = base / "data"
        (data / "config").mkdir(parents=True)
        (data / "config" / "syncwatch.ini").write_text("[General]\nfloating_visible=false\n")
        log_file = base / "state" / "syncwatch" / "log" / "syncwatch.log"
        app_env = dict(env, XDG_STATE_HOME=str(base / "state"), TZ="UTC")
        command = [*launcher, "--data-dir", str(data)]
        tray: list[float] = []
        for i in range(repeats):
            offset = log_file.stat().st_size if log_file.exists() else 0
            started = time.time()
            proc = subprocess.Popen(
                command, env=app_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            tray.append(_logged_at(log_file, offset, "tray icon docked", proc) - started)
            ready = _logged_at(log_file, offset, "syncwatch ready", proc) - started
            if i < repeats - 1:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
        time.sleep(2.0)  # settle after start-up work
        cpu_before, idle_started = _proc_cpu_s(proc.pid), time.monotonic()
        time.sleep(idle_s)
        idle_cpu = _proc_cpu_s(proc.pid) - cpu_before
        idle_pct = 100.0 * idle_cpu / (time.monotonic() - idle_started)
        rss_tray = _proc_rss_mib(proc.pid)
        # A second launch finds the first one and has it raise its dashboard.
        subprocess.run(command, env=app_env, capture_output=True, timeout=30, check=True)
        time.sleep(1.5)
        rss_dashboard = _proc_rss_mib(proc.pid)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    return {
        "tray_s": _median(tray),
        "ready_s": ready,
        "idle_cpu_s": idle_cpu,
        "idle_pct": idle_pct,
        "rss_tray": rss_tray,
        "rss_dashboard": rss_dashboard,
        "exit_code": float(code),
    }


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
        real = _real_app(env, idle_s, repeats)
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
    real_tray, real_pct, real_rss = real["tray_s"], real["idle_pct"], real["rss_tray"]
    rows = [
        ("raw: bare tray icon docked", f"{raw_s * 1000:.0f} ms", "", ""),
        (
            "syncwatch: process start to tray icon",
            f"{real_tray * 1000:.0f} ms",
            f"{real_tray / raw_s:.2f}x raw",
            _verdict(real_tray <= TARGET_TRAY_S, "<= 500 ms"),
        ),
        ("syncwatch: process start to 'ready'", f"{real['ready_s'] * 1000:.0f} ms", "", ""),
        (
            f"syncwatch: RSS tray-only after {idle_s:.0f} s idle",
            f"{real_rss:.0f} MiB",
            "",
            _verdict(real_rss < TARGET_RSS_MIB, "< 90 MiB"),
        ),
        (
            f"syncwatch: CPU over {idle_s:.0f} s idle",
            f"{real['idle_cpu_s']:.2f} s ({real_pct:.2f}%)",
            "",
            _verdict(real_pct < TARGET_IDLE_CPU_PCT, "< 0.5%"),
        ),
        ("syncwatch: RSS dashboard raised", f"{real['rss_dashboard']:.0f} MiB", "", ""),
        ("composed: process start to tray icon", f"{tray_s * 1000:.0f} ms", "", ""),
        ("composed: process start to connected faces", f"{ready_s * 1000:.0f} ms", "", ""),
        (f"composed: RSS tray-only after {idle_s:.0f} s idle", f"{rss_tray:.0f} MiB", "", ""),
        (
            f"composed: CPU over {idle_s:.0f} s idle",
            f"{idle_cpu:.2f} s ({idle_pct:.2f}%)",
            "",
            "",
        ),
        ("composed: RSS dashboard open (overview)", f"{rss_dashboard:.0f} MiB", "", ""),
        (
            "composed: RSS dashboard + live metrics",
            f"{rss_plots:.0f} MiB",
            f"pyqtgraph loaded: {plots['pyqtgraph']}",
            "",
        ),
    ]
    print(f"\nbench_startup (median of {repeats} starts; python {sys.version.split()[0]})")
    for name, value, ratio, verdict in rows:
        print(f"  {name:<42} {value:>20}  {ratio:<22} {verdict}")
    ok = (
        real_tray <= TARGET_TRAY_S
        and real_rss < TARGET_RSS_MIB
        and real_pct < TARGET_IDLE_CPU_PCT
        and real["exit_code"] == 0
    )
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
