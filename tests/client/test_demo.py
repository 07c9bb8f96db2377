"""``syncwatch demo`` and run_demo: a reproducible workload that really moves health.

The demo feeds a real hub on loopback through one Reporter per agent; what the hub stored
is replayed and judged with the app's own reducer, metrics window and health rule. A
stepping clock runs simulated minutes in a fraction of a second.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
from collections import defaultdict
from pathlib import Path

import pytest

from syncwatch.client import demo_command
from syncwatch.client.demo_command import DemoStats, run_demo
from syncwatch.client.reporter import ReporterAuthError
from syncwatch.core.health import HealthStatus, score_operations
from syncwatch.core.metrics import MetricsWindow
from syncwatch.core.operations import OperationsState, apply_many
from syncwatch.core.protocol import SyncUpdate
from syncwatch.core.workload import WorkloadConfig
from syncwatch.hub import Role
from tests.client.reporter_support import hub_on, read_hub_log, run
from tests.support.hubproc import running_hub

START_US = 1_796_300_000_000_000
MINUTE_US = 60_000_000


class SteppingClock:
    """Each reading is ``step_us`` later than the last; sets ``stop`` at ``minutes``."""

    def __init__(self, stop: asyncio.Event, minutes: float, step_us: int = 15_000_000) -> None:
        self.now = START_US
        self.end = START_US + int(minutes * MINUTE_US)
        self.step_us = step_us
        self.stop = stop

    def __call__(self) -> int:
        now = self.now
        self.now += self.step_us
        if now >= self.end:
            self.stop.set()
        return now


async def demo_into_fresh_hub(
    data_dir: Path, config: WorkloadConfig, seed: int, minutes: float
) -> tuple[DemoStats, list[SyncUpdate]]:
    async with hub_on(data_dir) as hub:
        stop = asyncio.Event()
        stats = await run_demo(
            hub.url, None, config, stop, seed=seed, clock_us=SteppingClock(stop, minutes), step_s=0
        )
        return stats, await read_hub_log(hub.url)


def per_agent(log: list[SyncUpdate]) -> dict[str, list[tuple[object, ...]]]:
    """Each agent's stream as the hub stored it, without hub-assigned or wall-clock fields."""
    streams: dict[str, list[tuple[object, ...]]] = defaultdict(list)
    for u in log:
        streams[u.source or ""].append(u._replace(seq=None, counter=None))
    return streams


def final_health(log: list[SyncUpdate]) -> HealthStatus:
    state, window = OperationsState(), MetricsWindow()
    # Agents' streams interleave in the log; the window wants them in time order.
    in_time_order = sorted(log, key=lambda u: u.timestamp_us)
    for ts, group in itertools.groupby(in_time_order, key=lambda u: u.timestamp_us):
        reduction = apply_many(state, list(group))
        window.observe_reduction(state, reduction, ts)
        state = reduction.state
    snapshot = window.snapshot(max(u.timestamp_us for u in log))
    health = score_operations(snapshot.error_rate_pct, state.active_count, snapshot.avg_duration_s)
    return health.status


def test_every_generated_update_is_stored_once(tmp_path: Path) -> None:
    config = WorkloadConfig(rate_ops_per_min=120, error_rate_pct=10, agents=4)
    stats, log = run(demo_into_fresh_hub(tmp_path / "hub", config, seed=5, minutes=5))
    assert stats.agents == ("nas-photos", "laptop-camera-roll", "studio-video", "phone-backup")
    assert stats.generated > 1000
    assert (stats.acknowledged, stats.pending, stats.dropped) == (stats.generated, 0, 0)
    assert len(log) == stats.generated
    assert len({(u.operation_id, u.counter) for u in log}) == len(log)
    assert {u.source for u in log} == set(stats.agents)


def test_the_same_seed_replays_the_same_workload(tmp_path: Path) -> None:
    config = WorkloadConfig(rate_ops_per_min=90, error_rate_pct=8)
    _, first = run(demo_into_fresh_hub(tmp_path / "a", config, seed=11, minutes=4))
    _, again = run(demo_into_fresh_hub(tmp_path / "b", config, seed=11, minutes=4))
    _, other = run(demo_into_fresh_hub(tmp_path / "c", config, seed=12, minutes=4))
    assert per_agent(first) == per_agent(again)
    assert per_agent(first) != per_agent(other)


@pytest.mark.parametrize(
    ("error_rate", "expected"),
    [(1.0, HealthStatus.HEALTHY), (7.5, HealthStatus.WARNING), (25.0, HealthStatus.CRITICAL)],
)
def test_the_error_rate_setting_drives_health_through_the_hub(
    tmp_path: Path, error_rate: float, expected: HealthStatus
) -> None:
    config = WorkloadConfig(rate_ops_per_min=40, error_rate_pct=error_rate, burst_every_s=None)
    _, log = run(demo_into_fresh_hub(tmp_path / "hub", config, seed=2, minutes=16))
    assert final_health(log) is expected


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="syncwatch demo")
    demo_command.configure_parser(parser)
    return parser.parse_args(list(argv))


def test_the_command_runs_for_its_duration_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_hub(tmp_path, tokens={"pub": Role.PUBLISHER}) as hub:
        args = parse("--hub", hub.url, "--token", "pub", "--rate", "1200", "--duration", "1.5")
        assert demo_command.run(args) == 0
        log = asyncio.run(read_hub_log(hub.url, "pub"))
    summary = capsys.readouterr().err.strip().splitlines()[-1]
    assert summary.startswith(f"demo: {len(log)} updates from 3 agents, {len(log)} acknowledged")
    assert len(log) > 10


def test_the_command_refuses_bad_settings_and_tokens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert demo_command.run(parse("--agents", "0")) == 2
    assert "agents must be an integer" in capsys.readouterr().err
    assert demo_command.run(parse("--hub", "localhost:8765", "--duration", "1")) == 2
    assert "ws://HOST:PORT" in capsys.readouterr().err
    with running_hub(tmp_path, tokens={"pub": Role.PUBLISHER}) as hub:
        assert demo_command.run(parse("--hub", hub.url, "--token", "nope", "--duration", "5")) == 4
    assert "refused the token" in capsys.readouterr().err


def test_run_demo_stops_with_a_clear_error_on_a_refused_token(tmp_path: Path) -> None:
    async def body() -> None:
        async with hub_on(tmp_path / "hub", tokens={"pub": Role.PUBLISHER}) as hub:
            stop = asyncio.Event()
            with pytest.raises(ReporterAuthError, match="401"):
                await run_demo(hub.url, "wrong", WorkloadConfig(rate_ops_per_min=600), stop)

    run(body(), timeout=20)
