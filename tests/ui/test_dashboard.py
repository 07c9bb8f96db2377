"""The dashboard window over a real model: header, panels, operations table, screenshots."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from syncwatch.core.protocol import Status
from syncwatch.qt.settings import Settings
from syncwatch.qt.tables import ERROR, ITEM, PROGRESS, STATUS
from syncwatch.ui.dashboard.operations_view import FAILED_TINT
from syncwatch.ui.dashboard.window import TABS, SyncStatusIndicators
from syncwatch.ui.icons import IconFactory
from syncwatch.ui.theme import ThemeWatcher
from syncwatch.ui.tray import CompactSyncIndicator
from tests.ui.harness import LiveModel, upd


def _dashboard(live: LiveModel, settings: Settings, qtbot: QtBot) -> SyncStatusIndicators:
    window = SyncStatusIndicators(live.model, settings)
    qtbot.addWidget(window)
    return window


def _workload(live: LiveModel) -> None:
    t0 = time.time() - 8
    # Finished work first, as after a busy morning: the table must still lead with what runs.
    updates = [
        upd(f"done{i}", 100, Status.COMPLETED, at=t0 - 60, item=f"/library/photos/a{i}.jpg")
        for i in range(8)
    ]
    for i, (name, kind) in enumerate(
        [
            ("/library/video/2026/holiday-lisbon-4k.mp4", "upload"),
            ("/library/photos/2026/06/IMG_4821.HEIC", "download"),
            ("/library/photos/2026/06/IMG_4822.HEIC", "download"),
            ("/library/music/albums/Bach - Goldberg/01 Aria.flac", "upload"),
            ("/library/raw/2026/DSC_0042.NEF", "metadata"),
        ]
    ):
        for step in range(4):
            updates.append(
                upd(
                    f"op{i}",
                    min(95, 10 + step * (15 + i * 4)),
                    at=t0 + 2 * step,
                    item=name,
                    operation_type=kind,
                )
            )
    updates.append(
        upd(
            "op-bad",
            35,
            Status.FAILED,
            item="/library/video/2025/concert.mov",
            error="remote storage quota exceeded (507)",
        )
    )
    live.publish(updates)
    live.wait_for(lambda: len(live.model.active_operations) == 5)


def test_header_says_what_the_tray_says(live: LiveModel, settings: Settings, qtbot: QtBot) -> None:
    window = _dashboard(live, settings, qtbot)
    tray = CompactSyncIndicator(live.model, IconFactory())
    window.show()
    qtbot.waitExposed(window)
    _workload(live)
    qtbot.waitUntil(
        lambda: (
            window.presentation is not None
            and tray.presentation is not None
            and window.presentation.badge == 5
            and window.presentation.word == tray.presentation.word
        )
    )
    assert window.presentation.state is tray.presentation.state
    assert window.header_detail.text().split("   ·   ") == list(
        tray.tray.toolTip().splitlines()[1:]
    )


def test_operations_table_rows_progress_failed_highlight_and_sort(
    live: LiveModel, settings: Settings, qtbot: QtBot
) -> None:
    window = _dashboard(live, settings, qtbot)
    window.show()
    _workload(live)
    view = window.operations_view
    proxy = view.proxy
    qtbot.waitUntil(lambda: proxy.rowCount() == 14)
    # By default what is running comes first, then the failure, then what is done.
    statuses = [proxy.index(r, STATUS).data() for r in range(proxy.rowCount())]
    assert statuses == ["Syncing"] * 5 + ["Failed"] + ["Completed"] * 8
    items = {proxy.index(r, ITEM).data() for r in range(proxy.rowCount())}
    assert "/library/video/2026/holiday-lisbon-4k.mp4" in items
    failed_rows = [
        r
        for r in range(proxy.rowCount())
        if proxy.index(r, ITEM).data() == "/library/video/2025/concert.mov"
    ]
    assert len(failed_rows) == 1
    row = failed_rows[0]
    assert proxy.index(row, 0).data(Qt.ItemDataRole.BackgroundRole) == FAILED_TINT
    tip = proxy.index(row, PROGRESS).data(Qt.ItemDataRole.ToolTipRole)
    assert tip == "/library/video/2025/concert.mov\nFailed: remote storage quota exceeded (507)"
    assert proxy.index(row, ERROR).data() == "remote storage quota exceeded (507)"
    ok_row = (row + 1) % proxy.rowCount()
    assert proxy.index(ok_row, 0).data(Qt.ItemDataRole.BackgroundRole) != FAILED_TINT

    view.sortByColumn(PROGRESS, Qt.SortOrder.DescendingOrder)
    values = [proxy.index(r, PROGRESS).data() for r in range(proxy.rowCount())]
    numbers = [float(v.rstrip("%")) for v in values]
    assert numbers == sorted(numbers, reverse=True)


def test_panels_show_connection_and_health(
    live: LiveModel, settings: Settings, qtbot: QtBot
) -> None:
    window = _dashboard(live, settings, qtbot)
    window.show()
    qtbot.waitExposed(window)
    panel = window.connection_panel
    assert panel.state.text() == "Connected"
    assert panel.hub.text() == live.hub.url
    assert panel.uptime.text().endswith(" s")
    _workload(live)
    health = window.health_panel
    qtbot.waitUntil(lambda: "Warning" in health.status.text() or "Critical" in health.status.text())
    assert "error rate 11.1% over 15 min" in health.reasons.text()
    assert health.error_rate.text() == "11.1%"
    # the panel re-reads clock-dependent figures once a second while shown
    qtbot.waitUntil(lambda: panel.last_message.text().endswith(" ago"), timeout=3000)


def test_closing_hides_and_never_quits(live: LiveModel, settings: Settings, qtbot: QtBot) -> None:
    window = _dashboard(live, settings, qtbot)
    window.present_and_raise()
    qtbot.waitExposed(window)
    assert not window.close()  # refused: hidden instead
    assert not window.isVisible()
    with pytest.raises(ValueError, match="unknown tab"):
        window.show_tab("plots")


def test_screenshots_of_every_tab_light_and_dark(
    live: LiveModel, settings: Settings, qtbot: QtBot, artifacts_dir: Path
) -> None:
    """One window through both themes: it must follow a theme switch while open."""
    theme = ThemeWatcher("light")
    _workload(live)
    qtbot.waitUntil(lambda: len(live.model.live_samples) >= 1, timeout=5000)
    window = _dashboard(live, settings, qtbot)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    try:
        for name in ("light", "dark"):
            theme.set_choice(name)
            for tab in TABS:
                window.show_tab(tab)
                if tab == "metrics":
                    qtbot.waitUntil(lambda: window.plots.shown is not None)
                if tab == "history":
                    qtbot.waitUntil(lambda: window.history.count.text() != "")
                QApplication.processEvents()
                qtbot.wait(50)
                image = window.grab()
                assert image.save(str(artifacts_dir / f"dashboard-{tab}-{name}.png"))
                assert image.width() == 1280
                background = image.toImage().pixelColor(5, 400)
                assert (background.lightness() < 100) == (name == "dark"), (tab, background.name())
            window.show_tab("metrics")
            plot_background = window.plots._graphics.backgroundBrush().color()
            assert (plot_background.lightness() < 100) == (name == "dark")
    finally:
        theme.set_choice("light")
    assert QColor(FAILED_TINT).alpha() < 255
