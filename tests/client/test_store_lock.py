"""Single-instance lock: a second app instance never writes the same history."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from syncwatch.client.store import acquire_instance_lock, lock_holder_pid

_TRY_LOCK = """
import sys
from pathlib import Path
from syncwatch.client.store import acquire_instance_lock
lock = acquire_instance_lock(Path(sys.argv[1]))
print("got" if lock is not None else "busy", flush=True)
"""


def _other_process_tries(data_dir: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-c", _TRY_LOCK, str(data_dir)],
        capture_output=True,
        check=True,
        timeout=60,
        text=True,
    )
    return out.stdout.strip()


def test_a_second_instance_is_refused_while_the_first_holds_the_lock(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    lock = acquire_instance_lock(data_dir)
    assert lock is not None
    try:
        assert lock_holder_pid(data_dir) == os.getpid()
        assert _other_process_tries(data_dir) == "busy"
        assert acquire_instance_lock(data_dir) is None  # even from the same process
    finally:
        lock.release()
    assert not lock.held
    assert _other_process_tries(data_dir) == "got"


def test_a_crashed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # The child takes the lock and exits without releasing it (as a kill -9 would).
    assert _other_process_tries(data_dir) == "got"
    lock = acquire_instance_lock(data_dir)
    assert lock is not None
    with lock:
        assert lock.held
    assert not lock.held
