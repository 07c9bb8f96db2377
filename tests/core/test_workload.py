"""core.workload: a deterministic, realistic demo workload that moves health when asked.

Health is judged the way the app judges it: the workload's updates go through the real
reducer (core.operations), the rolling metrics window (core.metrics) and the health rule
(core.health: error rate over finished operations, active operations). Qt-free.
"""

from __future__ import annotations

import itertools
import random
import re
from collections import Counter, defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncwatch.core.health import HealthStatus, score_operations
from syncwatch.core.metrics import MetricsWindow
from syncwatch.core.operations import OperationsState, apply_many
from syncwatch.core.protocol import Status, SyncUpdate, encode_update, parse_update
from syncwatch.core.workload import ERRORS, Workload, WorkloadConfig, agent_profiles

START_US = 1_796_300_000_000_000  # 2026-12-03 (a fixed date keeps the paths reproducible)
MINUTE_US = 60_000_000


def simulate(config: WorkloadConfig, seed: int, minutes: int) -> list[SyncUpdate]:
    workload = Workload(config, random.Random(seed), start_us=START_US)
    return workload.advance(START_US + minutes * MINUTE_US)


def health_samples(
    config: WorkloadConfig, seed: int, minutes: int = 30, settle_minutes: int = 15
) -> list[tuple[HealthStatus, float, int]]:
    """(status, error rate, active ops) every 30 s after the 15-minute window filled,
    computed by the app's own reducer, metrics window and health rule."""
    workload = Workload(config, random.Random(seed), start_us=START_US)
    state, window, seq = OperationsState(), MetricsWindow(window_s=900.0), 0
    samples = []
    now = START_US
    for step in range(minutes * 2):
        now += MINUTE_US // 2
        updates = workload.advance(now)
        # The hub sequences every update; the engine reduces them as they arrive.
        for ts, group in itertools.groupby(updates, key=lambda u: u.timestamp_us):
            sequenced = []
            for update in group:
                seq += 1
                sequenced.append(update._replace(seq=seq))
            reduction = apply_many(state, sequenced)
            window.observe_reduction(state, reduction, ts)
            state = reduction.state
        if step >= settle_minutes * 2:
            snapshot = window.snapshot(now)
            health = score_operations(
                snapshot.error_rate_pct, state.active_count, snapshot.avg_duration_s
            )
            samples.append((health.status, snapshot.error_rate_pct, state.active_count))
    return samples


# ---------------------------------------------------------------------- determinism


def test_same_seed_and_start_give_the_same_updates() -> None:
    config = WorkloadConfig(rate_ops_per_min=60, error_rate_pct=5)
    assert simulate(config, 7, 10) == simulate(config, 7, 10)
    assert simulate(config, 7, 10) != simulate(config, 8, 10)


def test_updates_do_not_depend_on_how_often_advance_is_called() -> None:
    config = WorkloadConfig(rate_ops_per_min=60, error_rate_pct=5)
    in_one_go = simulate(config, 3, 5)
    workload = Workload(config, random.Random(3), start_us=START_US)
    stepwise: list[SyncUpdate] = []
    rng = random.Random(99)
    now = START_US
    while now < START_US + 5 * MINUTE_US:
        now = min(START_US + 5 * MINUTE_US, now + rng.randint(1, 3_000_000))
        stepwise.extend(workload.advance(now))
    assert stepwise == in_one_go


def test_first_advance_without_a_start_only_fixes_the_clock() -> None:
    workload = Workload(WorkloadConfig(rate_ops_per_min=600), random.Random(1))
    assert workload.advance(START_US) == []
    later = workload.advance(START_US + MINUTE_US)
    assert later
    assert all(START_US < u.timestamp_us <= START_US + MINUTE_US for u in later)


# ---------------------------------------------------------------------- what agents report


def test_every_update_is_valid_on_the_wire_and_left_for_the_reporter_to_number() -> None:
    updates = simulate(WorkloadConfig(rate_ops_per_min=120, error_rate_pct=10), 1, 10)
    assert len(updates) > 1000
    for update in updates:
        assert update.seq is None
        assert update.counter is None
        assert parse_update(encode_update(update), from_publisher=True) == update
    timestamps = [u.timestamp_us for u in updates]
    assert timestamps == sorted(timestamps)


ALLOWED_STEPS = {
    (Status.QUEUED, Status.IN_PROGRESS),
    (Status.QUEUED, Status.CANCELLED),
    (Status.IN_PROGRESS, Status.IN_PROGRESS),
    (Status.IN_PROGRESS, Status.COMPLETED),
    (Status.IN_PROGRESS, Status.FAILED),
    (Status.FAILED, Status.IN_PROGRESS),
}


def check_life_cycles(updates: list[SyncUpdate], max_attempts: int) -> int:
    """Assert every operation's updates form a real life cycle; return the retries seen."""
    by_op: dict[str, list[SyncUpdate]] = defaultdict(list)
    for update in updates:
        by_op[update.operation_id].append(update)
    retried = 0
    for steps in by_op.values():
        assert steps[0].status is Status.QUEUED
        assert 1 + sum(u.status is Status.FAILED for u in steps[:-1]) <= max_attempts
        for before, after in itertools.pairwise(steps):
            assert (before.status, after.status) in ALLOWED_STEPS
            if before.status is Status.FAILED:
                retried += 1
                assert after.progress == 0.0
            elif before.status is after.status is Status.IN_PROGRESS:
                assert after.progress >= before.progress
                assert (after.bytes_done or 0) >= (before.bytes_done or 0)
        for update in steps:
            if update.bytes_total is not None:
                assert update.bytes_done is not None
                assert 0 <= update.bytes_done <= update.bytes_total
            if update.status is Status.FAILED:
                assert update.error in ERRORS[update.operation_type]
            else:
                assert update.error is None
    return retried


def test_each_operation_follows_a_real_life_cycle() -> None:
    """queued -> in_progress (ticks with growing bytes) -> completed | failed | cancelled,
    and failed -> in_progress for a retry, never anything else."""
    config = WorkloadConfig(rate_ops_per_min=120, error_rate_pct=15, max_attempts=3)
    assert check_life_cycles(simulate(config, 2, 20), config.max_attempts) > 20


configs = st.builds(
    WorkloadConfig,
    rate_ops_per_min=st.floats(0, 900),
    error_rate_pct=st.floats(0, 100),
    agents=st.integers(1, 7),
    burst_every_s=st.sampled_from([None, 60.0]),
    burst_size=st.integers(1, 50),
    max_attempts=st.integers(1, 5),
    cancel_rate_pct=st.floats(0, 50),
    tick_s=st.sampled_from([0.05, 0.25, 1.0, 5.0]),
)


@settings(max_examples=25, deadline=None)
@given(config=configs, seed=st.integers(0, 2**32))
def test_any_valid_setting_gives_valid_updates_and_life_cycles(
    config: WorkloadConfig, seed: int
) -> None:
    updates = simulate(config, seed, 3)
    for update in updates:
        assert parse_update(encode_update(update), from_publisher=True) == update
    check_life_cycles(updates, config.max_attempts)


def test_media_sizes_and_paths_look_like_a_real_library() -> None:
    updates = simulate(WorkloadConfig(rate_ops_per_min=300, error_rate_pct=0), 4, 30)
    firsts = {u.operation_id: u for u in reversed(updates)}.values()
    photos = [u for u in firsts if u.item and u.item.startswith("Photos/") and u.bytes_total]
    videos = [u for u in firsts if u.item and u.item.startswith("Video/") and u.bytes_total]
    assert len(photos) > 500
    assert len(videos) > 20
    photo_mb = sorted(u.bytes_total / 1e6 for u in photos if u.bytes_total)
    video_mb = sorted(u.bytes_total / 1e6 for u in videos if u.bytes_total)
    assert 1.5 < photo_mb[len(photo_mb) // 2] < 8  # a few MB
    assert max(photo_mb) > 15  # RAW files
    assert max(video_mb) > 500  # camera footage reaches GBs
    assert all(
        re.fullmatch(r"Photos/20\d\d/\d\d/\w+\.(JPG|HEIC|CR3|ARW)", u.item or "") for u in photos
    )
    assert all(
        re.fullmatch(r"Video/20\d\d-\d\d [\w-]+/\w+\.(MP4|MOV)", u.item or "") for u in videos
    )
    types = Counter(u.operation_type for u in firsts)
    assert {"upload", "download", "delete", "metadata", "scan"} <= set(types)
    assert types["upload"] > types["delete"]


def test_agents_report_under_their_own_names_and_respect_their_concurrency() -> None:
    config = WorkloadConfig(rate_ops_per_min=600, agents=3, burst_every_s=None)  # overloaded
    updates = simulate(config, 5, 5)
    names = {p.name: p for p in agent_profiles(3)}
    assert (
        {u.source for u in updates}
        == set(names)
        == {
            "nas-photos",
            "laptop-camera-roll",
            "studio-video",
        }
    )
    running: dict[str, set[str]] = defaultdict(set)
    for update in updates:
        ops = running[update.source or ""]
        if update.status is Status.IN_PROGRESS:
            ops.add(update.operation_id)
        else:
            ops.discard(update.operation_id)
        assert len(ops) <= names[update.source or ""].concurrency


def test_more_than_five_agents_get_distinct_names() -> None:
    names = [p.name for p in agent_profiles(12)]
    assert len(set(names)) == 12
    assert "nas-photos-2" in names


def test_an_import_queues_a_burst_of_photos_on_one_agent() -> None:
    config = WorkloadConfig(rate_ops_per_min=1, burst_every_s=60, burst_size=200)
    updates = simulate(config, 6, 3)
    queued_at = Counter((u.timestamp_us, u.source) for u in updates if u.status is Status.QUEUED)
    (_, source), size = queued_at.most_common(1)[0]
    assert size >= 200
    assert source == "laptop-camera-roll"


def test_zero_rate_and_no_bursts_is_silent() -> None:
    assert simulate(WorkloadConfig(rate_ops_per_min=0, burst_every_s=None), 1, 10) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rate_ops_per_min", -1),
        ("error_rate_pct", 101),
        ("error_rate_pct", float("nan")),
        ("agents", 0),
        ("agents", 2.5),
        ("burst_every_s", 0),
        ("burst_every_s", float("inf")),
        ("max_attempts", True),
    ],
)
def test_bad_settings_are_refused_with_the_setting_named(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        WorkloadConfig(**{field: value})  # type: ignore[arg-type]


# ---------------------------------------------------------------------- health moves on demand


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_low_failure_rate_stays_healthy(seed: int) -> None:
    samples = health_samples(
        WorkloadConfig(rate_ops_per_min=30, error_rate_pct=2, burst_every_s=None), seed
    )
    assert all(rate < 5 for _, rate, _ in samples)
    healthy = sum(status is HealthStatus.HEALTHY for status, _, _ in samples)
    assert healthy >= 0.9 * len(samples)  # a rare moment with > 10 active is a warning


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_seven_and_a_half_percent_failures_is_a_warning(seed: int) -> None:
    samples = health_samples(
        WorkloadConfig(rate_ops_per_min=80, error_rate_pct=7.5, burst_every_s=None), seed
    )
    assert all(status is HealthStatus.WARNING for status, _, _ in samples)
    assert all(5 < rate <= 10 for _, rate, _ in samples)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_twenty_percent_failures_is_critical(seed: int) -> None:
    samples = health_samples(
        WorkloadConfig(rate_ops_per_min=40, error_rate_pct=20, burst_every_s=None), seed
    )
    assert all(status is HealthStatus.CRITICAL for status, _, _ in samples)


def test_more_work_than_the_agents_can_drain_is_a_warning_without_failures() -> None:
    config = WorkloadConfig(rate_ops_per_min=200, error_rate_pct=0, burst_every_s=None)
    samples = health_samples(config, 1, minutes=8, settle_minutes=4)
    assert all(status is HealthStatus.WARNING for status, _, _ in samples)
    assert all(rate == 0 and active > 10 for _, rate, active in samples)


def test_a_photo_import_makes_a_passing_warning() -> None:
    config = WorkloadConfig(rate_ops_per_min=20, error_rate_pct=0, burst_every_s=1200)
    statuses = [status for status, _, _ in health_samples(config, 3, minutes=60, settle_minutes=0)]
    assert HealthStatus.WARNING in statuses
    assert statuses[-1] is HealthStatus.HEALTHY or statuses.count(HealthStatus.HEALTHY) > 10


def test_skipping_a_suspended_gap_resumes_without_replaying_it() -> None:
    config = WorkloadConfig(rate_ops_per_min=60, error_rate_pct=5, burst_every_s=None)
    workload = Workload(config, random.Random(8), start_us=START_US)
    first_minute = workload.advance(START_US + MINUTE_US)
    resumed_at = START_US + 8 * 60 * MINUTE_US  # eight hours later
    workload.skip_to(resumed_at)
    after = workload.advance(resumed_at + MINUTE_US)
    assert after
    assert all(resumed_at < u.timestamp_us <= resumed_at + MINUTE_US for u in after)
    assert len(after) < 3 * len(first_minute)  # a minute's worth, not eight hours'
    # Operations running at suspend time carry on rather than restart.
    before_ids = {u.operation_id for u in first_minute}
    assert any(u.operation_id in before_ids for u in after)
