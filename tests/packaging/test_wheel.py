"""`pip install .` gives a working `syncwatch` whose icons come from inside the wheel.

The wheel is built from this checkout and installed (without dependencies: only the
stdlib-only parts run) into a fresh venv in a temporary folder, far from the source tree,
so that a resource found there can only have come from the installed copy.
"""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

#: Builds a wheel with pip (build isolation fetches hatchling): ~15 s.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
ICONS = REPO / "resources" / "icons"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(REPO)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    (built,) = out.glob("syncwatch-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding only the syncwatch wheel; returns its bin/ folder."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=False)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(env_dir / "bin" / "python"),
         "install", "-q", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return env_dir / "bin"


def test_wheel_carries_every_icon_byte_for_byte(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for svg in sorted(ICONS.glob("*.svg")):
            member = f"syncwatch/resources/icons/{svg.name}"
            assert member in names
            assert archive.read(member) == svg.read_bytes()
        assert "syncwatch/resources/icons/syncwatch.svg" in names
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "syncwatch = syncwatch.cli:main" in archive.read(entry_points).decode()


def test_installed_command_runs(installed: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(installed / "syncwatch"), "--version"],
        capture_output=True, text=True, check=False, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"syncwatch {version('syncwatch')}"


def test_installed_copy_finds_its_own_resources(installed: Path, tmp_path: Path) -> None:
    probe = (
        "import syncwatch.resources as r; "
        "print(r.__file__); print(r.icon_dir()); print(r.app_icon_path())"
    )
    result = subprocess.run(
        [str(installed / "python"), "-c", probe],
        capture_output=True, text=True, check=False, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    module, icon_dir, app_icon = (Path(line) for line in result.stdout.splitlines())
    site_packages = module.parent.parent
    env_root = installed.parent.resolve()
    assert site_packages.is_relative_to(env_root), f"{module} is not the installed copy"
    assert icon_dir == site_packages / "syncwatch" / "resources" / "icons"
    assert app_icon.read_bytes() == (ICONS / "syncwatch.svg").read_bytes()
