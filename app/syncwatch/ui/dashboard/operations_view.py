"""Active operations: a sortable table with progress bars, failed rows highlighted and
their error readable in a tooltip."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (
    QApplication,
    QHeaderView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)

from syncwatch.qt.tables import (
    ERROR,
    ITEM,
    PROGRESS,
    STATUS,
    FailedRole,
    OperationsTableModel,
    ProgressRole,
    SortRole,
)

_Index = QModelIndex | QPersistentModelIndex
#: Failed rows get this tint over the base colour (readable in both themes).
FAILED_TINT = QColor(198, 40, 40, 60)


class OperationsProxy(QSortFilterProxyModel):
    """Sorts by numbers (SortRole) and marks failed rows: tinted, with the error as tooltip."""

    def __init__(self, source: OperationsTableModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSourceModel(source)
        self.setSortRole(SortRole)
        self.setDynamicSortFilter(True)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role in (Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ToolTipRole):
            failed = bool(super().data(index, FailedRole))
            if failed and role == Qt.ItemDataRole.BackgroundRole:
                return FAILED_TINT
            if failed and role == Qt.ItemDataRole.ToolTipRole:
                row, parent = index.row(), index.parent()
                error = self.index(row, ERROR, parent).data(Qt.ItemDataRole.DisplayRole)
                item = self.index(row, ITEM, parent).data(Qt.ItemDataRole.DisplayRole)
                return f"{item}\nFailed: {error or 'no reason given'}"
        return super().data(index, role)


class ProgressDelegate(QStyledItemDelegate):
    """Paints the Progress column as a progress bar with its percentage."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        value = index.data(ProgressRole)
        if value is None:
            super().paint(painter, option, index)
            return
        background = index.data(Qt.ItemDataRole.BackgroundRole)
        if isinstance(background, QColor):
            painter.fillRect(option.rect, background)
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(3, 4, -3, -4)
        bar.minimum, bar.maximum = 0, 100
        bar.progress = round(float(value))
        bar.text = f"{float(value):.0f}%"
        bar.textVisible = True
        # Qt 6 has no orientation field: without State_Horizontal the bar fills upwards
        bar.state = option.state | QStyle.StateFlag.State_Horizontal
        style = option.widget.style() if option.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)


class OperationsView(QTableView):
    """The table of active and recently finished operations."""

    def __init__(self, table: OperationsTableModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        #: The sorting/highlighting proxy between the table model and the view.
        self.proxy = OperationsProxy(table, self)
        self.setModel(self.proxy)
        self.setItemDelegateForColumn(PROGRESS, ProgressDelegate(self))
        self.setSortingEnabled(True)
        # Running operations first, then queued and failed ones; finished ones last. The
        # sort is stable, so each group keeps the order the operations appeared in.
        self.sortByColumn(STATUS, Qt.SortOrder.AscendingOrder)
        self.setAlternatingRowColors(True)
        self.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.setWordWrap(False)
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(24)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate((260, 75, 130, 120, 85, 60, 160)):
            self.setColumnWidth(column, width)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
