"""The hub's /metrics page in the Prometheus text format (version 0.0.4).

Counters are plain integers bumped by the event loop; the page is rendered on request,
so that monitoring costs nothing between scrapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class HubCounters:
    """Monotonic counters since the hub started (mutable: only the event loop writes)."""

    updates_accepted: int = 0
    updates_duplicate: int = 0
    updates_rejected: int = 0
    broadcast_frames: int = 0
    viewers_dropped: int = 0
    #: Viewers whose backlog passed its bound and were served from the log instead.
    viewers_behind: int = 0
    publishers_rate_limited: int = 0
    #: Finished operations dropped from snapshots by the max_finished_operations bound.
    operations_evicted: int = 0
    #: Active operations given up after abandon_after_s without an update.
    operations_abandoned: int = 0
    #: Updates refused because they would start an operation beyond max_active_operations.
    active_limit_refusals: int = 0
    #: Times a publisher was not read while max_uncommitted_updates waited for a commit.
    publisher_reads_held: int = 0
    #: The most updates that waited for the log's commit at once (a high-water mark).
    uncommitted_peak: int = 0


@dataclass(frozen=True, slots=True)
class HubGauges:
    """Point-in-time figures read when /metrics is scraped."""

    viewers: int
    publishers: int
    seq: int
    oldest_seq: int
    operations: int
    event_log_bytes: int
    #: The hub process's memory by kind (syncwatch.heap.MemoryUse), where measurable.
    memory: Mapping[str, int | None] = field(default_factory=dict)


def render_metrics(counters: HubCounters, gauges: HubGauges) -> str:
    """The /metrics body."""
    lines = [
        "# HELP syncwatch_hub_connections Open WebSocket connections by role.",
        "# TYPE syncwatch_hub_connections gauge",
        f'syncwatch_hub_connections{{role="viewer"}} {gauges.viewers}',
        f'syncwatch_hub_connections{{role="publisher"}} {gauges.publishers}',
    ]
    for name, kind, help_text, value in (
        (
            "updates_accepted_total",
            "counter",
            "Updates stored in the log.",
            counters.updates_accepted,
        ),
        (
            "updates_duplicate_total",
            "counter",
            "Resent updates acknowledged without being stored again.",
            counters.updates_duplicate,
        ),
        (
            "updates_rejected_total",
            "counter",
            "Frames from publishers refused as invalid.",
            counters.updates_rejected,
        ),
        ("broadcast_frames_total", "counter", "Frames sent to viewers.", counters.broadcast_frames),
        (
            "viewers_dropped_total",
            "counter",
            "Viewers closed with 1013: retention deleted updates they still needed.",
            counters.viewers_dropped,
        ),
        (
            "viewers_behind_total",
            "counter",
            "Times a viewer's backlog passed viewer_backlog_updates and it was served "
            "from the log.",
            counters.viewers_behind,
        ),
        (
            "publishers_rate_limited_total",
            "counter",
            "Publishers closed for exceeding the rate limit.",
            counters.publishers_rate_limited,
        ),
        (
            "operations_evicted_total",
            "counter",
            "Finished operations dropped from snapshots by max_finished_operations.",
            counters.operations_evicted,
        ),
        (
            "operations_abandoned_total",
            "counter",
            "Active operations marked failed after abandon_after_s without an update.",
            counters.operations_abandoned,
        ),
        (
            "updates_refused_active_limit_total",
            "counter",
            "Updates refused because they would start an operation beyond max_active_operations.",
            counters.active_limit_refusals,
        ),
        (
            "publisher_reads_held_total",
            "counter",
            "Times publishers were not read while max_uncommitted_updates waited for the "
            "log's commit.",
            counters.publisher_reads_held,
        ),
        (
            "uncommitted_updates_peak",
            "gauge",
            "The most updates that waited for the log's commit at once since start.",
            counters.uncommitted_peak,
        ),
        ("seq", "gauge", "The latest committed seq.", gauges.seq),
        ("oldest_seq", "gauge", "The oldest seq still in the log (0: empty).", gauges.oldest_seq),
        ("operations", "gauge", "Operations in snapshots (not expired).", gauges.operations),
        ("event_log_bytes", "gauge", "Size of the event log on disk.", gauges.event_log_bytes),
    ):
        lines += [
            f"# HELP syncwatch_hub_{name} {help_text}",
            f"# TYPE syncwatch_hub_{name} {kind}",
            f"syncwatch_hub_{name} {value}",
        ]
    measured = {kind: value for kind, value in gauges.memory.items() if value is not None}
    if measured:
        lines += [
            "# HELP syncwatch_hub_memory_bytes The hub process's memory: resident set, glibc's"
            " main heap in use and free-but-kept, SQLite's allocations.",
            "# TYPE syncwatch_hub_memory_bytes gauge",
            *(f'syncwatch_hub_memory_bytes{{kind="{k}"}} {v}' for k, v in measured.items()),
        ]
    return "\n".join(lines) + "\n"
