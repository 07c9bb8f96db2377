"""The alert lifecycle: delays, self-clearing, digests, pause, suppression, limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncwatch.core.alerts import (
    AlertConfig,
    AlertEngine,
    Notification,
    NotificationKind,
    Severity,
)
from syncwatch.core.connection import ConnectionState, ConnectionStatus
from syncwatch.core.health import Health, score_operations
from syncwatch.core.operations import EMPTY_STATE, Operation, apply_many
from syncwatch.core.protocol import Status, SyncUpdate

K = NotificationKind
HOUR = 3600.0
CRITICAL = score_operations(40.0, 0, None)
HEALTHY = score_operations(0.0, 0, None)


def operation(
    op_id: str = "op-1",
    *,
    status: Status = Status.FAILED,
    item: str | None = None,
    error: str | None = None,
    source: str | None = None,
    ended_s: float = 0.0,
) -> Operation:
    update = SyncUpdate(
        op_id, "upload", status, 0.0, round(ended_s * 1e6), item=item, error=error, source=source
    )
    return apply_many(EMPTY_STATE, [update]).state.operations[op_id]


def link(state: ConnectionState, **kw: object) -> ConnectionStatus:
    return ConnectionStatus(state, "wss://hub", 0.0, **kw)  # type: ignore[arg-type]


def kinds(notifications: list[Notification]) -> list[NotificationKind]:
    return [n.kind for n in notifications]


def test_health_critical_fires_once_after_holding_for_the_delay() -> None:
    alerts = AlertEngine()
    assert alerts.on_health(CRITICAL, 0) == []
    assert alerts.tick(29) == []
    [note] = alerts.tick(30)
    assert note.kind is K.HEALTH_CRITICAL
    assert note.title == "Sync health critical (score 20)"
    assert note.body == "error rate 40% over 15 min"
    assert (note.severity, note.at) == (Severity.ERROR, 30)
    assert alerts.on_health(CRITICAL, 31) == []


def test_a_critical_blip_shorter_than_the_delay_never_fires() -> None:
    alerts = AlertEngine()
    alerts.on_health(CRITICAL, 0)
    assert alerts.on_health(HEALTHY, 20) == []
    assert alerts.tick(100) == []


def test_a_new_critical_episode_fires_again_after_the_kind_interval() -> None:
    alerts = AlertEngine()
    alerts.on_health(CRITICAL, 0)
    assert kinds(alerts.tick(30)) == [K.HEALTH_CRITICAL]
    alerts.on_health(HEALTHY, 40)
    alerts.on_health(CRITICAL, 50)
    assert alerts.tick(329) == []  # held back: one per kind per 5 min
    assert kinds(alerts.tick(330)) == [K.HEALTH_CRITICAL]


def test_connection_lost_after_the_grace_period_and_restored_after_it() -> None:
    alerts = AlertEngine()
    alerts.on_connection(link(ConnectionState.CONNECTED), 0)
    alerts.on_connection(link(ConnectionState.RECONNECTING, reason="connection refused"), 10)
    assert alerts.tick(39) == []
    [lost] = alerts.tick(40)
    assert (lost.kind, lost.title, lost.severity) == (
        K.CONNECTION_LOST,
        "Connection to hub lost",
        Severity.WARNING,
    )
    assert "unreachable for 30 s" in lost.body
    assert "Reason: connection refused." in lost.body
    [restored] = alerts.on_connection(link(ConnectionState.CONNECTED), 190)
    assert restored.kind is K.CONNECTION_RESTORED
    assert restored.body == "Back after 3 min."


def test_lost_body_says_offline_or_when_the_next_try_is() -> None:
    alerts = AlertEngine()
    alerts.on_connection(link(ConnectionState.OFFLINE), 0)
    [offline] = alerts.tick(30)
    assert "network is offline" in offline.body
    alerts = AlertEngine()
    alerts.on_connection(link(ConnectionState.DISCONNECTED, retry_in_s=12.0), 0)
    [retrying] = alerts.tick(30)
    assert "Retrying in 12 s." in retrying.body


def test_a_short_outage_shows_neither_lost_nor_restored() -> None:
    alerts = AlertEngine()
    alerts.on_connection(link(ConnectionState.DISCONNECTED), 0)
    alerts.on_connection(link(ConnectionState.CONNECTING), 5)  # still not up
    assert alerts.on_connection(link(ConnectionState.CONNECTED), 20) == []
    assert alerts.tick(100) == []


def test_no_lost_alert_while_the_link_re_establishes_after_start_or_resume() -> None:
    config = AlertConfig(connection_grace_s=5)
    alerts = AlertEngine(config, started_at=0)
    alerts.on_connection(link(ConnectionState.RECONNECTING), 1)
    assert alerts.tick(14) == []  # 15 s start-up suppression
    assert kinds(alerts.tick(15)) == [K.CONNECTION_LOST]  # still down: it is real
    alerts.on_connection(link(ConnectionState.CONNECTED), 16)
    alerts = AlertEngine(config)
    alerts.suppress_until(1015)  # the caller saw the machine resume at 1000
    alerts.on_connection(link(ConnectionState.DISCONNECTED), 1000)
    assert alerts.tick(1010) == []
    assert alerts.on_connection(link(ConnectionState.CONNECTED), 1012) == []
    assert alerts.tick(2000) == []


def test_an_unreachable_hub_is_reported_once_not_also_as_critical_health() -> None:
    alerts = AlertEngine()
    alerts.on_connection(link(ConnectionState.DISCONNECTED), 0)
    alerts.on_health(CRITICAL, 0)  # the engine scores an unreachable hub as critical
    assert kinds(alerts.tick(30)) == [K.CONNECTION_LOST]
    assert alerts.tick(200) == []
    assert kinds(alerts.on_connection(link(ConnectionState.CONNECTED), 300)) == [
        K.CONNECTION_RESTORED
    ]
    assert alerts.tick(329) == []  # critical must hold again after the link returns...
    assert alerts.on_health(HEALTHY, 301) == []  # ...and the engine re-scored it healthy
    assert alerts.tick(400) == []


def test_critical_health_during_an_outage_fires_when_lost_alerts_are_off() -> None:
    alerts = AlertEngine(AlertConfig(enabled=frozenset({K.HEALTH_CRITICAL})))
    alerts.on_connection(link(ConnectionState.DISCONNECTED), 0)
    alerts.on_health(CRITICAL, 0)
    assert kinds(alerts.tick(30)) == [K.HEALTH_CRITICAL]


def test_critical_health_that_outlasts_an_outage_fires_after_the_delay() -> None:
    alerts = AlertEngine()
    alerts.on_health(CRITICAL, 0)
    alerts.on_connection(link(ConnectionState.DISCONNECTED), 5)
    alerts.on_connection(link(ConnectionState.CONNECTED), 20)  # brief: nothing shown
    assert alerts.tick(49) == []
    assert kinds(alerts.tick(50)) == [K.HEALTH_CRITICAL]


def test_a_single_failure_names_its_item() -> None:
    alerts = AlertEngine()
    failed = operation(item="/m/a.mkv", error="disk full")
    assert alerts.on_operation_failed(failed, 0) == []  # gathering for 10 s
    [note] = alerts.tick(10)
    assert (note.kind, note.severity) == (K.OPERATIONS_FAILED, Severity.ERROR)
    assert note.title == "Upload failed: /m/a.mkv"
    assert note.body == "disk full"


def test_failures_are_summarised_at_most_once_per_window() -> None:
    alerts = AlertEngine()
    alerts.on_operation_failed(operation("first"), 0)
    [first] = alerts.tick(10)
    assert first.title == "Upload failed: first"
    assert first.body == "The operation failed without an error message."
    for i in range(12):
        assert alerts.on_operation_failed(operation(f"op-{i}", item=f"f{i}.mkv"), 20 + i * 20) == []
    assert alerts.tick(309) == []
    [digest] = alerts.tick(310)
    assert digest.title == "12 operations failed in the last 5 min"
    assert digest.body == "f0.mkv, f1.mkv, f2.mkv and 9 more"
    assert alerts.tick(1000) == []


def test_a_failure_after_retries_says_which_attempt() -> None:
    state = apply_many(
        EMPTY_STATE,
        [
            SyncUpdate("x", "download", Status.FAILED, 0.0, 1, item="b.flac", error="timeout"),
            SyncUpdate("x", "download", Status.IN_PROGRESS, 0.0, 2),
            SyncUpdate("x", "download", Status.FAILED, 0.0, 3, error="timeout"),
        ],
    ).state
    alerts = AlertEngine()
    alerts.on_operation_finished(state.operations["x"], 0)
    [note] = alerts.tick(10)
    assert (note.title, note.body) == ("Download failed: b.flac", "timeout (attempt 2)")


def test_pause_mutes_everything_and_drops_failures_meanwhile() -> None:
    alerts = AlertEngine()
    alerts.pause_until(3 * HOUR)
    assert alerts.is_paused(10)
    alerts.on_operation_failed(operation(), 0)
    alerts.on_health(CRITICAL, 0)
    assert alerts.tick(60) == []
    assert not alerts.is_paused(3 * HOUR)
    assert kinds(alerts.tick(3 * HOUR)) == [K.HEALTH_CRITICAL]  # still critical: shown


def test_resume_ends_a_pause() -> None:
    alerts = AlertEngine()
    alerts.pause_until(HOUR)
    alerts.on_health(CRITICAL, 0)
    alerts.resume()
    assert kinds(alerts.tick(30)) == [K.HEALTH_CRITICAL]


def test_a_restore_during_a_pause_is_not_shown_later() -> None:
    alerts = AlertEngine()
    alerts.on_connection(link(ConnectionState.DISCONNECTED), 0)
    assert kinds(alerts.tick(30)) == [K.CONNECTION_LOST]
    alerts.pause_until(100)
    alerts.on_connection(link(ConnectionState.CONNECTED), 50)
    assert alerts.tick(200) == []


def test_disabled_kinds_stay_silent_and_drop_what_they_held() -> None:
    alerts = AlertEngine()
    alerts.set_enabled(K.OPERATIONS_FAILED, False)
    alerts.set_enabled(K.CONNECTION_RESTORED, False)
    alerts.on_operation_failed(operation(), 0)
    alerts.on_connection(link(ConnectionState.DISCONNECTED), 0)
    assert kinds(alerts.tick(30)) == [K.CONNECTION_LOST]
    assert alerts.on_connection(link(ConnectionState.CONNECTED), 40) == []
    alerts.set_enabled(K.OPERATIONS_FAILED, True)
    alerts.set_enabled(K.CONNECTION_RESTORED, True)
    assert alerts.tick(400) == []
    assert K.OPERATIONS_FAILED in alerts.config.enabled


def test_configure_replaces_the_rules() -> None:
    alerts = AlertEngine()
    alerts.configure(AlertConfig(enabled=frozenset({K.CONNECTION_LOST}), health_delay_s=0))
    alerts.on_health(CRITICAL, 0)
    assert alerts.tick(30) == []
    alerts.configure(AlertConfig(health_delay_s=0))
    assert kinds(alerts.tick(31)) == [K.HEALTH_CRITICAL]


def test_global_rate_limit_holds_back_what_exceeds_it() -> None:
    config = AlertConfig(rate_limit_count=2, rate_limit_window_s=60, stale_after_s=30)
    alerts = AlertEngine(config)
    alerts.on_health(CRITICAL, 0)
    alerts.on_operation_failed(operation(), 0)
    alerts.on_operation_finished(completed("nas", 0), 0)
    assert kinds(alerts.tick(30)) == [K.HEALTH_CRITICAL, K.OPERATIONS_FAILED]
    assert alerts.tick(89) == []
    assert kinds(alerts.tick(90)) == [K.SOURCE_STALE]


def completed(source: str, ended_s: float) -> Operation:
    return operation(status=Status.COMPLETED, source=source, ended_s=ended_s)


def test_a_source_without_success_for_hours_is_reported_stale() -> None:
    alerts = AlertEngine()
    alerts.on_operation_finished(completed("nas", 100), 100)
    assert alerts.tick(100 + 6 * HOUR - 1) == []
    [note] = alerts.tick(100 + 6 * HOUR)
    assert note.kind is K.SOURCE_STALE
    assert note.title == "No successful sync from nas for 6 h"
    assert alerts.tick(100 + 7 * HOUR) == []  # once per episode
    alerts.on_operation_finished(completed("nas", 8 * HOUR), 8 * HOUR)  # clears it
    assert kinds(alerts.tick(14 * HOUR)) == [K.SOURCE_STALE]


def test_a_source_that_only_fails_goes_stale_from_first_sight() -> None:
    alerts = AlertEngine()
    alerts.on_operation_finished(operation(source="laptop", error="x"), 0)
    assert kinds(alerts.tick(10)) == [K.OPERATIONS_FAILED]
    alerts.on_operation_finished(operation(status=Status.CANCELLED, source="laptop"), 50)
    assert kinds(alerts.tick(6 * HOUR)) == [K.SOURCE_STALE]


def test_stale_sources_are_reported_together() -> None:
    alerts = AlertEngine()
    for i in range(7):
        alerts.on_operation_finished(completed(f"src-{i}", 0), float(i))
    [note] = alerts.tick(7 * HOUR)
    assert note.title == "No successful sync from 7 sources for up to 7 h"
    assert note.body == "src-0, src-1, src-2, src-3, src-4 and 2 more"


def test_staleness_is_not_judged_while_the_link_is_down_or_just_back() -> None:
    alerts = AlertEngine()
    alerts.on_operation_finished(completed("nas", 0), 0)
    alerts.on_connection(link(ConnectionState.DISCONNECTED), 1)
    alerts.on_connection(link(ConnectionState.CONNECTED), 7 * HOUR)  # resume after sleep
    assert alerts.tick(7 * HOUR + 59) == []  # replays may still bring news
    assert kinds(alerts.tick(7 * HOUR + 60)) == [K.SOURCE_STALE]


def test_the_number_of_sources_remembered_is_bounded() -> None:
    alerts = AlertEngine(AlertConfig(max_sources=2))
    alerts.on_operation_finished(completed("a", 0), 0)
    alerts.on_operation_finished(completed("b", 5), 5)
    alerts.on_operation_finished(completed("c", 10), 10)  # evicts "a"
    [note] = alerts.tick(6 * HOUR + 10)
    assert note.body == "b, c"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"health_delay_s": -1}, "health_delay_s"),
        ({"min_interval_s": float("inf")}, "min_interval_s"),
        ({"digest_window_s": "5"}, "digest_window_s"),
        ({"rate_limit_count": 0}, "rate_limit_count"),
        ({"max_sources": 1.5}, "max_sources"),
        ({"enabled": frozenset({"health_critical"})}, "enabled"),
    ],
)
def test_config_is_validated(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AlertConfig(**kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------- no floods

events = st.one_of(
    st.tuples(st.just("health"), st.sampled_from([CRITICAL, HEALTHY])),
    st.tuples(st.just("link"), st.sampled_from(list(ConnectionState))),
    st.tuples(st.just("failed"), st.none()),
    st.tuples(st.just("tick"), st.none()),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 40), events), max_size=200))
def test_flapping_inputs_never_flood(steps: list[tuple[float, tuple[str, object]]]) -> None:
    config = AlertConfig(rate_limit_count=3, rate_limit_window_s=60)
    alerts = AlertEngine(config)
    now, shown = 0.0, []
    for gap, (what, value) in steps:
        now += gap
        if what == "health":
            assert isinstance(value, Health)
            shown += alerts.on_health(value, now)
        elif what == "link":
            assert isinstance(value, ConnectionState)
            shown += alerts.on_connection(link(value), now)
        elif what == "failed":
            shown += alerts.on_operation_failed(operation(), now)
        else:
            shown += alerts.tick(now)
    last: dict[NotificationKind, float] = {}
    lost_open = False
    for i, note in enumerate(shown):
        interval = config.digest_window_s if note.kind is K.OPERATIONS_FAILED else 300.0
        assert note.at - last.get(note.kind, -interval) >= interval
        last[note.kind] = note.at
        assert sum(1 for n in shown[: i + 1] if note.at - n.at < 60) <= 3
        if note.kind is K.CONNECTION_LOST:
            lost_open = True
        elif note.kind is K.CONNECTION_RESTORED:
            assert lost_open  # restored only ever follows a lost that was shown
            lost_open = False
