"""FloatingSyncStatus: a small always-on-top window, the pinned progress view users ask for.

Collapsed it is one line (status dot, state word, active count, overall progress bar,
throughput, latency); hovering expands it to the list of active operations, a click pins
it open or closed, a double-click opens the dashboard. It can be dragged anywhere and
remembers where it was left on each screen (in Settings, keyed by the screen's name);
when monitors come and go it moves itself back onto a visible screen, so it is never
lost off-screen. Opacity and size follow the settings.

It paints the same :class:`~syncwatch.ui.presenter.Presentation` as the tray, and does no
work at all while hidden: model signals only mark it stale until it is shown again.

Signals:
    openDashboardRequested(): double-click.
    visibilityChanged(bool): shown or hidden (so the tray menu can say "Show"/"Hide").
"""

from __future__ import annotations

import html
import time
from typing import TYPE_CHECKING, Final

from PySide6.QtCore import QEvent, QPoint, QRect, Qt, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QEnterEvent,
    QGuiApplication,
    QHideEvent,
    QMouseEvent,
    QScreen,
    QShowEvent,
)
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QVBoxLayout, QWidget

from syncwatch.core.operations import Operation
from syncwatch.ui.presenter import Presentation, format_duration, format_rate, present
from syncwatch.ui.source import Clock, face_inputs

if TYPE_CHECKING:
    from syncwatch.qt.model import SyncStateModel
    from syncwatch.qt.settings import Settings

#: Width and base font size per "floating_size" setting.
SIZES: Final = {"small": (250, 9), "medium": (310, 10), "large": (400, 12)}
#: Rows listed when expanded; the rest are summarised as "+N more".
MAX_ROWS: Final = 8
#: Pixels the mouse must travel before a press becomes a drag rather than a click.
DRAG_THRESHOLD: Final = 4
#: How much of the widget must lie on some screen for it to count as visible.
MIN_VISIBLE_PX: Final = 40


class FloatingSyncStatus(QWidget):
    """The floating status window (see module doc)."""

    openDashboardRequested = Signal()  # noqa: N815
    visibilityChanged = Signal(bool)  # noqa: N815

    def __init__(
        self, model: SyncStateModel, settings: Settings, *, clock: Clock = time.time
    ) -> None:
        super().__init__(
            None,
            Qt.WindowType.Tool
            | Qt.WindowType.FramelessWindowHint
            | Qt.WindowType.WindowStaysOnTopHint,
        )
        self.setObjectName("FloatingSyncStatus")
        self.setWindowTitle("Syncwatch status")
        #: The observed model.
        self._model = model
        #: Where position, size and opacity are kept.
        self._settings = settings
        #: Wall clock, injected for tests.
        self._clock = clock
        #: True when the model changed while hidden: refresh on the next show.
        self._stale = True
        #: Pinned open by a click (hover expansion is temporary).
        self._pinned = False
        #: Mouse press position (global) and the window's position then, while dragging.
        self._press: tuple[QPoint, QPoint] | None = None
        self._dragged = False
        #: What is shown now.
        self.presentation: Presentation | None = None
        #: The (state colour, dot radius, window, mid colours) the style sheet was built from.
        self._style_key: tuple[str, int, str, str] | None = None
        self._build()
        self.apply_settings()
        settings.changed.connect(self._on_setting_changed)
        for signal in (
            model.operationsChanged,
            model.connectionChanged,
            model.latencyChanged,
            model.healthChanged,
        ):
            signal.connect(self.refresh)
        app = QGuiApplication.instance()
        if isinstance(app, QGuiApplication):
            app.screenRemoved.connect(self._on_screens_changed)
            app.screenAdded.connect(self._watch_screen)
        for screen in QGuiApplication.screens():
            self._watch_screen(screen, check=False)

    def _build(self) -> None:
        self.dot = QLabel()
        self.dot.setObjectName("statusDot")
        self.word = QLabel()
        self.word.setObjectName("stateWord")
        self.count = QLabel()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(6)
        self.throughput = QLabel()
        self.latency = QLabel()
        self.notice = QLabel()
        self.notice.setObjectName("notice")
        self.notice.setWordWrap(True)
        self.notice.hide()
        self.details = QLabel()
        self.details.setObjectName("details")
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.details.hide()
        top = QHBoxLayout()
        top.setSpacing(6)
        top.addWidget(self.dot)
        top.addWidget(self.word, 1)
        top.addWidget(self.count)
        bottom = QHBoxLayout()
        bottom.addWidget(self.throughput, 1)
        bottom.addWidget(self.latency)
        box = QVBoxLayout(self)
        box.setContentsMargins(10, 8, 10, 8)
        box.setSpacing(4)
        box.addLayout(top)
        box.addWidget(self.progress)
        box.addLayout(bottom)
        box.addWidget(self.notice)
        box.addWidget(self.details)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)

    # ------------------------------------------------------------------ settings

    def apply_settings(self) -> None:
        """Opacity and size from the settings (called again when they change)."""
        self.setWindowOpacity(float(self._settings.get("floating_opacity")))
        width, points = SIZES.get(str(self._settings.get("floating_size")), SIZES["medium"])
        font = self.font()
        font.setPointSize(points)
        self.setFont(font)
        self.setFixedWidth(width)
        self.dot.setFixedSize(points + 4, points + 4)
        self._restyle()

    def _on_setting_changed(self, name: str) -> None:
        if name in ("floating_opacity", "floating_size", "theme"):
            self.apply_settings()

    def _restyle(self) -> None:
        """Colours from the state and the palette; skipped when nothing changed, which also
        ends the loop of setStyleSheet itself sending a PaletteChange."""
        colour = self.presentation.colour if self.presentation else "#6b6b6b"
        radius = (self.dot.width()) // 2
        pal = QGuiApplication.palette()
        window, mid = pal.window().color().name(), pal.mid().color().name()
        key = (colour, radius, window, mid)
        if key == self._style_key:
            return
        self._style_key = key
        self.setStyleSheet(
            f"#FloatingSyncStatus {{ background: {window};"
            f" border: 1px solid {mid}; border-radius: 8px; }}"
            f"#statusDot {{ background: {colour}; border-radius: {radius}px; }}"
            "#stateWord { font-weight: bold; }"
            "#notice { color: #b26a00; }"
            f"QProgressBar::chunk {{ background: {colour}; border-radius: 2px; }}"
        )

    # ------------------------------------------------------------------ model -> view

    def refresh(self, *_: object) -> None:
        """Re-present from the model, or only note that it changed while hidden."""
        if not self.isVisible():
            self._stale = True
            return
        self._stale = False
        p = present(face_inputs(self._model, self._clock))
        colour_changed = self.presentation is None or self.presentation.colour != p.colour
        self.presentation = p
        self.word.setText(p.word)
        self.count.setText(f"{p.active_count} active" if p.active_count else "")
        pct = p.overall_progress_pct
        self.progress.setVisible(pct is not None)
        self.progress.setValue(round((pct or 0) * 10))
        self.throughput.setText(
            f"↕ {p.throughput_text}"
            + (f" · {format_duration(p.overall_eta_s)} left" if p.overall_eta_s is not None else "")
        )
        self.latency.setText(f"ping {p.latency_text.split(' (')[0]}")
        self.setToolTip(p.tooltip)
        if self.details.isVisible():
            self.details.setText(self._details_html(self._model.active_operations))
        if colour_changed:
            self._restyle()
        self.adjustSize()

    def show_notice(self, text: str) -> None:
        """A message inside the widget, e.g. why there is no tray icon."""
        self.notice.setText(text)
        self.notice.setVisible(bool(text))
        self.adjustSize()

    @property
    def expanded(self) -> bool:
        return self.details.isVisible()

    def set_expanded(self, expanded: bool) -> None:
        if expanded == self.details.isVisible():
            return
        if expanded:
            self.details.setText(self._details_html(self._model.active_operations))
        self.details.setVisible(expanded)
        self.adjustSize()

    def _details_html(self, active: list[Operation]) -> str:
        if not active:
            return "<i>No active operations</i>"
        now_us = round(self._clock() * 1_000_000)
        rows = []
        for op in active[:MAX_ROWS]:
            name = (op.item or op.operation_id).rsplit("/", 1)[-1]
            eta = op.eta_at(now_us)
            extra = format_rate(op.speed_bps) if op.speed_bps is not None else op.status.value
            if eta is not None:
                extra += f" · {format_duration(eta)}"
            rows.append(
                f"<tr><td>{html.escape(op.operation_type)}</td>"
                f"<td>{html.escape(name[:36])}</td>"
                f"<td align='right'>{op.progress:.0f}%</td>"
                f"<td align='right'>{html.escape(extra)}</td></tr>"
            )
        more = len(active) - MAX_ROWS
        tail = f"<tr><td colspan='4'><i>+{more} more</i></td></tr>" if more > 0 else ""
        return f"<table cellspacing='3' width='100%'>{''.join(rows)}{tail}</table>"

    # ------------------------------------------------------------------ showing, placing

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        """Follow a theme switch: the frame's colours come from the palette."""
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._restyle()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        if self._stale:
            self.refresh()
        self.visibilityChanged.emit(True)

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802
        super().hideEvent(event)
        self.visibilityChanged.emit(False)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        """Closing hides: the app keeps running in the tray."""
        event.ignore()
        self.hide()

    def place(self) -> None:
        """Move to the position remembered for the current screen, or to the default corner."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        saved = self._settings.floating_position(screen.name()) if screen else None
        if saved is not None:
            self.move(*saved)
        elif screen is not None:
            area = screen.availableGeometry()
            self.move(area.right() - self.width() - 16, area.top() + 48)
        self.ensure_on_screen()

    def ensure_on_screen(self) -> bool:
        """Move onto the primary screen if no screen shows enough of the widget; True if moved."""
        frame = self.frameGeometry()
        for screen in QGuiApplication.screens():
            overlap = frame.intersected(screen.availableGeometry())
            if overlap.width() >= MIN_VISIBLE_PX and overlap.height() >= min(
                MIN_VISIBLE_PX, frame.height()
            ):
                return False
        primary = QGuiApplication.primaryScreen()
        area = primary.availableGeometry()
        saved = self._settings.floating_position(primary.name())
        corner = QPoint(area.right() - frame.width() - 16, area.top() + 48)
        target = QPoint(*saved) if saved else corner
        if not area.intersects(QRect(target, frame.size())):
            target = corner
        self.move(target)
        return True

    def _watch_screen(self, screen: QScreen, check: bool = True) -> None:
        """A monitor that changes resolution or arrangement may leave the widget outside."""
        screen.availableGeometryChanged.connect(self._on_screens_changed)
        if check:
            self._on_screens_changed()

    def _on_screens_changed(self, *_: object) -> None:
        if self.isVisible():
            self.ensure_on_screen()

    # ------------------------------------------------------------------ mouse

    def enterEvent(self, event: QEnterEvent) -> None:  # noqa: N802
        super().enterEvent(event)
        self.set_expanded(True)

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802
        super().leaveEvent(event)
        if not self._pinned and self._press is None:
            self.set_expanded(False)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() is Qt.MouseButton.LeftButton:
            self._press = (event.globalPosition().toPoint(), self.pos())
            self._dragged = False
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._press is not None:
            start, origin = self._press
            delta = event.globalPosition().toPoint() - start
            if self._dragged or delta.manhattanLength() > DRAG_THRESHOLD:
                self._dragged = True
                self.move(origin + delta)
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._press is not None and event.button() is Qt.MouseButton.LeftButton:
            if self._dragged:
                self.remember_position()
            else:
                self._pinned = not self._pinned
                self.set_expanded(self._pinned)
            self._press = None
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self.openDashboardRequested.emit()
        super().mouseDoubleClickEvent(event)

    def remember_position(self) -> None:
        screen = self.screen()
        if screen is not None:
            self._settings.set_floating_position(screen.name(), self.x(), self.y())
