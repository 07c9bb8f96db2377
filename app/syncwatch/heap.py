"""Memory policy for long-running processes (the app and the hub): leave the start-up heap
out of every full collection, and give memory freed after a burst back to the system.

Measured on the project machine (CPython 3.12, ``benchmarks/bench_heap.py``): a full
collection costs 0.7 ms in a bare interpreter, 4.5 ms with PySide6 and a QApplication,
27 ms once the app's modules are imported and 74 ms with pyqtgraph (85,000 objects). CPython
runs one whenever the objects promoted since the last one exceed a quarter of the old
generation, which while updates stream in is every few seconds, with the GIL held, on
whichever thread allocated: the GUI loop froze for 60-260 ms at a time.

Everything alive once start-up is over (modules, classes, functions, the faces' Qt
wrappers) lives as long as the process, so scanning it again and again finds nothing.
:func:`freeze_long_lived` moves it to the permanent generation that collections skip
(``gc.freeze``, the approach CPython documents for this). Frozen objects are never
collected, so it collects first and freezes only what survived; call it again after a
large lazy import (pyqtgraph, when the plots are first shown).

Memory freed after a burst does not leave the process by itself. glibc keeps freed
chunks in its arenas (one per thread that allocated: the hub's log writer, the history
writer), and returns memory to the system only from the top of a heap. After a flood of
79,800 updates an in-process hub measured 202 MiB of RSS, and 55 MiB after
``malloc_trim(0)``, with the same live objects (``benchmarks/bench_heap.py``).
:func:`release_free_memory` makes that call (on glibc only; a
no-op elsewhere). The hub calls it after each maintenance pass and the engine after its
housekeeping, at most once a minute; both run only then, never on a busy path. This is
the remedy Dask documents for the same glibc behaviour in its workers.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import time
from collections.abc import Callable
from typing import Final

log = logging.getLogger(__name__)


def freeze_long_lived(reason: str) -> int:
    """Collect, then exempt every surviving object from future collections; returns how
    many objects are frozen in all."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug(
        "heap frozen after %s: %d objects, %.0f ms",
        reason,
        frozen,
        (time.perf_counter() - started) * 1000,
    )
    return frozen


def _find_malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


#: Looked up once; None where there is no such call.
_MALLOC_TRIM: Final = _find_malloc_trim()


def release_free_memory() -> bool:
    """Return the C allocator's free memory to the system (glibc's ``malloc_trim(0)``);
    False where the platform has no such call or nothing could be returned. It holds the
    allocator for ~20 ms right after an 80,000-update burst (less when there is little to
    return): call it from periodic housekeeping, never per update.
    """
    if _MALLOC_TRIM is None:
        return False
    return bool(_MALLOC_TRIM(0))
