"""SyncStatusIndicators: the dashboard window.

A header that says the same as the tray (the shared presenter), then four tabs: Overview
(connection, health, active operations), Live metrics (pyqtgraph, built on first view),
History and Admin. Closing the window hides it: a tray app never quits from a window.
Nothing is refreshed while the window is hidden; on show it catches up once.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent, QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from syncwatch.qt.tables import OperationsTableModel
from syncwatch.ui.dashboard.admin_panel import AdminPanel
from syncwatch.ui.dashboard.connection_panel import ConnectionPanel
from syncwatch.ui.dashboard.health_panel import HealthPanel
from syncwatch.ui.dashboard.history_view import HistoryView
from syncwatch.ui.dashboard.operations_view import OperationsView
from syncwatch.ui.dashboard.plots import MetricsPlots
from syncwatch.ui.presenter import Presentation, present
from syncwatch.ui.source import Clock, face_inputs

if TYPE_CHECKING:
    from syncwatch.qt.model import SyncStateModel
    from syncwatch.qt.settings import Settings

DEFAULT_SIZE: Final = (1180, 740)
TABS: Final = ("overview", "metrics", "history", "admin")


class SyncStatusIndicators(QMainWindow):
    """The dashboard (see module doc)."""

    def __init__(
        self, model: SyncStateModel, settings: Settings, *, clock: Clock = time.time
    ) -> None:
        super().__init__()
        self.setWindowTitle("Syncwatch")
        self.setObjectName("SyncwatchDashboard")
        self._model = model
        self._clock = clock
        #: What the header shows now.
        self.presentation: Presentation | None = None
        self._stale = True
        self.header_dot = QLabel()
        self.header_dot.setFixedSize(16, 16)
        self.header_word = QLabel()
        self.header_word.setObjectName("headerWord")
        self.header_detail = QLabel()
        self.header_detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        header = QHBoxLayout()
        header.setContentsMargins(12, 10, 12, 4)
        header.addWidget(self.header_dot)
        header.addWidget(self.header_word)
        header.addWidget(self.header_detail, 1)

        self.connection_panel = ConnectionPanel(model, clock=clock)
        self.health_panel = HealthPanel(model)
        self.operations_table = OperationsTableModel(model, self)
        self.operations_view = OperationsView(self.operations_table)
        left = QWidget()
        left_box = QVBoxLayout(left)
        left_box.setContentsMargins(0, 0, 0, 0)
        left_box.addWidget(self.connection_panel)
        left_box.addWidget(self.health_panel)
        left_box.addStretch(1)
        overview = QSplitter()
        overview.addWidget(left)
        overview.addWidget(self.operations_view)
        overview.setStretchFactor(1, 1)
        overview.setSizes([360, 820])

        self.plots = MetricsPlots(model, clock=clock)
        self.history = HistoryView(model, clock=clock)
        self.admin = AdminPanel(model, settings)
        self.tabs = QTabWidget()
        self.tabs.addTab(overview, "Overview")
        self.tabs.addTab(self.plots, "Live metrics")
        self.tabs.addTab(self.history, "History")
        self.tabs.addTab(self.admin, "Admin")

        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(6, 0, 6, 6)
        column.addLayout(header)
        column.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.resize(*DEFAULT_SIZE)
        for signal in (
            model.operationsChanged,
            model.connectionChanged,
            model.latencyChanged,
            model.healthChanged,
            model.notificationsPausedChanged,
        ):
            signal.connect(self.refresh_header)

    def show_tab(self, name: str) -> None:
        """Bring ``name`` ("overview", "metrics", "history", "admin") to the front."""
        if name not in TABS:
            raise ValueError(f"unknown tab {name!r}; choose one of {', '.join(TABS)}")
        self.tabs.setCurrentIndex(TABS.index(name))

    def present_and_raise(self) -> None:
        """Show, un-minimise and raise (the tray's left click, the floating double-click)."""
        self.show()
        self.setWindowState(self.windowState() & ~Qt.WindowState.WindowMinimized)
        self.raise_()
        self.activateWindow()

    def refresh_header(self, *_: object) -> None:
        if not self.isVisible():
            self._stale = True
            return
        self._stale = False
        p = present(face_inputs(self._model, self._clock))
        self.presentation = p
        self.header_dot.setStyleSheet(f"background: {p.colour}; border-radius: 8px;")
        self.header_word.setText(f"<b style='font-size:15pt'>{p.word}</b>")
        self.header_detail.setText("   ·   ".join(p.tooltip_lines[1:]))

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        if self._stale:
            self.refresh_header()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        """Closing hides the window; the app goes on in the tray."""
        event.ignore()
        self.hide()
