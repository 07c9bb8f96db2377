"""core.backoff: full-jitter exponential delays, bounded, resettable, validated.

Runs Qt-free: imports only the stdlib, pytest, hypothesis and syncwatch.core.
"""

from __future__ import annotations

import itertools
import math
import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncwatch.core.backoff import Backoff, backoff


class FixedRandom:
    """A random source that always returns the same fraction: delays become exact."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


bases = st.floats(min_value=0.001, max_value=100.0)
factors = st.floats(min_value=1.0, max_value=10.0)
caps_over_base = st.floats(min_value=1.0, max_value=1000.0)
seeds = st.integers(min_value=0, max_value=2**32)


def test_default_sequence_doubles_from_one_second_up_to_sixty() -> None:
    # With the jitter fraction pinned at one half, each delay is half its ceiling.
    delays = list(itertools.islice(backoff(FixedRandom(0.5)), 9))
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_jitter_spreads_delays_over_the_whole_range() -> None:
    rng = random.Random(7)
    sixth = [list(itertools.islice(backoff(rng, base=1, cap=60), 6))[5] for _ in range(2000)]
    # The sixth ceiling is 32 s: full jitter draws uniformly from [0, 32).
    assert 0 <= min(sixth) < 1.0
    assert 31.0 < max(sixth) < 32.0
    assert 14.0 < sum(sixth) / len(sixth) < 18.0


@given(seed=seeds, base=bases, factor=factors, cap_ratio=caps_over_base)
def test_delays_are_never_negative_and_never_exceed_the_cap(
    seed: int, base: float, factor: float, cap_ratio: float
) -> None:
    cap = base * cap_ratio
    for delay in itertools.islice(backoff(random.Random(seed), base, factor, cap), 200):
        assert 0.0 <= delay <= cap


@given(fraction=st.floats(min_value=0.0, max_value=0.999), base=bases, factor=factors)
def test_nth_delay_is_fraction_of_min_cap_base_factor_pow_n(
    fraction: float, base: float, factor: float
) -> None:
    cap = base * 50
    delays = list(itertools.islice(backoff(FixedRandom(fraction), base, factor, cap), 30))
    for n, delay in enumerate(delays):
        expected = fraction * min(cap, base * factor**n)
        assert math.isclose(delay, expected, rel_tol=1e-9, abs_tol=1e-12)


def test_generator_runs_for_ever_without_overflow() -> None:
    delays = backoff(FixedRandom(0.5), base=1, factor=10, cap=5)
    last = list(itertools.islice(delays, 5000))[-1]
    assert last == 2.5


@given(seed=seeds, failures=st.integers(min_value=0, max_value=50))
def test_backoff_counts_attempts_and_matches_the_generator(seed: int, failures: int) -> None:
    policy = Backoff(random.Random(seed), base=0.5, factor=3, cap=20)
    reference = list(itertools.islice(backoff(random.Random(seed), 0.5, 3, 20), failures))
    got = []
    for n in range(failures):
        assert policy.attempt == n
        got.append(policy.next_delay())
    assert policy.attempt == failures
    assert got == reference


def test_reset_starts_again_from_the_base_ceiling() -> None:
    policy = Backoff(FixedRandom(0.5), base=1, factor=2, cap=60)
    assert [policy.next_delay() for _ in range(4)] == [0.5, 1.0, 2.0, 4.0]
    assert policy.attempt == 4
    policy.reset()
    assert policy.attempt == 0
    assert policy.next_delay() == 0.5
    assert policy.attempt == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base": 0}, "base must be > 0"),
        ({"base": -1}, "base must be > 0"),
        ({"factor": 0.5}, "factor must be >= 1"),
        ({"cap": 0.5}, "cap (0.5 s) must be >= base (1.0 s)"),
        ({"base": math.nan}, "base must be finite"),
        ({"cap": math.inf}, "cap must be finite"),
        ({"factor": "2"}, "factor must be a number, got str"),
        ({"base": True}, "base must be a number, got bool"),
    ],
)
def test_bad_parameters_are_refused_with_a_clear_message(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        backoff(random.Random(0), **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=re.escape(message)):
        Backoff(random.Random(0), **kwargs)  # type: ignore[arg-type]
