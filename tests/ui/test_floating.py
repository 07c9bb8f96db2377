"""The floating widget driven by a real model: what it shows, how it expands, where it goes."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QEnterEvent, QGuiApplication
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from syncwatch.core.protocol import Status
from syncwatch.qt.settings import Settings
from syncwatch.ui.floating import SIZES, FloatingSyncStatus
from syncwatch.ui.presenter import FaceState
from syncwatch.ui.theme import ThemeWatcher
from tests.ui.harness import LiveModel, upd


def _floating(live: LiveModel, settings: Settings, qtbot: QtBot) -> FloatingSyncStatus:
    widget = FloatingSyncStatus(live.model, settings)
    qtbot.addWidget(widget)
    return widget


def _syncing(live: LiveModel) -> None:
    t0 = time.time() - 6
    live.publish(
        [
            upd("a", 10, at=t0, item="/library/video/holiday-2026.mp4"),
            upd("b", 20, at=t0, operation_type="download", item="/library/photos/cat.jpg"),
            upd("c", 0, Status.QUEUED, at=t0, total=None, item="/library/raw/DSC_0042.NEF"),
            upd("a", 30, at=t0 + 2, item="/library/video/holiday-2026.mp4"),
            upd("b", 60, at=t0 + 2, operation_type="download", item="/library/photos/cat.jpg"),
            upd("a", 50, at=t0 + 4, item="/library/video/holiday-2026.mp4"),
            upd("b", 90, at=t0 + 4, operation_type="download", item="/library/photos/cat.jpg"),
        ]
    )
    live.wait_for(lambda: len(live.model.active_operations) == 3)


def test_shows_state_count_progress_throughput(
    live: LiveModel, settings: Settings, qtbot: QtBot
) -> None:
    widget = _floating(live, settings, qtbot)
    widget.show()
    qtbot.waitExposed(widget)
    assert widget.word.text() == "Up to date"
    assert widget.count.text() == ""
    assert not widget.progress.isVisible()

    _syncing(live)
    live.wait_for(lambda: widget.count.text() == "3 active")
    p = widget.presentation
    assert p is not None
    assert p.state is FaceState.SYNCING
    assert widget.word.text() == "Syncing"
    assert widget.progress.isVisible()
    assert widget.progress.value() == round(p.overall_progress_pct * 10)
    assert "MB/s" in widget.throughput.text()
    assert widget.latency.text().startswith("ping ")
    assert widget.toolTip() == p.tooltip


def test_hover_expands_click_pins_double_click_opens_dashboard(
    live: LiveModel, settings: Settings, qtbot: QtBot
) -> None:
    widget = _floating(live, settings, qtbot)
    widget.show()
    qtbot.waitExposed(widget)
    _syncing(live)
    collapsed = widget.height()
    assert not widget.expanded

    qtbot.mouseMove(widget, QPoint(20, 10))
    QApplication.sendEvent(widget, _enter(widget))
    assert widget.expanded
    text = widget.details.text()
    assert "holiday-2026.mp4" in text
    assert "cat.jpg" in text
    assert "DSC_0042.NEF" in text
    QApplication.processEvents()
    assert widget.height() > collapsed

    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=QPoint(20, 10))  # pin open
    QApplication.sendEvent(widget, _leave())
    assert widget.expanded
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=QPoint(20, 10))  # unpin
    assert not widget.expanded

    with qtbot.waitSignal(widget.openDashboardRequested, timeout=1000):
        qtbot.mouseDClick(widget, Qt.MouseButton.LeftButton, pos=QPoint(20, 10))


def test_drag_remembers_position_per_screen_and_restores_it(
    live: LiveModel, settings: Settings, qtbot: QtBot
) -> None:
    widget = _floating(live, settings, qtbot)
    widget.show()
    widget.move(300, 200)
    qtbot.waitExposed(widget)
    qtbot.mousePress(widget, Qt.MouseButton.LeftButton, pos=QPoint(10, 10))
    for step in range(1, 6):
        qtbot.mouseMove(widget, QPoint(10 + step * 20, 10 + step * 10))
    qtbot.mouseRelease(widget, Qt.MouseButton.LeftButton, pos=QPoint(110, 60))
    assert widget.pos() != QPoint(300, 200)
    screen = widget.screen().name()
    saved = settings.floating_position(screen)
    assert saved == (widget.x(), widget.y())
    assert not widget.expanded  # a drag is not a click

    again = _floating(live, settings, qtbot)
    again.show()
    again.place()
    assert (again.x(), again.y()) == saved


def test_moves_back_onto_a_visible_screen(
    live: LiveModel, settings: Settings, qtbot: QtBot
) -> None:
    widget = _floating(live, settings, qtbot)
    widget.show()
    qtbot.waitExposed(widget)
    widget.move(5000, 3000)  # where a monitor used to be
    assert widget.ensure_on_screen()
    area = QGuiApplication.primaryScreen().availableGeometry()
    assert area.contains(widget.frameGeometry().center())
    assert not widget.ensure_on_screen()  # already visible: stays put


def test_opacity_and_size_follow_settings(
    live: LiveModel, settings: Settings, qtbot: QtBot
) -> None:
    widget = _floating(live, settings, qtbot)
    assert abs(widget.windowOpacity() - settings.get("floating_opacity")) < 0.01
    settings.set("floating_opacity", 0.5)
    assert abs(widget.windowOpacity() - 0.5) < 0.01
    settings.set("floating_size", "large")
    assert widget.width() == SIZES["large"][0]
    flags = widget.windowFlags()
    assert flags & Qt.WindowType.WindowStaysOnTopHint
    assert flags & Qt.WindowType.FramelessWindowHint


def test_no_work_while_hidden_and_close_only_hides(
    live: LiveModel, settings: Settings, qtbot: QtBot
) -> None:
    widget = _floating(live, settings, qtbot)
    widget.show()
    qtbot.waitExposed(widget)
    widget.close()
    assert not widget.isVisible()
    _syncing(live)
    qtbot.wait(100)
    assert widget.word.text() == "Up to date"  # untouched while hidden
    widget.show()
    assert widget.word.text() == "Syncing"


def test_notice_is_visible(live: LiveModel, settings: Settings, qtbot: QtBot) -> None:
    widget = _floating(live, settings, qtbot)
    widget.show()
    widget.show_notice("This desktop has no system tray")
    assert widget.notice.isVisible()
    assert widget.notice.text() == "This desktop has no system tray"


def test_screenshots_light_and_dark(
    live: LiveModel, settings: Settings, qtbot: QtBot, artifacts_dir: Path
) -> None:
    """One widget through both themes: it follows a theme switch while shown."""
    theme = ThemeWatcher("light")
    _syncing(live)
    widget = _floating(live, settings, qtbot)
    widget.show()
    qtbot.waitExposed(widget)
    try:
        for name in ("light", "dark"):
            theme.set_choice(name)
            widget.set_expanded(False)
            QApplication.processEvents()
            image = widget.grab()
            assert image.save(str(artifacts_dir / f"floating-collapsed-{name}.png"))
            inside = image.toImage().pixelColor(image.width() // 2, image.height() - 4)
            assert (inside.lightness() < 100) == (name == "dark"), inside.name()
            widget.set_expanded(True)
            QApplication.processEvents()
            assert widget.grab().save(str(artifacts_dir / f"floating-expanded-{name}.png"))
    finally:
        theme.set_choice("light")


def _enter(widget: FloatingSyncStatus) -> QEnterEvent:
    local = QPointF(20, 10)
    return QEnterEvent(local, local, QPointF(widget.mapToGlobal(QPoint(20, 10))))


def _leave() -> QEvent:
    return QEvent(QEvent.Type.Leave)
