"""Live metrics: lazy pyqtgraph, curves from live samples and from the store, gaps, cost."""

from __future__ import annotations

import math
import subprocess
import sys
import time

import pytest
from pytestqt.qtbot import QtBot

from syncwatch.core.protocol import Status
from syncwatch.qt.model import LiveSample
from syncwatch.ui.dashboard.plots import MetricsPlots, from_live
from tests.ui.harness import LiveModel, upd


def _sample(at: float, *, connected: bool = True, latency: float | None = 12.0) -> LiveSample:
    return LiveSample(at, 2_000_000.0, 30.0, 3, 4.0, latency, 97.0, connected)


def test_faces_start_without_pyqtgraph() -> None:
    """Importing every face (what the tray-only app loads) must not import pyqtgraph."""
    code = (
        "import sys\n"
        "import syncwatch.ui.tray, syncwatch.ui.floating, syncwatch.ui.dashboard.window\n"
        "assert 'pyqtgraph' not in sys.modules, 'pyqtgraph imported eagerly'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_live_samples_become_columns_with_gaps_where_the_link_was_down() -> None:
    data = from_live(
        [_sample(100.0), _sample(101.0, connected=False), _sample(102.0, latency=None)]
    )
    assert data.at == (100.0, 101.0, 102.0)
    assert data.values["throughput"][0] == 2.0  # MB/s
    assert math.isnan(data.values["throughput"][1])
    assert math.isnan(data.values["active"][1])
    assert math.isnan(data.values["latency"][2])
    assert data.values["health"] == (97.0, 97.0, 97.0)  # the score is known even offline


def test_plots_are_built_on_first_show_and_draw_live_samples(live: LiveModel, qtbot: QtBot) -> None:
    plots = MetricsPlots(live.model)
    qtbot.addWidget(plots)
    assert not plots.built
    live.publish([upd("a", 10), upd("b", 20)])
    qtbot.waitUntil(lambda: len(live.model.live_samples) >= 1, timeout=5000)
    assert plots.redraws == 0  # hidden: nothing drawn
    plots.resize(900, 700)
    plots.show()
    qtbot.waitExposed(plots)
    assert plots.built
    qtbot.waitUntil(lambda: plots.shown is not None)
    xs, ys = plots._curves["active"].getData()
    assert len(xs) == len(live.model.live_samples)
    assert ys[-1] == 2.0

    before = plots.redraws
    live.publish([upd("c", 5)])
    qtbot.waitUntil(lambda: plots.redraws > before, timeout=5000)
    xs, ys = plots._curves["active"].getData()
    assert ys[-1] == 3.0


def test_hidden_plots_do_no_work(live: LiveModel, qtbot: QtBot) -> None:
    plots = MetricsPlots(live.model)
    qtbot.addWidget(plots)
    plots.show()
    qtbot.waitExposed(plots)
    plots.hide()
    drawn = plots.redraws
    count = len(live.model.live_samples)
    live.publish([upd("a", 10, Status.IN_PROGRESS)])
    qtbot.waitUntil(lambda: len(live.model.live_samples) > count, timeout=5000)
    qtbot.wait(100)
    assert plots.redraws == drawn
    plots.show()
    qtbot.waitUntil(lambda: plots.redraws == drawn + 1, timeout=2000)


def test_range_picker_reads_the_store_on_a_worker(live: LiveModel, qtbot: QtBot) -> None:
    plots = MetricsPlots(live.model)
    qtbot.addWidget(plots)
    plots.resize(900, 700)
    plots.show()
    qtbot.waitExposed(plots)
    t0 = time.time() - 120
    live.publish(
        [
            upd("a", 10, at=t0),
            upd("a", 100, Status.COMPLETED, at=t0 + 30),
            upd("b", 40, Status.FAILED, at=t0 + 60, error="boom"),
        ]
    )
    live.wait_for(lambda: "a" in live.model.operations and live.model.operations["a"].is_terminal)
    live.engine.check_health_now()
    qtbot.wait(200)
    with qtbot.waitSignal(plots.rangeLoaded, timeout=10_000) as loaded:
        plots.set_range("1h")
    assert loaded.args == ["1h"]
    assert plots.shown is not None
    assert len(plots.shown.at) >= 1
    assert all(t >= time.time() - 3700 for t in plots.shown.at)
    xs, _ = plots._curves["throughput"].getData()
    assert len(xs) == len(plots.shown.at)
    with pytest.raises(ValueError, match="unknown range"):
        plots.set_range("2h")
    with qtbot.waitSignal(plots.rangeLoaded, timeout=5000):
        plots.set_range("live")
