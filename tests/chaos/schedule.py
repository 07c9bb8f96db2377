"""The fault schedule: which fault, when, for how long - fixed by a seed.

Pure (no I/O, no clock): the same seed and duration give the same schedule, so a failing
run can be replayed. Kills come in the first part of the fault window so that the last
hub and app processes live long enough for a fair memory comparison (RSS after warm-up
against RSS at the end is measured on the same process).
"""

from __future__ import annotations

import random
from enum import StrEnum
from typing import Final, NamedTuple


class Kind(StrEnum):
    HUB_KILL = "hub kill -9 + restart"
    APP_KILL = "app kill -9 + restart"
    BLACKHOLE = "proxy blackhole"
    RESET = "proxy reset (RST)"
    LATENCY = "proxy +500 ms latency"
    THROTTLE = "proxy bandwidth throttle"
    HOSTILE = "hostile publisher (garbage, oversized, flood)"
    STALLED_VIEWER = "viewer that stops reading"
    SUSPEND = "app suspended (SIGSTOP/SIGCONT)"


class Fault(NamedTuple):
    """One injection: start ``at_s`` seconds into the run, undo after ``hold_s``."""

    at_s: float
    kind: Kind
    hold_s: float


#: How long each fault lasts. A blackhole outlasts the app's ping interval + timeout
#: (10 s + 10 s) so that it must be detected, not ridden out; a suspension outlasts the
#: hub's keepalive (websockets' default ping every 20 s, 20 s timeout), so that the hub
#: drops the frozen app and the app must notice when it wakes.
HOLD_S: Final[dict[Kind, float]] = {
    Kind.HUB_KILL: 3.0,
    Kind.APP_KILL: 2.0,
    Kind.BLACKHOLE: 25.0,
    Kind.RESET: 0.0,
    Kind.LATENCY: 20.0,
    Kind.THROTTLE: 20.0,
    Kind.HOSTILE: 6.0,
    Kind.STALLED_VIEWER: 30.0,
    Kind.SUSPEND: 45.0,
}
#: Everything, with the hub killed twice (restart under load is the riskiest path).
FULL: Final = (
    Kind.HUB_KILL,
    Kind.APP_KILL,
    Kind.HUB_KILL,
    Kind.BLACKHOLE,
    Kind.RESET,
    Kind.LATENCY,
    Kind.THROTTLE,
    Kind.HOSTILE,
    Kind.STALLED_VIEWER,
    Kind.SUSPEND,
)
_KILLS: Final = frozenset({Kind.HUB_KILL, Kind.APP_KILL})
#: Seconds between the end of one fault and the start of the next, at least.
MIN_GAP_S: Final = 15.0


def warmup_s(duration_s: float) -> float:
    """Load runs alone this long before the first fault (the RSS baseline's moment)."""
    return min(60.0, duration_s * 0.15)


def settle_s(duration_s: float) -> float:
    """No fault in the last this-many seconds: everyone catches up before the checks."""
    return min(60.0, duration_s * 0.15)


def build_schedule(seed: int, duration_s: float, kinds: tuple[Kind, ...] = FULL) -> list[Fault]:
    """Spread ``kinds`` over the fault window: kills first (shuffled), then the rest
    (shuffled), each in its own slot with a seeded offset. Kinds that do not fit in the
    window are left out (a short run does fewer faults), never squeezed together."""
    if duration_s <= 0:
        raise ValueError(f"duration must be positive, got {duration_s}")
    rng = random.Random(seed)
    kills = [k for k in kinds if k in _KILLS]
    others = [k for k in kinds if k not in _KILLS]
    rng.shuffle(kills)
    rng.shuffle(others)
    ordered = kills + others
    start, end = warmup_s(duration_s), duration_s - settle_s(duration_s)
    while ordered and sum(HOLD_S[k] + MIN_GAP_S for k in ordered) > end - start:
        ordered.pop()
    if not ordered:
        return []
    spare = (end - start) - sum(HOLD_S[k] + MIN_GAP_S for k in ordered)
    slack = spare / len(ordered)
    faults: list[Fault] = []
    at = start
    for kind in ordered:
        offset = rng.uniform(0.0, slack)
        faults.append(Fault(round(at + offset, 1), kind, HOLD_S[kind]))
        at += HOLD_S[kind] + MIN_GAP_S + slack
    return faults
