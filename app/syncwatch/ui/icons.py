"""Tray and window icons, rendered from the SVG sources in resources/icons.

Icons are drawn from vectors at the exact device pixel size (size x devicePixelRatio), so
they are sharp on HiDPI panels; a numeric badge and the "notifications paused" overlay
are painted on top rather than kept as separate bitmaps. There is no frame animation:
syncing is a static look plus a badge, which costs nothing while nothing changes.

Three themes: the colour set, and monochrome sets for light and dark panels (the shapes
take the panel's foreground colour and the glyphs its background), as desktop users of
Nextcloud and SyncTrayzor keep asking for. Rendered pixmaps are cached by
(state, badge, paused, size, dpr, theme): a tray refresh that changes nothing renders
nothing.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

from syncwatch.resources import icon_dir
from syncwatch.ui.looks import MAX_BADGE, FaceState


class IconTheme(StrEnum):
    """Which palette the icons are drawn in."""

    COLOUR = "colour"
    #: Dark shapes for light panels.
    MONO_LIGHT = "mono-light"
    #: Light shapes for dark panels.
    MONO_DARK = "mono-dark"


def icon_theme_for(choice: str, *, dark_desktop: bool) -> IconTheme:
    """The icon set for the ``tray_icon_set`` setting ("auto" or an :class:`IconTheme` value).

    Qt cannot tell the colour of the panel the icon sits on, only the desktop's colour
    scheme, so "auto" decides from that: a dark scheme nearly always comes with a dark panel,
    and gets light shapes (mono-dark); a light or unknown scheme gets the colour set, which
    reads on light and dark panels alike (mono-light would vanish on panels that stay dark in
    a light scheme, as GNOME's top bar does).
    """
    if choice == "auto":
        return IconTheme.MONO_DARK if dark_desktop else IconTheme.COLOUR
    try:
        return IconTheme(choice)
    except ValueError:
        raise ValueError(
            f"unknown icon set {choice!r}; choose auto or one of "
            + ", ".join(theme.value for theme in IconTheme)
        ) from None


#: Sizes a QIcon is given, covering tray slots (16-24) and window/task-bar icons.
ICON_SIZES = (16, 22, 24, 32, 48, 64)

_SVG_FILES: dict[FaceState, str] = {
    FaceState.IDLE: "healthy.svg",
    FaceState.SYNCING: "syncing.svg",
    FaceState.WARNING: "warning.svg",
    FaceState.CRITICAL: "critical.svg",
    FaceState.DISCONNECTED: "disconnected.svg",
}
_OVERLAY_FILE = "paused-overlay.svg"
_MONO: dict[IconTheme, tuple[str, str]] = {  # (shape, glyph)
    IconTheme.MONO_LIGHT: ("#2b2b2b", "#f2f2f2"),
    IconTheme.MONO_DARK: ("#ececec", "#1c1c1c"),
}
_HEX = re.compile(r"#[0-9a-fA-F]{6}\b")


def recolour(svg: str, theme: IconTheme) -> str:
    """The SVG text in ``theme``: white glyphs become the panel colour, all else the shape."""
    if theme is IconTheme.COLOUR:
        return svg
    shape, glyph = _MONO[theme]
    return _HEX.sub(lambda m: glyph if m.group(0).lower() == "#ffffff" else shape, svg)


class IconFactory:
    """Renders and caches the state icons; one per face (or shared by main.py)."""

    def __init__(self, directory: Path | None = None) -> None:
        #: Where the SVG sources are read from.
        self._dir = directory or icon_dir()
        #: Parsed renderers by (file name, theme): parsing is the costly part of an SVG.
        self._renderers: dict[tuple[str, IconTheme], QSvgRenderer] = {}
        #: Finished pixmaps by (state, badge, paused, size, dpr, theme).
        self._pixmaps: dict[tuple[FaceState, int, bool, int, float, IconTheme], QPixmap] = {}

    def pixmap(
        self,
        state: FaceState,
        *,
        badge: int = 0,
        paused: bool = False,
        size: int = 22,
        dpr: float = 1.0,
        theme: IconTheme = IconTheme.COLOUR,
    ) -> QPixmap:
        """The icon at ``size`` logical pixels for a screen of pixel ratio ``dpr``."""
        if size <= 0 or dpr <= 0:
            raise ValueError(f"icon size and pixel ratio must be positive, got {size}, {dpr}")
        badge = min(max(0, badge), MAX_BADGE + 1)  # every count above 99 looks the same
        key = (state, badge, paused, size, dpr, theme)
        cached = self._pixmaps.get(key)
        if cached is not None:
            return cached
        device = max(1, round(size * dpr))
        pixmap = QPixmap(device, device)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self._renderer(_SVG_FILES[state], theme).render(painter, QRectF(0, 0, device, device))
        if paused:
            self._renderer(_OVERLAY_FILE, theme).render(painter, QRectF(0, 0, device, device))
        if badge:
            _paint_badge(painter, badge, device, theme)
        painter.end()
        pixmap.setDevicePixelRatio(dpr)
        self._pixmaps[key] = pixmap
        return pixmap

    def icon(
        self,
        state: FaceState,
        *,
        badge: int = 0,
        paused: bool = False,
        dpr: float = 1.0,
        theme: IconTheme = IconTheme.COLOUR,
    ) -> QIcon:
        """A QIcon holding every size in :data:`ICON_SIZES` for this look."""
        icon = QIcon()
        for size in ICON_SIZES:
            icon.addPixmap(
                self.pixmap(state, badge=badge, paused=paused, size=size, dpr=dpr, theme=theme)
            )
        return icon

    @property
    def cached_count(self) -> int:
        return len(self._pixmaps)

    def _renderer(self, name: str, theme: IconTheme) -> QSvgRenderer:
        key = (name, theme)
        renderer = self._renderers.get(key)
        if renderer is None:
            text = recolour((self._dir / name).read_text(encoding="utf-8"), theme)
            renderer = QSvgRenderer(QByteArray(text.encode("utf-8")))
            if not renderer.isValid():
                raise ValueError(f"invalid SVG icon {self._dir / name}")
            self._renderers[key] = renderer
        return renderer


def _paint_badge(painter: QPainter, count: int, device: int, theme: IconTheme) -> None:
    """A count in a pill at the top-right, big enough to read at 22 px."""
    text = f"{MAX_BADGE}+" if count > MAX_BADGE else str(count)
    height = device * 0.56
    width = max(height, height * (0.42 + 0.36 * len(text)))
    rect = QRectF(device - width, 0, width, height)
    if theme is IconTheme.COLOUR:
        fill, ink = QColor("#d32f2f"), QColor("#ffffff")
    else:
        shape, glyph = _MONO[theme]
        fill, ink = QColor(shape), QColor(glyph)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(ink)
    painter.drawRoundedRect(rect, height / 2, height / 2)
    painter.setBrush(fill)
    inner = rect.adjusted(device * 0.03, device * 0.03, -device * 0.03, -device * 0.03)
    painter.drawRoundedRect(inner, inner.height() / 2, inner.height() / 2)
    font = QFont()
    font.setBold(True)
    font.setPixelSize(max(6, round(height * 0.8)))
    painter.setFont(font)
    painter.setPen(ink)
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
