"""What the three faces show, decided once: state word, icon, badge, colour, tooltip.

The tray icon, the floating widget and the dashboard header all describe the same
moment; if each computed "are we syncing?" on its own they would sooner or later
disagree (a green tray over a red dashboard). Following Picard's status indicator, the
decision lives here, in pure code over core values and an injected ``now``, and each
face only paints a :class:`Presentation`. No Qt import: it is unit-tested without widgets.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from syncwatch.core.connection import ConnectionState, ConnectionStatus, LatencyStats
from syncwatch.core.health import Health, HealthStatus
from syncwatch.core.operations import Operation
from syncwatch.ui.looks import MAX_BADGE, STATE_COLOURS, FaceState

__all__ = [
    "MAX_BADGE",
    "STATE_COLOURS",
    "FaceInputs",
    "FaceState",
    "Presentation",
    "present",
]


@dataclass(frozen=True, slots=True)
class FaceInputs:
    """Everything the decision depends on, copied from the model at one instant."""

    connection: ConnectionStatus
    health: Health | None
    active: Sequence[Operation]
    latency: LatencyStats
    throughput_bps: float | None = None
    paused_until: float | None = None
    now: float = 0.0


@dataclass(frozen=True, slots=True)
class Presentation:
    """What every face shows for one :class:`FaceInputs`."""

    state: FaceState
    #: The state in words, first line of the tooltip and the floating widget's label.
    word: str
    colour: str
    #: Number painted on the icon (0 = no badge).
    badge: int
    paused: bool
    #: Whether the link to the hub is up ("Reconnect now" only makes sense when it is not).
    link_up: bool
    active_count: int
    #: Bytes-weighted when every active operation knows its size, else the mean progress.
    overall_progress_pct: float | None
    #: Time until every active operation is done (the slowest one), None when unknown.
    overall_eta_s: float | None
    throughput_text: str
    latency_text: str
    health_score: float | None
    top_reason: str | None
    tooltip_lines: tuple[str, ...]

    @property
    def tooltip(self) -> str:
        return "\n".join(self.tooltip_lines)


_CONNECTION_WORDS: dict[ConnectionState, str] = {
    ConnectionState.CONNECTING: "Connecting",
    ConnectionState.CONNECTED: "Connected",
    ConnectionState.RECONNECTING: "Reconnecting",
    ConnectionState.DISCONNECTED: "Disconnected",
    ConnectionState.OFFLINE: "Offline",
    ConnectionState.ERROR: "Connection error",
}


def present(inputs: FaceInputs) -> Presentation:
    """Decide the look: the link first (nothing else is trustworthy without it), then health,
    then whether anything is moving."""
    conn = inputs.connection
    active_count = len(inputs.active)
    health_status = HealthStatus.HEALTHY if inputs.health is None else inputs.health.status
    paused = inputs.paused_until is not None and inputs.paused_until > inputs.now
    if conn.state is ConnectionState.ERROR:
        state, word = FaceState.CRITICAL, _CONNECTION_WORDS[conn.state]
    elif conn.state is not ConnectionState.CONNECTED:
        state, word = FaceState.DISCONNECTED, _CONNECTION_WORDS[conn.state]
    elif health_status is HealthStatus.CRITICAL:
        state, word = FaceState.CRITICAL, "Critical"
    elif health_status is HealthStatus.WARNING:
        state, word = FaceState.WARNING, "Warning"
    elif active_count:
        state, word = FaceState.SYNCING, "Syncing"
    else:
        state, word = FaceState.IDLE, "Up to date"
    progress = overall_progress(inputs.active)
    eta = overall_eta(inputs.active, inputs.now)
    score = None if inputs.health is None else float(inputs.health.score)
    top_reason = _top_reason(inputs)
    latency_text = format_latency(inputs.latency)
    throughput_text = format_rate(inputs.throughput_bps)
    lines = [f"Syncwatch — {word}"]
    if conn.state is not ConnectionState.CONNECTED:
        lines.append(_connection_line(conn, inputs.now))
    if active_count:
        lines.append(_activity_line(active_count, progress, eta, throughput_text))
    elif conn.state is ConnectionState.CONNECTED:
        lines.append("No active operations")
    lines.append(f"Latency {latency_text}")
    if score is not None:
        lines.append(f"Health {score:.0f}/100" + (f" — {top_reason}" if top_reason else ""))
    if paused and inputs.paused_until is not None:
        lines.append(f"Notifications paused until {format_clock(inputs.paused_until, inputs.now)}")
    badge = active_count if state is not FaceState.DISCONNECTED else 0
    return Presentation(
        state=state,
        word=word,
        colour=STATE_COLOURS[state],
        badge=badge,
        paused=paused,
        link_up=conn.state is ConnectionState.CONNECTED,
        active_count=active_count,
        overall_progress_pct=progress,
        overall_eta_s=eta,
        throughput_text=throughput_text,
        latency_text=latency_text,
        health_score=score,
        top_reason=top_reason,
        tooltip_lines=tuple(lines),
    )


def _top_reason(inputs: FaceInputs) -> str | None:
    """The health's first reason (the core puts the worst first), else why the link is down."""
    if inputs.health is not None and inputs.health.reasons:
        return inputs.health.reasons[0]
    conn = inputs.connection
    return conn.reason if conn.state is not ConnectionState.CONNECTED else None


def _connection_line(conn: ConnectionStatus, now: float) -> str:
    parts = [_CONNECTION_WORDS[conn.state]]
    if conn.state is ConnectionState.RECONNECTING:
        parts.append(f"attempt {conn.attempt}")
        if conn.retry_in_s is not None:
            parts.append(f"next try in {format_duration(conn.retry_in_s)}")
    elif conn.since > 0 and now >= conn.since:
        parts.append(f"for {format_duration(now - conn.since)}")
    line = ", ".join(parts)
    return f"{line} — {conn.reason}" if conn.reason else line


def _activity_line(count: int, progress: float | None, eta: float | None, rate: str) -> str:
    noun = "operation" if count == 1 else "operations"
    line = f"{count} active {noun}"
    if progress is not None:
        line += f", {progress:.0f}%"
    if eta is not None:
        line += f", about {format_duration(eta)} left"
    if rate != "—":
        line += f" at {rate}"
    return line


def overall_progress(active: Sequence[Operation]) -> float | None:
    """Percent done of everything in flight; None when nothing is."""
    if not active:
        return None
    totals = [op.bytes_total for op in active]
    if all(t is not None and t > 0 for t in totals):
        total = sum(t for t in totals if t is not None)
        done = sum(min(op.bytes_done or 0, op.bytes_total or 0) for op in active)
        return max(0.0, min(100.0, 100.0 * done / total))
    return max(0.0, min(100.0, sum(op.progress for op in active) / len(active)))


def overall_eta(active: Sequence[Operation], now: float) -> float | None:
    """The slowest operation's ETA counted down to ``now`` (they run in parallel); None if
    any is unknown, since a confident figure that ignores a stalled transfer misleads."""
    if not active:
        return None
    now_us = round(now * 1_000_000)
    etas = [op.eta_at(now_us) for op in active]
    if any(e is None or not math.isfinite(e) for e in etas):
        return None
    return max(e for e in etas if e is not None)


def format_duration(seconds: float) -> str:
    """'45 s', '3 min', '1 h 20 min', '2 d 3 h': coarse on purpose, like the clients users know."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{round(s / 60)} min"
    if s < 86400:
        h, m = divmod(round(s / 60), 60)
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(round(s / 3600), 24)
    return f"{d} d {h} h" if h else f"{d} d"


def format_rate(bps: float | None) -> str:
    """Bytes per second in decimal units ('1.2 MB/s'); '—' when unknown."""
    if bps is None or not math.isfinite(bps) or bps < 0:
        return "—"
    return f"{format_bytes(bps)}/s"


def format_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def format_latency(latency: LatencyStats) -> str:
    """'12 ms (p95 21 ms)'; '<1 ms' on loopback rather than a misleading '0 ms'."""
    if latency.current_ms is None:
        return "—"
    text = format_ms(latency.current_ms)
    if latency.p95_ms is not None:
        text += f" (p95 {format_ms(latency.p95_ms)})"
    return text


def format_ms(value: float) -> str:
    return "<1 ms" if value < 1 else f"{value:.0f} ms"


def format_clock(epoch_s: float, now: float) -> str:
    """Local wall-clock time 'HH:MM', with the weekday when it is not the day of ``now``."""
    then, today = time.localtime(epoch_s), time.localtime(now)
    same_day = (then.tm_year, then.tm_yday) == (today.tm_year, today.tm_yday)
    return time.strftime("%H:%M" if same_day else "%a %H:%M", then)


def tomorrow_morning(now: float, hour: int = 8) -> float:
    """ "Until tomorrow" for a notification pause: the next day at ``hour`` local time."""
    t = time.localtime(now)
    return time.mktime((t.tm_year, t.tm_mon, t.tm_mday + 1, hour, 0, 0, 0, 0, -1))
