"""The shared decision of what the faces show, over real core values (no widgets)."""

from __future__ import annotations

import pytest

from syncwatch.core.connection import ConnectionState, ConnectionStatus, LatencyStats
from syncwatch.core.health import combine_with_connection
from syncwatch.ui.presenter import (
    FaceInputs,
    FaceState,
    format_duration,
    format_rate,
    overall_progress,
    present,
)
from tests.ui.factories import HUB, NOW, connected, health, operation

LAT = LatencyStats(current_ms=12.4, min_ms=8.0, avg_ms=11.0, p95_ms=21.0, samples=9)


def _inputs(**kw: object) -> FaceInputs:
    base: dict[str, object] = {
        "connection": connected(),
        "health": health(),
        "active": (),
        "latency": LAT,
        "now": NOW,
    }
    base.update(kw)
    return FaceInputs(**base)  # type: ignore[arg-type]


def test_idle_when_connected_healthy_and_nothing_moves() -> None:
    p = present(_inputs())
    assert (p.state, p.word, p.badge) == (FaceState.IDLE, "Up to date", 0)
    assert p.tooltip_lines == (
        "Syncwatch — Up to date",
        "No active operations",
        "Latency 12 ms (p95 21 ms)",
        "Health 100/100",
    )


def test_syncing_shows_count_progress_eta_and_badge() -> None:
    ops = (operation("a", progress=40), operation("b", progress=80))
    p = present(_inputs(active=ops, health=health(active=2), throughput_bps=2_500_000))
    assert p.state is FaceState.SYNCING
    assert p.badge == 2
    assert p.overall_progress_pct == pytest.approx(60.0)
    assert p.overall_eta_s is not None
    assert p.overall_eta_s > 0
    activity = p.tooltip_lines[1]
    assert activity.startswith("2 active operations, 60%, about ")
    assert activity.endswith(" left at 2.5 MB/s")


def test_progress_is_bytes_weighted_when_sizes_are_known() -> None:
    small = operation("s", progress=100 * 0.5, bytes_total=1_000)
    big = operation("b", progress=10, bytes_total=9_000)
    assert overall_progress([small, big]) == pytest.approx((500 + 900) / 10_000 * 100)
    unknown = operation("u", progress=30, bytes_total=None)
    assert overall_progress([small, unknown]) == pytest.approx(40.0)


def test_warning_and_critical_come_from_core_health_with_top_reason() -> None:
    warn = present(_inputs(health=health(error_rate=7.2), active=(operation("a"),)))
    assert warn.state is FaceState.WARNING
    assert warn.badge == 1
    assert warn.top_reason == "error rate 7.2% over 15 min"
    assert "Health 89/100 — error rate 7.2% over 15 min" in warn.tooltip_lines
    crit = present(_inputs(health=health(error_rate=20.0)))
    assert (crit.state, crit.word, crit.health_score) == (FaceState.CRITICAL, "Critical", 60.0)


def test_reconnecting_shows_attempt_retry_and_reason_and_no_badge() -> None:
    link = ConnectionStatus(
        ConnectionState.RECONNECTING,
        HUB,
        NOW - 40,
        attempt=3,
        retry_in_s=4.2,
        reason="connection refused",
    )
    h = combine_with_connection(health(active=1), link, NOW)
    p = present(_inputs(connection=link, health=h, active=(operation("a"),)))
    assert (p.state, p.word, p.badge) == (FaceState.DISCONNECTED, "Reconnecting", 0)
    assert p.tooltip_lines[1] == "Reconnecting, attempt 3, next try in 4 s — connection refused"
    assert p.top_reason == "reconnecting to hub (attempt 3): connection refused"


def test_auth_error_is_critical() -> None:
    link = ConnectionStatus(ConnectionState.ERROR, HUB, NOW - 5, reason="hub refused the token")
    p = present(_inputs(connection=link, health=None))
    assert p.state is FaceState.CRITICAL
    assert p.word == "Connection error"
    assert p.top_reason == "hub refused the token"


def test_paused_only_while_the_pause_lasts() -> None:
    assert present(_inputs(paused_until=NOW + 3600)).paused
    assert any(
        line.startswith("Notifications paused until")
        for line in present(_inputs(paused_until=NOW + 3600)).tooltip_lines
    )
    assert not present(_inputs(paused_until=NOW - 1)).paused


def test_badge_counts_every_active_operation() -> None:
    ops = tuple(operation(f"o{i}", steps=1) for i in range(120))
    assert present(_inputs(active=ops)).badge == 120  # the icon paints it as "99+"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (44.6, "45 s"),
        (125, "2 min"),
        (3600, "1 h"),
        (4800, "1 h 20 min"),
        (90000, "1 d 1 h"),
        (-3, "0 s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_rate() -> None:
    assert format_rate(None) == "—"
    assert format_rate(float("nan")) == "—"
    assert format_rate(512) == "512 B/s"
    assert format_rate(1_234_567) == "1.2 MB/s"
