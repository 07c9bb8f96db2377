"""The real `syncwatch` program, launched as a user would, asserted on what it logs and leaves.

These run the installed console script in a child process against the session's virtual X
server (tests/conftest.py), with its own data directory.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

SYNCWATCH = str(Path(sys.executable).parent / "syncwatch")


def app_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    env["PYTHONWARNINGS"] = "error"
    return env


def wait_for_line(
    log_file: Path, proc: subprocess.Popen[bytes], needle: str, timeout: float
) -> None:
    """Wait until the child's stderr (redirected to log_file) has a line containing needle."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log_file.read_text(encoding="utf-8", errors="replace")
        if needle in text:
            return
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"no line with {needle!r} within {timeout} s; got:\n{text}")


def test_version_prints_and_exits_zero() -> None:
    out = subprocess.run([SYNCWATCH, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("syncwatch ")


def test_bad_option_is_refused_with_a_message() -> None:
    out = subprocess.run([SYNCWATCH, "--hub"], capture_output=True, text=True, check=False)
    assert out.returncode == 2
    assert "--hub" in out.stderr


def test_bad_hub_url_is_refused_with_a_message(tmp_path: Path) -> None:
    out = subprocess.run(
        [SYNCWATCH, "--hub", "ftp://example", "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        check=False,
        env=app_env(tmp_path),
        timeout=60,
    )
    assert out.returncode == 2
    assert "ws://" in out.stderr


def test_self_check_passes_against_the_embedded_hub(tmp_path: Path) -> None:
    out = subprocess.run(
        [SYNCWATCH, "--self-check", "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        check=False,
        env=app_env(tmp_path),
        timeout=90,
    )
    assert out.returncode == 0, out.stderr
    assert "self-check passed" in out.stdout


@pytest.mark.slow
def test_app_with_demo_runs_records_history_and_quits_cleanly_on_sigterm(tmp_path: Path) -> None:
    data = tmp_path / "data"
    log_file = tmp_path / "stderr.log"
    with log_file.open("wb") as stderr:
        proc = subprocess.Popen(
            [SYNCWATCH, "--demo", "--verbose", "--data-dir", str(data)],
            stderr=stderr,
            stdout=subprocess.DEVNULL,
            env=app_env(tmp_path),
        )
    try:
        wait_for_line(log_file, proc, "tray icon docked", timeout=30)
        wait_for_line(log_file, proc, "history committed", timeout=30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert "stopped cleanly" in log_file.read_text(encoding="utf-8")
        assert "Traceback" not in log_file.read_text(encoding="utf-8")
        # The embedded hub is on loopback: no reachability backend is loaded for it.
        assert "network reachability: not watched" in log_file.read_text(encoding="utf-8")
    finally:
        if proc.poll() is None:
            proc.kill()
    with sqlite3.connect(data / "history.db") as db:
        operations = db.execute("SELECT COUNT(*) FROM sync_operations").fetchone()[0]
        check = db.execute("PRAGMA integrity_check").fetchone()[0]
    assert operations > 0
    assert check == "ok"


def _dashboard_windows(env: dict[str, str]) -> list[str]:
    """Window ids of visible top-level windows named exactly "Syncwatch" (the dashboard)."""
    out = subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--name", "^Syncwatch$"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    return out.stdout.split()


def test_a_second_launch_raises_the_first_ones_dashboard_and_exits(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = app_env(tmp_path)
    log_file = tmp_path / "stderr.log"
    with log_file.open("wb") as stderr:
        first = subprocess.Popen(
            [SYNCWATCH, "--data-dir", str(data)], stderr=stderr, stdout=subprocess.DEVNULL, env=env
        )
    try:
        app_log = tmp_path / "state" / "syncwatch" / "log" / "syncwatch.log"
        deadline = time.monotonic() + 60
        while not app_log.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        wait_for_line(app_log, first, "syncwatch ready", timeout=60)
        assert _dashboard_windows(env) == [], "the dashboard is not open at start"
        second = subprocess.run(
            [SYNCWATCH, "--data-dir", str(data)],
            capture_output=True,
            text=True,
            check=False,
            env=env,
            timeout=60,
        )
        assert second.returncode == 0, second.stderr
        assert "already running; its dashboard was raised" in second.stderr
        deadline = time.monotonic() + 10
        while not _dashboard_windows(env) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _dashboard_windows(env), "the first instance did not show its dashboard"
        assert first.poll() is None, "the first instance must keep running"
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0
    # A clean exit removes the socket; the next start listens anew.
    assert "Traceback" not in log_file.read_text(encoding="utf-8")


def test_a_second_launch_while_the_first_is_starting_waits_for_it(tmp_path: Path) -> None:
    """A launcher clicked twice: the second process finds the instance lock taken before
    the first one listens, and waits for it instead of giving up. The lock is held here
    first, so that the window is wide open: the real instance starts only afterwards."""
    from syncwatch.client.store.lock import acquire_instance_lock

    data = tmp_path / "data"
    data.mkdir()
    env = app_env(tmp_path)
    held = acquire_instance_lock(data)
    assert held is not None
    second = subprocess.Popen(
        [SYNCWATCH, "--data-dir", str(data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    first: subprocess.Popen[bytes] | None = None
    try:
        time.sleep(1.5)  # the second one has found the lock taken and nobody listening
        assert second.poll() is None, "the second launch gave up at once"
        held.release()
        first = subprocess.Popen(
            [SYNCWATCH, "--data-dir", str(data)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        _, stderr = second.communicate(timeout=60)
        assert second.returncode == 0, stderr
        assert "already running; its dashboard was raised" in stderr
    finally:
        if second.poll() is None:
            second.kill()
        if first is not None:
            first.send_signal(signal.SIGTERM)
            assert first.wait(timeout=30) == 0
