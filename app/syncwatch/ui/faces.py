"""Faces: the three faces built and wired to each other, for main.py to own as one piece.

The faces never call each other: each emits intents (open the dashboard, toggle the
floating widget, no tray here...) and this object, a small composition root for the UI
layer, routes them. main.py builds one ``Faces(model, settings)``, calls :meth:`start`
and connects ``quitRequested`` to its shutdown. To show the icon within half a second of
launch, main.py can call :func:`syncwatch.ui.early_tray.show_starting_icon` right after
creating the QApplication (before importing the engine, ~250 ms) and pass that icon here
as ``tray_icon``. The tray falls back to the floating widget
with a visible notice when the desktop has no system tray, so the app never vanishes.

Signals:
    quitRequested(): the user chose Quit (main shuts down cleanly).
    autostartRequested(bool): the user switched "start at login" (main writes the XDG
        entry with syncwatch.desktop, then calls :meth:`Faces.show_autostart`).
    diagnosticsRequested(): "Copy diagnostics" in the tray menu or the admin panel (main
        builds the report, puts it on the clipboard, then calls
        :meth:`Faces.show_diagnostics_result`, which answers where the user asked).

The tray's icon set follows the ``tray_icon_set`` setting live, like the palette follows
``theme``: both are settings of the faces alone, so this object applies them when
``Settings.changed`` says they were saved, and "auto" is re-resolved when the desktop's
colour scheme changes.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final, Literal

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QSystemTrayIcon

from syncwatch.ui.floating import FloatingSyncStatus
from syncwatch.ui.icons import IconFactory, IconTheme, icon_theme_for
from syncwatch.ui.source import Clock
from syncwatch.ui.theme import ThemeWatcher, system_prefers_dark
from syncwatch.ui.tray import CompactSyncIndicator

if TYPE_CHECKING:
    from collections.abc import Callable

    from syncwatch.qt.model import SyncStateModel
    from syncwatch.qt.settings import Settings
    from syncwatch.ui.dashboard.window import SyncStatusIndicators


#: The title of the tray message that answers "Copy diagnostics".
DIAGNOSTICS_TITLE: Final = "Syncwatch diagnostics"


class Faces(QObject):
    """Tray, floating widget and dashboard over one model (see module doc)."""

    quitRequested = Signal()  # noqa: N815
    autostartRequested = Signal(bool)  # noqa: N815
    diagnosticsRequested = Signal()  # noqa: N815

    def __init__(
        self,
        model: SyncStateModel,
        settings: Settings,
        *,
        clock: Clock = time.time,
        tray_available: Callable[[], bool] | None = None,
        tray_icon: QSystemTrayIcon | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._settings = settings
        #: Light/dark palette following the setting and the system.
        self.theme = ThemeWatcher(str(settings.get("theme")), self)
        self.icons = IconFactory()
        self.tray = CompactSyncIndicator(
            model,
            self.icons,
            clock=clock,
            theme=self._icon_set(),
            tray_available=tray_available or QSystemTrayIcon.isSystemTrayAvailable,
            tray_icon=tray_icon,
            parent=self,
        )
        self.floating = FloatingSyncStatus(model, settings, clock=clock)
        #: Built on first use: the tray-only app should not pay for the dashboard.
        self._dashboard: SyncStatusIndicators | None = None
        #: The autostart state main.py reported last (shown when the dashboard is built).
        self._autostart: tuple[bool, str] | None = None
        self._model = model
        self._clock = clock
        #: Which face asked for diagnostics last: the answer is shown there.
        self._diagnostics_asked_by: Literal["tray", "admin"] = "tray"
        self.tray.openDashboardRequested.connect(self.open_dashboard)
        self.tray.toggleFloatingRequested.connect(self.toggle_floating)
        self.tray.settingsRequested.connect(lambda: self.open_dashboard("admin"))
        self.tray.quitRequested.connect(self.quitRequested)
        self.tray.diagnosticsRequested.connect(lambda: self._ask_diagnostics("tray"))
        self.tray.trayUnavailable.connect(self._no_tray)
        self.floating.openDashboardRequested.connect(self.open_dashboard)
        self.floating.visibilityChanged.connect(self.tray.set_floating_visible)
        settings.changed.connect(self._on_setting_changed)
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._on_color_scheme_changed)

    @property
    def dashboard(self) -> SyncStatusIndicators:
        if self._dashboard is None:
            # imported on first use: ~90 ms of start-up the tray-only app does not pay
            from syncwatch.ui.dashboard.window import SyncStatusIndicators  # noqa: PLC0415

            self._dashboard = SyncStatusIndicators(self._model, self._settings, clock=self._clock)
            self._dashboard.admin.autostartRequested.connect(self.autostartRequested)
            self._dashboard.admin.diagnosticsRequested.connect(
                lambda: self._ask_diagnostics("admin")
            )
            if self._autostart is not None:
                self._dashboard.admin.show_autostart(*self._autostart)
        return self._dashboard

    @property
    def dashboard_built(self) -> bool:
        return self._dashboard is not None

    def start(self) -> bool:
        """Show the tray icon (or the floating widget with a notice); True if the tray is up."""
        docked = self.tray.start()
        if docked and self._settings.get("floating_visible"):
            self.show_floating()
        return docked

    def open_dashboard(self, tab: str | None = None) -> None:
        if tab is not None:
            self.dashboard.show_tab(tab)
        self.dashboard.present_and_raise()

    def show_autostart(self, enabled: bool, message: str = "") -> None:
        """The autostart entry's state on disk (and why a change failed, if it did)."""
        self._autostart = (enabled, message)
        if self._dashboard is not None:
            self._dashboard.admin.show_autostart(enabled, message)

    def show_diagnostics_result(self, message: str, *, ok: bool = True) -> None:
        """Say what became of "Copy diagnostics" where the user asked for it: a short tray
        message for the menu, a line beside the button for the admin panel."""
        if self._diagnostics_asked_by == "admin" and self._dashboard is not None:
            self._dashboard.admin.show_diagnostics_status(message, error=not ok)
        else:
            self.tray.show_info(DIAGNOSTICS_TITLE, message)

    def show_floating(self) -> None:
        self.floating.show()
        self.floating.place()

    def toggle_floating(self) -> None:
        if self.floating.isVisible():
            self.floating.hide()
        else:
            self.show_floating()
        self._settings.set("floating_visible", self.floating.isVisible())

    def close(self) -> None:
        """Hide everything (the app is quitting)."""
        self.tray.hide()
        self.floating.hide()
        if self._dashboard is not None:
            self._dashboard.hide()

    def _no_tray(self, message: str) -> None:
        self.floating.show_notice(message)
        self.show_floating()

    def _ask_diagnostics(self, face: Literal["tray", "admin"]) -> None:
        self._diagnostics_asked_by = face
        self.diagnosticsRequested.emit()

    def _icon_set(self) -> IconTheme:
        return icon_theme_for(
            str(self._settings.get("tray_icon_set")), dark_desktop=system_prefers_dark()
        )

    def _on_setting_changed(self, name: str) -> None:
        if name == "theme":
            self.theme.set_choice(str(self._settings.get("theme")))
        elif name == "tray_icon_set":
            self.tray.set_theme(self._icon_set())

    def _on_color_scheme_changed(self, _scheme: Qt.ColorScheme) -> None:
        if self._settings.get("tray_icon_set") == "auto":
            self.tray.set_theme(self._icon_set())
