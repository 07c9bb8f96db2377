"""The tray icon on a real X server with a real system tray (Xvfb + trayer), clicked with
xdotool as a user would, and a screenshot of the tray area."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QSystemTrayIcon
from pytestqt.qtbot import QtBot

from syncwatch.qt.settings import Settings
from syncwatch.ui.early_tray import STARTING_TOOLTIP, show_starting_icon
from syncwatch.ui.faces import Faces
from syncwatch.ui.icons import IconFactory
from syncwatch.ui.presenter import FaceState
from syncwatch.ui.tray import CompactSyncIndicator
from tests.support.xserver import VirtualDisplay
from tests.ui.harness import LiveModel, upd

pytestmark = pytest.mark.tray


def _xdotool(display: VirtualDisplay, *args: str) -> None:
    env = dict(os.environ, DISPLAY=display.name)
    subprocess.run(["xdotool", *args], env=env, check=True, capture_output=True, timeout=10)


def _docked(tray: CompactSyncIndicator, qtbot: QtBot) -> None:
    """Wait until the tray host embedded the icon (its geometry reads 0,0 until then)."""
    qtbot.waitUntil(lambda: tray.tray.geometry().x() > 0, timeout=10_000)


def test_icon_docks_and_clicks_open_dashboard_and_menu(
    x_display: VirtualDisplay,
    live: LiveModel,
    settings: Settings,
    qtbot: QtBot,
    artifacts_dir: Path,
) -> None:
    assert QSystemTrayIcon.isSystemTrayAvailable()
    settings.set("floating_visible", False)
    faces = Faces(live.model, settings)
    tray = faces.tray
    assert faces.start()
    _docked(tray, qtbot)
    geometry = tray.tray.geometry()
    assert geometry.width() >= 16

    live.publish([upd("a", 20), upd("b", 60), upd("c", 5)])
    qtbot.waitUntil(lambda: tray.presentation is not None and tray.presentation.badge == 3)
    assert tray.presentation.state is FaceState.SYNCING
    qtbot.wait(200)  # let the tray host repaint the new icon
    shot = QGuiApplication.primaryScreen().grabWindow(0)
    area = shot.copy(shot.width() - 200, 0, 200, 48)
    assert area.save(str(artifacts_dir / "tray-area-syncing.png"))
    zoomed = area.scaled(area.width() * 3, area.height() * 3)  # for a person to inspect
    assert zoomed.save(str(artifacts_dir / "tray-area-syncing-x3.png"))
    # the icon's pixels are the syncing blue, not the tray's background
    image = shot.toImage()
    centre = geometry.center()
    colours = {
        image.pixelColor(centre.x() + dx, centre.y() + dy).name()
        for dx in range(-6, 7, 3)
        for dy in range(-6, 7, 3)
    }
    assert len(colours) > 2

    cx, cy = str(centre.x()), str(centre.y())
    assert not faces.dashboard_built
    _xdotool(x_display, "mousemove", cx, cy, "click", "1")
    qtbot.waitUntil(lambda: faces.dashboard_built and faces.dashboard.isVisible(), timeout=5000)
    faces.dashboard.hide()

    _xdotool(x_display, "mousemove", cx, cy, "click", "3")
    qtbot.waitUntil(tray.menu.isVisible, timeout=5000)
    menu_shot = QGuiApplication.primaryScreen().grabWindow(0)
    menu_geometry = tray.menu.geometry().adjusted(-4, -4, 4, 4)
    assert menu_shot.copy(menu_geometry).save(str(artifacts_dir / "tray-menu.png"))
    tray.menu.hide()
    faces.close()
    QApplication.processEvents()


def test_starting_icon_docks_early_and_is_adopted(
    x_display: VirtualDisplay, live: LiveModel, qtbot: QtBot
) -> None:
    early = show_starting_icon()
    assert early.geometry().x() > 0  # docked before returning
    assert early.toolTip() == STARTING_TOOLTIP
    tray = CompactSyncIndicator(live.model, IconFactory(), tray_icon=early)
    assert tray.tray is early
    assert tray.start()
    assert early.toolTip().startswith("Syncwatch — Up to date")
    assert early.contextMenu() is tray.menu
    tray.hide()
