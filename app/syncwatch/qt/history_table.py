"""HistoryTableModel: the audit trail from the store, paged, queried off the GUI thread.

The history can hold millions of events; a view asks for rows as the user scrolls
(Qt's ``canFetchMore``/``fetchMore``). Each page is one keyset query (``before`` the last
row's key: constant time however deep) run on Qt's thread pool; its rows are appended
when it comes back. A filter change or :meth:`refresh` starts a new generation: pages
of an older generation that arrive late are dropped, never mixed into the new rows.

Signals:
    loadingChanged(bool): a page query started (True) or every query finished (False).
    countChanged(int, bool): how many events match the filter, and whether exactly
        (counting stops at ``count_cap``: show "100000+").
    failed(str): a query failed; the message says why.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import shiboken6
from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from syncwatch.client.store.queries import HistoryReader
from syncwatch.client.store.rows import Count, EventFilter, EventRow, PageKey
from syncwatch.qt.columns import ColumnsTableModel
from syncwatch.qt.workers import Outcome, WorkDone, run_in_thread

HISTORY_COLUMNS: Final = ("Time", "Item", "Type", "Source", "Event", "Progress", "Error")
#: The row's EventRow (immutable).
EventRole: Final = int(Qt.ItemDataRole.UserRole) + 3
#: True for events that record a failure.
HistoryFailedRole: Final = int(Qt.ItemDataRole.UserRole) + 2

_Index = QModelIndex | QPersistentModelIndex


class HistoryTableModel(ColumnsTableModel):
    """A paged, filtered view of the store's events, newest first (module docstring).

    Signals:
        loadingChanged(bool): queries started (True) or all finished (False).
        countChanged(int, bool): matching events, and whether the count is exact.
        failed(str): a query failed.
    """

    COLUMNS = HISTORY_COLUMNS

    loadingChanged = Signal(bool)  # noqa: N815 - Qt signal names are camelCase
    countChanged = Signal(int, bool)  # noqa: N815
    failed = Signal(str)

    def __init__(
        self,
        reader: HistoryReader,
        parent: QObject | None = None,
        *,
        page_size: int = 200,
        count_cap: int = 100_000,
    ) -> None:
        super().__init__(parent)
        if page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size}")
        self._reader = reader
        self._page_size = page_size
        self._count_cap = count_cap
        self._filter = EventFilter()
        self._rows: list[EventRow] = []
        #: Bumped by every filter change or refresh; late pages of older ones are dropped.
        self._generation = 0
        self._exhausted = False
        self._fetching = False
        self._count: Count | None = None
        #: Jobs in flight (kept alive until they report).
        self._jobs: set[WorkDone] = set()

    # ------------------------------------------------------------------ API

    @property
    def filter(self) -> EventFilter:
        return self._filter

    @property
    def count(self) -> Count | None:
        return self._count

    @property
    def loading(self) -> bool:
        return bool(self._jobs)

    def set_filter(self, flt: EventFilter) -> None:
        """Show the events ``flt`` selects (from the newest)."""
        self._filter = flt
        self.refresh()

    def refresh(self) -> None:
        """Reload from the newest event (new rows were committed, or the filter changed)."""
        self._generation += 1
        self.beginResetModel()
        self._rows = []
        self._exhausted = False
        self._fetching = True  # before endResetModel: a view may ask for more at once
        self.endResetModel()
        self._fetch_page()
        generation, flt, cap = self._generation, self._filter, self._count_cap
        self._start(
            lambda: self._reader.count_events(flt, cap=cap),
            lambda outcome: self._on_count(generation, outcome),
        )

    def row(self, index: int) -> EventRow:
        return self._rows[index]

    # ------------------------------------------------------------------ Qt model API

    def row_total(self) -> int:
        return len(self._rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        event = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return _display(event, index.column())
        if role == EventRole:
            return event
        if role == HistoryFailedRole:
            return event.status == "failed"
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == 6:
            return event.error
        return None

    def canFetchMore(self, parent: _Index = QModelIndex()) -> bool:  # noqa: B008, N802 - Qt API
        return not parent.isValid() and not self._exhausted and not self._fetching

    def fetchMore(self, parent: _Index = QModelIndex()) -> None:  # noqa: B008, N802 - Qt API
        if self.canFetchMore(parent):
            self._fetch_page()

    # ------------------------------------------------------------------ background work

    def _fetch_page(self) -> None:
        self._fetching = True
        generation, flt, limit = self._generation, self._filter, self._page_size
        before: PageKey | None = self._rows[-1].key if self._rows else None
        self._start(
            lambda: self._reader.query_events(flt, limit=limit, before=before),
            lambda outcome: self._on_page(generation, before, outcome),
        )

    def _start(self, work: Any, on_done: Any) -> None:
        was_loading = bool(self._jobs)

        def finished(outcome: Outcome[Any]) -> None:
            # A query may outlive its table (the window that owned it was closed and
            # deleted): its answer then has nobody to tell.
            if not shiboken6.isValid(self):
                return
            self._jobs.discard(job)
            on_done(outcome)
            if not self._jobs:
                self.loadingChanged.emit(False)

        job = run_in_thread(work, finished)
        self._jobs.add(job)
        if not was_loading:
            self.loadingChanged.emit(True)

    def _on_page(
        self, generation: int, before: PageKey | None, outcome: Outcome[list[EventRow]]
    ) -> None:
        if generation != self._generation:
            return  # a page for an older filter: its rows are not wanted
        last = self._rows[-1].key if self._rows else None
        if before != last:
            self._fetching = False
            return  # no longer continues the rows (cannot happen while _fetching guards)
        if outcome.error is not None:
            self._fetching = False
            self._exhausted = True
            self.failed.emit(f"history query failed: {outcome.error}")
            return
        rows = outcome.value or []
        if len(rows) < self._page_size:
            self._exhausted = True
        if rows:
            # Still "fetching" while rows go in: a view asking for more during the
            # insertion would otherwise request a page from the old end of the rows.
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
            self._rows.extend(rows)
            self.endInsertRows()
        self._fetching = False

    def _on_count(self, generation: int, outcome: Outcome[Count]) -> None:
        if generation != self._generation:
            return
        if outcome.error is not None or outcome.value is None:
            self.failed.emit(f"history count failed: {outcome.error}")
            return
        self._count = outcome.value
        self.countChanged.emit(outcome.value.value, outcome.value.exact)


def _display(event: EventRow, column: int) -> str:
    if column == 0:
        return datetime.fromtimestamp(event.at).strftime("%Y-%m-%d %H:%M:%S")
    if column == 1:
        return event.item or event.operation_id
    if column == 2:
        return event.operation_type
    if column == 3:
        return event.source or ""
    if column == 4:
        if event.from_status is None or event.from_status == event.status:
            return event.status
        return f"{event.from_status} \u2192 {event.status}"
    if column == 5:
        return f"{event.progress:.0f}%"
    if column == 6:
        return event.error or ""
    return ""
