"""The operation reducer: lifecycle, retries, duplicates, snapshots, expiry, speed and ETA."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from syncwatch.core.operations import (
    EMPTY_STATE,
    STALL_AFTER_S,
    Operation,
    OperationsState,
    Reduction,
    active,
    apply,
    apply_many,
    expire,
    replace_all,
    transitions,
)
from syncwatch.core.protocol import Status, SyncUpdate

T0 = 1_700_000_000_000_000
MB = 1_000_000


def upd(
    op_id: str = "op-1",
    status: Status = Status.IN_PROGRESS,
    progress: float = 0.0,
    t_s: float = 0.0,
    seq: int | None = None,
    **fields: object,
) -> SyncUpdate:
    operation_type = str(fields.pop("operation_type", "upload"))
    return SyncUpdate(
        op_id, operation_type, status, progress, T0 + round(t_s * 1_000_000), seq, **fields
    )  # type: ignore[arg-type]


def run(*updates: SyncUpdate, state: OperationsState = EMPTY_STATE) -> OperationsState:
    return apply_many(state, updates).state


def test_an_operation_runs_from_queued_to_completed() -> None:
    state = run(
        upd(status=Status.QUEUED, t_s=0, seq=1, item="/m/a.mkv", bytes_total=100, bytes_done=0),
        upd(status=Status.IN_PROGRESS, progress=40, t_s=2, seq=2, bytes_done=40),
        upd(status=Status.COMPLETED, progress=99, t_s=12, seq=3),
    )
    op = state.operations["op-1"]
    assert op.status is Status.COMPLETED
    assert op.is_terminal
    assert op.progress == 100.0
    assert op.bytes_done == op.bytes_total == 100
    assert op.item == "/m/a.mkv"  # carried over from the first update
    assert (op.first_seen_us, op.started_us, op.ended_us) == (T0, T0 + 2 * MB, T0 + 12 * MB)
    assert op.duration_s == 10.0
    assert op.attempts == 1
    assert (op.speed_bps, op.eta_s) == (None, None)
    assert op.last_seq == state.last_seq == 3
    assert state.active_count == 0


def test_duration_of_an_operation_never_seen_in_progress_counts_from_first_sight() -> None:
    state = run(upd(status=Status.QUEUED, t_s=0), upd(status=Status.CANCELLED, t_s=4))
    op = state.operations["op-1"]
    assert op.started_us is None
    assert op.duration_s == 4.0
    assert run(upd(status=Status.QUEUED)).operations["op-1"].duration_s is None


@pytest.mark.parametrize("retry_status", [Status.IN_PROGRESS, Status.QUEUED])
def test_a_retry_after_failure_is_a_new_attempt(retry_status: Status) -> None:
    state = run(
        upd(status=Status.IN_PROGRESS, t_s=0),
        upd(status=Status.FAILED, progress=30, t_s=5, error="disk full"),
    )
    failed = state.operations["op-1"]
    assert (failed.error, failed.attempts, failed.ended_us) == ("disk full", 1, T0 + 5 * MB)
    state = run(upd(status=retry_status, progress=0, t_s=6), state=state)
    retried = state.operations["op-1"]
    assert retried.attempts == 2
    assert retried.error is None
    assert retried.ended_us is None
    assert retried.started_us == T0  # the first start is kept across attempts
    assert state.active_count == 1


def test_error_is_kept_while_the_status_stays_and_end_time_is_the_first_terminal_one() -> None:
    state = run(
        upd(status=Status.FAILED, t_s=1, error="timeout"),
        upd(status=Status.FAILED, t_s=3),
    )
    op = state.operations["op-1"]
    assert op.error == "timeout"
    assert op.ended_us == T0 + 1 * MB
    assert op.attempts == 1


def test_stale_and_duplicate_updates_are_ignored() -> None:
    state = run(upd(progress=50, seq=10), upd(progress=20, seq=7), upd(progress=60, seq=10))
    assert state.operations["op-1"].progress == 50
    assert state.last_seq == 10


def test_unsequenced_updates_are_always_applied_in_order() -> None:
    state = run(upd(progress=50, seq=10), upd(progress=55), upd(progress=56))
    op = state.operations["op-1"]
    assert op.progress == 56
    assert op.last_seq == 10


def test_state_operations_are_read_only_and_a_callers_dict_is_copied() -> None:
    source = {"x": run(upd("x")).operations["x"]}
    state = OperationsState(source, last_seq=1)
    source.clear()
    assert list(state.operations) == ["x"]
    assert isinstance(state.operations, MappingProxyType)
    with pytest.raises(TypeError):
        state.operations["y"] = state.operations["x"]  # type: ignore[index]


def test_reduction_reports_added_updated_and_finished_ids() -> None:
    first = apply_many(EMPTY_STATE, [upd("a", seq=1), upd("b", seq=2)])
    assert first.added == {"a", "b"}
    assert first.updated == frozenset()
    assert first.finished == frozenset()
    second = apply_many(
        first.state,
        [
            upd("a", Status.COMPLETED, seq=3),
            upd("c", Status.FAILED, seq=4),  # new and finished at once
            upd("b", progress=10, seq=5),
        ],
    )
    assert second.added == {"c"}
    assert second.updated == {"a", "b"}
    assert second.finished == {"a", "c"}
    assert second.changed == {"a", "b", "c"}
    assert second.state.active_count == 1


def test_a_batch_of_nothing_new_returns_the_same_state() -> None:
    state = run(upd(seq=5))
    assert apply_many(state, []).state is state
    assert apply_many(state, [upd(seq=5)]) == Reduction(state)


def test_apply_is_apply_many_of_one() -> None:
    state = apply(EMPTY_STATE, upd("a", seq=1))
    assert state == run(upd("a", seq=1))


def test_snapshot_replaces_the_state_and_keeps_what_the_client_learned() -> None:
    before = run(
        upd("kept", Status.FAILED, t_s=0, seq=1),
        upd("kept", Status.IN_PROGRESS, t_s=1, seq=2),  # attempt 2
        upd("gone", t_s=1, seq=3),
        upd("same", progress=10, t_s=1, seq=4),
    )
    after = replace_all(
        [
            upd("kept", progress=70, t_s=30, seq=20),
            upd("same", progress=10, t_s=1, seq=4),  # nothing newer than what we hold
            upd("new", Status.COMPLETED, t_s=31, seq=21),
        ],
        seq=25,
        previous=before,
    )
    assert set(after.operations) == {"kept", "same", "new"}
    kept = after.operations["kept"]
    assert (kept.progress, kept.attempts, kept.first_seen_us) == (70, 2, T0)
    assert after.operations["same"] is before.operations["same"]
    assert (after.last_seq, after.floor_seq, after.active_count) == (25, 25, 2)


def test_a_snapshot_from_a_restarted_log_wins_over_the_previous_state() -> None:
    before = run(upd("a", progress=90, t_s=0, seq=500))
    after = replace_all([upd("a", progress=20, t_s=9, seq=3)], seq=4, previous=before)
    op = after.operations["a"]
    assert (op.progress, op.last_seq, op.first_seen_us) == (20, 3, T0)
    assert run(upd("a", progress=30, t_s=10, seq=5), state=after).operations["a"].progress == 30


def test_after_a_snapshot_older_updates_of_operations_it_lacks_are_stale() -> None:
    state = replace_all([upd("a", seq=8)], seq=10)
    state = run(upd("expired-at-hub", seq=9), upd("a", progress=5, seq=9), state=state)
    assert set(state.operations) == {"a"}
    assert state.operations["a"].progress == 5
    state = run(upd("fresh", seq=11), state=state)
    assert set(state.operations) == {"a", "fresh"}


def test_replace_all_refuses_a_negative_seq() -> None:
    with pytest.raises(ValueError, match="seq must be >= 0"):
        replace_all([], seq=-1)


def test_expire_drops_old_finished_operations_only() -> None:
    state = run(
        upd("old", Status.COMPLETED, t_s=0, seq=1),
        upd("recent", Status.FAILED, t_s=50, seq=2),
        upd("running", t_s=0, seq=3),
    )
    reduction = expire(state, T0 + 60 * MB, keep_finished_s=30)
    assert reduction.removed == {"old"}
    assert set(reduction.state.operations) == {"recent", "running"}
    assert reduction.state.active_count == 1
    assert expire(reduction.state, T0 + 60 * MB, 30).state is reduction.state


def test_a_late_duplicate_does_not_resurrect_an_expired_operation() -> None:
    state = run(upd("old", Status.COMPLETED, t_s=0, seq=5), upd("other", seq=6))
    state = expire(state, T0 + 600 * MB, keep_finished_s=60).state
    state = run(upd("old", Status.COMPLETED, t_s=0, seq=5), state=state)
    assert "old" not in state.operations


def test_expire_refuses_a_negative_keep_time() -> None:
    with pytest.raises(ValueError, match="keep_finished_s"):
        expire(EMPTY_STATE, T0, -1)


def test_expire_keeps_at_most_max_finished_dropping_the_oldest_finished() -> None:
    state = run(
        upd("first", Status.COMPLETED, t_s=1, seq=1),
        upd("running", t_s=0, seq=2),
        upd("third", Status.CANCELLED, t_s=3, seq=3),
        upd("second", Status.FAILED, t_s=2, seq=4),
    )
    reduction = expire(state, T0 + 10 * MB, keep_finished_s=300, max_finished=1)
    assert reduction.removed == {"first", "second"}
    assert set(reduction.state.operations) == {"running", "third"}
    assert reduction.state.active_count == 1
    assert reduction.state.floor_seq == 4, "a late replay must not bring them back"
    assert expire(reduction.state, T0 + 10 * MB, 300, max_finished=1).state is reduction.state


def test_expire_with_max_finished_zero_keeps_only_active_operations() -> None:
    state = run(upd("done", Status.COMPLETED, seq=1), upd("running", seq=2))
    reduction = expire(state, T0, keep_finished_s=300, max_finished=0)
    assert set(reduction.state.operations) == {"running"}


def test_expire_refuses_a_negative_max_finished() -> None:
    with pytest.raises(ValueError, match="max_finished"):
        expire(EMPTY_STATE, T0, 300, max_finished=-1)


def test_active_lists_queued_and_running_operations_in_arrival_order() -> None:
    state = run(upd("b", Status.QUEUED), upd("a", Status.IN_PROGRESS), upd("c", Status.COMPLETED))
    assert [op.operation_id for op in active(state)] == ["b", "a"]


def test_transitions_pair_old_and_new_operations() -> None:
    before = run(upd("a", progress=10, seq=1))
    reduction = apply_many(before, [upd("a", progress=20, seq=2), upd("b", seq=3)])
    pairs = {after.operation_id: (old, after) for old, after in transitions(before, reduction)}
    assert pairs["a"][0] is before.operations["a"]
    assert pairs["a"][1].progress == 20
    assert pairs["b"][0] is None


# --------------------------------------------------------------------- speed and ETA


def transfer(
    rates: list[float], interval_s: float = 0.5, total: int = 1000 * MB
) -> list[SyncUpdate]:
    """In-progress updates of one transfer whose rate (bytes/s) per interval is given."""
    updates, done, t = [], 0.0, 0.0
    updates.append(upd(t_s=0, bytes_done=0, bytes_total=total))
    for rate in rates:
        t += interval_s
        done += rate * interval_s
        updates.append(upd(t_s=t, bytes_done=int(done), bytes_total=total))
    return updates


def test_steady_transfer_gets_a_speed_and_an_eta() -> None:
    op = run(*transfer([10 * MB] * 8)).operations["op-1"]  # 4 s at 10 MB/s, 40 MB done
    assert op.speed_bps == pytest.approx(10 * MB, rel=0.01)
    assert op.eta_s == pytest.approx(96.0, rel=0.01)
    assert op.eta_at(op.updated_us + 6 * MB) == pytest.approx(90.0, rel=0.01)


def test_no_eta_from_too_few_samples_or_too_short_a_span() -> None:
    two_samples = run(*transfer([10 * MB] * 2, interval_s=2)).operations["op-1"]
    assert two_samples.speed_bps is not None
    assert two_samples.eta_s is None
    fast = run(*transfer([10 * MB] * 10, interval_s=0.1)).operations["op-1"]  # 1 s only
    assert fast.eta_s is None


def test_no_eta_while_the_rate_is_erratic() -> None:
    op = run(*transfer([1 * MB, 40 * MB] * 5)).operations["op-1"]
    assert op.speed_bps is not None
    assert op.eta_s is None


def test_a_stalled_transfer_loses_its_eta() -> None:
    updates = transfer([10 * MB] * 8)
    op = run(*updates).operations["op-1"]
    assert op.eta_at(op.updated_us + round(STALL_AFTER_S * MB) + 1) is None
    stalled = upd(t_s=4 + STALL_AFTER_S + 1, bytes_done=op.bytes_done, bytes_total=op.bytes_total)
    assert run(*updates, stalled).operations["op-1"].eta_s is None


def test_eta_from_progress_when_bytes_are_unknown() -> None:
    updates = [upd(progress=p, t_s=i) for i, p in enumerate([0, 10, 20, 30, 40])]
    op = run(*updates).operations["op-1"]
    assert op.speed_bps is None
    assert op.eta_s == pytest.approx(6.0, rel=0.05)


def test_estimate_restarts_after_a_step_back_and_survives_same_instant_updates() -> None:
    updates = transfer([10 * MB] * 8)
    back = upd(t_s=4.5, bytes_done=0, bytes_total=1000 * MB)
    restarted = run(*updates, back).operations["op-1"]
    assert (restarted.speed_bps, restarted.eta_s) == (None, None)
    same = upd(t_s=4.0, bytes_done=40 * MB + 5, bytes_total=1000 * MB)
    op = run(*updates, same).operations["op-1"]
    assert op.eta_s == pytest.approx(96.0, rel=0.01)


def test_eta_at_without_an_estimate_is_none() -> None:
    op: Operation = run(upd(status=Status.QUEUED)).operations["op-1"]
    assert op.eta_at(T0) is None
