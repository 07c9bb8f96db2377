"""CompactSyncIndicator: the system-tray face, the one users see all day.

It paints the shared :class:`~syncwatch.ui.presenter.Presentation` (icon, badge, tooltip),
offers the menu users of sync tray clients expect, and turns the model's notifications
into desktop messages unless the user paused them. It never touches the engine: intents go
to the model's slots (reconnect, pause) or out as signals that main.py wires.

Where the desktop has no system tray (GNOME without the AppIndicator extension), it does
not vanish silently: :meth:`start` returns False and ``trayUnavailable`` carries a message,
once, so that main.py shows the floating widget with that message instead.

Signals:
    openDashboardRequested(): left click or "Open dashboard".
    toggleFloatingRequested(): "Show/Hide floating widget".
    settingsRequested(): "Settings...".
    diagnosticsRequested(): "Copy diagnostics" (main.py builds the report for a bug report,
        puts it on the clipboard and answers with :meth:`CompactSyncIndicator.show_info`).
    quitRequested(): "Quit".
    trayUnavailable(str): there is no system tray; the text says so, for the user.
    notificationShown(object): a core Notification was shown as a desktop message.
    notificationSuppressed(object): a Notification was held back (notifications paused).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from syncwatch.core.alerts import Notification, Severity
from syncwatch.ui.icons import IconFactory, IconTheme
from syncwatch.ui.presenter import FaceState, Presentation, present, tomorrow_morning
from syncwatch.ui.source import Clock, face_inputs

if TYPE_CHECKING:
    from syncwatch.qt.model import SyncStateModel

NO_TRAY_MESSAGE = (
    "This desktop has no system tray (on GNOME, install the AppIndicator extension), "
    "so Syncwatch shows its floating status window instead."
)
MESSAGE_TIMEOUT_MS = 8000
#: A confirmation of something the user just did ("copied") needs only a glance.
INFO_TIMEOUT_MS = 3000
TOOLTIP_INTERVAL_MS = 1000
#: QTimer intervals are 32-bit milliseconds (~24 days); a longer pause re-arms on refresh.
MAX_TIMER_MS = 2**31 - 1
_SEVERITY_ICONS = {
    Severity.INFO: QSystemTrayIcon.MessageIcon.Information,
    Severity.WARNING: QSystemTrayIcon.MessageIcon.Warning,
    Severity.ERROR: QSystemTrayIcon.MessageIcon.Critical,
}


class CompactSyncIndicator(QObject):
    """The tray icon, its tooltip, its menu and desktop notifications (see module doc)."""

    openDashboardRequested = Signal()  # noqa: N815
    toggleFloatingRequested = Signal()  # noqa: N815
    settingsRequested = Signal()  # noqa: N815
    diagnosticsRequested = Signal()  # noqa: N815
    quitRequested = Signal()  # noqa: N815
    trayUnavailable = Signal(str)  # noqa: N815
    notificationShown = Signal(object)  # noqa: N815
    notificationSuppressed = Signal(object)  # noqa: N815

    def __init__(
        self,
        model: SyncStateModel,
        icons: IconFactory,
        *,
        clock: Clock = time.time,
        theme: IconTheme = IconTheme.COLOUR,
        tray_available: Callable[[], bool] = QSystemTrayIcon.isSystemTrayAvailable,
        tray_icon: QSystemTrayIcon | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        #: Asks the desktop whether it has a system tray (injected: tests simulate GNOME).
        self._tray_available = tray_available
        #: The state model observed; intents go to its slots.
        self._model = model
        #: Renders the state icons (shared, cached).
        self._icons = icons
        #: Wall clock, injected for tests.
        self._clock = clock
        #: Colour or a monochrome set for the panel.
        self._theme = theme
        #: The look currently on the icon, so an unchanged refresh renders nothing.
        self._look: tuple[FaceState, int, bool, IconTheme] | None = None
        #: What the tray shows now (None before the first refresh).
        self.presentation: Presentation | None = None
        #: Whether the "no tray" message was already given (it is given once).
        self._told_no_tray = False
        #: The icon; adopted when main.py showed one early (see syncwatch.ui.early_tray).
        self.tray = tray_icon if tray_icon is not None else QSystemTrayIcon(self)
        self.tray.setParent(self)
        self.menu = QMenu()
        self._build_menu()
        self.tray.setContextMenu(self.menu)
        #: Tooltip changes that keep the look (progress, ETA) wait for this: a desktop's
        #: StatusNotifier host gets a D-Bus message per change, 30 a second is rude.
        self._tooltip_timer = QTimer(self)
        self._tooltip_timer.setSingleShot(True)
        self._tooltip_timer.setInterval(TOOLTIP_INTERVAL_MS)
        self._tooltip_timer.timeout.connect(self._set_tooltip)
        #: Fires once when a notification pause ends, to drop the "paused" overlay.
        self._pause_end = QTimer(self)
        self._pause_end.setSingleShot(True)
        self._pause_end.timeout.connect(self.refresh)
        self.tray.activated.connect(self._on_activated)
        for signal in (
            model.operationsChanged,
            model.connectionChanged,
            model.latencyChanged,
            model.healthChanged,
            model.notificationsPausedChanged,
        ):
            signal.connect(self.refresh)
        model.notificationRaised.connect(self.notify)
        self.refresh()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> bool:
        """Show the icon; False (and ``trayUnavailable`` once) when there is no tray."""
        if self._tray_available():
            self.tray.show()
            return True
        if not self._told_no_tray:
            self._told_no_tray = True
            self.trayUnavailable.emit(NO_TRAY_MESSAGE)
        return False

    def hide(self) -> None:
        self.tray.hide()

    def set_floating_visible(self, visible: bool) -> None:
        """Keep the menu's wording true to the floating widget's visibility."""
        self.action_floating.setText("Hide floating widget" if visible else "Show floating widget")

    @property
    def theme(self) -> IconTheme:
        """The icon set the tray draws in."""
        return self._theme

    def set_theme(self, theme: IconTheme) -> None:
        """Draw in ``theme`` from now on; the icon is re-rendered at once (the theme is part
        of the cached look, so the refresh cannot skip it)."""
        self._theme = theme
        self.refresh()

    # ------------------------------------------------------------------ model -> view

    def refresh(self, *_: object) -> None:
        """Re-present from the model's current values (signal payloads are not needed)."""
        self.show_presentation(present(face_inputs(self._model, self._clock)))

    def show_presentation(self, p: Presentation) -> None:
        self.presentation = p
        look = (p.state, p.badge, p.paused, self._theme)
        if look != self._look:
            self._look = look
            screen = QGuiApplication.primaryScreen()
            dpr = screen.devicePixelRatio() if screen is not None else 1.0
            self.tray.setIcon(
                self._icons.icon(
                    p.state, badge=p.badge, paused=p.paused, dpr=dpr, theme=self._theme
                )
            )
            self._set_tooltip()  # a new look gets its words at once
        elif not self._tooltip_timer.isActive() and self.tray.toolTip() != p.tooltip:
            self._tooltip_timer.start()  # progress and ETA: at most once a second
        self.action_resume.setEnabled(p.paused)
        self.action_reconnect.setEnabled(not p.link_up)
        until = self._model.notifications_paused_until
        if p.paused and until is not None:
            left_ms = (until - self._clock()) * 1000 + 50
            self._pause_end.start(max(0, min(round(left_ms), MAX_TIMER_MS)))
        else:
            self._pause_end.stop()

    def _set_tooltip(self) -> None:
        self._tooltip_timer.stop()
        if self.presentation is not None and self.tray.toolTip() != self.presentation.tooltip:
            self.tray.setToolTip(self.presentation.tooltip)

    def notify(self, notification: Notification) -> None:
        """A desktop message for the notification, unless the user paused notifications."""
        until = self._model.notifications_paused_until
        if until is not None and until > self._clock():
            self.notificationSuppressed.emit(notification)
            return
        self.tray.showMessage(
            notification.title,
            notification.body,
            _SEVERITY_ICONS.get(notification.severity, QSystemTrayIcon.MessageIcon.Information),
            MESSAGE_TIMEOUT_MS,
        )
        self.notificationShown.emit(notification)

    def show_info(self, title: str, text: str) -> None:
        """A short desktop message answering something the user just did in the menu.

        Not an alert: it is shown even while notifications are paused (the user asked for
        it a moment ago), and it goes after a few seconds."""
        self.tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Information, INFO_TIMEOUT_MS)

    # ------------------------------------------------------------------ view -> intents

    def _build_menu(self) -> None:
        menu = self.menu
        self.action_dashboard = menu.addAction("Open dashboard")
        self.action_dashboard.triggered.connect(self.openDashboardRequested)
        self.action_floating = menu.addAction("Show floating widget")
        self.action_floating.triggered.connect(self.toggleFloatingRequested)
        self.action_reconnect = menu.addAction("Reconnect now")
        self.action_reconnect.triggered.connect(self._model.reconnect_now)
        self.pause_menu = menu.addMenu("Pause notifications")
        self.action_pause_hour = self.pause_menu.addAction("For 1 hour")
        self.action_pause_hour.triggered.connect(lambda: self._pause(self._clock() + 3600))
        self.action_pause_tomorrow = self.pause_menu.addAction("Until tomorrow")
        self.action_pause_tomorrow.triggered.connect(
            lambda: self._pause(tomorrow_morning(self._clock()))
        )
        self.pause_menu.addSeparator()
        self.action_resume = self.pause_menu.addAction("Resume notifications")
        self.action_resume.triggered.connect(lambda: self._pause(None))
        menu.addSeparator()
        self.action_settings = menu.addAction("Settings…")
        self.action_settings.triggered.connect(self.settingsRequested)
        self.action_diagnostics = menu.addAction("Copy diagnostics")
        self.action_diagnostics.setToolTip(
            "Copy versions, settings (without secrets) and the recent log, for a bug report"
        )
        self.action_diagnostics.triggered.connect(self.diagnosticsRequested)
        menu.addSeparator()
        self.action_quit: QAction = menu.addAction("Quit Syncwatch")
        self.action_quit.triggered.connect(self.quitRequested)

    def _pause(self, until: float | None) -> None:
        self._model.pause_notifications(until)

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.openDashboardRequested.emit()
        elif reason is QSystemTrayIcon.ActivationReason.MiddleClick:
            self.toggleFloatingRequested.emit()
