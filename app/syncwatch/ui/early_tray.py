"""A tray icon shown before the rest of the app is imported, so users see it at once.

Importing the engine, the store and the hub (asyncio, websockets, peewee) costs ~250 ms
here, which alone would miss the half-second start-up target. main.py can show this
"starting" icon first, right after the QApplication exists, and hand it to
:class:`~syncwatch.ui.tray.CompactSyncIndicator` (via ``Faces(tray_icon=...)``), which
adopts it: the icon then never flickers or moves in the panel. Only PySide6 and the icon
code are imported here.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QCoreApplication, QEventLoop
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QSystemTrayIcon

from syncwatch.ui.icons import IconFactory
from syncwatch.ui.looks import FaceState

STARTING_TOOLTIP = "Syncwatch — Starting…"


def show_starting_icon(
    icons: IconFactory | None = None, *, wait_docked_s: float = 0.5
) -> QSystemTrayIcon:
    """The "connecting" look with a "starting" tooltip, shown if the desktop has a tray.

    The tray host embeds the icon through X events, which Qt handles only while it
    processes events: so this processes them (for at most ``wait_docked_s``) until the icon
    is docked, before the caller goes on importing for a quarter of a second."""
    factory = icons or IconFactory()
    screen = QGuiApplication.primaryScreen()
    dpr = screen.devicePixelRatio() if screen is not None else 1.0
    tray = QSystemTrayIcon(factory.icon(FaceState.DISCONNECTED, dpr=dpr))
    tray.setToolTip(STARTING_TOOLTIP)
    if QSystemTrayIcon.isSystemTrayAvailable():
        tray.show()
        deadline = time.monotonic() + wait_docked_s
        while tray.geometry().x() <= 0 and time.monotonic() < deadline:
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)
            time.sleep(0.002)
    return tray
