"""History: the audit trail from the store with filters, paging and export.

Rows come from :class:`~syncwatch.qt.history_table.HistoryTableModel`, which queries one
page at a time on a worker thread as the user scrolls (keyset paging: constant time at
any depth of a million rows). Filters apply after a short pause in typing. Export writes
the current filter's rows to CSV or JSON through the model, off the GUI thread.

Signals:
    exportDone(int, str): rows written and the path, or -1 and the error.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from PySide6.QtCore import (
    QIdentityProxyModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from syncwatch.core.protocol import KNOWN_OPERATION_TYPES, Status
from syncwatch.qt.history_table import HistoryFailedRole, HistoryTableModel
from syncwatch.ui.dashboard.operations_view import FAILED_TINT
from syncwatch.ui.source import Clock

if TYPE_CHECKING:
    from syncwatch.qt.model import SyncStateModel

#: (label, seconds back; None = all time)
TIME_RANGES: Final = (
    ("All time", None),
    ("Last hour", 3600),
    ("Last 24 h", 86_400),
    ("Last 7 days", 7 * 86_400),
    ("Last 30 days", 30 * 86_400),
)
TYPING_PAUSE_MS: Final = 300
_Index = QModelIndex | QPersistentModelIndex


class FailedTint(QIdentityProxyModel):
    """Tints failure events like the operations table does (same colour in both views)."""

    def __init__(self, source: HistoryTableModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSourceModel(source)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.BackgroundRole and super().data(index, HistoryFailedRole):
            return FAILED_TINT
        return super().data(index, role)


class HistoryView(QWidget):
    """Filter bar, table, count and export buttons (see module doc)."""

    exportDone = Signal(int, str)  # noqa: N815

    def __init__(
        self,
        model: SyncStateModel,
        *,
        clock: Clock = time.time,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._model = model
        self._clock = clock
        #: True when history changed while hidden: reload on show.
        self._stale = True
        reader = model.history_reader()
        self.table_model: HistoryTableModel | None = (
            HistoryTableModel(reader, self) if reader is not None else None
        )
        self._build()
        self._typing = QTimer(self)
        self._typing.setSingleShot(True)
        self._typing.setInterval(TYPING_PAUSE_MS)
        self._typing.timeout.connect(self.apply_filter)
        model.historyChanged.connect(self._on_history_changed)
        model.exportFinished.connect(self._on_exported)
        if self.table_model is not None:
            self.table_model.countChanged.connect(self._on_count)
            self.table_model.failed.connect(self.message.setText)

    def _build(self) -> None:
        self.status_box = QComboBox()
        self.status_box.addItem("Any status", None)
        for status in Status:
            self.status_box.addItem(status.value.replace("_", " ").capitalize(), status.value)
        self.type_box = QComboBox()
        self.type_box.addItem("Any type", None)
        for kind in KNOWN_OPERATION_TYPES:
            self.type_box.addItem(kind.capitalize(), kind)
        self.range_box = QComboBox()
        for label, seconds in TIME_RANGES:
            self.range_box.addItem(label, seconds)
        self.text = QLineEdit()
        self.text.setPlaceholderText("Search item, operation id, error, source…")
        self.text.setClearButtonEnabled(True)
        for box in (self.status_box, self.type_box, self.range_box):
            box.currentIndexChanged.connect(self.apply_filter)
        self.text.textChanged.connect(lambda _t: self._typing.start())
        self.export_csv = QPushButton("Export CSV…")
        self.export_json = QPushButton("Export JSON…")
        self.export_csv.clicked.connect(lambda: self._ask_path("csv"))
        self.export_json.clicked.connect(lambda: self._ask_path("json"))
        bar = QHBoxLayout()
        for w in (self.status_box, self.type_box, self.range_box):
            bar.addWidget(w)
        bar.addWidget(self.text, 1)
        bar.addWidget(self.export_csv)
        bar.addWidget(self.export_json)
        self.table = QTableView()
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        if self.table_model is not None:
            self.table.setModel(FailedTint(self.table_model, self))
            for column, width in enumerate((150, 330, 80, 90, 170, 70)):
                self.table.setColumnWidth(column, width)
        self.count = QLabel("")
        self.message = QLabel("" if self.table_model else "No history store is open.")
        foot = QHBoxLayout()
        foot.addWidget(self.count)
        foot.addStretch(1)
        foot.addWidget(self.message)
        outer = QVBoxLayout(self)
        outer.addLayout(bar)
        outer.addWidget(self.table, 1)
        outer.addLayout(foot)

    # ------------------------------------------------------------------ filters

    def current_filter(self) -> Any:
        """The store's EventFilter for the bar's values (built by replacing fields of the
        table model's filter: the faces never import the client layer)."""
        if self.table_model is None:
            return None
        status = self.status_box.currentData()
        kind = self.type_box.currentData()
        seconds = self.range_box.currentData()
        text = self.text.text().strip() or None
        return dataclasses.replace(
            self.table_model.filter,
            statuses=frozenset({status}) if status else frozenset(),
            operation_types=frozenset({kind}) if kind else frozenset(),
            text=text,
            start=None if seconds is None else self._clock() - float(seconds),
            end=None,
        )

    def apply_filter(self) -> None:
        if self.table_model is None:
            return
        self._stale = False
        self.table_model.set_filter(self.current_filter())

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        if self._stale:
            self.apply_filter()

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802
        super().hideEvent(event)
        self._typing.stop()

    def _on_history_changed(self) -> None:
        """New rows: reload if the user is looking at the newest ones, else leave them be."""
        if not self.isVisible():
            self._stale = True
        elif self.table.verticalScrollBar().value() == 0 and not self.text.hasFocus():
            self.apply_filter()

    def _on_count(self, value: int, exact: bool) -> None:
        self.count.setText(f"{value:,}{'' if exact else '+'} events")

    # ------------------------------------------------------------------ export

    def _ask_path(self, fmt: str) -> None:
        dialog = QFileDialog(self, f"Export history as {fmt.upper()}")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix(fmt)
        dialog.setNameFilter(f"{fmt.upper()} files (*.{fmt})")
        dialog.selectFile(str(Path.home() / f"syncwatch-history.{fmt}"))
        dialog.fileSelected.connect(lambda path: self.export_to(path, fmt))
        dialog.open()  # never exec(): the app's loop keeps running

    def export_to(self, path: str | Path, fmt: str) -> None:
        """Export the rows the current filter selects (result: exportDone)."""
        self.message.setText(f"Exporting to {path}…")
        self._model.export_history(self.current_filter(), path, fmt)

    def _on_exported(self, rows: int, where: str) -> None:
        self.message.setText(
            f"Exported {rows:,} events to {where}" if rows >= 0 else f"Export failed: {where}"
        )
        self.exportDone.emit(rows, where)
