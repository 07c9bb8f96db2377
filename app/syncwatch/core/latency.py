"""Ping round-trip statistics over the most recent samples.

Other sync clients measure a round trip on their keep-alive and throw it away; Syncwatch
shows it (current, min, average, p95) so that a slow hub is visible before it fails.
Memory is bounded by ``max_samples``; ``stats()`` sorts at most that many floats.
"""

from __future__ import annotations

import math
from collections import deque

from syncwatch.core.connection import LatencyStats


class LatencyTracker:
    """Keeps the last ``max_samples`` round-trip times (milliseconds)."""

    __slots__ = ("_samples",)

    def __init__(self, max_samples: int = 100) -> None:
        if isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 1:
            raise ValueError(f"max_samples must be an integer >= 1, got {max_samples!r}")
        #: The most recent round trips, oldest first.
        self._samples: deque[float] = deque(maxlen=max_samples)

    def add(self, rtt_ms: float) -> None:
        """Record one round trip; negative, NaN or infinite times are a caller's bug."""
        if (
            isinstance(rtt_ms, bool)
            or not isinstance(rtt_ms, int | float)
            or not 0 <= rtt_ms < math.inf
        ):
            raise ValueError(f"rtt_ms must be a finite number >= 0, got {rtt_ms!r}")
        self._samples.append(float(rtt_ms))

    def reset(self) -> None:
        """Forget every sample (a new connection, possibly to another hub)."""
        self._samples.clear()

    def __len__(self) -> int:
        return len(self._samples)

    def stats(self) -> LatencyStats:
        samples = self._samples
        if not samples:
            return LatencyStats()
        ordered = sorted(samples)
        # Nearest-rank percentile: the smallest sample with >= 95% of samples at or below it.
        p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
        return LatencyStats(
            current_ms=samples[-1],
            min_ms=ordered[0],
            avg_ms=math.fsum(ordered) / len(ordered),
            p95_ms=p95,
            samples=len(ordered),
        )
