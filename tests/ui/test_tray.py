"""The tray face driven by a real model (hub on loopback, Reporter publishing)."""

from __future__ import annotations

import time

import pytest
from pytestqt.qtbot import QtBot

from syncwatch.core.alerts import Notification, NotificationKind, Severity
from syncwatch.core.protocol import Status
from syncwatch.hub import Hub, HubConfig
from syncwatch.ui.icons import IconFactory
from syncwatch.ui.presenter import FaceState
from syncwatch.ui.tray import NO_TRAY_MESSAGE, CompactSyncIndicator
from tests.ui.harness import LiveModel, upd


def _tray(live: LiveModel, **kw: object) -> CompactSyncIndicator:
    return CompactSyncIndicator(live.model, IconFactory(), **kw)  # type: ignore[arg-type]


def test_icon_badge_and_tooltip_follow_the_operations(live: LiveModel) -> None:
    tray = _tray(live)
    p = tray.presentation
    assert p is not None
    assert (p.state, p.badge) == (FaceState.IDLE, 0)
    assert "No active operations" in tray.tray.toolTip()

    t0 = time.time() - 4
    live.publish(
        [upd("a", 10, at=t0), upd("b", 5, at=t0), upd("a", 30, at=t0 + 2), upd("b", 25, at=t0 + 2)]
    )
    live.wait_for(lambda: tray.presentation is not None and tray.presentation.badge == 2)
    p = tray.presentation
    assert p.state is FaceState.SYNCING
    assert tray.tray.toolTip().startswith("Syncwatch — Syncing\n2 active operations, ")
    # progress and ETA follow within a second (tooltip updates are throttled)
    live.wait_for(lambda: "2 active operations, 28%" in tray.tray.toolTip(), timeout_ms=2500)
    tip = tray.tray.toolTip().splitlines()
    assert any(line.startswith("Latency ") for line in tip)
    assert any(line.startswith("Health 100/100") for line in tip)
    assert not tray.tray.icon().isNull()

    live.publish([upd("a", 100, Status.COMPLETED), upd("b", 100, Status.COMPLETED)])
    live.wait_for(
        lambda: tray.presentation is not None and tray.presentation.state is FaceState.IDLE
    )
    assert "Syncwatch — Up to date" in tray.tray.toolTip()


def test_failures_turn_it_critical_with_the_reason_and_notify(
    live: LiveModel, qtbot: QtBot
) -> None:
    tray = _tray(live)
    shown: list[Notification] = []
    tray.notificationShown.connect(shown.append)
    ops = [upd(f"ok{i}", 100, Status.COMPLETED) for i in range(6)]
    ops += [upd(f"bad{i}", 30, Status.FAILED, error="disk full") for i in range(4)]
    live.publish(ops)
    live.wait_for(
        lambda: tray.presentation is not None and tray.presentation.state is FaceState.CRITICAL
    )
    assert tray.presentation.top_reason == "error rate 40% over 15 min"
    assert "— error rate 40% over 15 min" in tray.tray.toolTip()
    live.wait_for(lambda: any(n.kind is NotificationKind.OPERATIONS_FAILED for n in shown))
    failed = next(n for n in shown if n.kind is NotificationKind.OPERATIONS_FAILED)
    assert failed.title.startswith("Upload failed")
    assert failed.body == "disk full"


def test_paused_notifications_are_not_shown(live: LiveModel, qtbot: QtBot) -> None:
    tray = _tray(live)
    shown: list[Notification] = []
    held: list[Notification] = []
    tray.notificationShown.connect(shown.append)
    tray.notificationSuppressed.connect(held.append)

    assert not tray.action_resume.isEnabled()
    tray.action_pause_hour.trigger()
    until = live.model.notifications_paused_until
    assert until is not None
    assert until == pytest.approx(time.time() + 3600, abs=5)
    assert tray.action_resume.isEnabled()
    assert tray.presentation is not None
    assert tray.presentation.paused
    assert "Notifications paused until" in tray.tray.toolTip()

    live.publish([upd(f"bad{i}", 10, Status.FAILED, error="timeout") for i in range(5)])
    live.wait_for(
        lambda: tray.presentation is not None and tray.presentation.state is FaceState.CRITICAL
    )
    qtbot.wait(300)
    assert shown == []  # the alert engine held them back

    note = Notification(NotificationKind.HEALTH_CRITICAL, "Sync critical", "x", Severity.ERROR, 0)
    tray.notify(note)  # and the tray itself refuses while paused
    assert held == [note]
    assert shown == []

    tray.action_resume.trigger()
    assert live.model.notifications_paused_until is None
    tray.notify(note)
    assert shown == [note]


def test_the_paused_overlay_goes_when_the_pause_ends(live: LiveModel, qtbot: QtBot) -> None:
    tray = _tray(live)
    live.model.pause_notifications(time.time() + 0.4)
    assert tray.presentation is not None
    assert tray.presentation.paused
    qtbot.waitUntil(lambda: not tray.presentation.paused, timeout=3000)  # nothing else happened
    assert "paused" not in tray.tray.toolTip()


def test_until_tomorrow_pauses_until_next_morning(live: LiveModel) -> None:
    tray = _tray(live)
    tray.action_pause_tomorrow.trigger()
    until = live.model.notifications_paused_until
    assert until is not None
    when = time.localtime(until)
    assert (when.tm_hour, when.tm_min) == (8, 0)
    assert 0 < until - time.time() <= 32 * 3600


def test_menu_intents(live: LiveModel, qtbot: QtBot) -> None:
    tray = _tray(live)
    texts = [a.text() for a in tray.menu.actions() if a.text()]
    assert texts == [
        "Open dashboard",
        "Show floating widget",
        "Reconnect now",
        "Pause notifications",
        "Settings…",
        "Copy diagnostics",
        "Quit Syncwatch",
    ]
    for action, signal in (
        (tray.action_dashboard, tray.openDashboardRequested),
        (tray.action_floating, tray.toggleFloatingRequested),
        (tray.action_settings, tray.settingsRequested),
        (tray.action_diagnostics, tray.diagnosticsRequested),
        (tray.action_quit, tray.quitRequested),
    ):
        with qtbot.waitSignal(signal, timeout=1000):
            action.trigger()
    tray.set_floating_visible(True)
    assert tray.action_floating.text() == "Hide floating widget"

    assert not tray.action_reconnect.isEnabled()  # nothing to do while connected


def test_reconnect_now_after_the_hub_comes_back(live: LiveModel) -> None:
    tray = _tray(live)
    port = live.hub.hub.port
    live.on_hub(live.hub.hub.stop())
    live.wait_for(tray.action_reconnect.isEnabled)
    assert tray.presentation is not None
    assert tray.presentation.state is FaceState.DISCONNECTED
    assert tray.presentation.badge == 0
    assert tray.tray.toolTip().splitlines()[0] in (
        "Syncwatch — Reconnecting",
        "Syncwatch — Disconnected",
    )
    again = Hub(HubConfig(data_dir=live.hub.data_dir, port=port))
    live.on_hub(again.start())
    try:
        tray.action_reconnect.trigger()
        live.wait_connected()
        live.wait_for(lambda: not tray.action_reconnect.isEnabled())
        assert live.model.reconnect_count == 1
    finally:
        live.on_hub(again.stop())


def test_no_system_tray_is_said_once(live: LiveModel, qtbot: QtBot) -> None:
    tray = _tray(live, tray_available=lambda: False)
    messages: list[str] = []
    tray.trayUnavailable.connect(messages.append)
    assert tray.start() is False
    assert tray.start() is False
    assert messages == [NO_TRAY_MESSAGE]
    assert not tray.tray.isVisible()
