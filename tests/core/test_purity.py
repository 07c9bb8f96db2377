"""The core stays pure: importing all of syncwatch.core pulls in no Qt, asyncio or I/O.

Checked in a fresh interpreter, since other tests in the same process may have imported
those modules already.
"""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("PySide6", "asyncio", "websockets", "peewee", "sqlite3", "socket")

PROBE = f"""
import importlib, pkgutil, sys
import syncwatch.core as core
names = [m.name for m in pkgutil.walk_packages(core.__path__, "syncwatch.core.")]
for name in names:
    importlib.import_module(name)
print(len(names))
loaded = sorted(m for m in {FORBIDDEN!r} if m in sys.modules)
print(",".join(loaded))
"""


def test_importing_every_core_module_loads_no_forbidden_module() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    count, loaded = result.stdout.splitlines()
    assert int(count) >= 5  # protocol, connection, operations, health, metrics, ...
    assert loaded == "", f"syncwatch.core imported {loaded}"
