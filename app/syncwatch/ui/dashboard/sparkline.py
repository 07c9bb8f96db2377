"""A tiny latency sparkline painted with QPainter: no pyqtgraph needed on the overview."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPointF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget


class Sparkline(QWidget):
    """Draws (time, value) points scaled to the widget; empty until two points exist."""

    def __init__(self, colour: str = "#00897b", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        #: The points drawn, oldest first.
        self.points: tuple[tuple[float, float], ...] = ()
        self._colour = QColor(colour)
        self.setMinimumSize(120, 28)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(200, 32)

    def set_points(self, points: Sequence[tuple[float, float]]) -> None:
        points = tuple(points)
        if points != self.points:
            self.points = points
            self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        if len(self.points) < 2:
            painter = QPainter(self)
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignVCenter, "collecting pings…")
            painter.end()
            return
        ts = [p[0] for p in self.points]
        vs = [p[1] for p in self.points]
        t0, t1 = min(ts), max(ts)
        v1 = max(vs) or 1.0
        w, h = self.width() - 2, self.height() - 4
        span = (t1 - t0) or 1.0
        line = QPolygonF(
            [QPointF(1 + (t - t0) / span * w, 2 + h - (v / v1) * h) for t, v in self.points]
        )
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(self._colour, 1.5, Qt.PenStyle.SolidLine))
        painter.drawPolyline(line)
        painter.end()
