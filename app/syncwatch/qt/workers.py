"""Run blocking work (history queries, exports) off the GUI thread, results back on it.

The history reader queries SQLite; a query over a million rows must never freeze the
tray or the dashboard. :func:`run_in_thread` hands a callable to Qt's global thread pool
and delivers its outcome (a value or the exception it raised) to a callback on the
thread that owns the returned :class:`WorkDone` (the GUI thread): the signal crosses
threads as a queued connection, so the callback never runs on the worker.

Keep the returned object until its callback has run (Qt deletes nothing for you here;
Python's garbage collector would).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    """What a background job produced: ``value``, or ``error`` if it raised."""

    value: T | None = None
    error: BaseException | None = None


class WorkDone(QObject):
    """Carries one job's Outcome from the worker to the GUI thread.

    Signals:
        finished(object): the job's Outcome.
    """

    finished = Signal(object)


class _Job(QRunnable):
    def __init__(self, work: Callable[[], Any], done: WorkDone) -> None:
        super().__init__()
        self._work = work
        self._done = done

    def run(self) -> None:
        try:
            outcome: Outcome[Any] = Outcome(value=self._work())
        except Exception as exc:  # delivered to the caller, who reports it
            outcome = Outcome(error=exc)
        self._done.finished.emit(outcome)


def run_in_thread(
    work: Callable[[], T],
    on_done: Callable[[Outcome[T]], None],
    pool: QThreadPool | None = None,
) -> WorkDone:
    """Run ``work()`` on ``pool`` (Qt's global pool) and ``on_done(outcome)`` on this thread."""
    done = WorkDone()
    done.finished.connect(on_done)
    job = _Job(work, done)
    job.setAutoDelete(True)
    (pool or QThreadPool.globalInstance()).start(job)
    return done


class SerializedCalls:
    """Forwards method calls to ``target`` one at a time, under a lock.

    The history reader holds one SQLite connection that must not be used by two threads
    at once, while pages, counts, plots and exports run on the thread pool concurrently:
    wrapping the reader makes them take turns instead of corrupting a cursor. Methods
    that return iterators must be consumed inside the call (``export`` does).
    """

    def __init__(self, target: object) -> None:
        self._target = target
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return call
