"""syncwatch.heap: what start-up left alive is frozen out of later full collections."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from syncwatch.heap import freeze_long_lived


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
