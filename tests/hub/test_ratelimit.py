"""The publisher rate limit decides with the time passed in: no sleeping in tests."""

from __future__ import annotations

import pytest

from syncwatch.hub.ratelimit import RateLimiter, RateLimitError


def test_bursts_pass_then_the_excess_waits_for_its_share_of_the_rate() -> None:
    limiter = RateLimiter(rate=100, burst=10, grace_s=1.0, now=0.0)
    assert [limiter.delay(1, 0.0) for _ in range(10)] == [0.0] * 10
    assert limiter.delay(5, 0.0) == pytest.approx(0.05)


def test_a_client_back_under_the_limit_is_no_longer_throttled() -> None:
    limiter = RateLimiter(rate=100, burst=10, grace_s=0.5, now=0.0)
    limiter.delay(20, 0.0)
    assert limiter.delay(1, 1.0) == 0.0
    # A fresh run of throttling starts its own grace period: no flood yet at 1.4 s.
    limiter.delay(20, 1.0)
    assert limiter.delay(30, 1.4) > 0


def test_throttled_without_a_break_for_longer_than_the_grace_is_a_flood() -> None:
    limiter = RateLimiter(rate=100, burst=10, grace_s=0.5, now=0.0)
    for step in range(6):  # throttled at 0.0, 0.1 ... 0.5 s: still within the grace
        assert limiter.delay(50, step / 10) > 0
    with pytest.raises(RateLimitError, match="100 updates/s"):
        limiter.delay(50, 0.6)
