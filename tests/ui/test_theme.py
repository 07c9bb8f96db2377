"""Themes: the setting resolves against the system scheme and switches the palette."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QGuiApplication, QPalette
from pytestqt.qtbot import QtBot

from syncwatch.ui.theme import ThemeWatcher, palette_for, system_prefers_dark, wants_dark


def test_choice_resolution() -> None:
    assert wants_dark("dark")
    assert not wants_dark("light")
    assert wants_dark("system") == system_prefers_dark()
    with pytest.raises(ValueError, match="system, light or dark"):
        wants_dark("solarized")


def test_watcher_switches_the_application_palette(qtbot: QtBot) -> None:
    watcher = ThemeWatcher("light")
    try:
        light = QGuiApplication.palette().color(QPalette.ColorRole.Window)
        with qtbot.waitSignal(watcher.themeChanged) as changed:
            watcher.set_choice("dark")
        assert changed.args == [True]
        dark = QGuiApplication.palette().color(QPalette.ColorRole.Window)
        assert dark.lightness() < 60 < light.lightness()
    finally:
        watcher.set_choice("light")


def test_palettes_keep_text_readable() -> None:
    for dark in (False, True):
        p = palette_for(dark)
        contrast = abs(
            p.color(QPalette.ColorRole.Text).lightness()
            - p.color(QPalette.ColorRole.Base).lightness()
        )
        assert contrast > 150
