"""Ping round-trip statistics over a bounded number of recent samples."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncwatch.core.connection import LatencyStats
from syncwatch.core.latency import LatencyTracker


def test_no_samples_no_figures() -> None:
    assert LatencyTracker().stats() == LatencyStats()


def test_current_min_average_and_p95() -> None:
    tracker = LatencyTracker()
    for rtt in range(1, 101):  # 1..100 ms
        tracker.add(float(rtt))
    tracker.add(7)
    stats = tracker.stats()
    assert stats.current_ms == 7.0
    assert stats.min_ms == 2.0  # the oldest sample (1 ms) was pushed out
    assert stats.p95_ms == 95.0
    assert stats.avg_ms == pytest.approx((sum(range(2, 101)) + 7) / 100)
    assert stats.samples == len(tracker) == 100


def test_reset_forgets_everything() -> None:
    tracker = LatencyTracker(max_samples=3)
    tracker.add(5.0)
    tracker.reset()
    assert tracker.stats().samples == 0


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf, True, "5"])
def test_bad_samples_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="rtt_ms"):
        LatencyTracker().add(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_max_samples_must_be_a_positive_integer(bad: object) -> None:
    with pytest.raises(ValueError, match="max_samples"):
        LatencyTracker(max_samples=bad)  # type: ignore[arg-type]


@settings(deadline=None)  # a busy CI machine must not fail it on timing
@given(st.lists(st.floats(0, 10_000), min_size=1, max_size=300), st.integers(1, 50))
def test_figures_are_ordered_and_memory_is_bounded(samples: list[float], size: int) -> None:
    tracker = LatencyTracker(max_samples=size)
    for rtt in samples:
        tracker.add(rtt)
    stats = tracker.stats()
    assert stats.samples == min(size, len(samples))
    assert stats.min_ms is not None
    assert stats.avg_ms is not None
    assert stats.p95_ms is not None
    assert stats.min_ms <= stats.p95_ms <= max(samples[-size:])
    assert stats.min_ms <= stats.avg_ms * (1 + 1e-9) + 1e-9
    assert stats.current_ms == samples[-1]
