"""Rolling figures over a trailing window: rates, durations, throughput, uptime.

A ring of fixed-width time buckets (default 90 buckets of 10 s for 15 minutes): an event
adds to the counters of its bucket, a bucket that falls out of the window is reused.
Every observation is O(1) amortised, memory does not grow with the number of events, and
a snapshot sums at most the number of buckets. Time is passed in (microseconds since the
epoch); it is treated as monotonic: an event older than the newest one seen counts in the
current bucket rather than rewriting the past.

The engine feeds it from the reducer: :meth:`MetricsWindow.observe_reduction` (or
``observe_transition`` per changed operation) derives starts, retries, finishes and bytes
from the (before, after) pair of each operation, so nothing is counted twice when several
updates of one operation arrive in one batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from syncwatch.core.connection import ConnectionState
from syncwatch.core.operations import Operation, OperationsState, Reduction, transitions
from syncwatch.core.protocol import Status

_US: Final = 1_000_000


class _Bucket:
    """Counters of one time slice; ``index`` says which slice (time // bucket width)."""

    __slots__ = (
        "bytes",
        "cancelled",
        "completed",
        "connected_us",
        "duration_count",
        "duration_sum",
        "failed",
        "index",
        "observed_us",
        "peak_concurrency",
        "reconnects",
        "retries",
        "started",
    )

    def __init__(self, index: int) -> None:
        self.reset(index)

    def reset(self, index: int) -> None:
        self.index = index
        self.started = 0
        self.completed = 0
        self.failed = 0
        self.cancelled = 0
        self.retries = 0
        self.duration_sum = 0.0
        self.duration_count = 0
        self.bytes = 0
        self.peak_concurrency = 0
        self.connected_us = 0
        self.observed_us = 0
        self.reconnects = 0


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """The window's figures at one moment (what health, plots and the history use)."""

    at_us: int
    window_s: float
    #: Operations that finished (completed + failed + cancelled) in the window.
    total_operations: int
    completed: int
    failed: int
    cancelled: int
    started: int
    retries: int
    #: Percent of finished operations that completed; None when none finished.
    success_rate: float | None
    #: failed / (completed + failed) in percent; 0 when neither happened.
    error_rate_pct: float
    #: Mean duration of completed operations; None when none completed.
    avg_duration_s: float | None
    peak_concurrency: int
    #: The most recently observed number of active operations.
    current_concurrency: int
    throughput_ops_per_min: float
    throughput_bps: float
    #: Error rate of the newer half of the window minus the older half, in percentage
    #: points (positive: getting worse); 0 when either half has nothing finished.
    error_rate_trend: float
    #: Share of the observed time the hub link was up (0..1); None before any observation.
    uptime_share: float | None
    reconnects: int


class MetricsWindow:
    """Rolling counters over the last ``window_s`` seconds in ``bucket_s`` slices."""

    def __init__(self, window_s: float = 900.0, bucket_s: float = 10.0) -> None:
        if not (isinstance(window_s, int | float) and 0 < window_s < math.inf):
            raise ValueError(f"window_s must be a positive number of seconds, got {window_s!r}")
        if not (isinstance(bucket_s, int | float) and 0 < bucket_s <= window_s):
            raise ValueError(f"bucket_s must be > 0 and <= window_s, got {bucket_s!r}")
        #: Window length as configured, and the bucket width in microseconds.
        self.window_s = float(window_s)
        self._bucket_us = max(1, round(bucket_s * _US))
        #: Number of buckets, so that they cover the window.
        self._count = max(1, math.ceil(window_s * _US / self._bucket_us))
        #: The ring; bucket i holds slice index i (mod count).
        self._buckets = [_Bucket(-1) for _ in range(self._count)]
        #: Newest time seen (events older than this count at this time).
        self._latest_us: int | None = None
        #: Time of the first observation (for throughput while the window is not yet full).
        self._first_us: int | None = None
        #: Latest active count reported.
        self._concurrency = 0
        #: Link state: None until the first connection event, then up or down since when.
        self._connected: bool | None = None
        self._link_since_us = 0
        #: Whether the link was ever up (a later up is a reconnect).
        self._ever_connected = False

    # ------------------------------------------------------------------ time and buckets

    def _now(self, now_us: int) -> int:
        latest = self._latest_us
        if latest is None:
            self._latest_us = self._first_us = now_us
            return now_us
        if now_us > latest:
            self._latest_us = now_us
            return now_us
        return latest

    def _bucket(self, t_us: int) -> _Bucket:
        index = t_us // self._bucket_us
        bucket = self._buckets[index % self._count]
        if bucket.index != index:
            bucket.reset(index)
        return bucket

    # ------------------------------------------------------------------ observations

    def observe_started(self, now_us: int, count: int = 1) -> None:
        self._bucket(self._now(now_us)).started += count

    def observe_retry(self, now_us: int, count: int = 1) -> None:
        self._bucket(self._now(now_us)).retries += count

    def observe_finished(self, status: Status, duration_s: float | None, now_us: int) -> None:
        """An operation entered ``status`` (terminal); durations count for completed ones."""
        bucket = self._bucket(self._now(now_us))
        if status is Status.COMPLETED:
            bucket.completed += 1
            if duration_s is not None:
                bucket.duration_sum += duration_s
                bucket.duration_count += 1
        elif status is Status.FAILED:
            bucket.failed += 1
        elif status is Status.CANCELLED:
            bucket.cancelled += 1
        else:
            raise ValueError(f"observe_finished needs a terminal status, got {status}")

    def observe_bytes(self, delta: int, now_us: int) -> None:
        """Bytes transferred since the previous observation (for throughput)."""
        now = self._now(now_us)
        if delta > 0:
            self._bucket(now).bytes += delta

    def observe_concurrency(self, active: int, now_us: int) -> None:
        bucket = self._bucket(self._now(now_us))
        self._concurrency = active
        bucket.peak_concurrency = max(bucket.peak_concurrency, active)

    def observe_connection(self, state: ConnectionState, now_us: int) -> None:
        """The link entered ``state``: uptime is counted from here."""
        now = self._now(now_us)
        self._account_link(now)
        up = state is ConnectionState.CONNECTED
        if up and self._connected is False and self._ever_connected:
            self._bucket(now).reconnects += 1
        if up:
            self._ever_connected = True
        self._connected = up
        self._link_since_us = now

    def observe_transition(self, before: Operation | None, after: Operation, now_us: int) -> None:
        """Derive starts, retries, finishes and bytes from one operation's change."""
        now = self._now(now_us)
        bucket = self._bucket(now)
        if after.started_us is not None and (before is None or before.started_us is None):
            bucket.started += 1
        prev_attempts = before.attempts if before is not None else 1
        if after.attempts > prev_attempts:
            bucket.retries += after.attempts - prev_attempts
        same_attempt = before is not None and before.attempts == after.attempts
        if after.is_terminal and not (same_attempt and before is not None and before.is_terminal):
            self.observe_finished(after.status, after.duration_s, now)
        done = after.bytes_done
        if done is not None:
            prev_done = before.bytes_done if same_attempt and before is not None else None
            delta = done - (prev_done or 0)
            if delta > 0:
                bucket.bytes += delta

    def observe_transitions(
        self, pairs: Iterable[tuple[Operation | None, Operation]], now_us: int
    ) -> None:
        for before, after in pairs:
            self.observe_transition(before, after, now_us)

    def observe_reduction(self, before: OperationsState, reduction: Reduction, now_us: int) -> None:
        """Everything a batch from the reducer tells: transitions and the active count."""
        self.observe_transitions(transitions(before, reduction), now_us)
        self.observe_concurrency(reduction.state.active_count, now_us)

    # ------------------------------------------------------------------ reading

    def _account_link(self, now: int) -> None:
        """Add the link time since the last accounting to the buckets it spans."""
        if self._connected is None:
            return
        start = max(self._link_since_us, now - self._count * self._bucket_us)
        width = self._bucket_us
        connected = self._connected
        while start < now:
            end = min(now, (start // width + 1) * width)
            bucket = self._bucket(start)
            bucket.observed_us += end - start
            if connected:
                bucket.connected_us += end - start
            start = end
        self._link_since_us = now

    def snapshot(self, now_us: int) -> MetricsSnapshot:
        now = self._now(now_us)
        self._account_link(now)
        current = now // self._bucket_us
        oldest = current - self._count
        middle = current - self._count // 2
        completed = failed = cancelled = started = retries = 0
        duration_sum = 0.0
        duration_count = peak = nbytes = reconnects = connected_us = observed_us = 0
        halves = [[0, 0], [0, 0]]  # [completed, failed] of the older and the newer half
        for b in self._buckets:
            if not oldest < b.index <= current:
                continue
            completed += b.completed
            failed += b.failed
            cancelled += b.cancelled
            started += b.started
            retries += b.retries
            duration_sum += b.duration_sum
            duration_count += b.duration_count
            nbytes += b.bytes
            reconnects += b.reconnects
            connected_us += b.connected_us
            observed_us += b.observed_us
            peak = max(peak, b.peak_concurrency)
            half = halves[b.index > middle]
            half[0] += b.completed
            half[1] += b.failed
        finished = completed + failed + cancelled
        first = self._first_us if self._first_us is not None else now
        span_s = min(self.window_s, max(self._bucket_us, now - first) / _US)
        return MetricsSnapshot(
            at_us=now,
            window_s=self.window_s,
            total_operations=finished,
            completed=completed,
            failed=failed,
            cancelled=cancelled,
            started=started,
            retries=retries,
            success_rate=completed / finished * 100 if finished else None,
            error_rate_pct=_error_rate(completed, failed),
            avg_duration_s=duration_sum / duration_count if duration_count else None,
            peak_concurrency=max(peak, self._concurrency),
            current_concurrency=self._concurrency,
            throughput_ops_per_min=completed / span_s * 60,
            throughput_bps=nbytes / span_s,
            error_rate_trend=(
                _error_rate(*halves[1]) - _error_rate(*halves[0])
                if sum(halves[0]) and sum(halves[1])
                else 0.0
            ),
            uptime_share=connected_us / observed_us if observed_us else None,
            reconnects=reconnects,
        )


def _error_rate(completed: int, failed: int) -> float:
    total = completed + failed
    return failed / total * 100 if total else 0.0
