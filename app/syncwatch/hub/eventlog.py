"""The hub's durable event log: every accepted update, in seq order, in SQLite (WAL).

Why a writer thread with group commit: an update may only be acknowledged once it is
committed, and a transaction per update caps SQLite near a few thousand a second. The
event loop hands rows to one writer thread, which commits everything that queued up
while the previous commit ran in a single transaction (``executemany``) and then reports
the highest committed seq. Under load the groups grow on their own; when idle a commit
holds a single update and costs one round trip.

The log also keeps, per operation, its latest update and the publisher's last counter,
in the same transactions: snapshots and duplicate detection survive a restart without
replaying the log. Operations the hub stops holding (``forget``: the bound on finished
operations) leave that table in the next group commit. ``meta`` holds the hub_id and the
last seq ever assigned, so that a seq is never reused even after retention emptied the
events table.

Durability: with WAL and ``synchronous=NORMAL`` a committed transaction survives the
process being killed (it is in the OS page cache); only a power cut may lose the last
few commits. ``synchronous=FULL`` closes that gap at the price of one fsync per group.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
import uuid
from collections.abc import Callable, Container, Iterable, Sequence
from pathlib import Path
from typing import Final, NamedTuple, TypeVar

log = logging.getLogger(__name__)

_T = TypeVar("_T")

DB_NAME: Final = "events.sqlite3"
#: Page cache of the connection replays and snapshots read through (see EventLog).
READER_CACHE_KIB: Final = 512

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    received_us INTEGER NOT NULL,
    operation_id TEXT NOT NULL,
    counter INTEGER,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_counter ON events (operation_id, counter)
    WHERE counter IS NOT NULL;
CREATE TABLE IF NOT EXISTS operations (
    operation_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    counter INTEGER,
    terminal INTEGER NOT NULL,
    updated_us INTEGER NOT NULL,
    body BLOB NOT NULL
);
"""

_UPSERT_OPERATION: Final = """
INSERT INTO operations (operation_id, seq, counter, terminal, updated_us, body)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (operation_id) DO UPDATE SET
    seq = excluded.seq,
    counter = coalesce(excluded.counter, operations.counter),
    terminal = excluded.terminal,
    updated_us = excluded.updated_us,
    body = excluded.body
"""


class LoggedUpdate(NamedTuple):
    """One accepted update as the log stores it; ``body`` is its encoded sync_update frame."""

    seq: int
    operation_id: str
    counter: int | None
    terminal: bool
    received_us: int
    body: bytes


class StoredOperation(NamedTuple):
    """One row of the operations table without its body, as the hub reads them at start-up
    (the body stays in the log: snapshots and verdicts read it from there, see
    :meth:`EventLog.snapshot` and :meth:`EventLog.bodies`)."""

    operation_id: str
    seq: int
    counter: int | None
    terminal: bool
    updated_us: int


class Maintenance(NamedTuple):
    """What one retention/expiry pass removed, and the oldest seq the log still holds."""

    deleted_events: int
    #: (operation_id, seq of the state that expired)
    expired_operations: tuple[tuple[str, int], ...]
    oldest_seq: int | None


class _Forget(NamedTuple):
    """Queued by :meth:`EventLog.forget`: (operation_id, seq) of states to delete."""

    operations: tuple[tuple[str, int], ...]


class EventLogError(RuntimeError):
    """The log cannot be opened or written; the hub cannot promise durability any more."""


_STOP: Final = object()
#: Host parameters per ``IN (...)`` query (SQLite allows 32,766 since 3.32; stay well below).
_IN_CHUNK: Final = 500


class EventLog:
    """The SQLite event log of one data directory (see the module docstring).

    Opening reads the identity and the position (``hub_id``, ``last_seq``,
    ``oldest_seq``); :meth:`start` starts the writer thread; :meth:`append` is the only
    write path and may be called from any thread; :meth:`close` commits what is queued.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        synchronous: str = "NORMAL",
        new_hub_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        #: The database file.
        self.path = data_dir / DB_NAME
        try:
            self._writer_db = self._connect(synchronous)
            self._writer_db.executescript(_SCHEMA)
            #: Identifies this log; clients seeing a different one must take a snapshot.
            self.hub_id = self._load_hub_id(new_hub_id)
            #: The highest seq ever committed (0 for a new log).
            self.last_seq = self._load_last_seq()
            #: The lowest seq still stored, None when the events table is empty.
            self.oldest_seq: int | None = self._writer_db.execute(
                "SELECT min(seq) FROM events"
            ).fetchone()[0]
            # Replays read on other threads through their own connection (WAL lets them).
            # They read each page once, in seq order, so its page cache is kept small: at
            # SQLite's default of 2 MiB, every viewer's catch-up grew the hub until it was
            # full (the operating system caches the file anyway).
            self._reader_db = self._connect(synchronous)
            self._reader_db.execute(f"PRAGMA cache_size=-{READER_CACHE_KIB}")
        except sqlite3.Error as exc:
            raise EventLogError(f"cannot open the event log {self.path}: {exc}") from exc
        self._reader_lock = threading.Lock()
        #: Lists of LoggedUpdate, maintenance jobs, or _STOP, consumed by the writer thread.
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def _connect(self, synchronous: str) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.execute("PRAGMA busy_timeout=5000")
        return db

    def _load_hub_id(self, new_hub_id: Callable[[], str]) -> str:
        row = self._writer_db.execute("SELECT value FROM meta WHERE key = 'hub_id'").fetchone()
        if row is not None:
            return str(row[0])
        hub_id = new_hub_id()
        self._writer_db.execute("INSERT INTO meta VALUES ('hub_id', ?)", (hub_id,))
        return hub_id

    def _load_last_seq(self) -> int:
        row = self._writer_db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
        stored = int(row[0]) if row is not None else 0
        highest = self._writer_db.execute("SELECT max(seq) FROM events").fetchone()[0] or 0
        last_seq = max(stored, int(highest))
        if row is None or last_seq != stored:
            # snapshot() reads the position from meta: it must be there from the start.
            self._writer_db.execute(
                "INSERT INTO meta VALUES ('last_seq', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(last_seq),),
            )
        return last_seq

    def operations(self) -> list[StoredOperation]:
        """Every operation's latest state, oldest first (read once at start-up)."""
        rows = self._writer_db.execute(
            "SELECT operation_id, seq, counter, terminal, updated_us FROM operations ORDER BY seq"
        )
        return [StoredOperation(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows]

    # ------------------------------------------------------------------ writing

    def start(
        self, on_commit: Callable[[int], object], on_failure: Callable[[Exception], object]
    ) -> None:
        """Start the writer thread. ``on_commit(seq)`` runs on that thread after each group
        commit with the highest committed seq; ``on_failure`` once if a commit fails, after
        which nothing more is written."""
        if self._thread is not None:
            raise RuntimeError("the event log is already started")
        self._thread = threading.Thread(
            target=self._write_loop, args=(on_commit, on_failure), name="hub-eventlog", daemon=True
        )
        self._thread.start()

    def append(self, updates: list[LoggedUpdate]) -> None:
        """Queue updates (in seq order, continuing the log) for the next group commit."""
        self._queue.put(updates)

    def forget(self, operations: Sequence[tuple[str, int]]) -> None:
        """Queue the deletion of operations' stored states, each ``(operation_id, seq)`` only
        while its state is still the one at ``seq`` (a later update keeps it); deleted in
        the next group commit's transaction, so that a restart does not bring them back."""
        if operations:
            self._queue.put(_Forget(tuple(operations)))

    def maintain(
        self,
        *,
        now_us: int,
        retention_us: int,
        retention_updates: int,
        expiry_us: int,
        done: Callable[[Maintenance], object],
    ) -> None:
        """Queue one retention and expiry pass; ``done`` runs on the writer thread."""

        def job(db: sqlite3.Connection) -> None:
            done(self._maintain(db, now_us, retention_us, retention_updates, expiry_us))

        self._queue.put(job)

    def close(self) -> None:
        """Commit everything queued, stop the writer thread and close the database."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None
        self._writer_db.close()
        with self._reader_lock:
            self._reader_db.close()

    def _write_loop(
        self, on_commit: Callable[[int], object], on_failure: Callable[[Exception], object]
    ) -> None:
        failed = False
        while True:
            item = self._queue.get()
            group: list[LoggedUpdate] = []
            forgotten: list[tuple[str, int]] = []
            jobs: list[Callable[[sqlite3.Connection], None]] = []
            stop = False
            while True:
                if item is _STOP:
                    stop = True
                elif isinstance(item, list):
                    group.extend(item)
                elif isinstance(item, _Forget):
                    forgotten.extend(item.operations)
                elif callable(item):
                    jobs.append(item)
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if failed:
                if stop:
                    return
                continue
            try:
                if group or forgotten:
                    self._commit(group, forgotten)
                if group:
                    on_commit(group[-1].seq)
                for job in jobs:
                    job(self._writer_db)
            except sqlite3.Error as exc:
                failed = True
                log.critical("event log write failed: %s", exc)
                on_failure(EventLogError(f"event log write failed: {exc}"))
            if stop:
                return

    def _commit(self, group: Sequence[LoggedUpdate], forgotten: Sequence[tuple[str, int]]) -> None:
        db = self._writer_db
        latest: dict[str, LoggedUpdate] = {}
        for update in group:
            latest[update.operation_id] = update
        db.execute("BEGIN")
        try:
            if group:
                # Rows are made as SQLite asks for them: a list of parameter tuples was
                # ~300 KiB for a group of 5,000, at the top of a burst, when the heap is
                # largest and what the allocator keeps afterwards is decided.
                db.executemany(
                    "INSERT INTO events (seq, received_us, operation_id, counter, body)"
                    " VALUES (?, ?, ?, ?, ?)",
                    ((u.seq, u.received_us, u.operation_id, u.counter, u.body) for u in group),
                )
                db.executemany(
                    _UPSERT_OPERATION,
                    (
                        (u.operation_id, u.seq, u.counter, int(u.terminal), u.received_us, u.body)
                        for u in latest.values()
                    ),
                )
                db.execute(
                    "INSERT INTO meta VALUES ('last_seq', ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(group[-1].seq),),
                )
            if forgotten:
                # Only states not replaced since (a newer update of the operation stays).
                db.executemany(
                    "DELETE FROM operations WHERE operation_id = ? AND seq = ?", forgotten
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        if not group:
            return
        self.last_seq = group[-1].seq
        if self.oldest_seq is None:
            self.oldest_seq = group[0].seq

    def _maintain(
        self,
        db: sqlite3.Connection,
        now_us: int,
        retention_us: int,
        retention_updates: int,
        expiry_us: int,
    ) -> Maintenance:
        first_young = db.execute(
            "SELECT seq FROM events WHERE received_us >= ? ORDER BY seq LIMIT 1",
            (now_us - retention_us,),
        ).fetchone()
        # Delete what is too old by either rule; seq order is arrival order.
        by_time = first_young[0] - 1 if first_young else self.last_seq
        cutoff = max(self.last_seq - retention_updates, by_time)
        expired_before = now_us - expiry_us
        db.execute("BEGIN")
        try:
            deleted = db.execute("DELETE FROM events WHERE seq <= ?", (cutoff,)).rowcount
            expired = tuple(
                (str(row[0]), int(row[1]))
                for row in db.execute(
                    "SELECT operation_id, seq FROM operations"
                    " WHERE terminal = 1 AND updated_us < ?",
                    (expired_before,),
                )
            )
            db.execute(
                "DELETE FROM operations WHERE terminal = 1 AND updated_us < ?", (expired_before,)
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.oldest_seq = db.execute("SELECT min(seq) FROM events").fetchone()[0]
        return Maintenance(deleted, expired, self.oldest_seq)

    # ------------------------------------------------------------------ reading

    def read_after(
        self,
        after: int,
        upto: int,
        limit: int,
        into: Callable[[Iterable[tuple[int, bytes]]], _T],
    ) -> _T:
        """``into(rows)``, where ``rows`` yields the committed updates with ``after < seq
        <= upto``, at most ``limit``, in seq order, as ``(seq, body)`` while they are read.

        A row at a time, not a list: a replay's chunk of a few thousand rows, each a tuple
        and a bytes object, was a burst of small objects that the allocator kept pages for
        after every catch-up. Blocking: call it from a worker thread."""
        with self._reader_lock:
            rows = self._reader_db.execute(
                "SELECT seq, body FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                (after, upto, limit),
            )
            return into(rows)

    def snapshot(self, keep: Container[str]) -> tuple[int, bytearray]:
        """The operations table as one commit left it: ``(seq, bodies)``, where ``seq`` is
        the last seq that commit covered and ``bodies`` the latest updates of the
        operations in ``keep``, in seq order, joined by commas (a snapshot frame's list).

        One read transaction, so the two agree however many commits land meanwhile (WAL
        readers see the database as it was when they began). The rows are joined into one
        buffer as they are read: a list of them all was a tuple, a str and a bytes object
        per operation at once, tens of megabytes of small objects for a large hub, whose
        pages the allocator kept afterwards. Blocking: call it from a worker thread (it
        tests membership in ``keep`` there, one atomic lookup at a time)."""
        bodies = bytearray()
        with self._reader_lock:
            db = self._reader_db
            db.execute("BEGIN")
            try:
                row = db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
                for operation_id, body in db.execute(
                    "SELECT operation_id, body FROM operations ORDER BY seq"
                ):
                    if operation_id in keep:
                        if bodies:
                            bodies += b","
                        bodies += body
            finally:
                db.execute("COMMIT")
        return (int(row[0]) if row is not None else 0), bodies

    def bodies(self, operation_ids: Sequence[str]) -> dict[str, bytes]:
        """The stored latest update of each of ``operation_ids`` that has one.
        Blocking: call it from a worker thread."""
        found: dict[str, bytes] = {}
        with self._reader_lock:
            for start in range(0, len(operation_ids), _IN_CHUNK):
                chunk = operation_ids[start : start + _IN_CHUNK]
                rows = self._reader_db.execute(
                    "SELECT operation_id, body FROM operations WHERE operation_id IN"
                    f" ({','.join('?' * len(chunk))})",
                    chunk,
                )
                found.update((str(operation_id), bytes(body)) for operation_id, body in rows)
        return found

    def find_seq(self, operation_id: str, counter: int) -> int | None:
        """The seq at which (operation_id, counter) was accepted, if still in the log."""
        with self._reader_lock:
            row = self._reader_db.execute(
                "SELECT seq FROM events WHERE operation_id = ? AND counter = ?"
                " ORDER BY seq LIMIT 1",
                (operation_id, counter),
            ).fetchone()
        return None if row is None else int(row[0])

    def size_bytes(self) -> int:
        """Bytes on disk of the database and its WAL."""
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(FileNotFoundError):
                total += Path(f"{self.path}{suffix}").stat().st_size
        return total
