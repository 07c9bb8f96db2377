"""NetworkMonitor: reachability hints and resume-from-sleep detection."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from syncwatch.qt.network import NetworkMonitor


class SteppedClocks:
    """A wall clock and a monotonic clock that tests move by hand."""

    def __init__(self) -> None:
        self.wall = 1_700_000_000.0
        self.mono = 500.0

    def awake(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds

    def asleep(self, seconds: float) -> None:
        self.wall += seconds  # the monotonic clock stops while the machine sleeps


def test_a_wall_clock_jump_is_reported_as_a_resume(qtbot: QtBot) -> None:
    clocks = SteppedClocks()
    monitor = NetworkMonitor(wall_clock=lambda: clocks.wall, monotonic=lambda: clocks.mono)
    clocks.awake(5)
    assert monitor.check_resume() is None
    clocks.asleep(3600)
    clocks.awake(5)
    with qtbot.waitSignal(monitor.resumed) as blocker:
        slept = monitor.check_resume()
    assert slept is not None
    assert abs(slept - 3600) < 1e-6
    assert blocker.args is not None
    assert abs(blocker.args[0] - 3600) < 1e-6
    clocks.awake(5)
    assert monitor.check_resume() is None  # reported once


def test_small_clock_adjustments_are_not_a_resume(qtbot: QtBot) -> None:
    clocks = SteppedClocks()
    monitor = NetworkMonitor(wall_clock=lambda: clocks.wall, monotonic=lambda: clocks.mono)
    with qtbot.assertNotEmitted(monitor.resumed):
        clocks.awake(5)
        clocks.wall += 2.0  # NTP step
        monitor.check_resume()
        clocks.wall -= 30.0  # the clock set back is not a sleep either
        monitor.check_resume()


def test_reachability_hints_emit_only_on_change(qtbot: QtBot) -> None:
    monitor = NetworkMonitor()
    with qtbot.waitSignal(monitor.onlineChanged) as blocker:
        monitor.set_online_hint(False)
    assert blocker.args == [False]
    with qtbot.assertNotEmitted(monitor.onlineChanged):
        monitor.set_online_hint(False)
        monitor.set_online_hint(None)  # "unknown" keeps the last hint
    assert monitor.online is False
    with qtbot.waitSignal(monitor.onlineChanged) as blocker:
        monitor.set_online_hint(True)
    assert blocker.args == [True]


def test_start_loads_the_platform_backend_without_warnings(qtbot: QtBot) -> None:
    monitor = NetworkMonitor(check_interval_ms=50)
    monitor.start()
    try:
        # In this container the glib backend loads and reports Online (a hint only).
        assert monitor.backend in (None, "glib", "networkmanager", "connman")
        if monitor.backend is not None:
            assert monitor.online in (True, False, None)
        qtbot.wait(120)  # the resume check ticks without reporting a sleep
    finally:
        monitor.stop()


def test_for_a_hub_on_loopback_only_the_resume_check_runs(qtbot: QtBot) -> None:
    """start(reachability=False) loads no backend, yet a sleep is still reported by the
    periodic check alone."""
    clocks = SteppedClocks()
    monitor = NetworkMonitor(
        wall_clock=lambda: clocks.wall, monotonic=lambda: clocks.mono, check_interval_ms=20
    )
    monitor.start(reachability=False)
    try:
        assert monitor.backend is None
        assert monitor.online is None
        clocks.asleep(600)
        with qtbot.waitSignal(monitor.resumed, timeout=2000) as blocker:
            pass  # the timer's next check sees the jump
        assert blocker.args is not None
        assert abs(blocker.args[0] - 600) < 1e-6
    finally:
        monitor.stop()
