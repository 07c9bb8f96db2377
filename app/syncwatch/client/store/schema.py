"""The history database's tables, and the migrations that build them version by version.

The Peewee models below describe the *current* schema: they are what the rare,
row-at-a-time writes (connection changes, health snapshots) and the tests use. The
migrations are raw SQL, frozen as each version shipped: a migration must rebuild
exactly the schema an old file has, whatever the models look like today, so it never
derives its DDL from them. ``tests/client/test_store_schema.py`` checks that migrating
an empty file yields the columns the models declare.

Times are REAL seconds since the Unix epoch (UTC) throughout, the unit the plots and
range pickers think in. Statuses are the protocol's words plus ``interrupted``: an
operation that was in flight when the link (or the app) went down and that the hub's
snapshot no longer knew, kept in the history rather than silently dropped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, Final, cast

import peewee

#: The version this code writes; older files are migrated up to it when opened.
SCHEMA_VERSION: Final = 2

#: The status recorded for in-flight operations that a resync could not resolve.
INTERRUPTED: Final = "interrupted"

#: Pragmas for every connection: WAL lets the GUI's reader run beside the writer;
#: synchronous=NORMAL is durable across an app crash (only an OS crash may lose the last
#: commits, never corrupt the file); journal_size_limit keeps a checkpointed WAL small.
#: cache_size is 4 MB a connection: a page cache fills as the history grows and is never
#: given back, and 16 MB (writer and reader) grew a long-running app by ~30 MiB for
#: nothing measurable - ingest (~70,000 updates/s) and every dashboard query on a million
#: rows (benchmarks/bench_store.py) were as fast with 4 MB; the OS caches the file anyway.
PRAGMAS: Final = (
    ("journal_mode", "wal"),
    ("synchronous", "normal"),
    ("foreign_keys", 1),
    ("busy_timeout", 5000),
    ("journal_size_limit", 64 * 1024 * 1024),
    ("cache_size", -4000),
)

database_proxy = peewee.DatabaseProxy()


def execute(db: peewee.SqliteDatabase, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
    """Run one SQL statement on ``db``'s connection (Peewee's execute_sql, typed)."""
    return cast(sqlite3.Cursor, db.execute_sql(sql, params))  # type: ignore[no-untyped-call]


def write_transaction(db: peewee.SqliteDatabase) -> Any:
    """``db.atomic()`` that takes the write lock when it begins (``BEGIN IMMEDIATE``).

    A deferred transaction that reads first (the cursor, the operations it updates) and
    writes second cannot wait for a lock another connection holds: SQLite refuses the
    upgrade at once with "database is locked" instead of honouring ``busy_timeout``, since
    waiting could deadlock. Taking the lock up front makes the writer wait its turn behind
    another program's write, as the busy timeout intends."""
    return db.atomic(lock_type="IMMEDIATE")


def raw_cursor(db: peewee.SqliteDatabase) -> sqlite3.Cursor:
    """A cursor of ``db``'s connection, for executemany on the bulk paths."""
    return cast(sqlite3.Cursor, db.cursor())  # type: ignore[no-untyped-call]


class _Model(peewee.Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False


class SchemaVersion(_Model):
    """One row per applied migration: the file's version is the highest."""

    version = peewee.IntegerField(primary_key=True)
    applied_at = peewee.FloatField()

    class Meta:
        table_name = "schema_version"


class ResumeCursor(_Model):
    """The single row (id 1) saying which hub log the history covers and up to which seq.

    Written in the same transaction as the rows it covers, so after a crash the cursor
    never claims an update whose rows were lost, nor misses one whose rows were kept."""

    id = peewee.IntegerField(primary_key=True)
    hub_id = peewee.TextField()
    seq = peewee.IntegerField()
    updated_at = peewee.FloatField()

    class Meta:
        table_name = "resume_cursor"


class SyncOperation(_Model):
    """One row per operation: its current or final state."""

    operation_id = peewee.TextField(unique=True)
    operation_type = peewee.TextField()
    status = peewee.TextField()
    progress = peewee.FloatField()
    item = peewee.TextField(null=True)
    source = peewee.TextField(null=True)
    error = peewee.TextField(null=True)
    bytes_done = peewee.IntegerField(null=True)
    bytes_total = peewee.IntegerField(null=True)
    attempts = peewee.IntegerField()
    first_seen = peewee.FloatField()
    started = peewee.FloatField(null=True)
    ended = peewee.FloatField(null=True)
    duration_s = peewee.FloatField(null=True)
    updated_at = peewee.FloatField()
    last_seq = peewee.IntegerField()
    hub_id = peewee.TextField()
    #: Time and progress of the newest progress tick kept in the events (sampling state).
    sampled_at = peewee.FloatField(null=True)
    sampled_progress = peewee.FloatField(null=True)

    class Meta:
        table_name = "sync_operations"


class SyncOperationEvent(_Model):
    """The audit trail: every status transition, and sampled progress ticks.

    The operation's type, item and source are copied into each row so that the history
    view filters and pages one table through its indexes, without a join."""

    operation_id = peewee.TextField()
    hub_id = peewee.TextField()
    seq = peewee.IntegerField(null=True)
    at = peewee.FloatField()
    #: "transition" (status changed), "progress" (a sampled tick) or "interrupted".
    kind = peewee.TextField()
    from_status = peewee.TextField(null=True)
    status = peewee.TextField()
    operation_type = peewee.TextField()
    progress = peewee.FloatField()
    item = peewee.TextField(null=True)
    error = peewee.TextField(null=True)
    bytes_done = peewee.IntegerField(null=True)
    #: Added in schema version 2 (filter by source).
    source = peewee.TextField(null=True)

    class Meta:
        table_name = "sync_operation_events"


class ConnectionStatusRow(_Model):
    """Every change of the link's state, with the latency figures at that moment."""

    at = peewee.FloatField()
    state = peewee.TextField()
    hub_url = peewee.TextField()
    attempt = peewee.IntegerField()
    reason = peewee.TextField(null=True)
    hub_id = peewee.TextField(null=True)
    latency_ms = peewee.FloatField(null=True)
    latency_avg_ms = peewee.FloatField(null=True)
    latency_p95_ms = peewee.FloatField(null=True)

    class Meta:
        table_name = "connection_status"


class SyncStatusSnapshot(_Model):
    """The periodic health check's findings (every 2 minutes by default)."""

    at = peewee.FloatField()
    status = peewee.TextField()
    score = peewee.FloatField()
    error_rate = peewee.FloatField()
    avg_sync_time_s = peewee.FloatField(null=True)
    active_ops = peewee.IntegerField()
    throughput_ops_per_min = peewee.FloatField()
    throughput_bps = peewee.FloatField()
    latency_ms = peewee.FloatField(null=True)

    class Meta:
        table_name = "sync_status_snapshots"


class SyncMinuteStats(_Model):
    """Per-minute roll-up kept by the writer as it folds updates (added in version 2).

    The plots' series and the range totals read a few thousand of these rows instead of
    aggregating up to millions of events, and they outlive the events (they follow the
    snapshots' retention), so a 30-day plot stays complete after events are pruned.
    ``peak_active`` is exact: the writer counts queued + in-progress operations as each
    transition happens; ``active_end`` is the count after the minute's last event, which
    holds until the next event."""

    minute = peewee.IntegerField(primary_key=True)  # epoch seconds // 60
    new_ops = peewee.IntegerField()
    completed = peewee.IntegerField()
    failed = peewee.IntegerField()
    cancelled = peewee.IntegerField()
    interrupted = peewee.IntegerField()
    bytes_completed = peewee.IntegerField()
    duration_completed_s = peewee.FloatField()
    peak_active = peewee.IntegerField(null=True)
    active_end = peewee.IntegerField(null=True)

    class Meta:
        table_name = "sync_minute_stats"


class SyncGap(_Model):
    """Where the history has a hole, so the plots and the history can say so.

    reason "gap": updates after from_seq up to to_seq of hub_id were never seen (the
    client fell behind the hub's log and took a snapshot). reason "hub_changed": the
    history switched to a different hub log at to_seq; from_seq is where the previous
    log's cursor stood."""

    hub_id = peewee.TextField()
    from_seq = peewee.IntegerField(null=True)
    to_seq = peewee.IntegerField()
    at = peewee.FloatField()
    reason = peewee.TextField()

    class Meta:
        table_name = "sync_gaps"


MODELS: Final[tuple[type[peewee.Model], ...]] = (
    SchemaVersion,
    ResumeCursor,
    SyncOperation,
    SyncOperationEvent,
    ConnectionStatusRow,
    SyncStatusSnapshot,
    SyncMinuteStats,
    SyncGap,
)

# --------------------------------------------------------------------------- migrations

_V1: Final = """
CREATE TABLE resume_cursor (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    hub_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE sync_operations (
    id INTEGER NOT NULL PRIMARY KEY,
    operation_id TEXT NOT NULL UNIQUE,
    operation_type TEXT NOT NULL,
    status TEXT NOT NULL,
    progress REAL NOT NULL,
    item TEXT,
    source TEXT,
    error TEXT,
    bytes_done INTEGER,
    bytes_total INTEGER,
    attempts INTEGER NOT NULL,
    first_seen REAL NOT NULL,
    started REAL,
    ended REAL,
    duration_s REAL,
    updated_at REAL NOT NULL,
    last_seq INTEGER NOT NULL,
    hub_id TEXT NOT NULL,
    sampled_at REAL,
    sampled_progress REAL
);
CREATE INDEX sync_operations_updated ON sync_operations (updated_at);
CREATE INDEX sync_operations_status_updated ON sync_operations (status, updated_at);
CREATE TABLE sync_operation_events (
    id INTEGER NOT NULL PRIMARY KEY,
    operation_id TEXT NOT NULL,
    hub_id TEXT NOT NULL,
    seq INTEGER,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    from_status TEXT,
    status TEXT NOT NULL,
    operation_type TEXT NOT NULL,
    progress REAL NOT NULL,
    item TEXT,
    error TEXT,
    bytes_done INTEGER
);
CREATE INDEX sync_operation_events_at ON sync_operation_events (at);
CREATE INDEX sync_operation_events_status_at ON sync_operation_events (status, at);
CREATE INDEX sync_operation_events_type_at ON sync_operation_events (operation_type, at);
CREATE INDEX sync_operation_events_operation ON sync_operation_events (operation_id);
CREATE TABLE connection_status (
    id INTEGER NOT NULL PRIMARY KEY,
    at REAL NOT NULL,
    state TEXT NOT NULL,
    hub_url TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    reason TEXT,
    hub_id TEXT,
    latency_ms REAL,
    latency_avg_ms REAL,
    latency_p95_ms REAL
);
CREATE INDEX connection_status_at ON connection_status (at);
CREATE TABLE sync_status_snapshots (
    id INTEGER NOT NULL PRIMARY KEY,
    at REAL NOT NULL,
    status TEXT NOT NULL,
    score REAL NOT NULL,
    error_rate REAL NOT NULL,
    avg_sync_time_s REAL,
    active_ops INTEGER NOT NULL,
    throughput_ops_per_min REAL NOT NULL,
    throughput_bps REAL NOT NULL,
    latency_ms REAL
);
CREATE INDEX sync_status_snapshots_at ON sync_status_snapshots (at);
CREATE TABLE sync_gaps (
    id INTEGER NOT NULL PRIMARY KEY,
    hub_id TEXT NOT NULL,
    from_seq INTEGER,
    to_seq INTEGER NOT NULL,
    at REAL NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX sync_gaps_at ON sync_gaps (at);
"""

#: Version 2: events carry their operation's source, so the history filters by source
#: through an index, the errors get a partial index for text search, and a per-minute
#: roll-up feeds the plots. Both are back-filled from
#: the version 1 rows (the concurrency of that time is unknown: left NULL).
_V2: Final = """
ALTER TABLE sync_operation_events ADD COLUMN source TEXT;
UPDATE sync_operation_events SET source = (
    SELECT o.source FROM sync_operations AS o
    WHERE o.operation_id = sync_operation_events.operation_id
);
CREATE INDEX sync_operation_events_source_at ON sync_operation_events (source, at);
CREATE INDEX sync_operation_events_error ON sync_operation_events (error)
    WHERE error IS NOT NULL;
CREATE TABLE sync_minute_stats (
    minute INTEGER NOT NULL PRIMARY KEY,
    new_ops INTEGER NOT NULL,
    completed INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    cancelled INTEGER NOT NULL,
    interrupted INTEGER NOT NULL,
    bytes_completed INTEGER NOT NULL,
    duration_completed_s REAL NOT NULL,
    peak_active INTEGER,
    active_end INTEGER
);
INSERT INTO sync_minute_stats
SELECT CAST(e.at / 60 AS INTEGER),
    total(e.from_status IS NULL AND e.kind = 'transition'),
    total(e.status = 'completed' AND e.kind = 'transition'),
    total(e.status = 'failed' AND e.kind = 'transition'),
    total(e.status = 'cancelled' AND e.kind = 'transition'),
    total(e.kind = 'interrupted'),
    total(CASE WHEN e.status = 'completed' AND e.kind = 'transition' THEN e.bytes_done END),
    total(CASE WHEN e.status = 'completed' AND e.kind = 'transition' THEN o.duration_s END),
    NULL, NULL
FROM sync_operation_events AS e
LEFT JOIN sync_operations AS o ON o.operation_id = e.operation_id
GROUP BY 1;
"""

Migration = Callable[[peewee.SqliteDatabase], None]


def _script(sql: str) -> Migration:
    statements = [s.strip() for s in sql.split(";") if s.strip()]

    def run(db: peewee.SqliteDatabase) -> None:
        for statement in statements:
            execute(db, statement)

    return run


#: MIGRATIONS[n - 1] takes a file from version n - 1 to version n.
MIGRATIONS: Final[Sequence[Migration]] = (_script(_V1), _script(_V2))


def current_version(db: peewee.SqliteDatabase) -> int:
    """The file's schema version: 0 for a new (empty) file."""
    exists = execute(
        db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if exists is None:
        return 0
    row = execute(db, "SELECT max(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(db: peewee.SqliteDatabase, now: float, *, target: int = SCHEMA_VERSION) -> int:
    """Bring the file up to ``target``, one transaction per version, and return the
    version it had. A file newer than this code is refused rather than misread."""
    found = current_version(db)
    if found > SCHEMA_VERSION:
        raise SchemaTooNewError(found)
    if found == 0:
        execute(
            db,
            "CREATE TABLE IF NOT EXISTS schema_version ("
            "version INTEGER NOT NULL PRIMARY KEY, applied_at REAL NOT NULL)",
        )
    for version in range(found + 1, target + 1):
        with write_transaction(db):
            MIGRATIONS[version - 1](db)
            execute(
                db, "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (version, now)
            )
    return found


class SchemaTooNewError(RuntimeError):
    """The file was written by a newer Syncwatch; opening it could destroy its data."""

    def __init__(self, version: int) -> None:
        self.version = version
        super().__init__(
            f"the history database has schema version {version}, newer than this "
            f"Syncwatch understands ({SCHEMA_VERSION})"
        )
