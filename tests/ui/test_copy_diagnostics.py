""" "Copy diagnostics" from the tray menu and the admin panel, wired as main.py wires it: the
report lands on the clipboard with the versions and without any token, and the user is told
where they asked."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import pytest
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from syncwatch.diagnostics import REDACTED
from syncwatch.main import connect_copy_diagnostics
from syncwatch.qt.settings import Settings
from syncwatch.ui.faces import DIAGNOSTICS_TITLE, Faces
from tests.ui.harness import LiveModel

#: The saved token (Settings keeps it in its own file).
SAVED_TOKEN = "saved-T0ken-4f9a1c"
#: A token held only in memory, as the embedded hub's or --token-file's is.
RUNNING_TOKEN = "running-T0ken-77b2e0"
NOW = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    """A log whose lines hold the tokens in shapes the name-based redaction cannot see."""
    path = tmp_path / "log" / "syncwatch.log"
    path.parent.mkdir()
    path.write_text(
        "2026-12-03 14:00:00 INFO    syncwatch: syncwatch ready\n"
        f"2026-12-03 14:00:01 DEBUG   x: Authorization: Bearer {RUNNING_TOKEN}\n"
        f"2026-12-03 14:00:02 DEBUG   x: header {SAVED_TOKEN}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def faces(live: LiveModel, settings: Settings, log_file: Path) -> Iterator[Faces]:
    settings.set("token", SAVED_TOKEN)
    settings.set("floating_visible", False)
    built = Faces(live.model, settings, tray_available=lambda: True)
    connect_copy_diagnostics(
        built,
        settings,
        log_file,
        known_secrets=[RUNNING_TOKEN],
        environment={"XDG_SESSION_TYPE": "x11", "HOME": "/home/someone"},
        now=lambda: NOW,
    )
    tray_messages: list[tuple[str, str]] = []
    built.tray.show_info = lambda title, text: tray_messages.append((title, text))  # type: ignore[method-assign]
    built.tray_messages = tray_messages  # type: ignore[attr-defined]
    QGuiApplication.clipboard().setText("nothing copied yet")
    try:
        yield built
    finally:
        built.close()
        QApplication.processEvents()


def _clipboard() -> str:
    return QGuiApplication.clipboard().text()


def _wait_for_report(qtbot: QtBot) -> str:
    qtbot.waitUntil(lambda: _clipboard().startswith("## Syncwatch diagnostics"), timeout=10_000)
    return _clipboard()


def _assert_safe_report(report: str, log_file: Path) -> None:
    assert report.startswith("## Syncwatch diagnostics (2026-12-03T14:00:00+00:00)")
    assert f"- syncwatch: {version('syncwatch')}" in report
    assert "- PySide6-Essentials: " in report
    assert "- XDG_SESSION_TYPE=x11" in report
    assert "/home/someone" not in report
    assert "- tray_icon_set: 'colour'" in report
    assert f"- token: '{REDACTED}'" in report
    assert f"### Log (last 3 lines of {log_file})" in report
    assert "syncwatch: syncwatch ready" in report
    assert f"Authorization: Bearer {REDACTED}" in report
    assert SAVED_TOKEN not in report
    assert RUNNING_TOKEN not in report


def test_tray_menu_copies_the_report_and_says_so_in_a_tray_message(
    faces: Faces, log_file: Path, qtbot: QtBot
) -> None:
    texts = [a.text() for a in faces.tray.menu.actions() if a.text()]
    assert texts.index("Copy diagnostics") == texts.index("Settings…") + 1

    faces.tray.action_diagnostics.trigger()
    report = _wait_for_report(qtbot)
    _assert_safe_report(report, log_file)
    qtbot.waitUntil(lambda: len(faces.tray_messages) == 1)  # type: ignore[attr-defined]
    title, text = faces.tray_messages[0]  # type: ignore[attr-defined]
    assert title == DIAGNOSTICS_TITLE
    assert "copied to the clipboard" in text
    assert not faces.dashboard_built  # a tray-only user is not shown a window for it


def test_admin_panel_button_copies_the_report_and_says_so_beside_it(
    faces: Faces, log_file: Path, qtbot: QtBot
) -> None:
    admin = faces.dashboard.admin
    admin.diagnostics_button.click()
    report = _wait_for_report(qtbot)
    _assert_safe_report(report, log_file)
    qtbot.waitUntil(lambda: "copied to the clipboard" in admin.diagnostics_status.text())
    assert admin.diagnostics_status.styleSheet() == ""
    assert faces.tray_messages == []  # type: ignore[attr-defined]


def test_a_log_that_cannot_be_read_is_reported_not_copied(
    live: LiveModel, settings: Settings, tmp_path: Path, qtbot: QtBot
) -> None:
    faces = Faces(live.model, settings, tray_available=lambda: True)
    try:
        connect_copy_diagnostics(faces, settings, tmp_path)  # a directory, not a log file
        QGuiApplication.clipboard().setText("left alone")
        admin = faces.dashboard.admin
        admin.diagnostics_button.click()
        qtbot.waitUntil(lambda: "Could not collect" in admin.diagnostics_status.text())
        assert admin.diagnostics_status.styleSheet() != ""  # in red
        assert _clipboard() == "left alone"
    finally:
        faces.close()


def test_screenshot_of_the_admin_panel_after_copying(
    faces: Faces, qtbot: QtBot, artifacts_dir: Path
) -> None:
    window = faces.dashboard
    window.resize(1280, 800)
    window.show_tab("admin")
    window.show()
    qtbot.waitExposed(window)
    window.admin.diagnostics_button.click()
    _wait_for_report(qtbot)
    qtbot.waitUntil(lambda: "copied" in window.admin.diagnostics_status.text())
    window.admin.ensureWidgetVisible(window.admin.diagnostics_button)
    QApplication.processEvents()
    qtbot.wait(50)
    image = window.grab()
    assert image.save(str(artifacts_dir / "admin-copy-diagnostics.png"))
    assert image.width() == 1280
    window.hide()
