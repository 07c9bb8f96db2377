"""One Syncwatch per user: an advisory lock on a file in the data directory.

Two instances writing one history would interleave their cursors and duplicate rows;
the second launch must instead hand over to the first (raise its window). The lock is
``fcntl.flock`` on an open file: the kernel drops it when the process dies, even by
kill -9, so a crash never leaves a stale lock that blocks the next start.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType
from typing import Final, TextIO

LOCK_NAME: Final = "syncwatch.lock"


class InstanceLock:
    """The held lock; release it (or let the process end) to let another instance run."""

    def __init__(self, path: Path, handle: TextIO) -> None:
        #: The lock file.
        self.path = path
        self._handle: TextIO | None = handle

    @property
    def held(self) -> bool:
        return self._handle is not None

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> InstanceLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def acquire_instance_lock(data_dir: Path) -> InstanceLock | None:
    """Take the lock for ``data_dir``; None if another live process holds it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_NAME
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    except BaseException:
        handle.close()
        raise
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return InstanceLock(path, handle)


def lock_holder_pid(data_dir: Path) -> int | None:
    """The pid written by the instance holding the lock (for "already running" messages)."""
    try:
        text = (data_dir / LOCK_NAME).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None
