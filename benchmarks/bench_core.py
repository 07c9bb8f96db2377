"""Figures for the pure core: reducer, metrics, health and alerts per update.

Run: ``.venv/bin/python benchmarks/bench_core.py`` (no Qt, no I/O). Prints the best and
the median of several runs in microseconds per update (the best is the cost; the median
shows how much other load on the machine adds). The reducer's target is < 5 us per update
in apply_many on batches of 500, i.e. 20,000 updates/s at < 10% of one core.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable

from syncwatch.core.alerts import AlertEngine
from syncwatch.core.health import score_operations
from syncwatch.core.metrics import MetricsWindow
from syncwatch.core.operations import EMPTY_STATE, OperationsState, apply_many, expire
from syncwatch.core.protocol import Status, SyncUpdate

BATCH = 500
T0 = 1_700_000_000_000_000


def workload(count: int, concurrent: int, seed: int = 1) -> list[SyncUpdate]:
    """A realistic stream: ``concurrent`` transfers, each queued, ~20 progress updates,
    then completed (5% failed), new ones starting as others finish."""
    rng = random.Random(seed)
    updates: list[SyncUpdate] = []
    live: dict[str, int] = {}
    next_id = 0
    seq = 0
    t = T0
    while len(updates) < count:
        while len(live) < concurrent:
            op_id = f"op-{next_id}"
            next_id += 1
            live[op_id] = 0
            seq += 1
            updates.append(
                SyncUpdate(op_id, "upload", Status.QUEUED, 0.0, t, seq, f"/m/{op_id}.mkv", 0, 10**8)
            )
        op_id = rng.choice(list(live))
        step = live[op_id] + 1
        live[op_id] = step
        t += 50
        seq += 1
        if step >= 20:
            del live[op_id]
            status = Status.FAILED if rng.random() < 0.05 else Status.COMPLETED
            updates.append(
                SyncUpdate(op_id, "upload", status, 100.0, t, seq, None, 10**8, 10**8, None)
            )
        else:
            done = step * 5 * 10**6
            updates.append(
                SyncUpdate(
                    op_id, "upload", Status.IN_PROGRESS, step * 5.0, t, seq, None, done, 10**8
                )
            )
    return updates[:count]


def measure(label: str, per: int, run: Callable[[], None], repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    best = min(times) / per * 1e6
    median = statistics.median(times) / per * 1e6
    print(f"{label:<56} best {best:6.2f} us, median {median:6.2f} us  ({1e6 / best:>9,.0f}/s)")
    return best


#: A typical update as a client receives it (about 250 bytes).
FRAME = (
    b'{"type":"sync_update","seq":123456,"operation_id":"op-000123-abcdef",'
    b'"operation_type":"upload","status":"in_progress","progress":42.5,'
    b'"timestamp":"2026-12-03T13:21:35.123Z","item":"Photos/2026/IMG_0042.jpg",'
    b'"bytes_done":1048576,"bytes_total":4194304}'
)


def bench_protocol() -> None:
    """parse_frame beside its ceiling, the bare JSON decode of the same bytes."""
    import orjson

    from syncwatch.core.protocol import encode_update, parse_frame

    count = 100_000

    def repeat(call: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            for _ in range(count):
                call()

        return run

    ceiling = measure(
        f"ceiling: orjson.loads of a {len(FRAME)}-byte update",
        count,
        repeat(lambda: orjson.loads(FRAME)),
    )
    parse = measure(
        "parse_frame (decode + full validation)", count, repeat(lambda: parse_frame(FRAME))
    )
    update = parse_frame(FRAME)
    assert isinstance(update, SyncUpdate)
    measure("encode_update", count, repeat(lambda: encode_update(update)))
    print(f"{'parse_frame / orjson.loads':<56} {parse / ceiling:.1f}x")


def main() -> None:
    bench_protocol()
    for concurrent in (50, 2000):
        updates = workload(100_000, concurrent)
        batches = [updates[i : i + BATCH] for i in range(0, len(updates), BATCH)]

        def reduce_all(batches: list[list[SyncUpdate]] = batches) -> None:
            state: OperationsState = EMPTY_STATE
            for i, batch in enumerate(batches):
                state = apply_many(state, batch).state
                if i % 20 == 0:  # what the engine does every few seconds
                    state = expire(state, batch[-1].timestamp_us, 60).state

        measure(
            f"apply_many, batches of {BATCH}, {concurrent} concurrent", len(updates), reduce_all
        )

        def with_metrics(batches: list[list[SyncUpdate]] = batches) -> None:
            state: OperationsState = EMPTY_STATE
            metrics = MetricsWindow()
            alerts = AlertEngine()
            for i, batch in enumerate(batches):
                now = batch[-1].timestamp_us
                reduction = apply_many(state, batch)
                metrics.observe_reduction(state, reduction, now)
                for op_id in reduction.finished:
                    alerts.on_operation_finished(reduction.state.operations[op_id], now / 1e6)
                state = reduction.state
                if i % 20 == 0:
                    state = expire(state, now, 60).state
                    snap = metrics.snapshot(now)
                    health = score_operations(snap.error_rate_pct, state.active_count, None)
                    alerts.on_health(health, now / 1e6)

        measure(
            f"  + metrics, alerts, health ({concurrent} concurrent)", len(updates), with_metrics
        )

    metrics = MetricsWindow()

    def snapshots() -> None:
        for i in range(1000):
            metrics.snapshot(T0 + i * 1000)

    measure("MetricsWindow.snapshot (90 buckets), per snapshot", 1000, snapshots)


if __name__ == "__main__":
    main()
