"""Live metrics: throughput, active operations, error rate, latency and health score.

pyqtgraph costs ~290 ms and ~40 MiB to import, more than the rest of the tray app's
start-up; so it is imported here only when this tab is first shown, never at start-up.

The live view (15 min) draws the model's one-second samples; the range picker (1 h, 24 h,
7 d, 30 d) reads the store's per-minute series on a worker thread, never on the GUI
thread. Where the link to the hub was down the curves break (NaN + connect='finite'):
a gap is drawn as a gap, not as a line through values that were never measured.

Cost control: samples arriving while the tab is hidden only mark it stale; while visible,
redraws are throttled to at most 30 per second; curves clip to the view and downsample.

Signals:
    rangeLoaded(str): the curves now show this range (after a history read, or live).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from PySide6.QtCore import QEvent, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QHideEvent, QShowEvent
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from syncwatch.heap import freeze_long_lived
from syncwatch.qt.workers import Outcome, WorkDone, run_in_thread

if TYPE_CHECKING:
    from syncwatch.qt.model import LiveSample, SyncStateModel

#: Name, seconds shown; "live" reads the model's ring buffer instead of the store.
RANGES: Final = (
    ("live", 15 * 60),
    ("1h", 3600),
    ("24h", 86_400),
    ("7d", 7 * 86_400),
    ("30d", 30 * 86_400),
)
RANGE_LABELS: Final = {
    "live": "Live 15 min",
    "1h": "1 h",
    "24h": "24 h",
    "7d": "7 d",
    "30d": "30 d",
}
#: (key, title, unit, colour, smallest y range) of each stacked plot. Every y axis starts
#: at 0 and shows at least the smallest range, so a flat 0.2 ms does not fill the plot.
SERIES: Final = (
    ("throughput", "Throughput", "MB/s", "#1e6fd0", 1.0),
    ("active", "Active operations", "", "#7b1fa2", 5.0),
    ("error_rate", "Error rate", "%", "#c62828", 10.0),
    ("latency", "Latency", "ms", "#00897b", 10.0),
    ("health", "Health score", "", "#2e7d32", 100.0),
)
#: Below this many points each sample is also drawn as a dot (one point has no line).
DOTS_BELOW: Final = 30
#: At most 30 redraws a second while samples stream in.
MIN_REDRAW_MS: Final = 33


@dataclass(frozen=True, slots=True)
class SeriesData:
    """Columns ready for the curves: times (epoch s) and one list per series key."""

    at: tuple[float, ...]
    values: dict[str, tuple[float, ...]]


def from_live(samples: Sequence[LiveSample]) -> SeriesData:
    """The model's live samples as columns; NaN where the link was down (a gap)."""
    nan = math.nan
    cols: dict[str, list[float]] = {key: [] for key, *_ in SERIES}
    for s in samples:
        up = s.connected
        cols["throughput"].append(s.throughput_bps / 1e6 if up else nan)
        cols["active"].append(float(s.active_ops) if up else nan)
        cols["error_rate"].append(s.error_rate_pct if up else nan)
        cols["latency"].append(nan if s.latency_ms is None or not up else s.latency_ms)
        cols["health"].append(s.health_score)
    return SeriesData(tuple(s.at for s in samples), {k: tuple(v) for k, v in cols.items()})


def from_history(points: Sequence[Any], snapshots: Sequence[Any]) -> SeriesData:
    """The store's per-minute series (SeriesPoint) plus health snapshots (SnapshotRow).

    Series buckets with the link down, and None values, become NaN (gaps). The health
    score comes from the snapshots (every health-check interval), matched to the nearest
    earlier bucket."""
    nan = math.nan

    def num(v: float | None, scale: float = 1.0) -> float:
        return nan if v is None else float(v) / scale

    at = tuple(float(p.at) for p in points)
    health: list[float] = []
    j, last = 0, nan
    ordered = sorted(snapshots, key=lambda r: r.at)
    for t in at:
        while j < len(ordered) and ordered[j].at <= t + 60:
            last = float(ordered[j].score)
            j += 1
        health.append(last)
    values = {
        "throughput": tuple(num(p.throughput_bps, 1e6) if p.connected else nan for p in points),
        "active": tuple(num(p.active_ops) if p.connected else nan for p in points),
        "error_rate": tuple(num(p.error_rate) if p.connected else nan for p in points),
        "latency": tuple(num(p.latency_ms) if p.connected else nan for p in points),
        "health": tuple(health),
    }
    return SeriesData(at, values)


class MetricsPlots(QWidget):
    """The live metrics tab (see module doc)."""

    rangeLoaded = Signal(str)  # noqa: N815

    def __init__(
        self,
        model: SyncStateModel,
        *,
        clock: Callable[[], float] = time.time,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        #: The observed model (live samples, history reader).
        self._model = model
        self._clock = clock
        #: The range shown ("live", "1h", ...).
        self.range_name = "live"
        #: pyqtgraph objects, created on first show: curves by series key.
        self._curves: dict[str, Any] = {}
        self._plots: list[Any] = []
        self._graphics: Any = None
        #: True when data changed while hidden or since the last redraw.
        self._stale = True
        #: The data the curves show now (for tests and for redraws after a theme change).
        self.shown: SeriesData | None = None
        #: Outstanding history read, kept alive until it reports.
        self._job: WorkDone | None = None
        #: Number of redraws done (tests check throttling).
        self.redraws = 0
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(MIN_REDRAW_MS)
        self._redraw_timer.timeout.connect(self._redraw)
        self._build_controls()
        model.liveSampleAdded.connect(self._on_sample)

    def _build_controls(self) -> None:
        self._buttons = QButtonGroup(self)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Range:"))
        for name, _ in RANGES:
            button = QPushButton(RANGE_LABELS[name])
            button.setCheckable(True)
            button.setChecked(name == "live")
            button.setObjectName(f"range-{name}")
            font = button.font()
            font.setBold(name == "live")
            button.setFont(font)
            button.clicked.connect(lambda _=False, n=name: self.set_range(n))
            self._buttons.addButton(button)
            bar.addWidget(button)
        bar.addStretch(1)
        self.status = QLabel("")
        bar.addWidget(self.status)
        self._layout = QVBoxLayout(self)
        self._layout.addLayout(bar)
        self._placeholder = QLabel("Loading plots…")
        self._layout.addWidget(self._placeholder, 1)

    @property
    def built(self) -> bool:
        return self._graphics is not None

    # ------------------------------------------------------------------ building (lazy)

    def _build_plots(self) -> None:
        import pyqtgraph as pg  # noqa: PLC0415 - lazily: see module doc

        pal = self.palette()
        pg.setConfigOptions(
            antialias=False, background=pal.base().color(), foreground=pal.text().color()
        )
        graphics = pg.GraphicsLayoutWidget()
        graphics.ci.setSpacing(2)
        first = None
        for row, (key, _title, _unit, colour, _floor) in enumerate(SERIES):
            plot = graphics.addPlot(row=row, col=0, axisItems={"bottom": pg.DateAxisItem()})
            left = plot.getAxis("left")
            left.enableAutoSIPrefix(False)
            left.setWidth(48)
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
            plot.setMouseEnabled(x=True, y=False)
            plot.setMenuEnabled(False)
            plot.hideButtons()
            if row < len(SERIES) - 1:
                plot.getAxis("bottom").setStyle(showValues=False)
            if first is None:
                first = plot
            else:
                plot.setXLink(first)
            plot.enableAutoRange(y=False)
            self._curves[key] = plot.plot(
                pen=pg.mkPen(colour, width=1.5),
                connect="finite",
                symbolBrush=colour,
                symbolPen=None,
                symbolSize=4,
            )
            self._plots.append(plot)
        self._placeholder.hide()
        self._layout.addWidget(graphics, 1)
        self._graphics = graphics
        self._apply_palette()
        # pyqtgraph's ~50,000 module objects would otherwise be rescanned by every full
        # collection for the rest of the process's life.
        freeze_long_lived("loading pyqtgraph")

    def _apply_palette(self) -> None:
        """Plot colours from the application palette (light or dark theme)."""
        if self._graphics is None:
            return
        pal = QGuiApplication.palette()
        base, text = pal.base().color(), pal.text().color()
        self._graphics.setBackground(base)
        for plot, (_key, title, unit, *_rest) in zip(self._plots, SERIES, strict=True):
            for side in ("left", "bottom"):
                axis = plot.getAxis(side)
                axis.setPen(text)
                axis.setTextPen(text)
            plot.setTitle(f"{title} ({unit})" if unit else title, size="9pt", color=text)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._apply_palette()

    # ------------------------------------------------------------------ showing

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        if not self.built:
            self._build_plots()
        if self._stale:
            self.reload()

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802
        super().hideEvent(event)
        self._redraw_timer.stop()

    def _on_sample(self, _sample: object) -> None:
        if self.range_name != "live":
            return
        self._stale = True
        if self.isVisible() and not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def set_range(self, name: str) -> None:
        """Show ``name`` ("live", "1h", "24h", "7d" or "30d")."""
        if name not in RANGE_LABELS:
            raise ValueError(f"unknown range {name!r}; choose one of {', '.join(RANGE_LABELS)}")
        self.range_name = name
        for button in self._buttons.buttons():
            chosen = button.objectName() == f"range-{name}"
            button.setChecked(chosen)
            font = button.font()
            font.setBold(chosen)  # the chosen range reads clearly in both themes
            button.setFont(font)
        self._stale = True
        if self.isVisible():
            self.reload()

    def reload(self) -> None:
        """Fetch the current range's data (live: at once; history: on a worker thread)."""
        if self.range_name == "live":
            self._redraw()
            return
        reader = self._model.history_reader()
        if reader is None:
            self.status.setText("No history store")
            return
        span = dict(RANGES)[self.range_name]
        end = self._clock()
        start = end - span
        bucket = max(60, span // 1440)
        name = self.range_name
        self.status.setText("Loading…")

        def work() -> SeriesData:
            points = reader.series(start, end, bucket)
            snapshots = reader.snapshots(start, end)
            return from_history(points, snapshots)

        def done(outcome: Outcome[SeriesData]) -> None:
            self._job = None
            if name != self.range_name:
                return
            if outcome.error is not None or outcome.value is None:
                self.status.setText(f"Could not read the history: {outcome.error}")
                return
            self.status.setText("")
            self._show(outcome.value, start, end)

        self._job = run_in_thread(work, done)

    def _redraw(self) -> None:
        if not self.built or not self.isVisible() or self.range_name != "live":
            return
        now = self._clock()
        self._show(from_live(self._model.live_samples), now - 15 * 60, now)

    def _show(self, data: SeriesData, start: float, end: float) -> None:
        self._stale = False
        self.shown = data
        self.redraws += 1
        dots = "o" if len(data.at) < DOTS_BELOW else None
        for (key, *_, floor), plot in zip(SERIES, self._plots, strict=True):
            values = data.values[key]
            self._curves[key].setData(list(data.at), list(values), connect="finite", symbol=dots)
            finite = [v for v in values if math.isfinite(v)]
            top = max([floor, *finite]) if key != "health" else 100.0
            plot.setYRange(0, top * (1.0 if key == "health" else 1.1), padding=0.02)
        if self._plots:
            self._plots[0].setXRange(start, end, padding=0)
        self.rangeLoaded.emit(self.range_name)
