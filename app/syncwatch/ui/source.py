"""What the faces read from the state model, and the one snapshot they present from.

Every face builds its :class:`~syncwatch.ui.presenter.FaceInputs` through
:func:`face_inputs`, so the tray, the floating widget and the dashboard header never
compute throughput or pick "active" operations in different ways.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from syncwatch.core.operations import Operation
from syncwatch.ui.presenter import FaceInputs

if TYPE_CHECKING:
    from syncwatch.qt.model import SyncStateModel

#: Wall clock, injected so that tests control "now".
Clock = Callable[[], float]


def current_throughput(active: Sequence[Operation]) -> float | None:
    """Bytes per second right now: the sum of the active transfers' smoothed speeds."""
    speeds = [op.speed_bps for op in active if op.speed_bps is not None]
    return sum(speeds) if speeds else (0.0 if active else None)


def face_inputs(model: SyncStateModel, clock: Clock = time.time) -> FaceInputs:
    """The model's current values, copied once, for :func:`~syncwatch.ui.presenter.present`."""
    active = list(model.active_operations)
    return FaceInputs(
        connection=model.connection,
        health=model.health,
        active=active,
        latency=model.latency,
        throughput_bps=current_throughput(active),
        paused_until=model.notifications_paused_until,
        now=clock(),
    )
