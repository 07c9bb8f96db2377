"""The tray's icon set chosen in the admin panel: saved, validated, and drawn at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QComboBox

from syncwatch.qt.settings import TRAY_ICON_SETS, Settings
from syncwatch.ui.faces import Faces
from syncwatch.ui.icons import IconTheme, icon_theme_for
from tests.ui.harness import LiveModel


@pytest.fixture
def faces(live: LiveModel, settings: Settings) -> Iterator[Faces]:
    built = Faces(live.model, settings, tray_available=lambda: True)
    try:
        yield built
    finally:
        built.close()


def _tray_image(faces: Faces) -> QImage:
    """The tray icon as the panel gets it, at a tray slot's size."""
    image = faces.tray.tray.icon().pixmap(22, 22).toImage()
    return image.convertToFormat(QImage.Format.Format_ARGB32)


def _most_saturated(image: QImage) -> int:
    """The highest HSV saturation (0-255) among the icon's visible pixels."""
    return max(
        (
            colour.hsvSaturation()
            for x in range(image.width())
            for y in range(image.height())
            if (colour := image.pixelColor(x, y)).alpha() > 128
        ),
        default=0,
    )


def test_choosing_a_set_in_the_admin_panel_redraws_the_tray_icon(
    faces: Faces, settings: Settings
) -> None:
    assert settings.get("tray_icon_set") == "colour"
    assert faces.tray.theme is IconTheme.COLOUR
    colour = _tray_image(faces)
    assert _most_saturated(colour) > 150  # the healthy green

    combo = faces.dashboard.admin.editors["tray_icon_set"]
    assert isinstance(combo, QComboBox)
    combo.setCurrentText("mono-dark")
    assert settings.get("tray_icon_set") == "mono-dark"
    assert faces.tray.theme is IconTheme.MONO_DARK
    mono_dark = _tray_image(faces)
    assert mono_dark != colour
    assert _most_saturated(mono_dark) < 20  # greys only

    combo.setCurrentText("mono-light")
    mono_light = _tray_image(faces)
    assert mono_light not in (colour, mono_dark)
    assert _most_saturated(mono_light) < 20

    settings.set("tray_icon_set", "colour")  # saved from anywhere, applied all the same
    assert _tray_image(faces) == colour


def test_the_combo_box_offers_only_valid_sets(faces: Faces, settings: Settings) -> None:
    admin = faces.dashboard.admin
    combo = admin.editors["tray_icon_set"]
    assert isinstance(combo, QComboBox)
    assert not combo.isEditable()
    assert [combo.itemText(i) for i in range(combo.count())] == list(TRAY_ICON_SETS)
    assert combo.currentText() == "colour"
    combo.setCurrentText("neon")  # not an item: nothing happens
    assert combo.currentText() == "colour"
    assert admin.save("tray_icon_set", "neon") is False
    assert "must be one of auto, colour, mono-light, mono-dark" in (
        admin.messages["tray_icon_set"].text()
    )
    assert settings.get("tray_icon_set") == "colour"
    assert faces.tray.theme is IconTheme.COLOUR


def test_a_saved_set_is_used_from_the_start(live: LiveModel, settings: Settings) -> None:
    settings.set("tray_icon_set", "mono-light")
    faces = Faces(live.model, settings, tray_available=lambda: True)
    try:
        assert faces.tray.theme is IconTheme.MONO_LIGHT
        assert _most_saturated(_tray_image(faces)) < 20
    finally:
        faces.close()


@pytest.mark.parametrize(
    ("choice", "dark_desktop", "expected"),
    [
        ("auto", True, IconTheme.MONO_DARK),
        ("auto", False, IconTheme.COLOUR),
        ("colour", True, IconTheme.COLOUR),
        ("mono-light", True, IconTheme.MONO_LIGHT),
        ("mono-dark", False, IconTheme.MONO_DARK),
    ],
)
def test_auto_follows_the_desktop_scheme_and_the_rest_are_taken_as_named(
    choice: str, dark_desktop: bool, expected: IconTheme
) -> None:
    assert icon_theme_for(choice, dark_desktop=dark_desktop) is expected


def test_an_unknown_set_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown icon set 'neon'"):
        icon_theme_for("neon", dark_desktop=False)
    assert set(TRAY_ICON_SETS) == {"auto", *(theme.value for theme in IconTheme)}
