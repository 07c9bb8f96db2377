"""The dashboard's queries: filtered paging, counts, series, snapshots, totals, export."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncwatch.client.store import EventFilter, HistoryStore
from syncwatch.client.store.export import ExportFormat
from syncwatch.core.connection import ConnectionState, ConnectionStatus
from tests.client.store_support import T0, Health, upd


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    s = HistoryStore(tmp_path / "history.db", clock=lambda: T0 + 10_000)
    yield s
    s.close()


def _fill(store: HistoryStore) -> None:
    """Six operations: four uploads from nas-1, two downloads from laptop."""
    ups = []
    seq = 0

    def add(op: str, status: str, at: float, **kw: object) -> None:
        nonlocal seq
        seq += 1
        ups.append(upd(op, status, seq, at, **kw))  # type: ignore[arg-type]

    for n in range(4):
        add(f"up{n}", "in_progress", T0 + n * 60, source="nas-1", bytes_total=600, bytes_done=0)
        end = "failed" if n == 3 else "completed"
        add(
            f"up{n}",
            end,
            T0 + n * 60 + 30,
            source="nas-1",
            error="100% full_disk" if n == 3 else None,
        )
    add(
        "down0",
        "in_progress",
        T0 + 10,
        operation_type="download",
        source="laptop",
        item="/x/a_b.mp3",
    )
    add("down1", "queued", T0 + 20, operation_type="download", source="laptop")
    # In time order, numbered as a hub would.
    ups.sort(key=lambda u: u.timestamp_us)
    store.apply_updates("hub-a", [u._replace(seq=n) for n, u in enumerate(ups, 1)])


def test_filters_by_status_type_source_time_and_text(store: HistoryStore) -> None:
    _fill(store)

    def ids(flt: EventFilter) -> list[tuple[str, str]]:
        return [(e.operation_id, e.status) for e in store.query_events(flt)]

    assert ids(EventFilter(statuses=frozenset({"failed"}))) == [("up3", "failed")]
    assert {o for o, _ in ids(EventFilter(operation_types=frozenset({"download"})))} == {
        "down0",
        "down1",
    }
    assert {o for o, _ in ids(EventFilter(source="laptop"))} == {"down0", "down1"}
    assert ids(EventFilter(start=T0 + 151, end=T0 + 200)) == [("up3", "in_progress")]
    # Text matches error, item, id; % and _ are literal characters, not wildcards.
    assert ids(EventFilter(text="100% full")) == [("up3", "failed")]
    assert ids(EventFilter(text="A_B")) == [("down0", "in_progress")]
    assert ids(EventFilter(text="a%b")) == []
    assert ids(EventFilter(text="UP2")) == [("up2", "completed"), ("up2", "in_progress")]
    # Newest first.
    ats = [e.at for e in store.query_events(EventFilter())]
    assert ats == sorted(ats, reverse=True)


def test_bad_filters_are_refused_with_a_clear_error() -> None:
    with pytest.raises(TypeError, match="statuses"):
        EventFilter(statuses="failed")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="before start"):
        EventFilter(start=10, end=5)


def test_keyset_paging_walks_every_event_once_in_order(store: HistoryStore) -> None:
    ups = [upd(f"op{n}", "queued", n, T0 + n // 3) for n in range(1, 1001)]  # equal times too
    store.apply_updates("hub-a", ups)
    seen: list[int] = []
    key = None
    while page := store.query_events(EventFilter(), limit=70, before=key):
        seen += [e.seq or 0 for e in page]
        key = page[-1].key
    assert seen == list(range(1000, 0, -1))
    by_offset = store.query_events(EventFilter(), offset=70, limit=70)
    assert [e.seq for e in by_offset] == seen[70:140]


def test_counts_and_the_cap(store: HistoryStore) -> None:
    _fill(store)
    assert store.count_events().value == 10
    assert tuple(store.count_events(EventFilter(source="nas-1"))) == (8, True)
    assert tuple(store.count_events(cap=5)) == (5, False)
    assert tuple(store.count_events(cap=10)) == (10, True)


def test_query_operations_filters_and_orders_by_last_activity(store: HistoryStore) -> None:
    _fill(store)
    rows = store.query_operations(EventFilter(source="nas-1"), limit=2)
    assert [r.operation_id for r in rows] == ["up3", "up2"]
    (failed,) = store.query_operations(EventFilter(statuses=frozenset({"failed"})))
    assert (failed.operation_id, failed.error) == ("up3", "100% full_disk")


def test_series_counts_per_minute_and_shows_when_the_link_was_down(store: HistoryStore) -> None:
    _fill(store)
    url = "ws://127.0.0.1:1"
    store.record_connection(ConnectionStatus(ConnectionState.CONNECTED, url, T0 - 5), None)
    store.record_connection(ConnectionStatus(ConnectionState.RECONNECTING, url, T0 + 125), None)
    store.record_connection(ConnectionStatus(ConnectionState.CONNECTED, url, T0 + 250), None)
    store.record_health_snapshot(Health(at=T0, active_ops=3, latency_ms=20.0))
    points = store.series(T0, T0 + 300, bucket_s=60)
    assert [p.at for p in points] == [T0 + 60 * i for i in range(5)]
    assert [(p.completed, p.failed) for p in points] == [(1, 0), (1, 0), (1, 0), (0, 1), (0, 0)]
    assert [p.error_rate for p in points] == [0.0, 0.0, 0.0, 1.0, None]
    assert points[0].throughput_ops_per_min == 1.0
    assert points[0].throughput_bps == pytest.approx(600 / 60)
    # Down from 125 s to 250 s: buckets [180, 240) saw no connection at all.
    assert [p.connected for p in points] == [True, True, True, False, True]
    # up0 with down0 and down1 (which never end), then one upload at a time with them.
    assert [p.active_ops for p in points] == [3, 3, 3, 3, 2]
    # Nothing happens later: the count holds between events.
    assert [p.active_ops for p in store.series(T0 + 3000, T0 + 3120)] == [2, 2]
    # The 2-minute health snapshot's latency stands for the buckets after it, not for ever.
    assert [p.latency_ms for p in points] == [20.0, 20.0, 20.0, 20.0, 20.0]
    assert store.series(T0 + 300, T0 + 360)[0].latency_ms is None
    with pytest.raises(ValueError, match="bucket"):
        store.series(T0, T0 + 86_400, bucket_s=90)


def test_snapshots_are_downsampled_for_long_ranges(store: HistoryStore) -> None:
    for n in range(1000):
        store.record_health_snapshot(Health(at=T0 + n * 120, score=float(n % 100)))
    every = store.snapshots(T0, T0 + 1000 * 120)
    assert len(every) == 1000
    few = store.snapshots(T0, T0 + 1000 * 120, max_points=100)
    assert len(few) == 100
    assert [r.at for r in few] == sorted(r.at for r in few)
    assert sum(r.score for r in few) / 100 == pytest.approx(sum(r.score for r in every) / 1000)


def test_totals_give_success_rate_duration_and_peak_concurrency(store: HistoryStore) -> None:
    _fill(store)
    totals = store.totals(T0, T0 + 1000)
    assert store.totals(T0 + 2000, T0 + 3000).operations == 0
    assert totals.operations == 6
    assert (totals.completed, totals.failed) == (3, 1)
    assert totals.success_rate == pytest.approx(3 / 4)
    assert totals.avg_duration_s == pytest.approx(30.0)
    # up0 [0,30) with down0 (10..) and down1 queued (20..): 3 at once, never 4.
    assert totals.peak_concurrency == 3


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_writes_the_selection(
    store: HistoryStore, tmp_path: Path, fmt: ExportFormat
) -> None:
    _fill(store)
    out = tmp_path / f"history.{fmt}"
    assert store.export(EventFilter(source="nas-1"), out, fmt) == 8
    if fmt == "csv":
        with out.open(newline="") as f:
            rows = list(csv.DictReader(f))
    else:
        rows = json.loads(out.read_text())
    assert len(rows) == 8
    assert rows[0]["operation_id"] == "up0"  # oldest first
    assert {r["source"] for r in rows} == {"nas-1"}
    assert rows[0]["time"].startswith("2025-06-15T")
    assert not list(tmp_path.glob(".*partial"))
    with pytest.raises(ValueError, match="csv, json"):
        store.export(EventFilter(), tmp_path / "x.xml", "xml")  # type: ignore[arg-type]


def test_database_info_reports_size_counts_and_version(store: HistoryStore) -> None:
    _fill(store)
    info = store.database_info()
    assert info.schema_version == 2
    assert info.row_counts["sync_operations"] == 6
    assert info.row_counts["sync_operation_events"] == 10
    assert info.cursor == ("hub-a", 10)
    assert info.size_bytes == store.size_bytes() > 0


def test_both_text_search_plans_return_the_same_events(
    store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncwatch.client.store import queries

    _fill(store)
    store.apply_updates("hub-a", [upd("up0", "in_progress", 11, T0 + 500, error="full_disk again")])
    searches = ["full_disk", "UP0", "laptop", "a_b", "nothing", "/library/"]
    few = {t: store.query_events(EventFilter(text=t)) for t in searches}
    monkeypatch.setattr(queries, "TEXT_PLAN_OPS", 0)  # every search takes the scan plan
    many = {t: store.query_events(EventFilter(text=t)) for t in searches}
    assert few == many
    # The error of one event matches that event, not the rest of its operation's trail.
    assert [(e.operation_id, e.seq) for e in few["full_disk"]] == [("up0", 11), ("up3", 10)]
    assert len(few["/library/"]) == 10  # all but down0 (/x/a_b.mp3)
