"""Rolling metrics: counts, rates, throughput, trend, uptime; bounded by the window."""

from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncwatch.core.connection import ConnectionState
from syncwatch.core.metrics import MetricsWindow
from syncwatch.core.operations import EMPTY_STATE, apply_many
from syncwatch.core.protocol import Status, SyncUpdate

T0 = 1_700_000_000_000_000
S = 1_000_000


def at(seconds: float) -> int:
    return T0 + round(seconds * S)


def finish(window: MetricsWindow, status: Status, t_s: float, duration_s: float = 1.0) -> None:
    window.observe_finished(status, duration_s, at(t_s))


def test_an_empty_window() -> None:
    snap = MetricsWindow().snapshot(at(0))
    assert (snap.total_operations, snap.error_rate_pct, snap.success_rate) == (0, 0.0, None)
    assert (snap.avg_duration_s, snap.uptime_share, snap.error_rate_trend) == (None, None, 0.0)
    assert (snap.throughput_bps, snap.throughput_ops_per_min, snap.peak_concurrency) == (0, 0, 0)


def test_counts_rates_and_durations() -> None:
    window = MetricsWindow()
    for i in range(6):
        finish(window, Status.COMPLETED, i, duration_s=float(i))
    finish(window, Status.FAILED, 7)
    finish(window, Status.FAILED, 8)
    finish(window, Status.CANCELLED, 9)
    window.observe_started(at(1), count=3)
    window.observe_retry(at(2))
    snap = window.snapshot(at(10))
    assert (snap.completed, snap.failed, snap.cancelled, snap.total_operations) == (6, 2, 1, 9)
    assert (snap.started, snap.retries) == (3, 1)
    assert snap.error_rate_pct == pytest.approx(25.0)  # cancellations are not errors
    assert snap.success_rate == pytest.approx(100 * 6 / 9)
    assert snap.avg_duration_s == pytest.approx(2.5)  # completed operations only
    assert snap.window_s == 900.0


def test_events_leave_the_window_when_it_slides_past_them() -> None:
    window = MetricsWindow(window_s=60, bucket_s=10)
    finish(window, Status.FAILED, 0)
    finish(window, Status.COMPLETED, 55)
    assert window.snapshot(at(59)).failed == 1
    later = window.snapshot(at(75))
    assert (later.failed, later.completed) == (0, 1)
    assert window.snapshot(at(1000)).total_operations == 0


def test_throughput_over_the_time_observed_while_the_window_fills() -> None:
    window = MetricsWindow(window_s=900, bucket_s=10)
    window.observe_bytes(0, at(0))  # ignored, but starts the clock
    window.observe_bytes(-5, at(0))
    window.observe_bytes(60_000_000, at(30))
    for t in range(10):
        finish(window, Status.COMPLETED, 30 + t)
    snap = window.snapshot(at(60))
    assert snap.throughput_bps == pytest.approx(1_000_000)
    assert snap.throughput_ops_per_min == pytest.approx(10)
    full = window.snapshot(at(900))
    assert full.throughput_bps == pytest.approx(60_000_000 / 900)


def test_concurrency_peak_and_current() -> None:
    window = MetricsWindow(window_s=60)
    window.observe_concurrency(12, at(0))
    window.observe_concurrency(3, at(5))
    snap = window.snapshot(at(6))
    assert (snap.peak_concurrency, snap.current_concurrency) == (12, 3)
    assert window.snapshot(at(200)).peak_concurrency == 3


def test_error_rate_trend_compares_the_newer_half_with_the_older() -> None:
    window = MetricsWindow(window_s=100, bucket_s=10)
    for t in range(0, 40, 5):
        finish(window, Status.COMPLETED, t)
    for t in range(60, 100, 5):
        finish(window, Status.FAILED if t % 10 == 0 else Status.COMPLETED, t)
    snap = window.snapshot(at(99))
    assert snap.error_rate_trend == pytest.approx(50.0)


def test_uptime_share_and_reconnects() -> None:
    window = MetricsWindow(window_s=200, bucket_s=10)
    window.observe_connection(ConnectionState.CONNECTING, at(0))
    window.observe_connection(ConnectionState.CONNECTED, at(10))  # first connect
    window.observe_connection(ConnectionState.RECONNECTING, at(40))
    window.observe_connection(ConnectionState.CONNECTED, at(50))  # a reconnect
    snap = window.snapshot(at(100))
    assert snap.uptime_share == pytest.approx(0.8)
    assert snap.reconnects == 1
    assert window.snapshot(at(500)).uptime_share == pytest.approx(1.0)


def test_time_going_backwards_counts_now_instead_of_rewriting_the_past() -> None:
    window = MetricsWindow(window_s=60, bucket_s=10)
    finish(window, Status.COMPLETED, 100)
    finish(window, Status.FAILED, 0)  # a stale clock: counted at t=100
    assert window.snapshot(at(150)).failed == 1


def test_finished_needs_a_terminal_status() -> None:
    with pytest.raises(ValueError, match="terminal status"):
        MetricsWindow().observe_finished(Status.IN_PROGRESS, None, at(0))


@pytest.mark.parametrize(
    ("window_s", "bucket_s"), [(0, 10), (-1, 1), (float("inf"), 10), (60, 0), (60, 120)]
)
def test_bad_window_shapes_are_refused(window_s: float, bucket_s: float) -> None:
    with pytest.raises(ValueError, match=r"window_s|bucket_s"):
        MetricsWindow(window_s, bucket_s)


def u(op: str, status: Status, t_s: float, seq: int, **kw: object) -> SyncUpdate:
    return SyncUpdate(op, "upload", status, 0.0, at(t_s), seq, **kw)  # type: ignore[arg-type]


def test_fed_from_the_reducer_counts_each_fact_once() -> None:
    window = MetricsWindow()
    state = EMPTY_STATE
    batches = [
        [u("a", Status.QUEUED, 0, 1, bytes_total=100, bytes_done=0)],
        [
            u("a", Status.IN_PROGRESS, 1, 2, bytes_done=40),
            u("a", Status.IN_PROGRESS, 2, 3, bytes_done=60),
        ],
        [u("a", Status.FAILED, 3, 4, error="x"), u("b", Status.COMPLETED, 3, 5, bytes_total=7)],
        [u("a", Status.IN_PROGRESS, 4, 6, bytes_done=10)],  # retry: a new attempt
        [u("a", Status.COMPLETED, 9, 7)],
        [u("a", Status.COMPLETED, 9, 8)],  # a repeated terminal report
    ]
    for batch in batches:
        reduction = apply_many(state, batch)
        window.observe_reduction(state, reduction, batch[-1].timestamp_us)
        state = reduction.state
    snap = window.snapshot(at(10))
    assert (snap.started, snap.retries) == (1, 1)
    assert (snap.completed, snap.failed) == (2, 1)
    assert snap.avg_duration_s == pytest.approx((8 + 0) / 2)  # a: 1 s -> 9 s, b: instant
    # bytes: a 60 in attempt 1, then 100 in attempt 2; b: 7
    assert snap.throughput_bps * 10 == pytest.approx(167)
    assert snap.peak_concurrency == 1


def test_memory_does_not_grow_with_events() -> None:
    window = MetricsWindow(window_s=60, bucket_s=1)
    for i in range(2000):  # warm up every bucket
        finish(window, Status.COMPLETED, i * 0.1)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for i in range(50_000):
            finish(window, Status.COMPLETED, 200 + i * 0.01)
            window.observe_bytes(10, at(200 + i * 0.01))
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert grown < 20_000


@settings(deadline=None)  # a busy CI machine must not fail it on timing
@given(
    st.lists(
        st.tuples(st.integers(0, 3000), st.sampled_from([Status.COMPLETED, Status.FAILED])),
        max_size=80,
    ),
    st.integers(0, 3000),
)
def test_window_counts_equal_a_brute_force_count(
    events: list[tuple[int, Status]], now_s: int
) -> None:
    """Events at whole seconds, fed in time order, counted over the buckets the window
    covers at ``now_s`` (the current bucket and the 5 before it, 10 s each)."""
    window = MetricsWindow(window_s=60, bucket_s=10)
    events.sort()
    for t, status in events:
        finish(window, status, t)
    latest = max([now_s] + [t for t, _ in events])
    snap = window.snapshot(at(now_s))
    covered = [(t, s) for t, s in events if latest // 10 - 6 < t // 10]
    assert snap.failed == sum(s is Status.FAILED for _, s in covered)
    assert snap.completed == sum(s is Status.COMPLETED for _, s in covered)
    assert 0.0 <= snap.error_rate_pct <= 100.0
