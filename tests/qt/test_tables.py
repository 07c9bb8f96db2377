"""Table models over a live SyncStateModel and a real history file."""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtTest import QAbstractItemModelTester
from pytestqt.qtbot import QtBot

from syncwatch.client.store import EventFilter
from syncwatch.core.protocol import Status
from syncwatch.qt.tables import (
    COLUMNS,
    FailedRole,
    HistoryTableModel,
    OperationRole,
    OperationsTableModel,
    ProgressRole,
    SortRole,
    format_eta,
    format_speed,
)
from tests.client.engine_support import publish_lifecycles
from tests.qt.conftest import LiveModel

_WARN = QAbstractItemModelTester.FailureReportingMode.Warning


def _column(table: OperationsTableModel, name: str) -> int:
    return COLUMNS.index(name)


def test_operations_table_follows_the_model(live: LiveModel, qtbot: QtBot) -> None:
    table = OperationsTableModel(live.model)
    tester = QAbstractItemModelTester(table, _WARN)  # Qt warnings fail the test
    assert table.rowCount() == 0
    assert [table.headerData(i, Qt.Orientation.Horizontal) for i in range(8)] == list(COLUMNS)
    live.publish(publish_lifecycles(live.hub.url, "op", 6, fail_every=3), qtbot)
    qtbot.waitUntil(lambda: table.rowCount() == 6, timeout=30_000)
    qtbot.waitUntil(
        lambda: all(table.operation_at(r).is_terminal for r in range(6)), timeout=30_000
    )
    rows = {table.index(r, 0).data(): r for r in range(table.rowCount())}
    assert set(rows) == {f"/library/op-{i}.mkv" for i in range(6)}
    failed_row = rows["/library/op-0.mkv"]
    done_row = rows["/library/op-1.mkv"]
    status_col, error_col, progress_col = (
        _column(table, "Status"),
        _column(table, "Error"),
        _column(table, "Progress"),
    )
    assert table.index(failed_row, 0).data(FailedRole) is True
    assert table.index(done_row, 0).data(FailedRole) is False
    assert table.index(failed_row, status_col).data() == "Failed"
    assert table.index(failed_row, error_col).data() == "disk full"
    assert table.index(done_row, progress_col).data() == "100%"
    assert table.index(done_row, progress_col).data(ProgressRole) == 100.0
    assert table.index(failed_row, progress_col).data(ProgressRole) == 50.0
    assert table.index(done_row, 0).data(OperationRole).status is Status.COMPLETED
    assert table.index(done_row, _column(table, "Type")).data() == "upload"
    assert table.index(done_row, _column(table, "Source")).data() == "agent-1"

    # Sorting by progress through a proxy, as the dashboard does.
    proxy = QSortFilterProxyModel()
    proxy.setSourceModel(table)
    proxy.setSortRole(SortRole)
    proxy.sort(progress_col, Qt.SortOrder.AscendingOrder)
    assert proxy.index(0, progress_col).data(ProgressRole) == 50.0
    assert proxy.index(5, progress_col).data(ProgressRole) == 100.0

    # Finished operations expire from memory: their rows go.
    engine = live.engine
    engine.update_config(dataclasses.replace(engine.config, keep_finished_s=0.0))
    engine.housekeeping()
    qtbot.waitUntil(lambda: table.rowCount() == 0, timeout=20_000)
    del tester


def test_history_table_pages_and_filters_off_the_gui_thread(live: LiveModel, qtbot: QtBot) -> None:
    live.publish(publish_lifecycles(live.hub.url, "op", 100, fail_every=10), qtbot)
    qtbot.waitUntil(lambda: live.engine.state.last_seq == live.hub.hub.seq, timeout=30_000)
    assert live.writer.flush(10)
    reader = live.model.history_reader()
    assert reader is not None
    table = HistoryTableModel(reader, page_size=120)
    tester = QAbstractItemModelTester(table, _WARN)
    with qtbot.waitSignal(table.countChanged, timeout=20_000) as counted:
        table.refresh()
    assert counted.args == [300, True]
    qtbot.waitUntil(lambda: table.rowCount() >= 120 and not table.loading, timeout=20_000)
    while table.canFetchMore(QModelIndex()):
        table.fetchMore(QModelIndex())
        qtbot.waitUntil(lambda: not table.loading, timeout=20_000)
    assert table.rowCount() == 300
    times = [table.row(r).at for r in range(300)]
    assert times == sorted(times, reverse=True)  # newest first
    assert len({table.row(r).id for r in range(300)}) == 300  # pages do not overlap

    with qtbot.waitSignal(table.countChanged, timeout=20_000) as counted:
        table.set_filter(EventFilter(statuses=frozenset({"failed"})))
    assert counted.args == [10, True]
    qtbot.waitUntil(lambda: table.rowCount() == 10 and not table.loading, timeout=20_000)
    assert not table.canFetchMore(QModelIndex())
    assert table.index(0, 4).data() == "in_progress \u2192 failed"
    assert table.index(0, 6).data() == "disk full"

    with qtbot.waitSignal(table.countChanged, timeout=20_000) as counted:
        table.set_filter(EventFilter(text="op-42."))
    assert counted.args == [3, True]
    del tester


def test_human_formats() -> None:
    assert format_speed(None) == ""
    assert format_speed(512) == "512 B/s"
    assert format_speed(1_500_000) == "1.5 MB/s"
    assert format_eta(None) == ""
    assert format_eta(42) == "42 s"
    assert format_eta(180) == "3 min"
    assert format_eta(7500) == "2 h 5 min"
