"""Figures for the dashboard's live-metrics plots: what one redraw costs the GUI thread.

Run: ``.venv/bin/python -m benchmarks.bench_plots`` (Qt's offscreen platform unless a
display is set). The widget measured is the real ``MetricsPlots`` (5 stacked pyqtgraph
plots, 900 x 420 px); its data source is a small stand-in for the model and the history
reader, since what is measured is the face, not where its numbers come from:

- live: the 15-minute window full (900 one-second samples, a link outage in it), one new
  sample per redraw, as while the tab is open (redraws are throttled to 30 a second);
- 30 d: the range picker's longest range (1,440 buckets of 30 minutes, health snapshots
  every 2 minutes), read on a worker thread and drawn when it arrives.

Each redraw is timed together with the paint it causes (``QWidget.grab``: the widget is
rendered into an image at once). The ceiling is bare pyqtgraph in the same run: a
``GraphicsLayoutWidget`` of the same size with 5 plots whose curves get the same arrays
(``setData``) and are painted the same way. Target: a live redraw (data + paint) well
within the 33 ms between two redraws, so that an open tab never makes the GUI lag.
"""

from __future__ import annotations

import functools
import math
import os
import statistics
import sys
import time
from collections.abc import Callable

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen" if not os.environ.get("DISPLAY") else "xcb")

from PySide6.QtCore import QEventLoop, QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication

from syncwatch.client.store.rows import SeriesPoint, SnapshotRow
from syncwatch.qt.model import LiveSample
from syncwatch.ui.dashboard.plots import SERIES, MetricsPlots, from_history, from_live

SIZE = (900, 420)
LIVE_POINTS = 900
REDRAWS = 60
TARGET_MS = 33.0
NOW = 1_780_000_000.0


def live_sample(i: int) -> LiveSample:
    """Sample ``i`` of a busy link: throughput and activity wave, errors now and then, the
    link down for 30 s in the middle of the window."""
    up = not 400 <= i % LIVE_POINTS < 430
    return LiveSample(
        at=NOW - LIVE_POINTS + i,
        throughput_bps=8e6 + 6e6 * math.sin(i / 40),
        throughput_ops_per_min=120.0 + 60 * math.sin(i / 25),
        active_ops=40 + int(30 * math.sin(i / 15)),
        error_rate_pct=(i % 97) / 20,
        latency_ms=12.0 + 8 * math.sin(i / 7),
        health_score=92.0 - (i % 97) / 10,
        connected=up,
    )


class Source(QObject):
    """What ``MetricsPlots`` observes of the model: the live samples, the signal that a new
    one came, and the history reader (here: 30 days of per-bucket series)."""

    liveSampleAdded = Signal(object)  # noqa: N815

    def __init__(self) -> None:
        super().__init__()
        self.live_samples: list[LiveSample] = [live_sample(i) for i in range(LIVE_POINTS)]

    def add_sample(self) -> None:
        sample = live_sample(len(self.live_samples))
        self.live_samples = [*self.live_samples[1:], sample]
        self.liveSampleAdded.emit(sample)

    def history_reader(self) -> Source:
        return self

    def series(self, start: float, end: float, bucket: int) -> list[SeriesPoint]:
        return month_points(start, end, bucket)

    def snapshots(self, start: float, end: float) -> list[SnapshotRow]:
        return month_snapshots(start, end)


@functools.cache
def month_points(start: float, end: float, bucket: int) -> list[SeriesPoint]:
    """Made once: the reader's cost is not the face's."""
    points = []
    at = start
    while at < end:
        i = int((at - start) // bucket)
        up = i % 300 > 10
        points.append(
            SeriesPoint(at, 100 + i % 50, i % 7, (i % 7) / (107 + i % 50), 110.0,
                        5e6 + 4e6 * math.sin(i / 30), 30 + i % 40, 15.0 + i % 9, up)
        )  # fmt: skip
        at += bucket
    return points


@functools.cache
def month_snapshots(start: float, end: float) -> list[SnapshotRow]:
    count = int((end - start) // 120)
    return [
        SnapshotRow(start + 120 * i, "healthy", 90.0 - i % 20, 0.02, 4.0, 30.0, 110.0, 5e6, 15.0)
        for i in range(count)
    ]


def timed(step: Callable[[], object], paint: Callable[[], object]) -> list[float]:
    times = []
    for _ in range(REDRAWS):
        started = time.perf_counter()
        step()
        paint()
        times.append((time.perf_counter() - started) * 1000)
    return times


def bench_raw(app: QApplication) -> tuple[list[float], list[float]]:
    """Bare pyqtgraph: 5 plots, the same arrays, the same paint."""
    import pyqtgraph as pg

    graphics = pg.GraphicsLayoutWidget()
    graphics.resize(*SIZE)
    curves = [graphics.addPlot(row=row, col=0).plot() for row in range(len(SERIES))]
    graphics.show()
    app.processEvents()

    # The arrays are made beforehand: the ceiling is pyqtgraph's own work.
    samples = [live_sample(i) for i in range(LIVE_POINTS + REDRAWS)]
    whole = from_live(samples)
    windows = iter(range(1, REDRAWS + 1))

    def live_step() -> None:
        k = next(windows)
        xs = list(whole.at[k : k + LIVE_POINTS])
        for curve, (key, *_) in zip(curves, SERIES, strict=True):
            curve.setData(xs, list(whole.values[key][k : k + LIVE_POINTS]), connect="finite")

    live = timed(live_step, graphics.grab)
    start = NOW - 30 * 86_400
    month = from_history(month_points(start, NOW, 1800), month_snapshots(start, NOW))

    def history_step() -> None:
        for curve, (key, *_) in zip(curves, SERIES, strict=True):
            curve.setData(list(month.at), list(month.values[key]), connect="finite")

    drawn = timed(history_step, graphics.grab)
    graphics.close()
    return live, drawn


def bench_app(app: QApplication, source: Source) -> tuple[list[float], list[float], int]:
    """The real MetricsPlots: a live redraw per new sample, and the 30 d range."""
    plots = MetricsPlots(source, clock=lambda: source.live_samples[-1].at)  # type: ignore[arg-type]  # the stand-in
    plots.resize(*SIZE)
    plots.show()
    app.processEvents()
    if not plots.built:
        raise AssertionError("the plots were not built on show")

    def live_step() -> None:
        before = plots.redraws
        source.add_sample()  # starts the 33 ms redraw timer, as in the app
        plots._redraw()
        if plots.redraws != before + 1:
            raise AssertionError("no redraw")

    live = timed(live_step, plots.grab)
    points = len(plots.shown.at) if plots.shown is not None else 0

    def month_step() -> None:
        loop = QEventLoop()
        plots.rangeLoaded.connect(loop.quit)
        QTimer.singleShot(10_000, loop.quit)
        plots.set_range("30d")  # the store is read on a worker thread
        loop.exec()
        plots.rangeLoaded.disconnect(loop.quit)
        if plots.shown is None or len(plots.shown.at) != 1440:
            raise AssertionError(f"the 30 d range was not drawn: {plots.status.text()!r}")

    month = timed(month_step, plots.grab)
    plots.close()
    return live, month, points


def row(label: str, times: list[float], ceiling: list[float] | None = None) -> str:
    median = statistics.median(times)
    ratio = f"{median / statistics.median(ceiling):>6.2f}x" if ceiling else " " * 7
    return f"{label:<60} {median:>7.1f} ms  (max {max(times):>6.1f})  {ratio}"


def main() -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    print(f"platform {app.platformName()}, {SIZE[0]}x{SIZE[1]} px, {REDRAWS} redraws each")
    raw_live, raw_month = bench_raw(app)
    live, month, points = bench_app(app, Source())
    print(f"{'measure (median per redraw, data + paint)':<60} {'figure':>10}  {'':>13}  vs raw")
    print(row(f"raw pyqtgraph: 5 curves x {LIVE_POINTS} points, setData + paint", raw_live))
    print(row(f"MetricsPlots live: {points} samples, one new per redraw", live, raw_live))
    print(row("raw pyqtgraph: 5 curves x 1,440 points (30 d)", raw_month))
    print(row("MetricsPlots 30 d: worker-thread read + draw", month, raw_month))
    met = statistics.median(live) < TARGET_MS
    print("targets met" if met else f"TARGETS MISSED (live redraw >= {TARGET_MS:.0f} ms)")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
