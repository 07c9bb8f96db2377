"""The one retry-delay policy of Syncwatch: exponential backoff with full jitter.

Every component that retries (the viewer connection, the Reporter of agents) waits with
this policy, so that a hub coming back after an outage is not hit by every client at the
same instant. "Full jitter" (AWS Architecture Blog, "Exponential Backoff and Jitter")
draws each delay uniformly from ``[0, ceiling)``, where the ceiling grows as
``base * factor**n`` up to ``cap``: it spreads clients out best and keeps the expected
wait half of plain exponential backoff.

Pure: the random source is passed in (a ``random.Random`` with a seed in tests), and no
clock is read: the caller decides when to sleep.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Protocol


class RandomSource(Protocol):
    """What the policy needs from a random generator (``random.Random`` fits)."""

    def random(self) -> float:
        """A float uniformly drawn from [0, 1)."""
        ...


def _validate(base: float, factor: float, cap: float) -> None:
    """Refuse parameters that would give negative, endless or non-growing delays."""
    for name, value in (("base", base), ("factor", factor), ("cap", cap)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"backoff {name} must be a number, got {type(value).__name__}")
        if not math.isfinite(value):
            raise ValueError(f"backoff {name} must be finite, got {value}")
    if base <= 0:
        raise ValueError(f"backoff base must be > 0 seconds, got {base}")
    if factor < 1:
        raise ValueError(f"backoff factor must be >= 1 (delays must not shrink), got {factor}")
    if cap < base:
        raise ValueError(f"backoff cap ({cap} s) must be >= base ({base} s)")


def backoff(
    rng: RandomSource, base: float = 1.0, factor: float = 2.0, cap: float = 60.0
) -> Iterator[float]:
    """Yield retry delays in seconds, forever: ``rng.random() * min(cap, base * factor**n)``.

    The n-th delay (n from 0) is drawn from ``[0, min(cap, base * factor**n))``. The ceiling
    is grown by multiplication and clamped at ``cap``, so the generator never overflows
    however long it runs. Raises ValueError at once (not on first ``next``) for bad
    parameters.
    """
    _validate(base, factor, cap)
    return _delays(rng, float(base), float(factor), float(cap))


def _delays(rng: RandomSource, base: float, factor: float, cap: float) -> Iterator[float]:
    ceiling = min(cap, base)
    while True:
        yield rng.random() * ceiling
        ceiling = min(cap, ceiling * factor)


class Backoff:
    """A resettable backoff for a retry loop: counts the attempts it has delayed.

    ``next_delay()`` is called after each failure; ``attempt`` is then the number of
    failures since the last ``reset()`` (1 after the first failure). A caller resets once a
    connection proved stable, so that the next outage starts again from short delays.
    """

    def __init__(
        self, rng: RandomSource, base: float = 1.0, factor: float = 2.0, cap: float = 60.0
    ) -> None:
        _validate(base, factor, cap)
        #: Random source of the jitter.
        self._rng = rng
        #: First ceiling, growth per attempt and largest ceiling, in seconds.
        self.base = float(base)
        self.factor = float(factor)
        self.cap = float(cap)
        #: The current delay sequence; replaced by reset().
        self._delays = _delays(rng, self.base, self.factor, self.cap)
        #: Delays handed out since the last reset, i.e. failed attempts.
        self._attempt = 0

    @property
    def attempt(self) -> int:
        """Failed attempts since the last reset (0 right after construction or reset)."""
        return self._attempt

    def next_delay(self) -> float:
        """The delay to wait before the next try, in seconds (0 <= delay < ceiling <= cap)."""
        self._attempt += 1
        return next(self._delays)

    def reset(self) -> None:
        """Start again from the base ceiling and attempt 0."""
        self._delays = _delays(self._rng, self.base, self.factor, self.cap)
        self._attempt = 0

    def __repr__(self) -> str:
        return (
            f"Backoff(base={self.base}, factor={self.factor}, cap={self.cap},"
            f" attempt={self._attempt})"
        )
