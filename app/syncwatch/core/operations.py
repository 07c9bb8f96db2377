"""What every sync operation looks like now: the operation state machine and reducer.

The hub sends facts (``SyncUpdate``); this module folds them into :class:`Operation`
values. It is pure: the time of an update is the update's own ``timestamp_us``, so the
same updates always give the same state, whatever the clock of the machine replaying them.

Life of an operation::

    queued -> in_progress -> completed | failed | cancelled
                  ^                        |         |
                  +------ retry -----------+---------+     (attempts += 1)

Any terminal -> non-terminal step is a retry and starts a new attempt. Other steps the
diagram does not show (``in_progress -> queued``, ``queued -> completed``) are applied as
reported: the hub's log is the truth and refusing a fact would only hide it.

Duplicates and replays: updates from the hub carry ``seq``, their position in the hub's
global log. An update whose seq is not above the operation's ``last_seq`` was applied
already (a replay overlapping a snapshot, a resent batch) and is ignored, so applying a
batch twice equals applying it once. An update for an operation the state does not hold,
with a seq at or below ``floor_seq`` (the snapshot position, or the newest update of an
expired operation), is just as stale: it would otherwise resurrect a dropped operation.
Updates with ``seq=None`` are local and always applied, in order.

Speed: :func:`apply_many` copies the operations mapping once per batch, never per update,
so 20,000 updates a second cost a few percent of one core (benchmarks/bench_core.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from operator import attrgetter
from types import MappingProxyType
from typing import Final, NamedTuple

from syncwatch.core.protocol import Status, SyncUpdate

_IN_PROGRESS: Final = Status.IN_PROGRESS
_COMPLETED: Final = Status.COMPLETED
_FAILED: Final = Status.FAILED
_TERMINAL: Final = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})

# --------------------------------------------------------------------- speed and ETA

#: Time constant of the rate EWMA: a rate change is half absorbed after ~3.5 s.
RATE_TAU_S: Final = 5.0
#: An ETA needs at least this many rate samples (intervals between updates)...
ETA_MIN_SAMPLES: Final = 3
#: ...spread over at least this long...
ETA_MIN_SPAN_S: Final = 2.0
#: ...a rate whose coefficient of variation (stddev / mean) stays below this...
ETA_MAX_RATE_CV: Final = 0.6
#: ...and progress within this long, else the transfer is stalled and the ETA meaningless.
STALL_AFTER_S: Final = 10.0


class RateEstimate(NamedTuple):
    """Smoothed transfer rate of one attempt (the estimator's memory between updates).

    The unit is bytes when the publisher reports byte counts, else progress percent;
    a change of unit, a retry or a step backwards restarts the estimate."""

    in_bytes: bool
    #: How much is done (bytes or percent) and when, at the last sample.
    done: float
    at_us: int
    #: Time of the first sample of this estimate and of the last actual advance.
    first_us: int
    advanced_us: int
    #: Number of rate samples (intervals) absorbed so far.
    samples: int
    #: EWMA of the rate (unit per second) and its exponentially weighted variance.
    mean: float
    var: float


def _estimate(prev: RateEstimate | None, in_bytes: bool, done: float, at_us: int) -> RateEstimate:
    if prev is None or prev.in_bytes is not in_bytes or done < prev.done:
        return RateEstimate(in_bytes, done, at_us, at_us, at_us, 0, 0.0, 0.0)
    dt_us = at_us - prev.at_us
    if dt_us <= 0:
        # Same instant (or a clock step back): wait for a later update to measure over.
        return prev
    dt = dt_us / 1_000_000
    rate = (done - prev.done) / dt
    advanced_us = at_us if done > prev.done else prev.advanced_us
    if prev.samples == 0:
        return RateEstimate(in_bytes, done, at_us, prev.first_us, advanced_us, 1, rate, 0.0)
    alpha = 1.0 - math.exp(-dt / RATE_TAU_S)
    diff = rate - prev.mean
    mean = prev.mean + alpha * diff
    var = (1.0 - alpha) * (prev.var + alpha * diff * diff)
    return RateEstimate(
        in_bytes, done, at_us, prev.first_us, advanced_us, prev.samples + 1, mean, var
    )


def _eta(est: RateEstimate, remaining: float) -> float | None:
    """Seconds left, or None while the rate is not trustworthy."""
    mean = est.mean
    if (
        est.samples < ETA_MIN_SAMPLES
        or est.at_us - est.first_us < ETA_MIN_SPAN_S * 1_000_000
        or est.at_us - est.advanced_us > STALL_AFTER_S * 1_000_000
        or mean <= 0.0
        or math.sqrt(est.var) > ETA_MAX_RATE_CV * mean
    ):
        return None
    return max(0.0, remaining) / mean


# --------------------------------------------------------------------- operation


class Operation(NamedTuple):
    """One sync operation as of its latest applied update. Times are microseconds since
    the epoch (UTC), taken from the updates themselves.

    Immutable like a frozen dataclass, but a NamedTuple: the reducer builds one per
    update, and a frozen dataclass of 18 fields costs 2.6 us to build against 0.4 us
    (most of the 5 us per-update budget). Compare operations with ``==`` only to other
    operations.
    """

    operation_id: str
    operation_type: str
    status: Status
    #: Percent, 0..100 (100 once completed).
    progress: float
    item: str | None
    source: str | None
    bytes_done: int | None
    bytes_total: int | None
    #: The failure message of the current status (cleared when the status changes).
    error: str | None
    first_seen_us: int
    #: When it first went in_progress (None before; kept across retries).
    started_us: int | None
    #: When it entered its terminal status (None while active).
    ended_us: int | None
    updated_us: int
    #: The hub log position of the newest applied update (0 if none was sequenced).
    last_seq: int
    #: 1 + the number of retries (terminal -> queued/in_progress).
    attempts: int
    #: Smoothed bytes per second while transferring, None when unknown or finished.
    speed_bps: float | None
    #: Seconds left as of ``updated_us``, None while the rate is unreliable.
    eta_s: float | None
    rate: RateEstimate | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in _TERMINAL

    @property
    def duration_s(self) -> float | None:
        """Seconds from start (or first sight, if never seen in progress) to the end;
        None while the operation is active."""
        if self.ended_us is None:
            return None
        start = self.started_us if self.started_us is not None else self.first_seen_us
        return max(0, self.ended_us - start) / 1_000_000

    def eta_at(self, now_us: int) -> float | None:
        """The ETA counted down to ``now_us``; None if no update advanced it for
        STALL_AFTER_S (a stalled transfer has no honest ETA)."""
        rate = self.rate
        if self.eta_s is None or rate is None:
            return None
        if now_us - rate.advanced_us > STALL_AFTER_S * 1_000_000:
            return None
        return max(0.0, self.eta_s - max(0, now_us - self.updated_us) / 1_000_000)


def _step(prev: Operation | None, u: SyncUpdate) -> Operation:
    """The operation after update ``u`` (whose seq has been checked already)."""
    ts = u.timestamp_us
    status = u.status
    terminal = status in _TERMINAL
    seq = u.seq
    if prev is None:
        first_seen = ts
        started = ts if status is _IN_PROGRESS else None
        attempts = 1
        last_seq = seq or 0
        item, source, bytes_total, bytes_done = u.item, u.source, u.bytes_total, u.bytes_done
        error = u.error
        prev_rate = None
        ended = ts if terminal else None
    else:
        first_seen = prev.first_seen_us
        started = prev.started_us
        if started is None and status is _IN_PROGRESS:
            started = ts
        prev_terminal = prev.status in _TERMINAL
        attempts = prev.attempts
        prev_rate = prev.rate
        if prev_terminal and not terminal:
            attempts += 1
            prev_rate = None
        last_seq = prev.last_seq if seq is None or seq < prev.last_seq else seq
        item = u.item if u.item is not None else prev.item
        source = u.source if u.source is not None else prev.source
        bytes_total = u.bytes_total if u.bytes_total is not None else prev.bytes_total
        bytes_done = u.bytes_done if u.bytes_done is not None else prev.bytes_done
        error = u.error
        if error is None and status is prev.status:
            error = prev.error
        ended = (prev.ended_us if prev_terminal else ts) if terminal else None
    progress = u.progress
    speed: float | None = None
    eta: float | None = None
    rate: RateEstimate | None = None
    if terminal:
        if status is _COMPLETED:
            progress = 100.0
            if bytes_total is not None:
                bytes_done = bytes_total
    elif status is _IN_PROGRESS:
        if bytes_total is not None and bytes_done is not None:
            rate = _estimate(prev_rate, True, bytes_done, ts)
            eta = _eta(rate, bytes_total - bytes_done)
            if rate.samples:
                speed = max(0.0, rate.mean)
        else:
            rate = _estimate(prev_rate, False, progress, ts)
            eta = _eta(rate, 100.0 - progress)
    return Operation(
        u.operation_id,
        u.operation_type,
        status,
        progress,
        item,
        source,
        bytes_done,
        bytes_total,
        error,
        first_seen,
        started,
        ended,
        ts,
        last_seq,
        attempts,
        speed,
        eta,
        rate,
    )


# --------------------------------------------------------------------- state


@dataclass(frozen=True, slots=True)
class OperationsState:
    """Every operation the client knows about, as of hub log position ``last_seq``.

    ``operations`` is a read-only view that no reducer function mutates after it is
    built, so a state can be handed to another thread or kept as "before" for a diff.
    """

    operations: Mapping[str, Operation] = MappingProxyType({})
    #: Highest hub seq applied (or the snapshot's seq).
    last_seq: int = 0
    #: Updates with seq <= floor_seq for operations not held are stale (see module doc).
    floor_seq: int = 0
    #: How many operations are not terminal (kept up to date without a scan).
    active_count: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.operations, MappingProxyType):
            # Freeze a caller's dict so that nobody can change the state under our feet.
            object.__setattr__(self, "operations", MappingProxyType(dict(self.operations)))


EMPTY_STATE: Final = OperationsState()


@dataclass(frozen=True, slots=True)
class Reduction:
    """The result of a batch: the new state and which operation ids it touched.

    ``added`` were not in the old state; ``updated`` were and changed; ``finished`` entered
    a terminal status in this batch and are still in it (an operation that failed and was
    retried within one batch is not finished; its ``attempts`` tell the retry); ``removed``
    were dropped (by :func:`expire`)."""

    state: OperationsState
    added: frozenset[str] = frozenset()
    updated: frozenset[str] = frozenset()
    finished: frozenset[str] = frozenset()
    removed: frozenset[str] = frozenset()

    @property
    def changed(self) -> frozenset[str]:
        return self.added | self.updated


def apply(state: OperationsState, update: SyncUpdate) -> OperationsState:
    """The state after one update (copies the mapping: use apply_many for streams)."""
    return apply_many(state, (update,)).state


def apply_many(state: OperationsState, updates: Iterable[SyncUpdate]) -> Reduction:
    """Fold a batch of updates into the state, with one copy of the mapping per batch."""
    old = state.operations
    ops = dict(old)
    get = ops.get
    last_seq = state.last_seq
    floor = state.floor_seq
    active = state.active_count
    touched: set[str] = set()
    added: set[str] = set()  # prev is None <=> neither in the old state nor added before
    finished: set[str] = set()
    for u in updates:
        op_id = u.operation_id
        prev = get(op_id)
        seq = u.seq
        if seq is not None:
            if prev is None:
                if seq <= floor:
                    continue
            elif seq <= prev.last_seq:
                continue
            if seq > last_seq:  # noqa: PLR1730 - max() costs a call per update here
                last_seq = seq
        new = _step(prev, u)
        ops[op_id] = new
        touched.add(op_id)
        if new.status in _TERMINAL:
            if prev is None:
                added.add(op_id)
                finished.add(op_id)
            elif prev.status not in _TERMINAL:
                finished.add(op_id)
                active -= 1
        else:
            if prev is None:
                added.add(op_id)
                active += 1
            elif prev.status in _TERMINAL:
                active += 1
            finished.discard(op_id)
    if not touched:  # every update was stale: nothing (not even last_seq) moved
        return Reduction(state)
    return Reduction(
        OperationsState(MappingProxyType(ops), last_seq, floor, active),
        frozenset(added),
        frozenset(touched.difference(added)),
        frozenset(finished),
    )


def replace_all(
    snapshot_updates: Iterable[SyncUpdate], seq: int, previous: OperationsState | None = None
) -> OperationsState:
    """The state a hub snapshot describes, as of log position ``seq``.

    Operations of ``previous`` that the snapshot also holds keep what the client learned
    about them (first sight, start, attempts, rate), so a resync does not reset their
    history; operations missing from the snapshot are gone (the caller diffs the two
    states to mark them, e.g. as interrupted). ``previous`` must come from the same hub
    log (hub_id): seqs of different logs cannot be compared. A snapshot older than
    ``previous`` (the log restarted) makes its updates win over what ``previous`` held.
    """
    if seq < 0:
        raise ValueError(f"snapshot seq must be >= 0, got {seq}")
    before = previous.operations if previous is not None else {}
    restarted = previous is not None and seq < previous.last_seq
    ops: dict[str, Operation] = {}
    for u in snapshot_updates:
        op_id = u.operation_id
        prev = ops.get(op_id)
        if prev is None:
            prev = before.get(op_id)
            if prev is not None and restarted:
                prev = prev._replace(last_seq=0)
        if prev is not None and u.seq is not None and u.seq <= prev.last_seq:
            ops[op_id] = prev
            continue
        ops[op_id] = _step(prev, u)
    active = sum(1 for op in ops.values() if op.status not in _TERMINAL)
    return OperationsState(MappingProxyType(ops), seq, seq, active)


#: Sort key of finished operations, oldest-finished first (attrgetter: 5x a Python key).
_FINISH_ORDER: Final = attrgetter("ended_us", "last_seq", "operation_id")


def expire(
    state: OperationsState,
    now_us: int,
    keep_finished_s: float,
    max_finished: int | None = None,
) -> Reduction:
    """Drop finished operations that ended more than ``keep_finished_s`` before ``now_us``
    and, beyond the newest ``max_finished`` finished ones, the oldest-finished, so that
    the state stays bounded by the active set plus a bounded recent history however fast
    operations finish. Active operations are never dropped.

    "Oldest-finished" orders by ``ended_us`` (the update's own time of entering the
    terminal status), then by ``last_seq`` and id, so the choice is deterministic. Each
    dropped operation raises ``floor_seq`` as time expiry does: a late replay of its
    updates does not bring it back."""
    if keep_finished_s < 0 or math.isnan(keep_finished_s):
        raise ValueError(f"keep_finished_s must be >= 0, got {keep_finished_s}")
    if max_finished is not None and max_finished < 0:
        raise ValueError(f"max_finished must be >= 0, got {max_finished}")
    cutoff = now_us - int(keep_finished_s * 1_000_000)
    old = state.operations
    removed: list[str] = []
    kept: list[Operation] = []
    for op_id, op in old.items():
        ended = op.ended_us
        if ended is None or op.status not in _TERMINAL:
            continue
        if ended <= cutoff:
            removed.append(op_id)
        else:
            kept.append(op)
    excess = len(kept) - max_finished if max_finished is not None else 0
    if excess > 0:
        kept.sort(key=_FINISH_ORDER)
        removed.extend(op.operation_id for op in kept[:excess])
    if not removed:
        return Reduction(state)
    gone = frozenset(removed)
    # A new dict rather than a copy with deletions, which would keep the old one's size.
    ops = {op_id: op for op_id, op in old.items() if op_id not in gone}
    floor = max(state.floor_seq, *(old[op_id].last_seq for op_id in gone))
    new = OperationsState(MappingProxyType(ops), state.last_seq, floor, state.active_count)
    return Reduction(new, removed=gone)


def active(state: OperationsState) -> tuple[Operation, ...]:
    """Operations that are queued or in progress, in order of first appearance."""
    return tuple(op for op in state.operations.values() if op.status not in _TERMINAL)


def transitions(
    before: OperationsState, reduction: Reduction
) -> Iterator[tuple[Operation | None, Operation]]:
    """(old, new) for every operation the reduction added or updated, for consumers such
    as metrics that need to know what changed (``old`` is None for a new operation)."""
    old = before.operations
    new = reduction.state.operations
    for op_id in reduction.changed:
        yield old.get(op_id), new[op_id]
