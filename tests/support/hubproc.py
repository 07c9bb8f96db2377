"""Start a real hub for a test: in-process on a background loop, or as a child process.

``running_hub(tmp_path)`` runs the hub's asyncio loop in a thread, so that sync tests and
Qt tests (whose main thread runs Qt) can talk to it over loopback; ``hub.call(coro)``
runs a coroutine on the hub's loop. ``hub_process(data_dir)`` runs ``python -m
syncwatch.hub`` so that a test can kill -9 it and start it again on the same data.

    with running_hub(tmp_path, tokens={"s3cr3t": Role.PUBLISHER}) as hub:
        connect(hub.url + "/v1/subscribe?token=s3cr3t")
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Coroutine, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from syncwatch.hub import Hub, HubConfig, Role

T = TypeVar("T")

START_TIMEOUT_S = 20.0


@dataclass
class RunningHub:
    """An in-process hub and the loop thread it runs on."""

    hub: Hub
    loop: asyncio.AbstractEventLoop
    data_dir: Path

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:PORT`` (add /v1/subscribe or /v1/publish)."""
        return self.hub.url

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
        """Run a coroutine on the hub's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


@contextlib.contextmanager
def running_hub(
    tmp_path: Path,
    *,
    tokens: Mapping[str, Role] | None = None,
    data_dir: Path | None = None,
    **options: Any,
) -> Iterator[RunningHub]:
    """A hub on 127.0.0.1, a free port, a data dir under ``tmp_path``; ``options`` are
    further HubConfig fields. Stopped cleanly on exit."""
    config = HubConfig(
        data_dir=data_dir if data_dir is not None else tmp_path / "hub-data",
        port=0,
        tokens=dict(tokens or {}),
        **options,
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="test-hub-loop", daemon=True)
    thread.start()
    hub = Hub(config)
    try:
        asyncio.run_coroutine_threadsafe(hub.start(), loop).result(START_TIMEOUT_S)
        yield RunningHub(hub, loop, config.data_dir)
    finally:
        try:
            stopped: Future[None] = asyncio.run_coroutine_threadsafe(hub.stop(), loop)
            stopped.result(START_TIMEOUT_S)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(START_TIMEOUT_S)
            loop.close()


@dataclass
class HubProcess:
    """A hub running as ``python -m syncwatch.hub`` (see :func:`hub_process`)."""

    process: subprocess.Popen[str]
    url: str
    log_path: Path

    def kill(self) -> None:
        """kill -9: no clean shutdown, no flush: what a crash or power-off looks like."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(START_TIMEOUT_S)

    def terminate(self) -> int:
        """SIGTERM, then the exit code of the clean shutdown."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(START_TIMEOUT_S)

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


_LISTENING = re.compile(r"listening on (wss?://\S+)")


@contextlib.contextmanager
def hub_process(
    data_dir: Path,
    *,
    args: tuple[str, ...] = (),
    log_path: Path | None = None,
) -> Iterator[HubProcess]:
    """Run a hub child process on a free port of 127.0.0.1 with its log in ``data_dir``.

    Waits until it prints the URL it listens on; SIGKILLed on exit if still running.
    ``args`` adds command-line options (``--token-file``, ``--tls-cert``...)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_path or data_dir.parent / f"{data_dir.name}-hub.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "syncwatch.hub", "--port", "0", "--data", str(data_dir), *args]
    with log_path.open("a", encoding="utf-8") as log_file:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=log_file, text=True, env=env
        )
    try:
        url = _wait_for_url(process, log_path)
        yield HubProcess(process, url, log_path)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(START_TIMEOUT_S)
        assert process.stdout is not None
        process.stdout.close()


def _wait_for_url(process: subprocess.Popen[str], log_path: Path) -> str:
    assert process.stdout is not None
    found: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        line = process.stdout.readline()
        found.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(START_TIMEOUT_S)
    match = _LISTENING.search(found[0]) if found else None
    if match is None:
        process.kill()
        process.wait(START_TIMEOUT_S)
        log = log_path.read_text(encoding="utf-8", errors="replace")
        raise RuntimeError(f"the hub did not start (exit {process.returncode}):\n{log}")
    return match.group(1)
