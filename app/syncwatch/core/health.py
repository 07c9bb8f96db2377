"""The one health rule set: a colour, a score and the reasons behind them.

Users of sync tray clients complain of a green icon while transfers fail (USERS.md): the
score here is explainable, every status other than healthy comes with reasons in words
("error rate 7.2% over 15 min", "12 active operations", "hub unreachable for 3 min").

The operations rule, with the error rate in percent over a trailing window::

    error rate > 10               -> critical, score max(0, 100 - rate * 2)
    error rate > 5 or active > 10 -> warning,  score max(50, 100 - rate * 1.5)
    otherwise                     -> healthy,  score 100

(10, 5 and 10 are the defaults of :class:`HealthThresholds`.) The score never rises as the
error rate grows, and the status never improves (tests/core/test_health.py holds it to that).
The link to the hub is judged separately and combined: the worse status wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from syncwatch.core.connection import ConnectionState, ConnectionStatus


class HealthStatus(StrEnum):
    HEALTHY = "healthy"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def severity(self) -> int:
        """0, 1, 2: for "the worse one wins" comparisons."""
        return _SEVERITY[self]


_SEVERITY: Final = {HealthStatus.HEALTHY: 0, HealthStatus.WARNING: 1, HealthStatus.CRITICAL: 2}

#: Score ceilings when the link to the hub, not the operations, is the problem: with the
#: hub unreachable nothing is known, so the score cannot claim more than this.
UNREACHABLE_SCORE: Final = 25.0
RECONNECTING_SCORE: Final = 75.0


def _finite(name: str, value: float) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
        raise ValueError(f"{name} must be a number, got {value!r}")


@dataclass(frozen=True, slots=True)
class HealthThresholds:
    """Where the health rule draws its lines (user-configurable, validated on creation)."""

    #: Trailing window of the error rate, seconds.
    window_s: float = 900.0
    critical_error_rate: float = 10.0
    warning_error_rate: float = 5.0
    #: More active operations than this is a warning (a queue that is not draining).
    warning_active_ops: int = 10
    #: How long the hub may be unreachable before health turns critical.
    disconnect_grace_s: float = 30.0

    def __post_init__(self) -> None:
        for name in ("window_s", "critical_error_rate", "warning_error_rate", "disconnect_grace_s"):
            _finite(name, getattr(self, name))
        if not 0 < self.window_s < math.inf:
            raise ValueError(f"window_s must be a positive number of seconds, got {self.window_s}")
        if not 0 <= self.warning_error_rate <= self.critical_error_rate <= 100:
            raise ValueError(
                "error rate thresholds must satisfy 0 <= warning <= critical <= 100, got "
                f"warning={self.warning_error_rate}, critical={self.critical_error_rate}"
            )
        if (
            not isinstance(self.warning_active_ops, int)
            or isinstance(self.warning_active_ops, bool)
            or self.warning_active_ops < 0
        ):
            raise ValueError(
                f"warning_active_ops must be an integer >= 0, got {self.warning_active_ops!r}"
            )
        if not 0 <= self.disconnect_grace_s < math.inf:
            raise ValueError(f"disconnect_grace_s must be >= 0, got {self.disconnect_grace_s}")


DEFAULT_THRESHOLDS: Final = HealthThresholds()


@dataclass(frozen=True, slots=True)
class Health:
    """The verdict shown by the tray colour, the floating widget and the dashboard."""

    status: HealthStatus
    #: 0..100, 100 is perfect.
    score: float
    #: Percent of finished operations that failed over the window.
    error_rate: float
    active_ops: int
    #: Mean duration of completed operations over the window (None if none completed).
    avg_sync_time_s: float | None
    #: Why the status is not healthy, worst first; empty when healthy.
    reasons: tuple[str, ...]
    computed_at_us: int


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """What the periodic (every 2 minutes) health check stores in the history."""

    at_us: int
    status: HealthStatus
    score: float
    error_rate: float
    avg_sync_time_s: float | None
    active_ops: int
    throughput_ops_per_min: float
    throughput_bps: float
    latency_ms: float | None

    @property
    def at(self) -> float:
        """When it was taken, in epoch seconds (the store's unit)."""
        return self.at_us / 1_000_000


def describe_duration(seconds: float) -> str:
    """A short human duration: "45 s", "3 min", "2 h 5 min", "3 d"."""
    if math.isnan(seconds) or seconds < 0:
        seconds = 0.0
    if seconds < 60:
        return f"{round(seconds)} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{round(seconds / 86_400)} d"


def _format_rate(rate: float) -> str:
    text = f"{rate:.1f}"
    return text[:-2] if text.endswith(".0") else text


def score_operations(
    error_rate: float,
    active_ops: int,
    avg_sync_time_s: float | None,
    thresholds: HealthThresholds = DEFAULT_THRESHOLDS,
    now_us: int = 0,
) -> Health:
    """Apply the operations rule (module doc) to figures from the metrics window."""
    _finite("error_rate", error_rate)
    if not 0 <= error_rate <= 100:
        raise ValueError(f"error_rate is a percentage (0..100), got {error_rate}")
    if isinstance(active_ops, bool) or not isinstance(active_ops, int) or active_ops < 0:
        raise ValueError(f"active_ops must be an integer >= 0, got {active_ops!r}")
    error_rate = float(error_rate)
    reasons: list[str] = []
    rate_reason = (
        f"error rate {_format_rate(error_rate)}% over {describe_duration(thresholds.window_s)}"
    )
    busy = active_ops > thresholds.warning_active_ops
    if error_rate > thresholds.critical_error_rate:
        status = HealthStatus.CRITICAL
        score = max(0.0, 100.0 - error_rate * 2)
        reasons.append(rate_reason)
    elif error_rate > thresholds.warning_error_rate or busy:
        status = HealthStatus.WARNING
        score = max(50.0, 100.0 - error_rate * 1.5)
        if error_rate > thresholds.warning_error_rate:
            reasons.append(rate_reason)
    else:
        status = HealthStatus.HEALTHY
        score = 100.0
    if busy:
        reasons.append(f"{active_ops} active operations")
    return Health(status, score, error_rate, active_ops, avg_sync_time_s, tuple(reasons), now_us)


_UNREACHABLE: Final = frozenset(
    {ConnectionState.DISCONNECTED, ConnectionState.OFFLINE, ConnectionState.ERROR}
)


def combine_with_connection(
    health: Health,
    status: ConnectionStatus,
    now: float,
    thresholds: HealthThresholds = DEFAULT_THRESHOLDS,
) -> Health:
    """Fold the state of the link (``now`` and ``status.since`` in epoch seconds) into
    the operations' health: the worse status wins, its reasons come first.

    Unreachable (disconnected, offline, error) beyond the grace period is critical;
    reconnecting, or unreachable within the grace period, is at least a warning; an
    initial connect or a live link changes nothing.
    """
    state = status.state
    if state in (ConnectionState.CONNECTED, ConnectionState.CONNECTING):
        return health
    down_for = max(0.0, now - status.since)
    if state in _UNREACHABLE and down_for > thresholds.disconnect_grace_s:
        link_status, ceiling = HealthStatus.CRITICAL, UNREACHABLE_SCORE
        what = {
            ConnectionState.OFFLINE: "network offline",
            ConnectionState.ERROR: "hub connection failed",
        }.get(state, "hub unreachable")
        reason = f"{what} for {describe_duration(down_for)}"
    else:
        link_status, ceiling = HealthStatus.WARNING, RECONNECTING_SCORE
        reason = (
            f"reconnecting to hub (attempt {status.attempt})"
            if status.attempt
            else ("reconnecting to hub")
        )
    if status.reason:
        reason = f"{reason}: {status.reason}"
    if link_status.severity > health.status.severity:
        reasons = (reason, *health.reasons)
        overall = link_status
    else:
        reasons = (*health.reasons, reason)
        overall = health.status
    return Health(
        overall,
        min(health.score, ceiling),
        health.error_rate,
        health.active_ops,
        health.avg_sync_time_s,
        reasons,
        health.computed_at_us,
    )
