"""Ground rules of the project itself: the layering holds, and the Python/Qt pairing is safe."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_layers_hold() -> None:
    """core <- hub, client <- qt <- ui <- main: import-linter's contracts in pyproject.toml."""
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


def test_python_and_pyside6_are_a_safe_pair() -> None:
    """PySide6 6.12 on CPython 3.11 aborts the process after a few thousand Qt calls."""
    import PySide6

    qt = tuple(int(part) for part in PySide6.__version__.split(".")[:2])
    assert sys.version_info >= (3, 12) or qt < (6, 12), (sys.version, PySide6.__version__)


def test_find_python_picks_a_runnable_interpreter() -> None:
    found = subprocess.run(
        [str(ROOT / "packaging" / "find-python")], capture_output=True, text=True, check=True
    ).stdout.strip()
    version = subprocess.run(
        [found, "-c", "import sys; print(sys.version_info[:2] >= (3, 11))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version == "True"
