"""Guard against the PySide6 6.12 / CPython 3.11 refcount bug (docs/architecture.md).

PySide6 6.12.0 on Python 3.11 drops a reference to ``None`` on every void-returning call
and one to ``True`` on every signal emit; a few thousand calls later the interpreter
aborts with ``Fatal Python error: none_dealloc`` (exit 134), often after every test has
passed. Small demos survive, so only a long run shows it: this test makes 20,000 emits and
20,000 void calls in a child process (an abort must not take pytest with it) and asserts
that the child exits 0. It fails on a broken combination and passes on a good one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

CALLS = 20_000

_CHILD = textwrap.dedent(
    f"""
    import gc
    from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal

    class Emitter(QObject):
        fired = Signal(object)
        flag = Signal(bool)

    app = QCoreApplication([])
    emitter = Emitter()
    received = []
    emitter.fired.connect(received.append)
    emitter.flag.connect(lambda value: None)
    timer = QTimer()
    for i in range({CALLS}):
        emitter.fired.emit(None)
        emitter.flag.emit(True)
        emitter.setObjectName("emitter")
        timer.start(1000)
        timer.stop()
        emitter.blockSignals(False)
    gc.collect()
    assert len(received) == {CALLS}, len(received)
    print("ok", len(received))
    """
)


def test_many_signal_emits_and_void_calls_do_not_abort_the_interpreter() -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-X", "dev", "-c", _CHILD],
        capture_output=True,
        text=True,
        timeout=100,
        env=env,
        check=False,
    )
    assert result.returncode == 0, (
        f"child exited {result.returncode} (-6 or 134: the PySide6/Python refcount abort):\n"
        f"{result.stderr[-2000:]}"
    )
    assert result.stdout.strip() == f"ok {CALLS}"
