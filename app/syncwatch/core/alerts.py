"""Which desktop notifications to show, and when: an alert lifecycle without floods.

Users of sync tray clients report thousands of popups from one bad afternoon, false
"disconnected" alerts after resume and errors that never clear (USERS.md). The rules:

* a condition must hold for a while before it fires (health critical for
  ``health_delay_s``, the hub unreachable beyond ``connection_grace_s``); it fires once
  per episode and clears itself when the condition ends;
* "connection restored" only follows a "connection lost" that was shown; while the hub
  is unreachable, "connection lost" speaks for it and "health critical" waits (the health
  would only repeat "hub unreachable"); after the link returns, critical health must
  hold for the delay again, so that the engine can re-score it first;
* failures are gathered into one digest ("12 operations failed in the last 5 min"), at
  most one per ``digest_window_s``; a single failure names its item;
* every kind fires at most once per ``min_interval_s`` (the digest: per
  ``digest_window_s``) and all kinds together at most ``rate_limit_count`` per
  ``rate_limit_window_s``; a condition held back by a limit fires later if it still holds;
* per-kind switches, ``pause_until(t)`` to mute for a while (failures during a pause are
  dropped; conditions still holding afterwards fire), ``suppress_until(t)`` after start
  and resume (no "lost" while the link re-establishes itself);
* a staleness watchdog: "no successful sync from <source> for 6 h".

The engine is pure: every call passes ``now`` (epoch seconds) and returns the
notifications to show now; nothing happens between calls, so the caller ticks it (every
second or so). Memory is bounded (at most ``max_sources`` sources, three sample failures).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Final

from syncwatch.core.connection import ConnectionState, ConnectionStatus
from syncwatch.core.health import Health, HealthStatus, describe_duration
from syncwatch.core.operations import Operation
from syncwatch.core.protocol import Status


class NotificationKind(StrEnum):
    HEALTH_CRITICAL = "health_critical"
    CONNECTION_LOST = "connection_lost"
    CONNECTION_RESTORED = "connection_restored"
    OPERATIONS_FAILED = "operations_failed"
    SOURCE_STALE = "source_stale"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Notification:
    kind: NotificationKind
    title: str
    body: str
    severity: Severity
    #: When it was decided (epoch seconds).
    at: float


@dataclass(frozen=True, slots=True)
class AlertConfig:
    """Delays and limits (seconds unless said otherwise); validated on creation."""

    enabled: frozenset[NotificationKind] = frozenset(NotificationKind)
    health_delay_s: float = 30.0
    connection_grace_s: float = 30.0
    #: Suppression after start (and, by the caller, after resume from sleep).
    startup_suppress_s: float = 15.0
    digest_window_s: float = 300.0
    #: How long a first failure waits for others to join it in the digest.
    digest_gather_s: float = 10.0
    min_interval_s: float = 300.0
    rate_limit_count: int = 5
    rate_limit_window_s: float = 60.0
    stale_after_s: float = 6 * 3600.0
    #: The link must have been up this long before staleness is judged (replays arrive).
    stale_settle_s: float = 60.0
    max_sources: int = 1000

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "enabled":
                if not all(isinstance(k, NotificationKind) for k in value):
                    raise ValueError(f"enabled must hold NotificationKind values, got {value!r}")
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{f.name} must be a number, got {value!r}")
            if not 0 <= value < math.inf:
                raise ValueError(f"{f.name} must be >= 0 and finite, got {value!r}")
        for name in ("rate_limit_count", "max_sources"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


_LOST_STATES: Final = frozenset(
    {
        ConnectionState.RECONNECTING,
        ConnectionState.DISCONNECTED,
        ConnectionState.OFFLINE,
        ConnectionState.ERROR,
    }
)
#: Kinds that suppress_until holds back (false alarms while the link re-establishes).
_SUPPRESSIBLE: Final = frozenset(
    {NotificationKind.CONNECTION_LOST, NotificationKind.HEALTH_CRITICAL}
)
_MAX_SAMPLES: Final = 3


class AlertEngine:
    """Turns health, connection and failure observations into notifications."""

    def __init__(
        self, config: AlertConfig | None = None, *, started_at: float | None = None
    ) -> None:
        #: Current configuration (replace with configure()).
        self.config = config or AlertConfig()
        #: No suppressible notification before this time.
        self._suppressed_until = (
            started_at + self.config.startup_suppress_s if started_at is not None else -math.inf
        )
        #: Nothing at all before this time (the user's mute).
        self._paused_until = -math.inf
        #: Last time each kind fired, and recent notification times (global limit).
        self._last_fired: dict[NotificationKind, float] = {}
        self._recent: deque[float] = deque()
        #: Health: critical since when (None if not), fired for this episode, last value.
        self._critical_since: float | None = None
        self._critical_fired = False
        self._health: Health | None = None
        #: Link: lost since when, latest status, whether "lost" was shown for this outage,
        #: and a pending "restored" (its outage length in seconds).
        self._lost_since: float | None = None
        self._link: ConnectionStatus | None = None
        self._lost_fired = False
        self._restored_pending: float | None = None
        #: Up since when (None while not up); None for _link also means "never told".
        self._up_since: float | None = None
        #: Failures awaiting a digest: how many, since when, and up to three samples.
        self._failed_count = 0
        self._failed_since = 0.0
        self._failed_samples: list[Operation] = []
        #: Source -> time of its last successful operation (or first sight), and the
        #: sources already reported stale.
        self._sources: dict[str, float] = {}
        self._stale_fired: set[str] = set()

    # ------------------------------------------------------------------ controls

    def configure(self, config: AlertConfig) -> None:
        self.config = config

    def set_enabled(self, kind: NotificationKind, enabled: bool) -> None:
        kinds = set(self.config.enabled)
        (kinds.add if enabled else kinds.discard)(kind)
        self.config = replace(self.config, enabled=frozenset(kinds))

    def suppress_until(self, t: float) -> None:
        """Hold back "connection lost" and "health critical" until ``t`` (start, resume)."""
        self._suppressed_until = max(self._suppressed_until, t)

    def pause_until(self, t: float) -> None:
        """Mute every notification until ``t``."""
        self._paused_until = t

    def resume(self) -> None:
        self._paused_until = -math.inf

    def is_paused(self, now: float) -> bool:
        return now < self._paused_until

    # ------------------------------------------------------------------ observations

    def on_health(self, health: Health, now: float) -> list[Notification]:
        self._health = health
        if health.status is HealthStatus.CRITICAL:
            if self._critical_since is None:
                self._critical_since = now
        else:
            self._critical_since = None
            self._critical_fired = False
        return self.tick(now)

    def on_connection(self, status: ConnectionStatus, now: float) -> list[Notification]:
        self._link = status
        state = status.state
        if state in _LOST_STATES:
            self._up_since = None
            if self._lost_since is None:
                self._lost_since = now
        elif state is ConnectionState.CONNECTED:
            if self._up_since is None:
                self._up_since = now
            if self._lost_since is not None:
                if self._lost_fired:
                    self._restored_pending = now - self._lost_since
                if self._critical_since is not None:
                    self._critical_since = now
            self._lost_since = None
            self._lost_fired = False
        return self.tick(now)

    def on_operation_failed(self, operation: Operation, now: float) -> list[Notification]:
        self._see_source(operation, now)
        if self._failed_count == 0:
            self._failed_since = now
        self._failed_count += 1
        if len(self._failed_samples) < _MAX_SAMPLES:
            self._failed_samples.append(operation)
        return self.tick(now)

    def on_operation_finished(self, operation: Operation, now: float) -> list[Notification]:
        """Any terminal operation: failures go to the digest, completions feed staleness."""
        if operation.status is Status.FAILED:
            return self.on_operation_failed(operation, now)
        self._see_source(operation, now)
        source = operation.source
        if operation.status is Status.COMPLETED and source is not None:
            ended = operation.ended_us / 1_000_000 if operation.ended_us is not None else now
            self._sources[source] = max(self._sources[source], min(ended, now))
            self._stale_fired.discard(source)
        return self.tick(now)

    def _see_source(self, operation: Operation, now: float) -> None:
        source = operation.source
        if source is None or source in self._sources:
            return
        if len(self._sources) >= self.config.max_sources:
            oldest = min(self._sources, key=self._sources.__getitem__)
            del self._sources[oldest]
            self._stale_fired.discard(oldest)
        self._sources[source] = now

    # ------------------------------------------------------------------ decisions

    def tick(self, now: float) -> list[Notification]:
        """The notifications due at ``now`` (call about once a second)."""
        out: list[Notification] = []
        if self.is_paused(now):
            self._failed_count = 0
            self._failed_samples.clear()
            self._restored_pending = None
            return out
        cfg = self.config
        lost_since, link = self._lost_since, self._link
        if (
            lost_since is not None
            and link is not None
            and not self._lost_fired
            and now - lost_since >= cfg.connection_grace_s
            and self._allowed(NotificationKind.CONNECTION_LOST, now)
        ):
            self._lost_fired = True
            out.append(_lost_notification(link, now - lost_since, now))
        restored = self._restored_pending
        if restored is not None and self._allowed(NotificationKind.CONNECTION_RESTORED, now):
            self._restored_pending = None
            body = f"Back after {describe_duration(restored)}."
            out.append(
                Notification(
                    NotificationKind.CONNECTION_RESTORED,
                    "Connection to hub restored",
                    body,
                    Severity.INFO,
                    now,
                )
            )
        critical_since = self._critical_since
        if (
            critical_since is not None
            and self._health is not None
            and not self._critical_fired
            and now - critical_since >= cfg.health_delay_s
            and (lost_since is None or NotificationKind.CONNECTION_LOST not in cfg.enabled)
            and self._allowed(NotificationKind.HEALTH_CRITICAL, now)
        ):
            self._critical_fired = True
            health = self._health
            out.append(
                Notification(
                    NotificationKind.HEALTH_CRITICAL,
                    f"Sync health critical (score {round(health.score)})",
                    "; ".join(health.reasons) or "Health is critical.",
                    Severity.ERROR,
                    now,
                )
            )
        if (
            self._failed_count
            and now - self._failed_since >= cfg.digest_gather_s
            and self._allowed(NotificationKind.OPERATIONS_FAILED, now)
        ):
            out.append(self._digest(now))
        self._check_stale(now, out)
        return out

    def _allowed(self, kind: NotificationKind, now: float) -> bool:
        """Whether ``kind`` may fire now; records it if so. Disabled kinds drop their
        pending content so that nothing stale pops up when they are switched back on."""
        cfg = self.config
        if kind not in cfg.enabled:
            if kind is NotificationKind.OPERATIONS_FAILED:
                self._failed_count = 0
                self._failed_samples.clear()
            elif kind is NotificationKind.CONNECTION_RESTORED:
                self._restored_pending = None
            return False
        if kind in _SUPPRESSIBLE and now < self._suppressed_until:
            return False
        interval = (
            cfg.digest_window_s
            if kind is NotificationKind.OPERATIONS_FAILED
            else cfg.min_interval_s
        )
        last = self._last_fired.get(kind)
        if last is not None and now - last < interval:
            return False
        recent = self._recent
        while recent and now - recent[0] >= cfg.rate_limit_window_s:
            recent.popleft()
        if len(recent) >= cfg.rate_limit_count:
            return False
        recent.append(now)
        self._last_fired[kind] = now
        return True

    def _digest(self, now: float) -> Notification:
        count, samples = self._failed_count, list(self._failed_samples)
        span = max(1.0, now - self._failed_since)
        self._failed_count = 0
        self._failed_samples.clear()
        if count == 1:
            op = samples[0]
            title = f"{op.operation_type.capitalize()} failed: {op.item or op.operation_id}"
            body = op.error or "The operation failed without an error message."
            if op.attempts > 1:
                body += f" (attempt {op.attempts})"
        else:
            title = f"{count} operations failed in the last {describe_duration(span)}"
            names = [op.item or op.operation_id for op in samples]
            body = ", ".join(names)
            if count > len(names):
                body += f" and {count - len(names)} more"
        return Notification(NotificationKind.OPERATIONS_FAILED, title, body, Severity.ERROR, now)

    def _check_stale(self, now: float, out: list[Notification]) -> None:
        cfg = self.config
        if self._link is not None and (
            self._up_since is None or now - self._up_since < cfg.stale_settle_s
        ):
            return  # while the link is down (or just back) silence proves nothing
        stale = [
            (source, last)
            for source, last in self._sources.items()
            if source not in self._stale_fired and now - last >= cfg.stale_after_s
        ]
        if not stale or not self._allowed(NotificationKind.SOURCE_STALE, now):
            return
        stale.sort(key=lambda pair: pair[1])
        self._stale_fired.update(source for source, _ in stale)
        oldest_age = describe_duration(now - stale[0][1])
        if len(stale) == 1:
            title = f"No successful sync from {stale[0][0]} for {oldest_age}"
        else:
            title = f"No successful sync from {len(stale)} sources for up to {oldest_age}"
        body = ", ".join(source for source, _ in stale[:5])
        if len(stale) > 5:
            body += f" and {len(stale) - 5} more"
        out.append(Notification(NotificationKind.SOURCE_STALE, title, body, Severity.WARNING, now))


def _lost_notification(link: ConnectionStatus, down_for: float, now: float) -> Notification:
    parts = [f"The hub has been unreachable for {describe_duration(down_for)}."]
    if link.reason:
        parts.append(f"Reason: {link.reason}.")
    if link.state is ConnectionState.OFFLINE:
        parts.append("The network is offline; Syncwatch reconnects when it returns.")
    elif link.retry_in_s is not None:
        parts.append(f"Retrying in {describe_duration(link.retry_in_s)}.")
    return Notification(
        NotificationKind.CONNECTION_LOST,
        "Connection to hub lost",
        " ".join(parts),
        Severity.WARNING,
        now,
    )
