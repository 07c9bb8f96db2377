"""Real core objects for face tests: operations come out of the core reducer, health out of
the core scoring rule, never hand-built look-alikes."""

from __future__ import annotations

from syncwatch.core.connection import ConnectionState, ConnectionStatus
from syncwatch.core.health import Health, score_operations
from syncwatch.core.operations import Operation, OperationsState, apply
from syncwatch.core.protocol import Status, SyncUpdate

NOW = 1_780_000_000.0
HUB = "ws://127.0.0.1:8765/v1/subscribe"


def connected(since: float = NOW - 600) -> ConnectionStatus:
    return ConnectionStatus(ConnectionState.CONNECTED, HUB, since, hub_id="hub-1")


def operation(
    op_id: str,
    *,
    progress: float = 40.0,
    status: Status = Status.IN_PROGRESS,
    bytes_total: int | None = 10_000_000,
    error: str | None = None,
    op_type: str = "upload",
    item: str | None = None,
    steps: int = 4,
    now: float = NOW,
) -> Operation:
    """An operation fed through the reducer in ``steps`` updates, one second apart, so that
    it has a smoothed speed and an ETA like a real transfer."""
    state = OperationsState()
    for i in range(1, steps + 1):
        p = progress * i / steps
        last = i == steps
        u = SyncUpdate(
            operation_id=op_id,
            operation_type=op_type,
            status=status if last else Status.IN_PROGRESS,
            progress=100.0 if last and status is Status.COMPLETED else p,
            timestamp_us=round((now - steps + i) * 1_000_000),
            item=item or f"/photos/2026/{op_id}.jpg",
            bytes_done=None if bytes_total is None else round(bytes_total * p / 100),
            bytes_total=bytes_total,
            error=error if last else None,
            source="agent-1",
        )
        state = apply(state, u)
    return state.operations[op_id]


def health(error_rate: float = 0.0, active: int = 0) -> Health:
    return score_operations(error_rate, active, 12.5, now_us=round(NOW * 1_000_000))
