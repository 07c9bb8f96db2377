"""The files a Linux distribution installs: AppStream metainfo and the hicolor icon tree."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from importlib.metadata import version
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from syncwatch.desktop import DESKTOP_FILE
from syncwatch.resources import APP_ID, app_icon_path

REPO = Path(__file__).resolve().parents[2]
LINUX = REPO / "packaging" / "linux"
METAINFO = LINUX / f"{APP_ID}.metainfo.xml"
SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)


def test_metainfo_passes_appstream_validation() -> None:
    tool = shutil.which("appstreamcli")
    if tool is None:
        pytest.skip("appstreamcli is not installed (Debian: appstream)")
    result = subprocess.run(
        [tool, "validate", "--no-net", str(METAINFO)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "E:" not in result.stdout, result.stdout
    assert "W:" not in result.stdout, result.stdout


def test_metainfo_names_the_desktop_file_and_this_release() -> None:
    root = ET.parse(METAINFO).getroot()
    assert root.findtext("id") == APP_ID
    launchable = root.find("launchable")
    assert launchable is not None
    assert launchable.text == DESKTOP_FILE
    assert (LINUX / DESKTOP_FILE).is_file()
    assert root.findtext("provides/binary") == "syncwatch"
    releases = [r.get("version") for r in root.iterfind("releases/release")]
    assert releases[0] == version("syncwatch"), "add a <release> for the version being shipped"


def test_icon_tree_is_rendered_in_every_hicolor_size(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "packaging" / "render_icons.py"),
            str(app_icon_path()),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    hicolor = tmp_path / "hicolor"
    for size in SIZES:
        image = QImage(str(hicolor / f"{size}x{size}" / "apps" / f"{APP_ID}.png"))
        assert (image.width(), image.height()) == (size, size)
        assert image.hasAlphaChannel()
        assert image.pixelColor(0, 0).alpha() == 0, "corners outside the disc stay transparent"
        edge = image.pixelColor(size // 2, max(1, size // 10))  # on the disc, above the arrows
        assert edge.alpha() == 255, f"{size}px: the disc is not opaque"
        assert edge.blue() > edge.red(), f"{size}px: the disc is not blue"
    scalable = hicolor / "scalable" / "apps" / f"{APP_ID}.svg"
    assert scalable.read_bytes() == app_icon_path().read_bytes()


def test_render_refuses_a_broken_svg(tmp_path: Path) -> None:
    broken = tmp_path / "broken.svg"
    broken.write_text("<svg", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(REPO / "packaging" / "render_icons.py"), str(broken), str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode != 0
    assert "not a valid SVG" in result.stderr
