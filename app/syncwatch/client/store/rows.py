"""The immutable values the history store takes and hands out.

The GUI's worker thread gets these from queries and passes them to the main thread,
so they are frozen and hold plain values only (no live cursor, no model instance).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Protocol


class HealthSnapshotLike(Protocol):
    """What :meth:`HistoryStore.record_health_snapshot` reads: ``core.health``'s
    snapshot has these attributes (``status`` may be an enum: its ``value`` is stored)."""

    @property
    def at(self) -> float: ...
    @property
    def status(self) -> object: ...
    @property
    def score(self) -> float: ...
    @property
    def error_rate(self) -> float: ...
    @property
    def avg_sync_time_s(self) -> float | None: ...
    @property
    def active_ops(self) -> int: ...
    @property
    def throughput_ops_per_min(self) -> float: ...
    @property
    def throughput_bps(self) -> float: ...
    @property
    def latency_ms(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What the history view asks for. Empty sets and None mean "any".

    ``text`` matches, case-insensitively, any part of the item, operation id, error or
    source. ``start`` is inclusive and ``end`` exclusive (epoch seconds)."""

    statuses: frozenset[str] = frozenset()
    operation_types: frozenset[str] = frozenset()
    text: str | None = None
    start: float | None = None
    end: float | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        for name in ("statuses", "operation_types"):
            if isinstance(getattr(self, name), str):
                raise TypeError(f"{name} is a set of strings, not a string")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")


class PageKey(NamedTuple):
    """Where a page of events ended: pass it as ``before`` to get the next page in
    constant time, however deep (an offset costs time proportional to its size)."""

    at: float
    id: int


class EventRow(NamedTuple):
    """One line of the audit trail."""

    id: int
    at: float
    operation_id: str
    operation_type: str
    kind: str
    from_status: str | None
    status: str
    progress: float
    item: str | None
    source: str | None
    error: str | None
    bytes_done: int | None
    seq: int | None
    hub_id: str

    @property
    def key(self) -> PageKey:
        return PageKey(self.at, self.id)


class OperationRow(NamedTuple):
    """One operation's current or final state."""

    operation_id: str
    operation_type: str
    status: str
    progress: float
    item: str | None
    source: str | None
    error: str | None
    bytes_done: int | None
    bytes_total: int | None
    attempts: int
    first_seen: float
    started: float | None
    ended: float | None
    duration_s: float | None
    updated_at: float
    last_seq: int
    hub_id: str


class Count(NamedTuple):
    """A row count; ``exact`` is False when counting stopped at the cap (show "cap+")."""

    value: int
    exact: bool


class SeriesPoint(NamedTuple):
    """One bucket of the per-minute series the plots draw. None means "no data": the
    plot leaves a gap there rather than drawing a zero that never was measured."""

    #: Start of the bucket (epoch seconds).
    at: float
    completed: int
    failed: int
    #: failed / (completed + failed), None when nothing finished in the bucket.
    error_rate: float | None
    throughput_ops_per_min: float
    throughput_bps: float
    active_ops: int | None
    latency_ms: float | None
    #: Whether the link to the hub was up at any moment of the bucket.
    connected: bool


class SnapshotRow(NamedTuple):
    """A health snapshot, or the average of those in one bucket when downsampled."""

    at: float
    status: str
    score: float
    error_rate: float
    avg_sync_time_s: float | None
    active_ops: float
    throughput_ops_per_min: float
    throughput_bps: float
    latency_ms: float | None


@dataclass(frozen=True, slots=True)
class Totals:
    """The headline figures for a time range."""

    #: Operations first seen in the range.
    operations: int
    completed: int
    failed: int
    cancelled: int
    interrupted: int
    #: completed / (completed + failed + interrupted) of the ends in the range.
    success_rate: float | None
    #: Mean duration of the operations completed in the range, seconds.
    avg_duration_s: float | None
    #: Most operations queued or in progress at once (exact, counted as updates arrive).
    peak_concurrency: int


@dataclass(frozen=True, slots=True)
class CleanupResult:
    """Rows deleted by one retention run, per table."""

    operations: int = 0
    events: int = 0
    snapshots: int = 0
    connection_status: int = 0
    gaps: int = 0
    minute_stats: int = 0

    @property
    def total(self) -> int:
        return (
            self.operations
            + self.events
            + self.snapshots
            + self.connection_status
            + self.gaps
            + self.minute_stats
        )


@dataclass(frozen=True, slots=True)
class DatabaseInfo:
    """What the admin panel shows about the database."""

    path: Path
    size_bytes: int
    schema_version: int
    row_counts: Mapping[str, int] = field(default_factory=dict)
    cursor: tuple[str, int] | None = None
