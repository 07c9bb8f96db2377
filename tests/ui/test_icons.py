"""The tray icons: one distinct look per state, badges, overlay, themes, HiDPI, caching."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from pytestqt.qtbot import QtBot

from syncwatch.ui.icons import IconFactory, IconTheme, recolour
from syncwatch.ui.presenter import FaceState


def _image(p: QPixmap) -> QImage:
    return p.toImage().convertToFormat(QImage.Format.Format_ARGB32)


def test_every_state_has_its_own_look(qtbot: QtBot) -> None:
    factory = IconFactory()
    images = [_image(factory.pixmap(s, size=32)) for s in FaceState]
    for i, a in enumerate(images):
        for b in images[i + 1 :]:
            assert a != b


def test_colour_icons_carry_the_state_colour(qtbot: QtBot) -> None:
    factory = IconFactory()
    centre_left = (6, 32)  # inside the disc/shape, away from the glyph
    warn = _image(factory.pixmap(FaceState.WARNING, size=64)).pixelColor(32, 54)
    crit = _image(factory.pixmap(FaceState.CRITICAL, size=64)).pixelColor(*centre_left)
    ok = _image(factory.pixmap(FaceState.IDLE, size=64)).pixelColor(*centre_left)
    assert warn.red() > 200
    assert warn.blue() < 60
    assert crit.red() > 180
    assert crit.green() < 80
    assert ok.green() > ok.red()
    assert ok.green() > ok.blue()


def test_badge_and_paused_overlay_change_the_pixels(qtbot: QtBot) -> None:
    factory = IconFactory()
    plain = _image(factory.pixmap(FaceState.SYNCING, size=32))
    badged = _image(factory.pixmap(FaceState.SYNCING, badge=3, size=32))
    paused = _image(factory.pixmap(FaceState.SYNCING, paused=True, size=32))
    assert plain != badged
    assert plain != paused
    assert badged.pixelColor(28, 3).red() > 150  # the red badge, top right


def test_hidpi_renders_at_device_pixels_and_caches(qtbot: QtBot) -> None:
    factory = IconFactory()
    pix = factory.pixmap(FaceState.IDLE, size=22, dpr=2.0)
    assert (pix.width(), pix.height()) == (44, 44)
    assert pix.devicePixelRatio() == 2.0
    assert factory.pixmap(FaceState.IDLE, size=22, dpr=2.0) is pix
    assert factory.cached_count == 1
    many = factory.pixmap(FaceState.SYNCING, badge=1432, size=22)
    assert factory.pixmap(FaceState.SYNCING, badge=250, size=22) is many  # both "99+"


def test_monochrome_themes_use_only_two_tones() -> None:
    svg = '<path fill="#c62828"/><path stroke="#ffffff"/>'
    assert recolour(svg, IconTheme.MONO_LIGHT) == '<path fill="#2b2b2b"/><path stroke="#f2f2f2"/>'
    assert recolour(svg, IconTheme.COLOUR) == svg


def test_bad_sizes_are_refused(qtbot: QtBot) -> None:
    with pytest.raises(ValueError, match="positive"):
        IconFactory().pixmap(FaceState.IDLE, size=0)


def test_icon_sheet_screenshot(qtbot: QtBot, artifacts_dir: Path) -> None:
    """A sheet of every look in every theme on a light and a dark panel, for a person."""
    factory = IconFactory()
    looks = [(s, 0, False) for s in FaceState] + [
        (FaceState.SYNCING, 7, False),
        (FaceState.SYNCING, 250, False),
        (FaceState.WARNING, 12, True),
    ]
    cell, size, dpr = 56, 44, 1.0
    sheet = QPixmap(cell * len(looks), cell * 4)
    sheet.fill(QColor("#ffffff"))
    painter = QPainter(sheet)
    rows = [
        (IconTheme.COLOUR, "#f0f0f0"),
        (IconTheme.COLOUR, "#202020"),
        (IconTheme.MONO_LIGHT, "#e8e8e8"),
        (IconTheme.MONO_DARK, "#2a2a2a"),
    ]
    for r, (theme, bg) in enumerate(rows):
        painter.fillRect(0, r * cell, sheet.width(), cell, QColor(bg))
        for c, (state, badge, paused) in enumerate(looks):
            pix = factory.pixmap(state, badge=badge, paused=paused, size=size, dpr=dpr, theme=theme)
            painter.drawPixmap(c * cell + 6, r * cell + 6, pix)
    painter.end()
    path = artifacts_dir / "icons-sheet.png"
    assert sheet.save(str(path))
    assert path.stat().st_size > 1000
