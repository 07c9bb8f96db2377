"""The faces wired together: tray intents reach the dashboard and the floating widget, and
a desktop without a tray gets the floating widget with a notice."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from syncwatch.qt.settings import Settings
from syncwatch.ui.faces import Faces
from syncwatch.ui.tray import NO_TRAY_MESSAGE
from tests.ui.harness import LiveModel


def test_no_tray_falls_back_to_the_floating_widget_with_a_notice(
    live: LiveModel, settings: Settings, qtbot: QtBot
) -> None:
    settings.set("floating_visible", False)
    faces = Faces(live.model, settings, tray_available=lambda: False)
    try:
        assert faces.start() is False
        assert faces.floating.isVisible()
        assert faces.floating.notice.isVisible()
        assert faces.floating.notice.text() == NO_TRAY_MESSAGE
        assert not faces.dashboard_built  # the tray-only app does not build the dashboard
    finally:
        faces.close()


def test_tray_intents_are_routed(live: LiveModel, settings: Settings, qtbot: QtBot) -> None:
    faces = Faces(live.model, settings, tray_available=lambda: True)
    try:
        faces.tray.action_dashboard.trigger()
        assert faces.dashboard.isVisible()
        faces.dashboard.hide()
        faces.tray.action_settings.trigger()
        assert faces.dashboard.isVisible()
        assert faces.dashboard.tabs.currentWidget() is faces.dashboard.admin

        assert not faces.floating.isVisible()
        faces.tray.action_floating.trigger()
        assert faces.floating.isVisible()
        assert faces.tray.action_floating.text() == "Hide floating widget"
        assert settings.get("floating_visible") is True
        faces.tray.action_floating.trigger()
        assert not faces.floating.isVisible()
        assert faces.tray.action_floating.text() == "Show floating widget"

        with qtbot.waitSignal(faces.quitRequested, timeout=1000):
            faces.tray.action_quit.trigger()
        faces.show_autostart(True, "")
        assert faces.dashboard.admin.autostart_box.isChecked()
        with qtbot.waitSignal(faces.autostartRequested, timeout=1000) as asked:
            faces.dashboard.admin.autostart_box.setChecked(False)
        assert asked.args == [False]
        settings.set("theme", "dark")
        assert faces.theme.dark is True
    finally:
        settings.set("theme", "light")
        faces.close()
