"""SyncStateModel driven by a real hub, a real engine and a real SQLite history."""

from __future__ import annotations

import time
from typing import Any

from pytestqt.qtbot import QtBot

from syncwatch.core.alerts import NotificationKind
from syncwatch.core.connection import ConnectionState, ConnectionStatus
from syncwatch.core.health import HealthStatus
from syncwatch.core.protocol import Status
from syncwatch.qt.model import LiveSample, OperationsDelta
from tests.client.engine_support import hub_log, publish_lifecycles
from tests.qt.conftest import LiveModel


class Collect:
    """Records a signal's payloads with the (monotonic) time they arrived."""

    def __init__(self, signal: Any) -> None:
        self.items: list[tuple[float, Any]] = []
        signal.connect(self._on)

    def _on(self, *args: Any) -> None:
        self.items.append((time.monotonic(), args[0] if args else None))

    @property
    def payloads(self) -> list[Any]:
        return [payload for _, payload in self.items]


def test_properties_are_valid_before_any_signal(live: LiveModel) -> None:
    model = live.model
    assert isinstance(model.connection, ConnectionStatus)
    assert model.hub_url == live.hub.url
    assert model.operations == {}
    assert model.active_operations == []
    assert model.health.status is HealthStatus.HEALTHY
    assert model.latency.samples >= 0
    assert model.notifications_paused_until is None
    assert model.reconnect_count == 0
    info = model.database_info()
    assert info is not None
    assert info.path == live.db_path


def test_signals_follow_what_publishers_report(live: LiveModel, qtbot: QtBot) -> None:
    model = live.model
    deltas = Collect(model.operationsChanged)
    metrics = Collect(model.metricsChanged)
    samples = Collect(model.liveSampleAdded)
    with qtbot.waitSignal(model.historyChanged, timeout=30_000):
        live.publish(publish_lifecycles(live.hub.url, "op", 10, fail_every=5), qtbot)
        qtbot.waitUntil(lambda: len(model.operations) == 10, timeout=30_000)
    qtbot.waitUntil(lambda: bool(samples.items) and bool(metrics.items), timeout=20_000)
    added = set().union(*(d.added for d in deltas.payloads))
    assert added == {f"op-{i}" for i in range(10)}
    assert all(isinstance(d, OperationsDelta) for d in deltas.payloads)
    finished = set().union(*(d.finished for d in deltas.payloads))
    assert finished == added
    failed = {op_id for op_id, op in model.operations.items() if op.status is Status.FAILED}
    assert failed == {"op-0", "op-5"}
    assert model.active_operations == []
    assert metrics.payloads[-1].failed == 2
    sample = samples.payloads[-1]
    assert isinstance(sample, LiveSample)
    assert sample.connected is True
    assert model.live_samples[-1] == sample
    assert model.last_message_at is not None
    assert model.uptime_s is not None
    assert model.uptime_s >= 0


def test_a_flood_is_coalesced_for_views_but_nothing_is_lost(live: LiveModel, qtbot: QtBot) -> None:
    model = live.model
    deltas = Collect(model.operationsChanged)
    ops = 3334  # x 3 updates = 10,002 updates
    live.publish(publish_lifecycles(live.hub.url, "f", ops), qtbot, timeout_ms=60_000)
    final = live.hub.hub.seq
    qtbot.waitUntil(lambda: live.engine.state.last_seq == final, timeout=30_000)
    qtbot.waitUntil(lambda: not live.writer.pending, timeout=30_000)
    qtbot.wait(100)  # the last coalesced emit
    assert final >= 10_000
    # Views: at most ~30 refreshes in any second.
    times = [t for t, _ in deltas.items]
    assert times
    worst = max(sum(1 for u in times if t <= u < t + 1.0) for t in times)
    assert worst <= 31, f"{worst} operationsChanged within one second"
    # The state: every operation, completed.
    assert len(model.operations) == ops
    assert all(op.status is Status.COMPLETED for op in model.operations.values())
    assert set().union(*(d.added for d in deltas.payloads)) == set(model.operations)
    # The history: every update's transition, once.
    assert live.writer.flush(10)
    assert live.store.cursor() == (live.hub.hub.hub_id, final)
    stored = sorted(e.seq for e in live.store.iter_events() if e.seq is not None)
    assert stored == [seq for seq, _, _ in hub_log(live.hub.data_dir)]


def test_nothing_is_emitted_while_nothing_changes(live: LiveModel, qtbot: QtBot) -> None:
    model = live.model
    live.publish(publish_lifecycles(live.hub.url, "op", 3), qtbot)
    qtbot.waitUntil(lambda: len(model.operations) == 3, timeout=30_000)
    qtbot.wait(1500)  # let the last sample and history notice fire
    with (
        qtbot.assertNotEmitted(model.operationsChanged),
        qtbot.assertNotEmitted(model.liveSampleAdded),
        qtbot.assertNotEmitted(model.historyChanged),
    ):
        qtbot.wait(1500)


def test_health_changes_when_failures_are_published(live: LiveModel, qtbot: QtBot) -> None:
    model = live.model
    notifications = Collect(model.notificationRaised)
    with qtbot.waitSignal(
        model.healthChanged,
        timeout=30_000,
        check_params_cb=lambda h: h.status is HealthStatus.CRITICAL,
    ):
        live.publish(publish_lifecycles(live.hub.url, "bad", 6, fail_every=1), qtbot)
    assert model.health.status is HealthStatus.CRITICAL
    assert model.health.reasons[0].startswith("error rate 100%")
    qtbot.waitUntil(
        lambda: any(n.kind is NotificationKind.OPERATIONS_FAILED for n in notifications.payloads),
        timeout=20_000,
    )


def test_paused_notifications_are_reported_and_muted(live: LiveModel, qtbot: QtBot) -> None:
    model = live.model
    until = time.time() + 3600
    with qtbot.waitSignal(model.notificationsPausedChanged) as blocker:
        model.pause_notifications(until)
    assert blocker.args == [until]
    assert model.notifications_paused_until == until
    with qtbot.assertNotEmitted(model.notificationRaised, wait=600):
        live.publish(publish_lifecycles(live.hub.url, "bad", 4, fail_every=1), qtbot)
        qtbot.waitUntil(lambda: len(model.operations) == 4, timeout=30_000)
    with qtbot.waitSignal(model.notificationsPausedChanged) as blocker:
        model.pause_notifications(None)
    assert blocker.args == [None]
    assert model.notifications_paused_until is None


def test_reconnect_now_and_hub_metrics(live: LiveModel, qtbot: QtBot) -> None:
    model = live.model
    with qtbot.waitSignal(model.hubMetricsReceived, timeout=30_000) as blocker:
        model.request_hub_metrics()
    assert blocker.args is not None
    assert "syncwatch_hub" in blocker.args[0]
    model.reconnect_now()  # connected: nothing to do, and nothing breaks
    assert model.connection.state is ConnectionState.CONNECTED


def test_export_history_runs_off_the_gui_thread(
    live: LiveModel, qtbot: QtBot, tmp_path: Any
) -> None:
    from syncwatch.client.store import EventFilter

    model = live.model
    live.publish(publish_lifecycles(live.hub.url, "op", 5), qtbot)
    qtbot.waitUntil(lambda: len(model.operations) == 5, timeout=30_000)
    assert live.writer.flush(10)
    target = tmp_path / "export.csv"
    with qtbot.waitSignal(model.exportFinished, timeout=30_000) as blocker:
        model.export_history(EventFilter(), target, "csv")
    assert blocker.args == [15, str(target)]
    assert target.read_text().count("\n") >= 15
    with qtbot.waitSignal(model.exportFinished, timeout=30_000) as blocker:
        model.export_history(EventFilter(), tmp_path / "x.bin", "xls")
    assert blocker.args is not None
    assert blocker.args[0] == -1
    assert "export failed" in blocker.args[1]


def test_resume_from_sleep_reconnects_at_once(live: LiveModel, qtbot: QtBot) -> None:
    model = live.model
    states = Collect(model.connectionChanged)
    live.clocks[0] += 3600  # the wall clock moved an hour, the monotonic one did not
    with qtbot.waitSignal(live.network.resumed):
        live.network.check_resume()
    qtbot.waitUntil(lambda: model.reconnect_count == 1, timeout=30_000)
    seen = [s.state for s in states.payloads]
    assert seen[-1] is ConnectionState.CONNECTED
    assert any(state is not ConnectionState.CONNECTED for state in seen[:-1])


def test_an_offline_hint_does_not_cut_off_a_loopback_hub(live: LiveModel, qtbot: QtBot) -> None:
    live.network.set_online_hint(False)
    qtbot.wait(300)
    assert live.model.connection.state is ConnectionState.CONNECTED
    live.network.set_online_hint(True)
    live.publish(publish_lifecycles(live.hub.url, "op", 2), qtbot)
    qtbot.waitUntil(lambda: len(live.model.operations) == 2, timeout=30_000)
