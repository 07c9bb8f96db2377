"""Properties of the reducer over arbitrary update streams (hypothesis)."""

from __future__ import annotations

from functools import reduce

from hypothesis import given, settings
from hypothesis import strategies as st

from syncwatch.core.operations import (
    EMPTY_STATE,
    OperationsState,
    active,
    apply,
    apply_many,
    expire,
)
from syncwatch.core.protocol import Status, SyncUpdate

T0 = 1_700_000_000_000_000

op_ids = st.sampled_from([f"op-{i}" for i in range(6)])
statuses = st.sampled_from(list(Status))


@st.composite
def raw_update(draw: st.DrawFn) -> SyncUpdate:
    """Any update: seq anywhere (or None), time anywhere, so duplicates, replays and
    out-of-order deliveries all occur."""
    total = draw(st.none() | st.integers(0, 10**9))
    return SyncUpdate(
        draw(op_ids),
        "upload",
        draw(statuses),
        draw(st.floats(0, 100)),
        T0 + draw(st.integers(0, 10**8)),
        draw(st.none() | st.integers(1, 40)),
        draw(st.none() | st.text(max_size=3)),
        draw(st.none() | st.integers(0, total)) if total is not None else None,
        total,
        draw(st.none() | st.just("boom")),
    )


@st.composite
def hub_stream(draw: st.DrawFn) -> list[SyncUpdate]:
    """Updates as a hub delivers them: global seq strictly increasing (a few local ones
    with seq None interleaved), time moving forward."""
    count = draw(st.integers(0, 60))
    out, t = [], T0
    for seq in range(1, count + 1):
        t += draw(st.integers(0, 5_000_000))
        local = draw(st.integers(0, 9)) == 0  # one in ten is a local, unsequenced update
        out.append(
            SyncUpdate(
                draw(op_ids),
                "download",
                draw(statuses),
                draw(st.floats(0, 100)),
                t,
                None if local else seq,
                bytes_done=draw(st.none() | st.integers(0, 1000)),
                bytes_total=1000,
            )
        )
    return out


def check_invariants(state: OperationsState) -> None:
    assert all(op_id == op.operation_id for op_id, op in state.operations.items())
    assert state.active_count == len(active(state))
    for op in state.operations.values():
        assert op.attempts >= 1
        assert (op.ended_us is not None) == op.is_terminal
        assert op.last_seq <= state.last_seq
        if op.status is Status.COMPLETED:
            assert op.progress == 100.0


@settings(deadline=None)  # a busy CI machine must not fail it on timing
@given(st.lists(raw_update(), max_size=50), st.integers(1, 10))
def test_apply_many_equals_folding_apply(updates: list[SyncUpdate], split: int) -> None:
    folded = reduce(apply, updates, EMPTY_STATE)
    state = EMPTY_STATE
    for i in range(0, len(updates), split):  # any batching gives the same state
        state = apply_many(state, updates[i : i + split]).state
    assert state == folded
    check_invariants(state)


@settings(deadline=None)  # a busy CI machine must not fail it on timing
@given(st.lists(raw_update().filter(lambda u: u.seq is not None), max_size=50))
def test_applying_a_sequenced_batch_twice_equals_applying_it_once(
    updates: list[SyncUpdate],
) -> None:
    once = apply_many(EMPTY_STATE, updates)
    twice = apply_many(once.state, updates)
    assert twice.state == once.state
    assert twice.changed == frozenset()


@settings(deadline=None)  # a busy CI machine must not fail it on timing
@given(st.lists(raw_update(), max_size=50))
def test_reduction_sets_are_consistent(updates: list[SyncUpdate]) -> None:
    before = apply_many(EMPTY_STATE, updates[: len(updates) // 2]).state
    reduction = apply_many(before, updates[len(updates) // 2 :])
    assert not reduction.added & reduction.updated
    assert reduction.added.isdisjoint(before.operations)
    assert reduction.updated <= set(before.operations)
    assert reduction.finished <= reduction.changed
    ops = reduction.state.operations
    assert all(ops[op_id].is_terminal for op_id in reduction.finished)
    unchanged = set(before.operations) - reduction.changed
    assert all(ops[op_id] is before.operations[op_id] for op_id in unchanged)


@settings(max_examples=150, deadline=None)
@given(hub_stream(), st.integers(1, 8), st.integers(0, 20))
def test_no_operation_is_lost_or_duplicated(
    updates: list[SyncUpdate], batch: int, keep_s: int
) -> None:
    """Every operation ever reported is in the state, once, unless expired (and not
    reported again since)."""
    state = EMPTY_STATE
    expected: set[str] = set()
    for i in range(0, len(updates), batch):
        chunk = updates[i : i + batch]
        state = apply_many(state, chunk).state
        expected.update(u.operation_id for u in chunk)
        expired = expire(state, chunk[-1].timestamp_us, keep_s)
        assert all(state.operations[op_id].is_terminal for op_id in expired.removed)
        expected -= expired.removed
        state = expired.state
        assert set(state.operations) == expected
        check_invariants(state)


@settings(max_examples=150, deadline=None)
@given(st.lists(raw_update(), max_size=50), st.integers(0, 8), st.integers(0, 10**8))
def test_expire_bounds_finished_operations_keeping_the_newest_and_every_active_one(
    updates: list[SyncUpdate], max_finished: int, age_us: int
) -> None:
    state = apply_many(EMPTY_STATE, updates).state
    now_us = T0 + age_us
    keep_s = 30.0
    reduction = expire(state, now_us, keep_s, max_finished=max_finished)
    after = reduction.state
    check_invariants(after)
    before_ops, after_ops = state.operations, after.operations
    finished_after = [op for op in after_ops.values() if op.is_terminal]
    assert len(finished_after) <= max_finished
    assert all(op.is_terminal for op in before_ops.values() if op.operation_id not in after_ops)
    assert [op for op in before_ops.values() if not op.is_terminal] == list(active(after))
    assert reduction.removed == set(before_ops) - set(after_ops)
    assert all(after_ops[op_id] is op for op_id, op in before_ops.items() if op_id in after_ops)
    # The kept finished ones are the newest-finished among those young enough to stay.
    cutoff = now_us - int(keep_s * 1_000_000)
    ended = sorted(
        (op.ended_us, op.last_seq, op.operation_id)
        for op in before_ops.values()
        if op.is_terminal and op.ended_us is not None and op.ended_us > cutoff
    )
    newest = {op_id for _, _, op_id in ended[len(ended) - min(len(ended), max_finished) :]}
    assert {op.operation_id for op in finished_after} == newest
    assert after.floor_seq >= max(
        [before_ops[op_id].last_seq for op_id in reduction.removed], default=0
    )


@settings(max_examples=100, deadline=None)
@given(hub_stream(), st.integers(1, 8), st.integers(0, 5))
def test_a_bounded_expire_after_every_batch_never_loses_an_active_operation(
    updates: list[SyncUpdate], batch: int, max_finished: int
) -> None:
    state = EMPTY_STATE
    for i in range(0, len(updates), batch):
        state = apply_many(state, updates[i : i + batch]).state
        expected_active = [op.operation_id for op in active(state)]
        state = expire(state, updates[i].timestamp_us, 3600, max_finished=max_finished).state
        assert [op.operation_id for op in active(state)] == expected_active
        assert sum(op.is_terminal for op in state.operations.values()) <= max_finished
        check_invariants(state)
