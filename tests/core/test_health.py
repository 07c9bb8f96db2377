"""The health rule: statuses, scores, reasons, the link to the hub, and monotonicity."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncwatch.core.connection import ConnectionState, ConnectionStatus
from syncwatch.core.health import (
    RECONNECTING_SCORE,
    UNREACHABLE_SCORE,
    Health,
    HealthSnapshot,
    HealthStatus,
    HealthThresholds,
    combine_with_connection,
    describe_duration,
    score_operations,
)

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("error_rate", "active_ops", "status", "score"),
    [
        (0.0, 0, HealthStatus.HEALTHY, 100.0),
        (5.0, 10, HealthStatus.HEALTHY, 100.0),  # both thresholds are strict
        (5.1, 0, HealthStatus.WARNING, 100 - 5.1 * 1.5),
        (10.0, 0, HealthStatus.WARNING, 85.0),
        (0.0, 11, HealthStatus.WARNING, 100.0),
        (2.0, 11, HealthStatus.WARNING, 97.0),
        (10.5, 0, HealthStatus.CRITICAL, 79.0),
        (60.0, 3, HealthStatus.CRITICAL, 0.0),
        (100.0, 0, HealthStatus.CRITICAL, 0.0),
    ],
)
def test_the_specified_rule(
    error_rate: float, active_ops: int, status: HealthStatus, score: float
) -> None:
    health = score_operations(error_rate, active_ops, 12.5, now_us=7)
    assert health.status is status
    assert health.score == pytest.approx(score)
    assert (health.error_rate, health.active_ops, health.avg_sync_time_s) == (
        error_rate,
        active_ops,
        12.5,
    )
    assert health.computed_at_us == 7


def test_warning_score_has_a_floor_of_50() -> None:
    thresholds = HealthThresholds(critical_error_rate=80.0)
    assert score_operations(50.0, 0, None, thresholds).score == 50.0


def test_reasons_explain_the_status_in_words() -> None:
    assert score_operations(1.0, 2, None).reasons == ()
    assert score_operations(7.2, 0, None).reasons == ("error rate 7.2% over 15 min",)
    assert score_operations(12.0, 12, None).reasons == (
        "error rate 12% over 15 min",
        "12 active operations",
    )
    hourly = HealthThresholds(window_s=3600)
    assert score_operations(0.0, 11, None, hourly).reasons == ("11 active operations",)
    assert score_operations(20.0, 0, None, hourly).reasons == ("error rate 20% over 1 h",)


@pytest.mark.parametrize(
    ("error_rate", "active_ops"), [(-1.0, 0), (100.5, 0), (math.nan, 0), (1.0, -1), (1.0, 2.5)]
)
def test_bad_figures_are_refused(error_rate: float, active_ops: int) -> None:
    with pytest.raises(ValueError, match=r"error_rate|active_ops"):
        score_operations(error_rate, active_ops, None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window_s": 0}, "window_s"),
        ({"window_s": math.inf}, "window_s"),
        ({"window_s": math.nan}, "window_s"),
        ({"warning_error_rate": 20.0}, "warning <= critical"),
        ({"critical_error_rate": 101.0}, "warning <= critical"),
        ({"warning_active_ops": -1}, "warning_active_ops"),
        ({"warning_active_ops": 2.5}, "warning_active_ops"),
        ({"disconnect_grace_s": -1.0}, "disconnect_grace_s"),
        ({"disconnect_grace_s": "30"}, "disconnect_grace_s"),
    ],
)
def test_thresholds_are_validated(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HealthThresholds(**kwargs)  # type: ignore[arg-type]


def link(state: ConnectionState, down_s: float = 0.0, **kw: object) -> ConnectionStatus:
    return ConnectionStatus(state, "wss://hub", NOW - down_s, **kw)  # type: ignore[arg-type]


def test_a_live_link_or_a_first_connect_changes_nothing() -> None:
    health = score_operations(7.0, 0, None)
    for state in (ConnectionState.CONNECTED, ConnectionState.CONNECTING):
        assert combine_with_connection(health, link(state, 600), NOW) is health


@pytest.mark.parametrize(
    ("state", "words"),
    [
        (ConnectionState.DISCONNECTED, "hub unreachable for 3 min"),
        (ConnectionState.OFFLINE, "network offline for 3 min"),
        (ConnectionState.ERROR, "hub connection failed for 3 min"),
    ],
)
def test_unreachable_beyond_the_grace_period_is_critical(
    state: ConnectionState, words: str
) -> None:
    health = score_operations(7.2, 0, None)
    combined = combine_with_connection(health, link(state, 180), NOW)
    assert combined.status is HealthStatus.CRITICAL
    assert combined.score == UNREACHABLE_SCORE
    assert combined.reasons == (words, "error rate 7.2% over 15 min")


def test_within_the_grace_period_or_reconnecting_is_a_warning() -> None:
    healthy = score_operations(0.0, 0, None)
    brief = combine_with_connection(healthy, link(ConnectionState.DISCONNECTED, 10), NOW)
    assert brief.status is HealthStatus.WARNING
    assert brief.score == RECONNECTING_SCORE
    assert brief.reasons == ("reconnecting to hub",)
    retrying = link(ConnectionState.RECONNECTING, 600, attempt=4, reason="connection refused")
    combined = combine_with_connection(healthy, retrying, NOW)
    assert combined.status is HealthStatus.WARNING
    assert combined.reasons == ("reconnecting to hub (attempt 4): connection refused",)


def test_the_worse_status_wins_and_its_reasons_come_first() -> None:
    critical = score_operations(30.0, 0, None)
    combined = combine_with_connection(critical, link(ConnectionState.RECONNECTING, 5), NOW)
    assert combined.status is HealthStatus.CRITICAL
    assert combined.score == critical.score  # 40 is below the reconnecting ceiling
    assert combined.reasons == ("error rate 30% over 15 min", "reconnecting to hub")


def test_custom_grace_period() -> None:
    health = score_operations(0.0, 0, None)
    patient = HealthThresholds(disconnect_grace_s=300)
    combined = combine_with_connection(
        health, link(ConnectionState.DISCONNECTED, 180), NOW, patient
    )
    assert combined.status is HealthStatus.WARNING


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-3, "0 s"),
        (math.nan, "0 s"),
        (44.6, "45 s"),
        (60, "1 min"),
        (179, "3 min"),
        (3600, "1 h"),
        (7500, "2 h 5 min"),
        (3 * 86_400, "3 d"),
    ],
)
def test_describe_duration(seconds: float, text: str) -> None:
    assert describe_duration(seconds) == text


def test_status_severity_orders_statuses() -> None:
    severities = [s.severity for s in HealthStatus]
    assert severities == sorted(severities) == [0, 1, 2]


def test_health_snapshot_is_a_frozen_record() -> None:
    snap = HealthSnapshot(1, HealthStatus.HEALTHY, 100.0, 0.0, None, 0, 0.0, 0.0, None)
    with pytest.raises(AttributeError):
        snap.score = 5.0  # type: ignore[misc]


thresholds_st = st.builds(
    lambda warn, extra, ops: HealthThresholds(
        warning_error_rate=warn,
        critical_error_rate=min(100.0, warn + extra),
        warning_active_ops=ops,
    ),
    st.floats(0, 100),
    st.floats(0, 100),
    st.integers(0, 50),
)
rates = st.floats(0, 100)


@settings(deadline=None)  # a busy CI machine must not fail it on timing
@given(rates, rates, st.integers(0, 100), thresholds_st)
def test_score_and_status_never_improve_as_the_error_rate_grows(
    a: float, b: float, active_ops: int, thresholds: HealthThresholds
) -> None:
    low, high = sorted((a, b))
    better = score_operations(low, active_ops, None, thresholds)
    worse = score_operations(high, active_ops, None, thresholds)
    assert worse.score <= better.score
    assert worse.status.severity >= better.status.severity
    assert 0.0 <= worse.score <= 100.0


@settings(deadline=None)  # a busy CI machine must not fail it on timing
@given(rates, st.integers(0, 100), st.sampled_from(list(ConnectionState)), st.floats(0, 10**5))
def test_the_link_never_makes_health_look_better(
    rate: float, active_ops: int, state: ConnectionState, down_s: float
) -> None:
    health: Health = score_operations(rate, active_ops, None)
    combined = combine_with_connection(health, link(state, down_s), NOW)
    assert combined.score <= health.score
    assert combined.status.severity >= health.status.severity
    assert set(health.reasons) <= set(combined.reasons)
