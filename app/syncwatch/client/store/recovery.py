"""Opening the history file so that a damaged one never stops the app from starting.

A file that is not a database, fails SQLite's quick_check, is "malformed", or was
written by a newer Syncwatch is renamed to ``history.db.corrupt-YYYYmmdd-HHMMSS`` (its
``-wal`` and ``-shm`` companions alongside) and a fresh database takes its place. The
old file is kept, not deleted: the user (or a support request) may still want it.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import peewee

from syncwatch.client.store.schema import PRAGMAS, SchemaTooNewError, execute, migrate

_log = logging.getLogger(__name__)

_SQLITE_HEADER: Final = b"SQLite format 3\x00"
_COMPANIONS: Final = ("-wal", "-shm")


@dataclass(frozen=True, slots=True)
class Opened:
    """A usable database, and what had to be set aside to get it."""

    db: peewee.SqliteDatabase
    #: The version the file had before migrating (0 for a new file).
    found_version: int
    recovered_from: Path | None = None
    #: A sentence for the UI when a file was set aside, else None.
    message: str | None = None


def connect(path: Path) -> peewee.SqliteDatabase:
    """A Peewee database on ``path`` with the store's pragmas.

    One connection, whichever thread uses it (the store is handed from the thread that
    opens it to its writer thread); callers make sure one thread uses it at a time."""
    db = peewee.SqliteDatabase(
        str(path), pragmas=list(PRAGMAS), thread_safe=False, check_same_thread=False
    )
    db.connect(reuse_if_open=True)
    return db


def open_or_recover(path: Path, now: float) -> Opened:
    """Open (creating and migrating as needed) the database at ``path``; set a damaged
    file aside and start fresh rather than fail."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        db, found = _open_checked(path, now)
        return Opened(db, found)
    except (sqlite3.DatabaseError, peewee.DatabaseError, SchemaTooNewError, OSError) as exc:
        problem = _describe(exc)
    moved = set_aside(path, now)
    _log.error("history database %s unusable (%s); moved to %s", path, problem, moved)
    db, found = _open_checked(path, now)
    message = (
        f"The history database could not be read ({problem}). It was moved to "
        f"{moved.name} and a new, empty history was started."
    )
    return Opened(db, found, moved, message)


def _open_checked(path: Path, now: float) -> tuple[peewee.SqliteDatabase, int]:
    if path.exists() and path.stat().st_size > 0:
        with path.open("rb") as f:
            if f.read(len(_SQLITE_HEADER)) != _SQLITE_HEADER:
                raise sqlite3.DatabaseError("file is not a database")
    db = connect(path)
    try:
        row = execute(db, "PRAGMA quick_check").fetchone()
        if row is None or row[0] != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {row[0] if row else '?'}")
        found = migrate(db, now)
    except BaseException:
        db.close()
        raise
    return db, found


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]


def set_aside(path: Path, now: float) -> Path:
    """Rename ``path`` (and its WAL files) to a timestamped ``.corrupt-...`` name."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    if path.exists():
        path.rename(target)
    else:
        target.touch()
    for suffix in _COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.rename(target.with_name(target.name + suffix))
    return target
