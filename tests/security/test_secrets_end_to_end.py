"""Tokens never leave their files: not in any log, any database, or the settings file.

The unit tests check each logger on its own (tests/hub/test_http.py, the client's). This
one runs the real programs as a user would - a hub subprocess at DEBUG, the desktop app
with ``--verbose`` - feeds them tokens every way the protocol allows (``Bearer``,
``?token=`` in the app's hub URL, wrong tokens that get 401) and then searches every
byte the run left on disk.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from syncwatch.client.reporter import Reporter
from tests.support.hubproc import hub_process
from tests.support.keyring import missing_tools, private_bus

pytestmark = pytest.mark.slow

_TOKENS = {
    "publisher": "pub-SECRET-0a1b2c3d4e",
    "viewer_url": "viewurl-SECRET-5f6a7b8c",
    "viewer_file": "viewfile-SECRET-9d0e1f2a",
}
_WRONG = ("wrong-SECRET-bearer-77", "wrong-SECRET-query-88")


def _token_file(tmp_path: Path) -> Path:
    path = tmp_path / "hub-tokens"
    path.write_text(
        f"publisher {_TOKENS['publisher']}\n"
        f"viewer {_TOKENS['viewer_url']}\nviewer {_TOKENS['viewer_file']}\n"
    )
    path.chmod(0o600)
    return path


async def _exercise_hub(url: str) -> None:
    async with Reporter(url, _TOKENS["publisher"], source="audit") as reporter:
        for n in range(5):
            await reporter.update(operation_id=f"op-{n}", operation_type="upload",
                                  status="in_progress", progress=10.0 * n, wait=True)  # fmt: skip
    for headers, query in (({"Authorization": f"Bearer {_WRONG[0]}"}, ""),
                           ({}, f"?token={_WRONG[1]}")):  # fmt: skip
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url + "/v1/subscribe" + query, additional_headers=headers,
                               proxy=None):  # fmt: skip
                pass
        assert refused.value.response.status_code == 401


def _wait_for_connected(history: Path, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if history.exists():
            try:
                with sqlite3.connect(f"file:{history}?mode=ro", uri=True) as db:
                    rows = db.execute(
                        "SELECT count(*) FROM connection_status WHERE state = 'connected'"
                    ).fetchone()
                if rows[0]:
                    return
            except sqlite3.Error:
                pass
        time.sleep(0.2)
    raise AssertionError("the app did not connect to the hub")


def test_no_token_reaches_a_log_a_database_or_the_settings(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_STATE_HOME=str(home / "state"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_RUNTIME_DIR=str(home / "runtime"),
        PYTHONUNBUFFERED="1",
    )
    (home / "runtime").mkdir(parents=True)
    (home / "runtime").chmod(0o700)
    app_token = tmp_path / "app-token"
    app_token.write_text(_TOKENS["viewer_file"])
    app_token.chmod(0o600)
    data_dir = tmp_path / "app-data"
    with hub_process(tmp_path / "hub-data",
                     args=("--token-file", str(_token_file(tmp_path)), "--log-level", "DEBUG"),
                     ) as hub:  # fmt: skip
        asyncio.run(_exercise_hub(hub.url))
        app_log = tmp_path / "app-output.log"
        with app_log.open("wb") as output:
            app = subprocess.Popen(
                [sys.executable, "-m", "syncwatch.cli",
                 "--hub", f"{hub.url}/v1/subscribe?token={_TOKENS['viewer_url']}",
                 "--token-file", str(app_token), "--data-dir", str(data_dir), "--verbose"],
                stdout=output, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
        try:
            _wait_for_connected(data_dir / "history.db")
        finally:
            app.send_signal(signal.SIGTERM)
            assert app.wait(30) == 0
        hub_log = hub.log_text()
    assert "401" in hub_log or "refused" in hub_log.lower()  # the wrong tokens were logged...
    leaks = []
    for path in [*tmp_path.rglob("*")]:
        if not path.is_file() or path in (app_token, tmp_path / "hub-tokens"):
            continue
        data = path.read_bytes()
        leaks += [f"{path.relative_to(tmp_path)}: {name}"
                  for name, token in [*_TOKENS.items(), *(("wrong", w) for w in _WRONG)]
                  if token.encode() in data]  # fmt: skip
    assert not leaks  # ...but no token, right or wrong, is anywhere on disk
    settings_files = (
        list((data_dir / "config").rglob("*")) if (data_dir / "config").exists() else []
    )
    for path in settings_files:
        if path.is_file() and "token" in path.name:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


@pytest.mark.skipif(bool(missing_tools()), reason=f"needs {', '.join(missing_tools())}")
def test_a_token_in_the_desktop_keyring_connects_the_app_and_never_touches_the_disk(
    tmp_path: Path,
) -> None:
    """The saved token, put in the keyring with libsecret's own ``secret-tool`` as the
    README shows (how an administrator could provision it), is what the app connects
    with; no file the run wrote holds it, the settings file included."""
    data_dir = tmp_path / "app-data"
    with (
        private_bus(tmp_path / "session") as keyring,
        hub_process(
            tmp_path / "hub-data", args=("--token-file", str(_token_file(tmp_path)))
        ) as hub,
    ):
        keyring.start_keyring()
        # The README's command, as written there.
        readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
        command = re.search(r"`secret-tool (store [^`]+)`", readme)
        assert command is not None, "README.md no longer shows how to store the token"
        stored = keyring.secret_tool(*shlex.split(command.group(1)), stdin=_TOKENS["viewer_file"])
        assert stored.returncode == 0, stored.stderr
        (data_dir / "config").mkdir(parents=True)
        (data_dir / "config" / "syncwatch.ini").write_text(f"[General]\nhub_url={hub.url}\n")
        env = {**keyring.environ(), "QT_QPA_PLATFORM": "offscreen", "PYTHONUNBUFFERED": "1"}
        with (tmp_path / "app-output.log").open("wb") as output:
            app = subprocess.Popen(
                [sys.executable, "-m", "syncwatch.cli", "--data-dir", str(data_dir), "--verbose"],
                stdout=output, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
        try:
            _wait_for_connected(data_dir / "history.db")
        finally:
            app.send_signal(signal.SIGTERM)
            assert app.wait(30) == 0
    assert not (data_dir / "config" / "token").exists()
    secret = _TOKENS["viewer_file"].encode()
    leaks = [
        str(path.relative_to(tmp_path))
        for path in tmp_path.rglob("*")
        if path.is_file()
        and path != tmp_path / "hub-tokens"
        and "keyrings" not in path.parts  # GNOME Keyring's own (encrypted) store
        and secret in path.read_bytes()
    ]
    assert not leaks
