"""Logging set-up and the "copy diagnostics" report: what a user pastes into an issue."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syncwatch import diagnostics
from syncwatch.diagnostics import REDACTED

NOW = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
SECRET = "s3cr3t-T0ken"


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.setLevel(level)
    assert root.handlers == handlers, "setup_logging's handlers were not closed"


@pytest.mark.usefixtures("restore_root_logger")
def test_default_run_logs_info_to_the_file_and_only_warnings_to_the_terminal(
    tmp_path: Path,
) -> None:
    stream = io.StringIO()
    setup = diagnostics.setup_logging(verbose=False, log_dir=tmp_path / "log", stream=stream)
    try:
        log = logging.getLogger("syncwatch.test")
        log.debug("debug detail")
        log.info("connected to hub")
        log.warning("hub unreachable")
    finally:
        setup.close()
    assert setup.log_file == tmp_path / "log" / "syncwatch.log"
    text = setup.log_file.read_text(encoding="utf-8")
    assert "connected to hub" in text
    assert "hub unreachable" in text
    assert "debug detail" not in text
    assert "WARNING syncwatch.test: hub unreachable" in stream.getvalue()
    assert "connected to hub" not in stream.getvalue()


@pytest.mark.usefixtures("restore_root_logger")
def test_verbose_logs_debug_everywhere_but_keeps_websockets_frames_out(tmp_path: Path) -> None:
    stream = io.StringIO()
    setup = diagnostics.setup_logging(verbose=True, log_dir=tmp_path, stream=stream)
    try:
        logging.getLogger("syncwatch.test").debug("debug detail")
        logging.getLogger("websockets.client").debug("> TEXT frame")
    finally:
        setup.close()
    assert setup.log_file is not None
    assert "debug detail" in setup.log_file.read_text(encoding="utf-8")
    assert "debug detail" in stream.getvalue()
    assert "TEXT frame" not in stream.getvalue()


@pytest.mark.usefixtures("restore_root_logger")
def test_the_log_file_rotates_instead_of_growing(tmp_path: Path) -> None:
    setup = diagnostics.setup_logging(verbose=False, log_dir=tmp_path, stream=io.StringIO())
    try:
        line = "x" * 1000
        for _ in range(diagnostics.LOG_MAX_BYTES // 1000 * (diagnostics.LOG_BACKUPS + 2)):
            logging.getLogger("syncwatch.test").info(line)
    finally:
        setup.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["syncwatch.log"] + [f"syncwatch.log.{i}" for i in range(1, 6)]
    assert all(p.stat().st_size <= diagnostics.LOG_MAX_BYTES for p in tmp_path.iterdir())


@pytest.mark.usefixtures("restore_root_logger")
def test_an_unusable_log_directory_does_not_stop_the_app(tmp_path: Path) -> None:
    blocker = tmp_path / "log"
    blocker.write_text("a file where the log folder should be", encoding="utf-8")
    stream = io.StringIO()
    setup = diagnostics.setup_logging(verbose=False, log_dir=blocker / "sub", stream=stream)
    setup.close()
    assert setup.log_file is None
    assert "no log file, logging to stderr only" in stream.getvalue()


def test_default_log_dir_is_the_platform_log_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", "/tmp/state-home")
    assert diagnostics.default_log_dir() == Path("/tmp/state-home/syncwatch/log")


def test_settings_lose_their_secrets_but_keep_everything_else() -> None:
    settings = {
        "hub_url": f"wss://hub.example:8443/v1/subscribe?token={SECRET}&room=a",
        "token": SECRET,
        "hub_password": "",
        "ping_interval_s": 10.0,
        "proxy": {"url": f"http://user:{SECRET}@proxy:3128", "api_key": SECRET},
        "notes": f"remember password={SECRET} please",
    }
    safe = diagnostics.redact_settings(settings)
    assert SECRET not in repr(safe)
    assert safe["token"] == REDACTED
    assert safe["hub_password"] == "<not set>"
    assert safe["ping_interval_s"] == 10.0
    assert safe["hub_url"] == f"wss://hub.example:8443/v1/subscribe?token={REDACTED}&room=a"
    assert safe["proxy"] == {"url": f"http://user:{REDACTED}@proxy:3128", "api_key": REDACTED}


def test_log_tail_reaches_into_the_rotated_file(tmp_path: Path) -> None:
    log = tmp_path / "syncwatch.log"
    (tmp_path / "syncwatch.log.1").write_text("".join(f"old {i}\n" for i in range(10)))
    log.write_text("new 0\nnew 1\n", encoding="utf-8")
    assert diagnostics.read_log_tail(log, 4) == ["old 8", "old 9", "new 0", "new 1"]
    assert diagnostics.read_log_tail(log, 0) == []
    assert diagnostics.read_log_tail(tmp_path / "missing.log", 5) == []


def test_log_tail_of_a_big_file_reads_only_its_end(tmp_path: Path) -> None:
    log = tmp_path / "syncwatch.log"
    log.write_text("".join(f"line {i:06d}\n" for i in range(100_000)), encoding="utf-8")
    tail = diagnostics.read_log_tail(log, 3, max_bytes=4096)
    assert tail == ["line 099997", "line 099998", "line 099999"]
    assert all(line.startswith("line ") for line in diagnostics.read_log_tail(log, 999, 4096))


def test_report_has_versions_desktop_settings_and_redacted_log(tmp_path: Path) -> None:
    log = tmp_path / "syncwatch.log"
    log.write_text(
        "2026-12-03 INFO syncwatch.client: connected\n"
        f'2026-12-03 DEBUG x: {{"token": "{SECRET}"}}\n',
        encoding="utf-8",
    )
    report = diagnostics.collect_diagnostics(
        {"hub_url": "ws://127.0.0.1:8765", "token": SECRET},
        log,
        now=NOW,
        environment={"XDG_SESSION_TYPE": "wayland", "XDG_CURRENT_DESKTOP": "GNOME", "HOME": "/h"},
    )
    assert SECRET not in report
    assert report.startswith("## Syncwatch diagnostics (2026-12-03T14:00:00+00:00)")
    for name in ("Python", "PySide6-Essentials", "websockets", "peewee", "pyqtgraph", "OS"):
        assert f"- {name}: " in report
    assert "- syncwatch: " in report
    assert "- XDG_SESSION_TYPE=wayland" in report
    assert "HOME" not in report  # only the variables that decide how Qt meets the desktop
    assert "- hub_url: 'ws://127.0.0.1:8765'" in report
    assert f"- token: '{REDACTED}'" in report
    assert f"### Log (last 2 lines of {log})" in report
    assert "syncwatch.client: connected" in report


def test_report_names_the_qt_that_is_loaded() -> None:
    from PySide6.QtCore import qVersion

    assert diagnostics.runtime_versions()["Qt"] == qVersion()
    assert diagnostics.package_versions(["no-such-dist-xyz"]) == {
        "no-such-dist-xyz": "not installed"
    }


def test_report_without_a_log_file_says_so() -> None:
    report = diagnostics.collect_diagnostics({}, None, now=NOW, environment={})
    assert "### Log (last 0 lines of no log file)" in report
    assert "(none of the usual variables set)" in report


def test_tokens_in_use_are_removed_wherever_they_appear(tmp_path: Path) -> None:
    log = tmp_path / "syncwatch.log"
    log.write_text(f"2026-12-03 DEBUG x: Authorization: Bearer {SECRET}\n", encoding="utf-8")
    report = diagnostics.collect_diagnostics(
        {"notes": f"pasted {SECRET} here"},
        log,
        now=NOW,
        environment={},
        known_secrets=[SECRET, "diag"],
    )
    assert SECRET not in report
    assert f"Authorization: Bearer {REDACTED}" in report
    assert f"- notes: 'pasted {REDACTED} here'" in report
    assert "## Syncwatch diagnostics" in report  # "diag" is too short to hunt for
