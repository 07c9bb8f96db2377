"""The one chaos test ``make test`` runs: the real harness, shortened to under a minute.

The hub is killed -9 and restarted and the app's link is reset under load; then the
same end-of-run checks as ``make chaos`` must hold. Memory and timing figures need the
full run (a minute is all warm-up), so they are printed, not asserted, here. A last step
proves the history check can fail: one transition row removed from a copy of the
history must be caught.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.chaos import verify
from tests.chaos.harness import Chaos, ChaosConfig
from tests.chaos.schedule import FULL, Kind, build_schedule

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

#: Checks that a one-minute run cannot judge fairly.
_FULL_RUN_ONLY = ("RSS", "detected within", "recovered within")


def test_the_schedule_is_fixed_by_its_seed_and_fits_the_run() -> None:
    first = build_schedule(7, 600)
    assert first == build_schedule(7, 600)
    assert first != build_schedule(8, 600)
    assert sorted(f.kind for f in first) == sorted(FULL)
    ends = [f.at_s + f.hold_s for f in first]
    assert all(end <= 600 - 60 for end in ends)
    assert all(a.at_s + a.hold_s < b.at_s for a, b in itertools.pairwise(first))


def test_a_short_chaos_run_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    config = ChaosConfig(
        run_dir=tmp_path / "chaos", minutes=0.8, demo_rate=600, demo_agents=3,
        publishers=2, publisher_rate=30.0, kinds=(Kind.HUB_KILL, Kind.RESET), catch_up_s=30.0,
        display=os.environ.get("DISPLAY") if os.environ.get("QT_QPA_PLATFORM") == "xcb" else None,
    )  # fmt: skip
    checks = asyncio.run(Chaos(config).run())
    judged = [c for c in checks if not any(word in c.name for word in _FULL_RUN_ONLY)]
    failed = [f"{c.name}: {c.detail}" for c in judged if not c.ok]
    assert not failed
    assert len(judged) >= 9

    history = tmp_path / "broken-history.db"
    shutil.copy(config.run_dir / "app-data" / "history.db", history)
    with sqlite3.connect(history) as db:
        db.execute(
            "DELETE FROM sync_operation_events WHERE id = "
            "(SELECT min(id) FROM sync_operation_events WHERE kind = 'transition')"
        )
    log = verify.read_hub_log(config.run_dir / "hub-data" / "events.sqlite3")
    broken = {c.name: c.ok for c in verify.check_history(history, log)}
    assert broken["history's transitions equal the hub's (none lost, none doubled)"] is False
