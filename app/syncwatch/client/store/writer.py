"""StoreWriter: the one thread that writes the history, with group commit.

Producers (the engine on the asyncio thread) only put immutable commands on a queue,
which never blocks them. The writer thread takes whatever has queued up while it was
committing and folds consecutive update batches of the same hub log into one
transaction: at 50,000 updates a second it commits thousands of updates at a time,
when updates trickle in it commits each at once (a commit as soon as there is work,
never a timer to wait for). Order is kept: a snapshot or connection change is applied
after every update submitted before it.

Retention cleanup runs as a background job one batch (one short transaction) at a
time, with queued commands served between batches, so "clean up now" on a big history
never holds up incoming updates for long.

Nothing received is dropped for a reason that passes. A transaction that SQLite refuses
with an operational error (the file locked by another process for longer than the busy
timeout, disk full, an I/O error) is rolled back and tried again, waiting 0.05 s, then
twice as long each time up to 5 s, for as long as it takes; what was submitted after it
waits behind it, so the cursor never passes an update that is not stored. The backlog
that builds up meanwhile stops the engine reading from the hub (flow control), and the
hub keeps the rest. If the app quits while a write is still refused, that batch and
everything after it stay unwritten and the cursor stays before them: the next start
resumes from there. The first failure of a run of them is logged with its traceback and
kept in ``last_error`` for the UI, and ``error_count`` counts every attempt that failed.
Any other exception is a bug in this program: it is logged and the batch is given up.

The producer learns about progress without polling: :meth:`StoreWriter.set_on_commit`
registers a callback the writer thread calls after each write it settles, and
:attr:`StoreWriter.updates_pending` says how many submitted updates are not settled yet
(the engine stops reading from the hub while that backlog is large: see
``SyncEngine.room_for_updates``).
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Final

import peewee

from syncwatch.client.store.rows import CleanupResult, HealthSnapshotLike
from syncwatch.client.store.store import (
    DEFAULT_OPERATIONS_DAYS,
    DEFAULT_SNAPSHOTS_DAYS,
    HistoryStore,
)
from syncwatch.core.connection import ConnectionStatus, LatencyStats
from syncwatch.core.protocol import Snapshot, SyncUpdate

_log = logging.getLogger(__name__)

#: Most updates folded into one transaction: ~50-80 ms of work here, so that under a
#: backlog a commit still lands about every 100 ms (the cursor, and what a crash keeps,
#: never lag far behind) while the per-commit cost is spread over thousands of rows.
MAX_BATCH_UPDATES: Final = 5_000
#: Waits between attempts at a write SQLite refused for a reason that passes.
RETRY_FIRST_S: Final = 0.05
RETRY_MAX_S: Final = 5.0
#: What SQLite says when the reason may pass (locked, busy, full, I/O): worth retrying.
_PASSING_ERRORS: Final = (sqlite3.OperationalError, peewee.OperationalError)


@dataclass(frozen=True, slots=True)
class _Updates:
    hub_id: str
    updates: Sequence[SyncUpdate]


@dataclass(frozen=True, slots=True)
class _Snapshot:
    hub_id: str
    snapshot: Snapshot
    gap_from: int | None


@dataclass(frozen=True, slots=True)
class _Connection:
    status: ConnectionStatus
    latency: LatencyStats | None


@dataclass(frozen=True, slots=True)
class _Health:
    snapshot: HealthSnapshotLike


@dataclass(frozen=True, slots=True)
class _Cleanup:
    now: float | None
    operations_days: float
    snapshots_days: float
    future: Future[CleanupResult]


@dataclass(frozen=True, slots=True)
class _Compact:
    future: Future[None]


@dataclass(frozen=True, slots=True)
class _Flush:
    done: threading.Event


_STOP: Final = object()

_Command = _Updates | _Snapshot | _Connection | _Health | _Cleanup | _Compact | _Flush | object


class StoreWriter:
    """Owns the writer thread of a :class:`HistoryStore` (started at construction)."""

    def __init__(
        self,
        store: HistoryStore,
        *,
        on_error: Callable[[BaseException], None] | None = None,
        max_batch: int = MAX_BATCH_UPDATES,
    ) -> None:
        #: The store this thread writes; nobody else may write it meanwhile.
        self.store = store
        #: Called on the writer thread after a failed write (e.g. to show it in the UI).
        self._on_error = on_error
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Command] = queue.SimpleQueue()
        #: The newest write error, None if there was none.
        self.last_error: BaseException | None = None
        #: How many writes failed since start.
        self.error_count = 0
        #: Updates committed (new ones, not counting skipped replays) and transactions.
        self.updates_committed = 0
        self.transactions = 0
        #: Updates handed to :meth:`submit_updates` (written by the producer thread only)...
        self._updates_submitted = 0
        #: ...and those the writer settled: committed, skipped as replays, or not written
        #: (quitting while the database refused them, or a bug); written by the writer
        #: thread only, so no lock is needed.
        self._updates_settled = 0
        #: Called on the writer thread after each settled write (see set_on_commit).
        self._on_commit: Callable[[], None] | None = None
        self._closed = False
        self._close_lock = threading.Lock()
        #: Set by close(): cuts short a wait between attempts at a refused write.
        self._closing = threading.Event()
        #: A write was still refused when close() came: nothing after it is written.
        self._stranded = False
        self._job: tuple[Iterator[CleanupResult], Future[CleanupResult]] | None = None
        self._job_result = CleanupResult()
        self._thread = threading.Thread(
            target=self._run, name="syncwatch-store-writer", daemon=True
        )
        self._thread.start()

    # ------------------------------------------------------------------ producers

    def _put(self, command: _Command) -> None:
        if self._closed:
            raise RuntimeError("the store writer is closed")
        self._queue.put(command)

    def submit_updates(self, hub_id: str, updates: Sequence[SyncUpdate]) -> None:
        if updates:
            batch = _Updates(hub_id, tuple(updates))
            # Counted before it is queued, so that the backlog is never seen negative.
            self._updates_submitted += len(batch.updates)
            self._put(batch)

    def set_on_commit(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` on the writer thread after each write is settled (a
        transaction committed or failed, a cleanup batch done); None removes it.

        It runs on the writer thread: hand the news to your own thread (e.g. with
        ``loop.call_soon_threadsafe``) and return at once.
        """
        self._on_commit = callback

    @property
    def updates_pending(self) -> int:
        """Updates submitted and not yet settled by the writer thread."""
        return self._updates_submitted - self._updates_settled

    def submit_snapshot(self, hub_id: str, snapshot: Snapshot, gap_from: int | None = None) -> None:
        self._put(_Snapshot(hub_id, snapshot, gap_from))

    def submit_connection(self, status: ConnectionStatus, latency: LatencyStats | None) -> None:
        self._put(_Connection(status, latency))

    def submit_health(self, snapshot: HealthSnapshotLike) -> None:
        self._put(_Health(snapshot))

    def submit_cleanup(
        self,
        now: float | None = None,
        *,
        operations_days: float = DEFAULT_OPERATIONS_DAYS,
        snapshots_days: float = DEFAULT_SNAPSHOTS_DAYS,
    ) -> Future[CleanupResult]:
        """Queue a retention run; the future resolves to the rows deleted."""
        future: Future[CleanupResult] = Future()
        self._put(_Cleanup(now, operations_days, snapshots_days, future))
        return future

    def submit_compact(self) -> Future[None]:
        """Queue a VACUUM (after everything submitted before it)."""
        future: Future[None] = Future()
        self._put(_Compact(future))
        return future

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far is committed; False on timeout."""
        done = threading.Event()
        self._put(_Flush(done))
        return done.wait(timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Commit everything submitted, stop the thread; False if it did not stop in time."""
        with self._close_lock:
            if not self._closed:
                self._closed = True
                self._closing.set()
                self._queue.put(_STOP)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def pending(self) -> int:
        """Commands queued and not yet taken by the writer (approximate)."""
        return self._queue.qsize()

    # ------------------------------------------------------------------ writer thread

    def _run(self) -> None:
        held: _Command | None = None
        while True:
            if held is not None:
                command, held = held, None
            elif self._job is not None:
                try:
                    command = self._queue.get_nowait()
                except queue.Empty:
                    self._advance_job()
                    continue
            else:
                command = self._queue.get()
            if command is _STOP:
                self._finish_job()
                return
            if isinstance(command, _Updates):
                held = self._write_updates(command)
            else:
                self._execute(command)
                self._committed()

    def _write_updates(self, first: _Updates) -> _Command | None:
        """Commit ``first`` with the update batches queued right behind it; returns the
        first command that could not join the transaction."""
        updates = list(first.updates)
        held: _Command | None = None
        while len(updates) < self._max_batch:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(nxt, _Updates) and nxt.hub_id == first.hub_id:
                updates.extend(nxt.updates)
            else:
                held = nxt
                break
        self._write_until_done(lambda: self._apply(first.hub_id, updates))
        self._updates_settled += len(updates)
        self._committed()
        return held

    def _apply(self, hub_id: str, updates: list[SyncUpdate]) -> None:
        self.updates_committed += self.store.apply_updates(hub_id, updates)
        self.transactions += 1

    def _execute(self, command: _Command) -> None:
        store = self.store
        if isinstance(command, _Snapshot):
            self._write_until_done(
                lambda: store.apply_snapshot(command.hub_id, command.snapshot, command.gap_from)
            )
        elif isinstance(command, _Connection):
            self._guard(lambda: store.record_connection(command.status, command.latency))
        elif isinstance(command, _Health):
            self._guard(lambda: store.record_health_snapshot(command.snapshot))
        elif isinstance(command, _Cleanup):
            self._finish_job()
            steps = store.cleanup_steps(
                command.now,
                operations_days=command.operations_days,
                snapshots_days=command.snapshots_days,
            )
            self._job, self._job_result = (steps, command.future), CleanupResult()
        elif isinstance(command, _Compact):
            self._finish_job()
            try:
                store.compact()
            except Exception as exc:  # surfaced through the future and last_error
                self._failed(exc)
                command.future.set_exception(exc)
            else:
                command.future.set_result(None)
        elif isinstance(command, _Flush):
            self._finish_job()
            command.done.set()

    def _advance_job(self) -> bool:
        """Run one cleanup batch; True when the job is over."""
        assert self._job is not None
        steps, future = self._job
        try:
            self._job_result = next(steps)
        except StopIteration:
            self._job = None
            future.set_result(self._job_result)
            self._committed()
            return True
        except Exception as exc:  # surfaced through the future and last_error
            self._job = None
            self._failed(exc)
            future.set_exception(exc)
            return True
        return False

    def _committed(self) -> None:
        callback = self._on_commit
        if callback is not None:
            try:
                callback()
            except Exception:
                _log.exception("the store writer's commit callback failed")

    def _finish_job(self) -> None:
        while self._job is not None:
            self._advance_job()

    def _write_until_done(self, write: Callable[[], object]) -> None:
        """Run a write that moves the cursor (updates, a snapshot) until it commits; see
        the module docstring for why, and for what happens when the app quits first."""
        delay = RETRY_FIRST_S
        attempts = 0
        while not self._stranded:
            try:
                write()
            except _PASSING_ERRORS as exc:
                attempts += 1
                if attempts == 1:
                    self._failed(exc, retrying=True)
                else:
                    self.last_error = exc
                    self.error_count += 1
                if self._closing.is_set():
                    self._stranded = True
                    _log.error(
                        "quitting while the history cannot be written (%s): what was not "
                        "written is fetched from the hub again at the next start",
                        exc,
                    )
                    return
                self._closing.wait(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            except Exception as exc:  # a bug: logged and surfaced, the writer goes on
                self._failed(exc)
                return
            if attempts:
                _log.warning("history written again after %d refused attempts", attempts)
            return

    def _guard(self, write: Callable[[], object]) -> None:
        try:
            write()
        except Exception as exc:  # logged and surfaced: the writer goes on
            self._failed(exc)

    def _failed(self, exc: BaseException, *, retrying: bool = False) -> None:
        _log.error(
            "history write failed%s: %s", ", trying again" if retrying else "", exc, exc_info=exc
        )
        self.last_error = exc
        self.error_count += 1
        if self._on_error is not None:
            try:
                self._on_error(exc)
            except Exception:
                _log.exception("the store writer's error callback failed")
