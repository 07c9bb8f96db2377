"""syncwatch.heap: what start-up left alive is frozen out of later full collections."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref
from collections.abc import Iterator

import pytest

from syncwatch.heap import _MALLINFO2, freeze_long_lived


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


class _Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.mark.usefixtures("unfrozen")
def test_survivors_are_frozen_and_garbage_is_collected_first() -> None:
    garbage = _Cycle()
    freed = weakref.ref(garbage)
    del garbage  # unreachable, but only a collection can free a cycle
    kept = _Cycle()
    frozen = freeze_long_lived("test")
    assert frozen == gc.get_freeze_count() > 0
    assert freed() is None, "garbage was frozen instead of collected"
    # Frozen objects are no longer visible to (nor scanned by) collections.
    assert all(o is not kept for o in gc.get_objects())
    # What is made later is collected as usual.
    later = _Cycle()
    assert any(o is later for o in gc.get_objects())


def test_freed_memory_goes_back_to_the_system() -> None:
    """After a burst is freed, RSS falls back (glibc: malloc_trim; elsewhere a no-op)."""
    from syncwatch.heap import _MALLOC_TRIM, release_free_memory

    def rss_kib() -> int:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    if _MALLOC_TRIM is None:
        assert release_free_memory() is False
        return
    before = rss_kib()
    # Many small C allocations (bytes objects just above pymalloc's 512-byte limit)...
    burst = [bytes(600) for _ in range(100_000)]
    keep = burst[::100]  # ...some of which stay alive, pinning the heap's top
    del burst
    release_free_memory()
    after = rss_kib()
    assert keep
    assert after - before < 20_000, f"{after - before} KiB still held after the trim"


_AFTER_A_LARGE_FREE = """
import ctypes, sys
from syncwatch.heap import _MALLINFO2, keep_large_blocks_mapped
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "fixed":
    keep_large_blocks_mapped()
libc.free(libc.malloc(4 << 20))  # a snapshot's buffer, mapped, then freed
before = _MALLINFO2().hblks
block = libc.malloc(512 << 10)  # a catch-up's write
print(_MALLINFO2().hblks - before)
libc.free(block)
"""


@pytest.mark.skipif(_MALLINFO2 is None, reason="not glibc")
@pytest.mark.parametrize(("policy", "mapped"), [("default", 0), ("fixed", 1)])
def test_large_blocks_stay_mapped_after_a_larger_one_was_freed(policy: str, mapped: int) -> None:
    """glibc's default raises its mapping threshold to every mapped block freed, so the
    half-megabyte block lands in the heap ("default", 0 new mappings); with the threshold
    fixed it gets a mapping of its own, handed back when freed."""
    out = subprocess.run(
        [sys.executable, "-c", _AFTER_A_LARGE_FREE, policy],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONMALLOC": "pymalloc"},
    ).stdout
    assert int(out) == mapped
