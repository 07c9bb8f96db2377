"""Builders shared by the history store tests (tests/client/test_store*.py)."""

from __future__ import annotations

from dataclasses import dataclass

from syncwatch.core.protocol import Status, SyncUpdate

#: A minute boundary (the per-minute roll-up aligns to minutes).
T0 = 1_750_000_020.0


def upd(
    operation_id: str,
    status: str,
    seq: int,
    at: float,
    progress: float = 0.0,
    *,
    operation_type: str = "upload",
    item: str | None = None,
    source: str | None = "agent-1",
    error: str | None = None,
    bytes_done: int | None = None,
    bytes_total: int | None = None,
) -> SyncUpdate:
    """A hub update (with seq) at ``at`` epoch seconds."""
    return SyncUpdate(
        operation_id=operation_id,
        operation_type=operation_type,
        status=Status(status),
        progress=progress,
        timestamp_us=round(at * 1_000_000),
        seq=seq,
        item=item if item is not None else f"/library/{operation_id}.mkv",
        bytes_done=bytes_done,
        bytes_total=bytes_total,
        error=error,
        source=source,
    )


@dataclass(frozen=True)
class Health:
    """Stands in for core.health's snapshot: the attributes the store reads."""

    at: float
    status: str = "healthy"
    score: float = 100.0
    error_rate: float = 0.0
    avg_sync_time_s: float | None = 3.0
    active_ops: int = 2
    throughput_ops_per_min: float = 10.0
    throughput_bps: float = 1e6
    latency_ms: float | None = 12.0


def lifecycle_stream(n: int, *, start_seq: int = 1) -> list[SyncUpdate]:
    """``n`` hub updates: blocks of 100 interleaved operations, each going queued ->
    in_progress -> 40 % -> 80 % -> completed, so that every update adds one event row
    (transitions and 40-point progress steps are all kept by the sampling rule)."""
    steps = (
        ("queued", 0.0),
        ("in_progress", 1.0),
        ("in_progress", 40.0),
        ("in_progress", 80.0),
        ("completed", 100.0),
    )
    out = []
    for i in range(n):
        block, rest = divmod(i, 500)
        step, lane = divmod(rest, 100)
        status, progress = steps[step]
        seq = start_seq + i
        out.append(
            upd(f"op{block * 100 + lane}", status, seq, T0 + i * 0.001, progress, bytes_total=1000)
        )
    return out
