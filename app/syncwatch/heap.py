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
no-op elsewhere). The hub calls it every 10 seconds and the engine after its
housekeeping, at most once a minute; neither on a busy path. This is
the remedy Dask documents for the same glibc behaviour in its workers.

glibc also serves a large allocation (128 KiB and up, at first) with a mapping of its
own, returned to the system the moment it is freed; but each time such a block is freed
it raises that threshold to the block's size, up to 32 MiB. After the first catch-up
(half-megabyte writes) or snapshot (megabytes), buffers that size come from the heaps
instead, and their pages stay until a trim. :func:`keep_large_blocks_mapped` fixes the
threshold at 128 KiB (setting it turns the adjustment off, mallopt(3)): the app and the
hub call it at start-up. In the chaos run the hub's RSS then rose less at each viewer's
catch-up (docs/reliability.md).

What remains after a burst is mostly not live data. :func:`memory_use` tells them apart
(the hub's ``/metrics`` shows it). After the chaos run's hostile flood and stalled viewer
the hub's RSS once ended 13-16 MiB above its warm-up figure, on pymalloc and on the C
allocator (``PYTHONMALLOC=malloc``) alike, while on the C allocator, where glibc's heap
holds every object, the live heap was back within 0.6 MiB (20.1 -> 20.7 MiB): the rest
is pages that hold a few surviving objects among freed ones, which no trim can return
(``benchmarks/bench_heap.py`` part 3, docs/reliability.md). So the remedy is a smaller
peak, not another allocator: with the hub's bursts made smaller (session 5) the same run
ends 4-5 MiB above warm-up, and the C allocator, tried again, left more than pymalloc.
The hub keeps CPython's default allocator.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
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


#: mallopt(3)'s parameter for the size from which allocations get a mapping of their own.
_M_MMAP_THRESHOLD: Final = -3
#: glibc's initial threshold, kept fixed by keep_large_blocks_mapped.
LARGE_BLOCK_BYTES: Final = 128 * 1024


def keep_large_blocks_mapped() -> bool:
    """Have glibc serve every allocation of :data:`LARGE_BLOCK_BYTES` or more with a
    mapping of its own, whatever was freed before (see the module docstring); False where
    the C library has no such setting."""
    if _MALLOPT is None:
        return False
    return bool(_MALLOPT(_M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES))


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


def _find_mallopt() -> Callable[[int, int], int] | None:
    """glibc's ``mallopt``, or None where the C library has none."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt


_MALLOPT: Final = _find_mallopt()


class _MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (2.33 and later)."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in [
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        ]
    ]


def _find_symbol(library: str, name: str, restype: type) -> Callable[[], object] | None:
    path = ctypes.util.find_library(library)
    if path is None:
        return None
    try:
        function = getattr(ctypes.CDLL(path), name)
    except (OSError, AttributeError):
        return None
    function.argtypes = []
    function.restype = restype
    return function  # type: ignore[no-any-return]


#: glibc's heap statistics and SQLite's own allocation counter, where they exist (the
#: sqlite3 module links the system libsqlite3, so this is the copy it uses).
_MALLINFO2: Final = _find_symbol("c", "mallinfo2", _MallInfo2)
_SQLITE_MEMORY_USED: Final = _find_symbol("sqlite3", "sqlite3_memory_used", ctypes.c_int64)


@dataclass(frozen=True, slots=True)
class MemoryUse:
    """Where this process's memory is, in bytes (None: not measurable here). Live data
    and fragmentation look the same in the RSS; these tell them apart."""

    #: Resident set size.
    rss: int | None
    #: glibc's main heap: bytes in allocated chunks, and bytes free but kept by glibc.
    heap_in_use: int | None
    heap_free: int | None
    #: Bytes SQLite has allocated (page caches, statements, schema).
    sqlite: int | None


def memory_use() -> MemoryUse:
    """This process's :class:`MemoryUse` now (a few microseconds: /proc and two calls)."""
    rss = None
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    info = _MALLINFO2() if _MALLINFO2 is not None else None
    sqlite = _SQLITE_MEMORY_USED() if _SQLITE_MEMORY_USED is not None else None
    return MemoryUse(
        rss=rss,
        heap_in_use=info.uordblks if isinstance(info, _MallInfo2) else None,
        heap_free=info.fordblks if isinstance(info, _MallInfo2) else None,
        sqlite=sqlite if isinstance(sqlite, int) else None,
    )


def release_free_memory() -> bool:
    """Return the C allocator's free memory to the system (glibc's ``malloc_trim(0)``);
    False where the platform has no such call or nothing could be returned. It holds the
    allocator for ~20 ms right after an 80,000-update burst (less when there is little to
    return): call it from periodic housekeeping, never per update.
    """
    if _MALLOC_TRIM is None:
        return False
    return bool(_MALLOC_TRIM(0))
