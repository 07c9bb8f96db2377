"""The garbage collector's policy for a long-running GUI process: leave the start-up heap
out of every full collection.

Measured on the project machine (CPython 3.12, docs/benchmarks.md): a full collection
costs 14 ms right after importing PySide6, 34 ms once the app is imported and 74 ms with
pyqtgraph loaded (~72,000 objects; shiboken's types are slow to traverse). CPython runs
one whenever the objects promoted since the last one exceed a quarter of the old
generation, which while updates stream in is every few seconds, with the GIL held, on
whichever thread allocated: the GUI loop froze for 60-260 ms at a time.

Everything alive once start-up is over (modules, classes, functions, the faces' Qt
wrappers) lives as long as the process, so scanning it again and again finds nothing.
:func:`freeze_long_lived` moves it to the permanent generation that collections skip
(``gc.freeze``, the approach CPython documents for this). Frozen objects are never
collected, so it collects first and freezes only what survived; call it again after a
large lazy import (pyqtgraph, when the plots are first shown).
"""

from __future__ import annotations

import gc
import logging
import time

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
