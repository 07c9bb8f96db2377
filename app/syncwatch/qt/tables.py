"""Table models for views: the live operations, and the paged history.

:class:`OperationsTableModel` mirrors the model's in-memory operations (active ones and
those finished recently) and follows ``operationsChanged`` incrementally: appended rows,
removed rows and one ``dataChanged`` over the span of updated rows, so a view keeps its
selection and scroll position and repaints at most ~30 times a second under a flood.
Sort it with a QSortFilterProxyModel using :data:`SortRole` (numbers, not text).

:class:`HistoryTableModel` lives in :mod:`syncwatch.qt.history_table`.
"""

from __future__ import annotations

from typing import Any, Final

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt

from syncwatch.core.operations import Operation
from syncwatch.core.protocol import Status
from syncwatch.qt.columns import ColumnsTableModel
from syncwatch.qt.history_table import HistoryTableModel
from syncwatch.qt.model import OperationsDelta, SyncStateModel

#: Progress in percent, a float 0..100 (for a progress-bar delegate).
ProgressRole: Final = int(Qt.ItemDataRole.UserRole) + 1
#: True for rows whose operation failed (views highlight them).
FailedRole: Final = int(Qt.ItemDataRole.UserRole) + 2
#: The row's core Operation (immutable).
OperationRole: Final = int(Qt.ItemDataRole.UserRole) + 3
#: A value that sorts right (numbers for progress, speed and ETA; None sorts first).
SortRole: Final = int(Qt.ItemDataRole.UserRole) + 4

COLUMNS: Final = ("Item", "Type", "Source", "Progress", "Speed", "ETA", "Status", "Error")
ITEM, TYPE, SOURCE, PROGRESS, SPEED, ETA, STATUS, ERROR = range(len(COLUMNS))
#: Above this many removals at once a reset is cheaper than row-by-row removal.
_RESET_ABOVE: Final = 200

_STATUS_TEXT: Final = {
    Status.QUEUED: "Queued",
    Status.IN_PROGRESS: "Syncing",
    Status.COMPLETED: "Completed",
    Status.FAILED: "Failed",
    Status.CANCELLED: "Cancelled",
}

_Index = QModelIndex | QPersistentModelIndex


def format_speed(bps: float | None) -> str:
    """Bytes per second in a short human unit ("1.5 MB/s"); empty when unknown."""
    if bps is None:
        return ""
    value = float(bps)
    for unit in ("B/s", "kB/s", "MB/s", "GB/s"):
        if value < 1000 or unit == "GB/s":
            return f"{value:.0f} {unit}" if unit == "B/s" else f"{value:.1f} {unit}"
        value /= 1000
    return ""  # pragma: no cover


def format_eta(seconds: float | None) -> str:
    """Seconds left as "45 s", "3 min", "2 h 5 min"; empty when unknown."""
    if seconds is None:
        return ""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{round(seconds)} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


class OperationsTableModel(ColumnsTableModel):
    """Active and recently finished operations of a SyncStateModel, oldest first."""

    COLUMNS = COLUMNS

    def __init__(self, model: SyncStateModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._model = model
        #: Row order: operation ids by first appearance.
        self._ids: list[str] = []
        #: Operation id -> row.
        self._rows: dict[str, int] = {}
        #: The operations the rows show (the model's current mapping at the last refresh).
        self._ops: dict[str, Operation] = {}
        self._load_all()
        model.operationsChanged.connect(self._on_changed)

    # ------------------------------------------------------------------ Qt model API

    def row_total(self) -> int:
        return len(self._ids)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._ids):
            return None
        op = self._ops[self._ids[index.row()]]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return _display(op, column)
        if role == ProgressRole:
            return op.progress
        if role == FailedRole:
            return op.status is Status.FAILED
        if role == OperationRole:
            return op
        if role == SortRole:
            return _sort_key(op, column)
        if role == Qt.ItemDataRole.ToolTipRole and column in (ITEM, ERROR):
            return op.error if column == ERROR else op.item
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (PROGRESS, SPEED, ETA):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    # ------------------------------------------------------------------ helpers

    def operation_at(self, row: int) -> Operation:
        return self._ops[self._ids[row]]

    def row_of(self, operation_id: str) -> int | None:
        return self._rows.get(operation_id)

    def _load_all(self) -> None:
        ops = self._model.operations
        self._ops = dict(ops)
        self._ids = sorted(ops, key=lambda i: (ops[i].first_seen_us, i))
        self._rows = {op_id: row for row, op_id in enumerate(self._ids)}

    def _on_changed(self, delta: OperationsDelta) -> None:
        current = self._model.operations
        removed = [i for i in delta.removed if i in self._rows]
        if len(removed) > _RESET_ABOVE:
            self.beginResetModel()
            self._load_all()
            self.endResetModel()
            return
        for row in sorted((self._rows[i] for i in removed), reverse=True):
            self.beginRemoveRows(QModelIndex(), row, row)
            op_id = self._ids.pop(row)
            del self._ops[op_id]
            self.endRemoveRows()
        if removed:
            self._rows = {op_id: row for row, op_id in enumerate(self._ids)}
        new_ids = [i for i in delta.added if i in current and i not in self._rows]
        changed_rows = [self._rows[i] for i in delta.updated | delta.added if i in self._rows]
        for op_id in delta.updated | delta.added:
            if op_id in current and op_id in self._rows:
                self._ops[op_id] = current[op_id]
        if changed_rows:
            self.dataChanged.emit(
                self.index(min(changed_rows), 0), self.index(max(changed_rows), len(COLUMNS) - 1)
            )
        if new_ids:
            new_ids.sort(key=lambda i: (current[i].first_seen_us, i))
            first = len(self._ids)
            self.beginInsertRows(QModelIndex(), first, first + len(new_ids) - 1)
            for offset, op_id in enumerate(new_ids):
                self._ids.append(op_id)
                self._rows[op_id] = first + offset
                self._ops[op_id] = current[op_id]
            self.endInsertRows()


def _display(op: Operation, column: int) -> str:
    if column == ITEM:
        return op.item or op.operation_id
    if column == TYPE:
        return op.operation_type
    if column == SOURCE:
        return op.source or ""
    if column == PROGRESS:
        return f"{op.progress:.0f}%"
    if column == SPEED:
        return format_speed(op.speed_bps)
    if column == ETA:
        return format_eta(op.eta_s)
    if column == STATUS:
        text = _STATUS_TEXT.get(op.status, str(op.status))
        return f"{text} (attempt {op.attempts})" if op.attempts > 1 else text
    if column == ERROR:
        return op.error or ""
    return ""


#: Sorting by status puts what needs attention first: running, waiting, failed, then done.
_STATUS_RANK: Final = {
    Status.IN_PROGRESS: 0,
    Status.QUEUED: 1,
    Status.FAILED: 2,
    Status.CANCELLED: 3,
    Status.COMPLETED: 4,
}


def _sort_key(op: Operation, column: int) -> Any:
    if column == STATUS:
        return _STATUS_RANK[op.status]
    if column == PROGRESS:
        return op.progress
    if column == SPEED:
        return op.speed_bps if op.speed_bps is not None else -1.0
    if column == ETA:
        return op.eta_s if op.eta_s is not None else float("inf")
    return _display(op, column).lower()


__all__ = [
    "COLUMNS",
    "FailedRole",
    "HistoryTableModel",
    "OperationRole",
    "OperationsTableModel",
    "ProgressRole",
    "SortRole",
    "format_eta",
    "format_speed",
]
