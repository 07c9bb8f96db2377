"""The processes under test: the hub, the demo workload, and the desktop app.

Each runs as its own OS process started from the venv's ``syncwatch`` script, so that a
fault is what it would be in production: ``kill -9`` leaves no chance to flush, SIGSTOP
freezes every thread. Logs go to files in the run directory, which the checks read.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

#: The venv's entry point (the one `make` installs); falls back to `python -m`.
_SCRIPT = Path(sys.executable).with_name("syncwatch")
START_TIMEOUT_S = 30.0


def syncwatch_command(*args: str) -> list[str]:
    if _SCRIPT.exists():
        return [str(_SCRIPT), *args]
    return [sys.executable, "-m", "syncwatch.cli", *args]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_by_mapping(pid: int) -> dict[str, int]:
    """Resident KiB of ``pid`` by kind of mapping: the main heap (``[heap]``), other
    anonymous memory (glibc's per-thread arenas, pymalloc's arenas, thread stacks), and
    files (libraries, SQLite's shared memory); {} when it is gone."""
    totals = {"heap": 0, "anonymous": 0, "files": 0}
    kind = "files"
    try:
        for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
            fields = line.split()
            if fields and "-" in fields[0] and len(fields) >= 5:  # a mapping's header line
                path = fields[5] if len(fields) > 5 else ""
                kind = (
                    "heap"
                    if path == "[heap]"
                    else "anonymous"
                    if not path or path.startswith("[")
                    else "files"
                )
            elif fields[:1] == ["Rss:"]:
                totals[kind] += int(fields[1])
    except OSError:
        return {}
    return totals


def rss_kib(pid: int) -> int | None:
    """Resident set size of ``pid`` in KiB (None when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def wait_for_port(port: int, timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout_s:.0f} s")


@dataclass
class Managed:
    """One long-lived child process that the schedule may kill and restart.

    ``starts`` records the wall-clock time of every (re)start, ``kills`` every kill -9."""

    name: str
    command: list[str]
    log_path: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    starts: list[float] = field(default_factory=list)
    kills: list[float] = field(default_factory=list)
    #: Exit codes of processes that ended on their own (a crash unless 0 on request).
    unexpected_exits: list[int] = field(default_factory=list)

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            log.write(f"\n=== chaos: start {self.name} at {time.time():.3f}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, env=self.env
            )
        self.starts.append(time.time())

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check_alive(self) -> None:
        """Record an exit nobody asked for (a crash) and clear the process."""
        if self.process is not None and self.process.poll() is not None:
            self.unexpected_exits.append(self.process.returncode)
            self.process = None

    def kill9(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(START_TIMEOUT_S)
        self.kills.append(time.time())
        self.process = None

    def signal(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM and wait for the clean shutdown; the exit code (None if it had to be
        killed)."""
        if self.process is None:
            return None
        if self.process.poll() is not None:
            return self.process.returncode
        self.process.send_signal(signal.SIGCONT)
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(START_TIMEOUT_S)
            return None

    def rss_kib(self) -> int | None:
        return rss_kib(self.process.pid) if self.process is not None else None


def base_env(run_dir: Path) -> dict[str, str]:
    """Everything a child needs, with user directories inside the run directory and no
    proxy settings (all traffic stays on 127.0.0.1)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.lower().endswith("_proxy") and not key.startswith("SYNCWATCH_")
    }
    env.update(
        PYTHONUNBUFFERED="1",
        HOME=str(run_dir / "home"),
        XDG_CONFIG_HOME=str(run_dir / "home" / "config"),
        XDG_STATE_HOME=str(run_dir / "home" / "state"),
        XDG_DATA_HOME=str(run_dir / "home" / "data"),
        XDG_CACHE_HOME=str(run_dir / "home" / "cache"),
        XDG_RUNTIME_DIR=str(run_dir / "home" / "runtime"),
    )
    runtime = run_dir / "home" / "runtime"
    runtime.mkdir(parents=True, exist_ok=True)
    runtime.chmod(0o700)
    return env
