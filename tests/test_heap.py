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
