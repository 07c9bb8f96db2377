"""The publisher rate limit: a token bucket that throttles first and gives up later.

Pure (the caller passes the time in), so that its decisions are tested without sleeping.
"""

from __future__ import annotations


class RateLimitError(Exception):
    """The publisher kept sending faster than its limit for longer than the grace period."""


class RateLimiter:
    """Allows ``rate`` updates a second with bursts of ``burst``.

    :meth:`delay` says how long to pause before handling the next ``count`` updates; a
    hub that pauses stops reading the socket, so a well-behaved client simply slows down
    under TCP backpressure. A client that is still over the limit after being throttled
    without a break for ``grace_s`` seconds is a flood: :meth:`delay` raises.
    """

    def __init__(self, rate: float, burst: int, grace_s: float, now: float) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._grace_s = grace_s
        #: Updates that may still be sent without waiting (negative: owed time).
        self._tokens = float(burst)
        #: When the tokens were last refilled.
        self._updated = now
        #: When the current unbroken run of throttling began, None when not throttled.
        self._throttled_since: float | None = None

    def delay(self, count: int, now: float) -> float:
        """Seconds to wait before handling ``count`` more updates (0 when within the limit)."""
        elapsed = max(0.0, now - self._updated)
        self._updated = now
        self._tokens = min(self._burst, self._tokens + elapsed * self._rate) - count
        if self._tokens >= 0:
            self._throttled_since = None
            return 0.0
        if self._throttled_since is None:
            self._throttled_since = now
        elif now - self._throttled_since > self._grace_s:
            raise RateLimitError(
                f"over the limit of {self._rate:g} updates/s for more than {self._grace_s:g} s"
            )
        return -self._tokens / self._rate
