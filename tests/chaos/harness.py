"""Run the chaos scenario end to end and judge it (see docs/reliability.md).

Topology, all on 127.0.0.1::

    demo (N agents) ----------------\\
    acked publishers (Reporter) -----> hub subprocess <---- hostile publisher, stalled viewer
                                          ^
    app (Xvfb + trayer, dashboard) -> TcpProxy (this process)

The app is the one client behind the proxy: network faults hit its link only, while the
publishers keep loading the hub. Timing of each fault comes from the app's own
``connection_status`` rows (what a user sees in the dashboard), against the wall-clock
times this harness injected and undid the fault.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
import signal
import sqlite3
import subprocess
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests.chaos import actors, verify
from tests.chaos.procs import (
    Managed,
    base_env,
    free_port,
    rss_by_mapping,
    syncwatch_command,
    wait_for_port,
)
from tests.chaos.schedule import FULL, Fault, Kind, build_schedule, warmup_s
from tests.support.tcpproxy import TcpProxy
from tests.support.xserver import VirtualDisplay

#: The app's defaults (settings ping_interval_s / ping_timeout_s, core backoff cap).
PING_INTERVAL_S = 10.0
PING_TIMEOUT_S = 10.0
BACKOFF_CAP_S = 60.0
THROTTLE_BPS = 64 * 1024
LATENCY_S = 0.5


@dataclass(frozen=True)
class ChaosConfig:
    run_dir: Path
    minutes: float = 10.0
    seed: int = 20261203
    #: New operations per minute over all demo agents (each makes ~10-30 updates). The
    #: rate and agent count are a steady state: 64 simulated agents finish about as many
    #: operations as arrive (~90 updates/s, 400-800 active), so that the memory checks
    #: see leaks, not a queue that grows by design. (8 agents at 3,000 a minute finished
    #: ~800 a minute; their queue grew by 2,200 operations a minute, ~22,000 after 10 min.)
    demo_rate: int = 900
    demo_agents: int = 64
    publishers: int = 3
    #: Updates a second per acked publisher.
    publisher_rate: float = 40.0
    kinds: tuple[Kind, ...] = FULL
    #: The hub gives up active operations idle this long (default a day): short here, so
    #: that the hostile publisher's never-ending operations are abandoned within the run.
    abandon_after_s: float = 120.0
    #: Finished operations the hub holds for snapshots (default 10,000). The RSS check
    #: compares the hub after warm-up with the hub at the end, which finds leaks only once
    #: every bounded structure is full: at 900 operations a minute the default bound fills
    #: after 11 minutes, so a 10-minute run would measure the bound filling up (~0.8 KiB
    #: an operation: ~3,000 held after warm-up, ~9,000 at the end, +12% of a 40 MiB hub
    #: that is not a leak). 2,000 is full before warm-up ends.
    max_finished: int = 2_000
    #: Seconds after the last update to wait for the app to catch up with the hub.
    catch_up_s: float = 120.0
    #: An X display with a system tray to use (the test session's); None starts one.
    display: str | None = None


@dataclass
class FaultRecord:
    kind: str
    injected_at: float
    restored_at: float
    notes: str = ""
    detect_s: float | None = None
    recover_s: float | None = None


@dataclass
class RunState:
    faults: list[FaultRecord] = field(default_factory=list)
    #: (wall time, app pid, app RSS KiB, hub pid, hub RSS KiB)
    rss: list[tuple[float, int | None, int | None, int | None, int | None]] = field(
        default_factory=list
    )
    notes: list[str] = field(default_factory=list)
    #: (wall time, the hub's syncwatch_hub_memory_bytes by kind), every 30 s: what the
    #: hub's RSS is made of (live heap, free-but-kept heap, SQLite).
    hub_memory: list[tuple[float, dict[str, int]]] = field(default_factory=list)


class Chaos:
    """One run: owns every process and the proxy; :meth:`run` returns the checks."""

    def __init__(self, config: ChaosConfig) -> None:
        self.config = config
        self.state = RunState()
        run_dir = config.run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        self.hub_data = run_dir / "hub-data"
        self.app_data = run_dir / "app-data"
        self.publisher_token = secrets.token_hex(16)
        self.viewer_token = secrets.token_hex(16)
        self._write_secret(run_dir / "hub-tokens", f"publisher {self.publisher_token}\n"
                           f"viewer {self.viewer_token}\n")  # fmt: skip
        self._write_secret(run_dir / "publisher-token", self.publisher_token)
        self._write_secret(run_dir / "viewer-token", self.viewer_token)
        self.hub_port = free_port()
        self.hub_url = f"ws://127.0.0.1:{self.hub_port}"
        self.env = base_env(run_dir)
        self.display: VirtualDisplay | None = None
        self.proxy: TcpProxy | None = None
        self.hub = Managed(
            "hub",
            syncwatch_command("hub", "--port", str(self.hub_port), "--data", str(self.hub_data),
                              "--token-file", str(run_dir / "hub-tokens"),
                              "--abandon-after", str(config.abandon_after_s),
                              "--max-finished", str(config.max_finished)),
            run_dir / "hub.log",
            self.env,
        )  # fmt: skip
        self.demo = Managed(
            "demo",
            syncwatch_command("demo", "--hub", self.hub_url, "--token-file",
                              str(run_dir / "publisher-token"), "--rate", str(config.demo_rate),
                              "--agents", str(config.demo_agents), "--seed", str(config.seed),
                              "--burst-every", "120"),
            run_dir / "demo.log",
            self.env,
        )  # fmt: skip
        self.app: Managed | None = None
        self.publishers: list[actors.AckedPublisher] = []

    @staticmethod
    def _write_secret(path: Path, text: str) -> None:
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600)

    # ------------------------------------------------------------------ the run

    async def run(self) -> list[verify.Check]:
        config = self.config
        duration = config.minutes * 60
        schedule = build_schedule(config.seed, duration, config.kinds)
        print(f"chaos: {duration:.0f} s, seed {config.seed}, run dir {config.run_dir}")
        for fault in schedule:
            print(f"  t+{fault.at_s:5.1f} s  {fault.kind.value} ({fault.hold_s:.0f} s)")
        if config.display is None:
            self.display = VirtualDisplay.start_if_available()
            if self.display is None:
                raise RuntimeError("chaos needs Xvfb and trayer (make system-deps-test)")
        display_name = config.display or (self.display.name if self.display else "")
        try:
            self.hub.start()
            wait_for_port(self.hub_port)
            self.proxy = TcpProxy("127.0.0.1", self.hub_port)
            await self.proxy.start()
            self.app = self._app_process(display_name)
            self.app.start()
            await self._wait_app_connected(since=0.0)
            await self._open_dashboard()
            started = time.time()
            self.demo.start()
            for number in range(config.publishers):
                publisher = actors.AckedPublisher(
                    self.hub_url, self.publisher_token, f"chaos-agent-{number}",
                    config.publisher_rate,
                )  # fmt: skip
                publisher.start()
                self.publishers.append(publisher)
            sampler = asyncio.create_task(self._sample_rss())
            await self._play(schedule, started, duration)
            await self._wind_down()
            sampler.cancel()
            return await asyncio.to_thread(self._judge, started)
        finally:
            await self._tear_down()

    def _app_process(self, display: str) -> Managed:
        assert self.proxy is not None
        env = dict(self.env, DISPLAY=display, QT_QPA_PLATFORM="xcb")
        return Managed(
            "app",
            syncwatch_command("--hub", f"ws://127.0.0.1:{self.proxy.port}", "--token-file",
                              str(self.config.run_dir / "viewer-token"), "--data-dir",
                              str(self.app_data), "--verbose"),
            self.config.run_dir / "app.log",
            env,
        )  # fmt: skip

    async def _open_dashboard(self) -> None:
        """A second launch asks the running app to show its window (the dashboard)."""
        assert self.app is not None
        second = await asyncio.create_subprocess_exec(
            *self.app.command, env=self.app.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            async with asyncio.timeout(30):
                await second.wait()
        except TimeoutError:
            second.kill()
            await second.wait()
            self.state.notes.append("second launch (show dashboard) did not exit")

    async def _wait_app_connected(self, since: float, timeout_s: float = 60.0) -> float | None:
        """Wall time of the app's first 'connected' row at or after ``since``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            at = self._first_row("connected", since)
            if at is not None:
                return at
            await asyncio.sleep(0.25)
        return None

    def _connection_rows(self) -> list[tuple[float, str]]:
        path = self.app_data / "history.db"
        if not path.exists():
            return []
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
                return db.execute("SELECT at, state FROM connection_status ORDER BY at").fetchall()
        except sqlite3.Error:
            return []

    def _first_row(self, state: str | None, since: float, *, other: bool = False) -> float | None:
        for at, row_state in self._connection_rows():
            if at < since:
                continue
            if (row_state != state) if other else (row_state == state):
                return float(at)
        return None

    async def _play(self, schedule: list[Fault], started: float, duration: float) -> None:
        for fault in schedule:
            await self._sleep_until(started + fault.at_s)
            record = await self._inject(fault)
            self.state.faults.append(record)
            print(f"  [{time.time() - started:6.1f} s] {record.kind}: done {record.notes}")
        await self._sleep_until(started + duration)

    async def _sleep_until(self, wall: float) -> None:
        while (left := wall - time.time()) > 0:
            self._watch_processes()
            await asyncio.sleep(min(left, 1.0))

    def _watch_processes(self) -> None:
        for managed in (self.hub, self.app, self.demo):
            if managed is None or managed.process is None:
                continue
            if managed.process.poll() is not None:
                code = managed.process.returncode
                self.state.notes.append(f"{managed.name} exited on its own with {code}")
                managed.check_alive()
                if len(managed.unexpected_exits) <= 3:  # keep the run going (reported)
                    managed.start()

    async def _inject(self, fault: Fault) -> FaultRecord:
        assert self.proxy is not None
        assert self.app is not None
        injected = time.time()
        notes = ""
        kind = fault.kind
        if kind is Kind.HUB_KILL:
            self.hub.kill9()
            await asyncio.sleep(fault.hold_s)
            self.hub.start()
            await asyncio.to_thread(wait_for_port, self.hub_port)
        elif kind is Kind.APP_KILL:
            self.app.kill9()
            await asyncio.sleep(fault.hold_s)
            self.app.start()
        elif kind is Kind.BLACKHOLE:
            self.proxy.blackhole()
            await asyncio.sleep(fault.hold_s)
            self.proxy.restore()
        elif kind is Kind.RESET:
            self.proxy.reset()
        elif kind is Kind.LATENCY:
            self.proxy.latency_s = LATENCY_S
            await asyncio.sleep(fault.hold_s)
            self.proxy.latency_s = 0.0
        elif kind is Kind.THROTTLE:
            self.proxy.throttle_bps = THROTTLE_BPS
            await asyncio.sleep(fault.hold_s)
            self.proxy.throttle_bps = None
        elif kind is Kind.SUSPEND:
            self.app.signal(signal.SIGSTOP)
            await asyncio.sleep(fault.hold_s)
            self.app.signal(signal.SIGCONT)
        elif kind is Kind.HOSTILE:
            outcome = await actors.run_hostile_publisher(
                self.hub_url, self.publisher_token, fault.hold_s
            )
            notes = json.dumps(asdict(outcome))
        elif kind is Kind.STALLED_VIEWER:
            before = self.hub.rss_kib() or 0
            stalled = asyncio.create_task(
                actors.run_stalled_viewer(self.hub_url, self.viewer_token, fault.hold_s)
            )
            peak = before
            while not stalled.done():
                peak = max(peak, self.hub.rss_kib() or 0)
                await asyncio.sleep(0.5)
            outcome_v = await stalled
            notes = json.dumps(
                {**asdict(outcome_v), "hub_rss_growth_mib": round((peak - before) / 1024, 1)}
            )
        return FaultRecord(kind.value, injected, time.time(), notes)

    def _hub_memory(self) -> dict[str, int]:
        """The hub's own memory figures from its /metrics ({} while it is down)."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.hub_port}/metrics", timeout=5
            ) as r:
                text = r.read().decode()
        except OSError:
            return {}
        found = re.findall(r'syncwatch_hub_memory_bytes\{kind="(\w+)"\} (\d+)', text)
        return {kind: int(value) for kind, value in found}

    async def _sample_rss(self) -> None:
        for tick in itertools.count():
            if tick % 6 == 0:
                memory = await asyncio.to_thread(self._hub_memory)
                if memory and self.hub.pid is not None:
                    mapped = rss_by_mapping(self.hub.pid)
                    memory.update({f"{k}_mapped": v * 1024 for k, v in mapped.items()})
                    self.state.hub_memory.append((time.time(), memory))
            self.state.rss.append((
                time.time(),
                self.app.pid if self.app else None,
                self.app.rss_kib() if self.app else None,
                self.hub.pid,
                self.hub.rss_kib(),
            ))  # fmt: skip
            await asyncio.sleep(5.0)

    async def _wind_down(self) -> None:
        """Stop the load, collect every ack, and let the app catch up with the hub."""
        self.demo.stop()
        await asyncio.gather(*(p.stop() for p in self.publishers))
        deadline = time.monotonic() + self.config.catch_up_s
        hub_db = self.hub_data / "events.sqlite3"
        while time.monotonic() < deadline:
            hub_seq = _scalar(hub_db, "SELECT max(seq) FROM events")
            app_seq = _scalar(self.app_data / "history.db", "SELECT seq FROM resume_cursor")
            if hub_seq is not None and app_seq == hub_seq:
                break
            await asyncio.sleep(1.0)
        await asyncio.sleep(2.0)  # a last RSS sample of the quiet processes
        self.state.rss.append(
            (time.time(), self.app.pid if self.app else None,
             self.app.rss_kib() if self.app else None, self.hub.pid, self.hub.rss_kib())
        )  # fmt: skip
        assert self.app is not None
        self.state.notes.append(f"app exit code on SIGTERM: {self.app.stop()}")
        self.state.notes.append(f"hub exit code on SIGTERM: {self.hub.stop()}")

    async def _tear_down(self) -> None:
        for managed in (self.demo, self.app, self.hub):
            if managed is not None and managed.alive():
                managed.kill9()
        for publisher in self.publishers:
            await publisher.stop(timeout_s=1.0)
        if self.proxy is not None:
            await self.proxy.stop()
        if self.display is not None:
            self.display.stop()

    # ------------------------------------------------------------------ judging

    def _judge(self, started: float) -> list[verify.Check]:
        from tests.chaos.report import judge

        return judge(self, started)


def _scalar(path: Path, sql: str) -> int | None:
    if not path.exists():
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            row = db.execute(sql).fetchone()
    except sqlite3.Error:
        return None
    return int(row[0]) if row and row[0] is not None else None


def warmup_baseline(
    samples: list[tuple[float, int | None, int | None, int | None, int | None]],
    *,
    index: int,
    since: float,
) -> tuple[int | None, int | None]:
    """(RSS after warm-up, RSS at the end) of the process alive at the end: ``index`` 1
    is the app, 3 the hub. The baseline is that same process's first sample at or after
    ``since`` (its last start plus the warm-up)."""
    final = next((s for s in reversed(samples) if s[index + 1] is not None), None)
    if final is None:
        return None, None
    own = [s for s in samples if s[index] == final[index] and s[index + 1] is not None]
    baseline = next((_kib(s[index + 1]) for s in own if s[0] >= since), None)
    return baseline, _kib(final[index + 1])


def _kib(value: float | None) -> int | None:
    return None if value is None else int(value)


__all__ = ["Chaos", "ChaosConfig", "warmup_baseline", "warmup_s"]
