"""Opening the history: migrations in place, and damaged files set aside."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from syncwatch.client.store import SCHEMA_VERSION, EventFilter, HistoryStore
from syncwatch.client.store.schema import _V1, MODELS, execute
from tests.client.store_support import T0, upd


def _build_v1(path: Path) -> None:
    """A version-1 file as that release wrote it: its DDL, its version row, its data."""
    con = sqlite3.connect(path)
    con.executescript(
        "CREATE TABLE schema_version (version INTEGER NOT NULL PRIMARY KEY, "
        "applied_at REAL NOT NULL);" + _V1 + "INSERT INTO schema_version VALUES (1, 0);"
    )
    con.execute(
        "INSERT INTO sync_operations (operation_id, operation_type, status, progress, item, "
        "source, attempts, first_seen, updated_at, last_seq, hub_id) "
        "VALUES ('old-op', 'upload', 'in_progress', 40, '/a.mkv', 'nas-1', 1, ?, ?, 9, 'hub-a')",
        (T0, T0),
    )
    con.execute(
        "INSERT INTO sync_operation_events (operation_id, hub_id, seq, at, kind, status, "
        "operation_type, progress) VALUES ('old-op', 'hub-a', 9, ?, 'transition', "
        "'in_progress', 'upload', 40)",
        (T0,),
    )
    con.execute("INSERT INTO resume_cursor VALUES (1, 'hub-a', 9, ?)", (T0,))
    con.commit()
    con.close()


def test_a_version_1_file_is_migrated_in_place_keeping_its_data(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    _build_v1(path)
    store = HistoryStore(path, clock=lambda: T0)
    try:
        assert store.found_version == 1
        assert store.recovered_from is None
        assert store.database_info().schema_version == SCHEMA_VERSION == 2
        assert store.cursor() == ("hub-a", 9)
        # The new column is back-filled from the operation and usable as a filter.
        (event,) = store.query_events(EventFilter(source="nas-1"))
        assert (event.operation_id, event.source) == ("old-op", "nas-1")
        # The per-minute roll-up is rebuilt from the old events (concurrency unknown).
        assert store.totals(T0 - 60, T0 + 60).operations == 1
        assert store.series(T0, T0 + 60)[0].active_ops is None
        # And the file takes new updates after the old cursor.
        assert store.apply_updates("hub-a", [upd("old-op", "completed", 10, T0 + 5)]) == 1
        assert store.totals(T0 - 60, T0 + 60).completed == 1
    finally:
        store.close()
    reopened = HistoryStore(path)
    assert reopened.found_version == 2
    reopened.close()


def test_migrated_tables_have_the_columns_the_models_declare(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "history.db")
    try:
        for model in MODELS:
            table = model._meta.table_name
            columns = {row[1] for row in execute(store._db, f"PRAGMA table_info({table})")}
            declared = {f.column_name for f in model._meta.sorted_fields}
            assert columns == declared, table
    finally:
        store.close()


def _set_aside_files(tmp_path: Path) -> list[Path]:
    return sorted(tmp_path.glob("history.db.corrupt-*"))


@pytest.mark.parametrize(
    "damage",
    ["garbage", "malformed", "too_new"],
)
def test_a_damaged_file_is_set_aside_and_a_fresh_one_started(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "history.db"
    if damage == "garbage":
        path.write_bytes(b"this is not a database at all\n" * 100)
    else:
        store = HistoryStore(path)
        store.apply_updates("hub-a", [upd(f"op{n}", "queued", n, T0) for n in range(1, 3000)])
        store.compact()
        store.close()
        if damage == "malformed":
            data = bytearray(path.read_bytes())
            page = 4096
            for offset in range(3 * page, min(len(data), 12 * page)):
                data[offset] = 0x5A
            path.write_bytes(bytes(data))
        else:
            con = sqlite3.connect(path)
            con.execute("INSERT INTO schema_version VALUES (99, 0)")
            con.commit()
            con.close()
    original = path.read_bytes()

    store = HistoryStore(path, clock=lambda: T0)
    try:
        (moved,) = _set_aside_files(tmp_path)
        assert store.recovered_from == moved
        assert moved.read_bytes() == original  # kept untouched for the user
        assert store.recovery_message is not None
        assert moved.name in store.recovery_message
        assert store.cursor() is None
        assert store.apply_updates("hub-a", [upd("op1", "queued", 1, T0)]) == 1
    finally:
        store.close()
    again = HistoryStore(path)
    assert again.recovered_from is None
    again.close()
