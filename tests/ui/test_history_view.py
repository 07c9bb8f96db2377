"""History tab: rows from the real store, filters, failed rows tinted, export."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from syncwatch.core.protocol import Status
from syncwatch.ui.dashboard.history_view import HistoryView
from syncwatch.ui.dashboard.operations_view import FAILED_TINT
from tests.ui.harness import LiveModel, upd


def _history(live: LiveModel, qtbot: QtBot) -> HistoryView:
    live.publish(
        [
            upd("a", 10, item="/library/photos/beach.jpg"),
            upd("a", 100, Status.COMPLETED, item="/library/photos/beach.jpg"),
            upd("b", 30, Status.FAILED, item="/library/video/concert.mov", error="quota exceeded"),
            upd("c", 50, operation_type="download", item="/library/music/aria.flac"),
        ]
    )
    view = HistoryView(live.model)
    qtbot.addWidget(view)
    view.resize(1000, 500)
    view.show()
    qtbot.waitExposed(view)
    assert view.table_model is not None
    qtbot.waitUntil(lambda: view.count.text() == "4 events", timeout=10_000)
    return view


def _items(view: HistoryView) -> list[str]:
    model = view.table.model()
    return [model.index(r, 1).data() for r in range(model.rowCount())]


def test_rows_newest_first_and_failed_rows_tinted(live: LiveModel, qtbot: QtBot) -> None:
    view = _history(live, qtbot)
    model = view.table.model()
    qtbot.waitUntil(lambda: model.rowCount() == 4)
    assert _items(view)[0] == "/library/music/aria.flac"
    failed = [r for r in range(4) if model.index(r, 1).data() == "/library/video/concert.mov"]
    assert model.index(failed[0], 0).data(Qt.ItemDataRole.BackgroundRole) == FAILED_TINT
    assert model.index(failed[0], 6).data() == "quota exceeded"


def test_filters_by_status_type_and_text(live: LiveModel, qtbot: QtBot) -> None:
    view = _history(live, qtbot)
    view.status_box.setCurrentIndex(view.status_box.findData("failed"))
    qtbot.waitUntil(lambda: view.count.text() == "1 events")
    qtbot.waitUntil(lambda: _items(view) == ["/library/video/concert.mov"])

    view.status_box.setCurrentIndex(0)
    view.type_box.setCurrentIndex(view.type_box.findData("download"))
    qtbot.waitUntil(lambda: _items(view) == ["/library/music/aria.flac"])

    view.type_box.setCurrentIndex(0)
    view.text.setText("BEACH")
    qtbot.waitUntil(lambda: view.count.text() == "2 events", timeout=3000)
    assert set(_items(view)) == {"/library/photos/beach.jpg"}

    view.range_box.setCurrentIndex(1)  # last hour: all of them are recent
    qtbot.waitUntil(lambda: view.count.text() == "2 events")


def test_export_of_the_current_filter_to_csv_and_json(
    live: LiveModel, qtbot: QtBot, tmp_path: Path
) -> None:
    view = _history(live, qtbot)
    view.status_box.setCurrentIndex(view.status_box.findData("failed"))
    target = tmp_path / "failed.csv"
    with qtbot.waitSignal(view.exportDone, timeout=10_000) as done:
        view.export_to(target, "csv")
    assert done.args == [1, str(target)]
    with target.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1
    assert "quota exceeded" in rows[0].values()
    assert view.message.text() == f"Exported 1 events to {target}"

    view.status_box.setCurrentIndex(0)
    target_json = tmp_path / "all.json"
    with qtbot.waitSignal(view.exportDone, timeout=10_000):
        view.export_to(target_json, "json")
    assert len(json.loads(target_json.read_text(encoding="utf-8"))) == 4


def test_scrolling_fetches_further_pages(live: LiveModel, qtbot: QtBot) -> None:
    live.publish([upd(f"p{i}", 100, Status.COMPLETED) for i in range(450)])
    view = HistoryView(live.model)
    qtbot.addWidget(view)
    view.resize(1000, 400)
    view.show()
    qtbot.waitUntil(lambda: view.count.text() == "450 events", timeout=10_000)
    model = view.table.model()
    qtbot.waitUntil(lambda: model.rowCount() == 200)  # one page
    bar = view.table.verticalScrollBar()
    bar.setValue(bar.maximum())  # the view asks the model for more at the bottom
    qtbot.waitUntil(lambda: model.rowCount() == 400)
    bar.setValue(bar.maximum())
    qtbot.waitUntil(lambda: model.rowCount() == 450)
