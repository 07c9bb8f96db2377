"""Smoke test of the one-folder desktop build that `make package` makes.

Runs only when SYNCWATCH_BUNDLE names the built folder (``dist/syncwatch``) or its
executable, e.g. ``SYNCWATCH_BUNDLE=dist/syncwatch pytest tests/packaging/test_bundle.py``:
building takes minutes, so the suite does not build it itself. Every run happens in a
stripped environment (no PYTHONPATH, no venv on PATH, a temporary HOME), so that the
bundle can only pass with what it carries inside.
"""

from __future__ import annotations

import os
import subprocess
from importlib.metadata import version
from pathlib import Path

import pytest

_BUNDLE = os.environ.get("SYNCWATCH_BUNDLE", "")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not _BUNDLE, reason="set SYNCWATCH_BUNDLE to a built bundle (make package)"),
]


@pytest.fixture(scope="module")
def program() -> Path:
    path = Path(_BUNDLE).resolve()
    executable = path / "syncwatch" if path.is_dir() else path
    if not (executable.is_file() and os.access(executable, os.X_OK)):
        pytest.fail(f"SYNCWATCH_BUNDLE={_BUNDLE}: no executable `syncwatch` there")
    return executable


def run(
    program: Path, *args: str, home: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "QT_QPA_PLATFORM": "offscreen",
        "LANG": "C.UTF-8",
    }
    return subprocess.run(
        [str(program), *args],
        capture_output=True, text=True, check=False, timeout=timeout, env=env, cwd=home,
    )  # fmt: skip


def test_version_matches_the_checkout(program: Path, tmp_path: Path) -> None:
    result = run(program, "--version", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"syncwatch {version('syncwatch')}"


@pytest.mark.parametrize("command", ["hub", "publish", "demo"])
def test_subcommands_loaded_by_name_were_bundled(
    program: Path, tmp_path: Path, command: str
) -> None:
    """cli.py imports sub-commands with importlib, which a freezer cannot see by itself."""
    result = run(program, command, "--help", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"syncwatch {command}" in result.stdout


def test_icons_travel_inside_the_bundle(program: Path) -> None:
    icons = list(program.parent.glob("**/syncwatch/resources/icons/syncwatch.svg"))
    assert icons, f"no syncwatch/resources/icons in {program.parent}"


@pytest.mark.parametrize(
    "module", ["QtCore", "QtGui", "QtWidgets", "QtSvg", "QtNetwork", "QtOpenGL", "QtOpenGLWidgets"]
)
def test_qt_modules_loaded_by_name_were_bundled(program: Path, module: str) -> None:
    """pyqtgraph imports QtOpenGL* with importlib when the first plot is built; a bundle
    without them starts fine and fails only when the user opens the live metrics."""
    assert list(program.parent.glob(f"**/PySide6/{module}.*so")), f"PySide6.{module} missing"


def test_self_check_passes_headless(program: Path, tmp_path: Path) -> None:
    """Starts the engine against an embedded hub on loopback and exits 0 (see cli.py)."""
    result = run(
        program, "--self-check", "--data-dir", str(tmp_path / "data"), home=tmp_path, timeout=120
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr
