"""Admin tab: settings validated before saving, notification kinds, database, hub metrics,
autostart requests."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit
from pytestqt.qtbot import QtBot

from syncwatch.client.secret_service import SecretService
from syncwatch.client.token_store import KEYRING_ATTRIBUTES
from syncwatch.core.alerts import NotificationKind
from syncwatch.qt.settings import Settings
from syncwatch.ui.dashboard.admin_panel import AdminPanel
from tests.support.keyring import missing_tools, private_bus
from tests.ui.harness import LiveModel


@pytest.fixture
def panel(live: LiveModel, settings: Settings, qtbot: QtBot) -> AdminPanel:
    widget = AdminPanel(live.model, settings)
    qtbot.addWidget(widget)
    widget.resize(1200, 760)
    return widget


def _type(panel: AdminPanel, name: str, text: str) -> None:
    editor = panel.editors[name]
    assert isinstance(editor, QLineEdit)
    editor.setText(text)
    editor.editingFinished.emit()


def test_invalid_values_are_refused_with_a_message(panel: AdminPanel, settings: Settings) -> None:
    _type(panel, "hub_url", "http://example.org")
    message = panel.messages["hub_url"]
    assert not message.isHidden()
    assert "ws://" in message.text()
    assert settings.hub_url == ""

    _type(panel, "ping_interval_s", "soon")
    assert not panel.messages["ping_interval_s"].isHidden()
    assert settings.get("ping_interval_s") == 10.0

    _type(panel, "hub_url", "wss://hub.example.org:8765")
    assert panel.messages["hub_url"].isHidden()
    assert settings.hub_url == "wss://hub.example.org:8765"
    _type(panel, "ping_interval_s", " 25 ")
    assert settings.get("ping_interval_s") == 25.0


def test_choices_and_switches_save_at_once(panel: AdminPanel, settings: Settings) -> None:
    theme = panel.editors["theme"]
    assert isinstance(theme, QComboBox)
    theme.setCurrentText("dark")
    assert settings.get("theme") == "dark"
    visible = panel.editors["floating_visible"]
    assert isinstance(visible, QCheckBox)
    visible.setChecked(False)
    assert settings.get("floating_visible") is False


def test_every_setting_has_an_editor(panel: AdminPanel) -> None:
    from syncwatch.qt.settings import FIELDS

    assert set(FIELDS) - {"autostart"} <= set(panel.editors)


def test_notification_kinds_are_saved(panel: AdminPanel, settings: Settings) -> None:
    panel.kind_boxes[NotificationKind.CONNECTION_RESTORED].setChecked(False)
    assert not settings.notification_kind_enabled("connection_restored")
    assert settings.notification_kind_enabled("health_critical")


def test_database_info_and_hub_metrics(panel: AdminPanel, live: LiveModel, qtbot: QtBot) -> None:
    panel.show()
    qtbot.waitUntil(lambda: panel.db_path.text().endswith("history.sqlite3"), timeout=5000)
    assert panel.db_size.text().endswith("B")
    with qtbot.waitSignal(live.model.hubMetricsReceived, timeout=10_000):
        live.model.request_hub_metrics()
    assert "# TYPE" in panel.hub_metrics.toPlainText()


def test_autostart_is_requested_and_shown_as_main_reports_it(
    panel: AdminPanel, settings: Settings, qtbot: QtBot
) -> None:
    with qtbot.waitSignal(panel.autostartRequested, timeout=1000) as asked:
        panel.autostart_box.setChecked(True)
    assert asked.args == [True]
    # main.py could not write the entry: the panel shows the disk's truth and why
    with qtbot.assertNotEmitted(panel.autostartRequested):
        panel.show_autostart(False, "Could not write ~/.config/autostart: read-only")
    assert not panel.autostart_box.isChecked()
    assert panel.autostart_message.text().startswith("Could not write")
    panel.show_autostart(True)
    assert panel.autostart_box.isChecked()
    assert settings.get("autostart") is True


@pytest.mark.skipif(bool(missing_tools()), reason=f"needs {', '.join(missing_tools())}")
def test_the_token_field_says_where_the_token_is_kept_and_why_a_save_was_refused(
    live: LiveModel, tmp_path: Path, qtbot: QtBot, artifacts_dir: Path
) -> None:
    with private_bus(tmp_path / "session") as keyring:
        keyring.start_keyring()
        environ = keyring.environ()
        settings = Settings.open(
            tmp_path / "config",
            keyring=lambda: SecretService.connect(environ, prompt_timeout_s=0.5),
        )
        panel = AdminPanel(live.model, settings)
        qtbot.addWidget(panel)
        panel.resize(1200, 760)
        token = panel.editors["token"]
        assert isinstance(token, QLineEdit)
        assert token.placeholderText() == "kept in the desktop keyring (Secret Service)"
        _type(panel, "token", "typed-into-the-panel")
        assert keyring.lookup(**KEYRING_ATTRIBUTES) == "typed-into-the-panel"
        assert panel.messages["token"].isHidden()

        keyring.lock_all()  # and nobody answers the unlock dialog
        _type(panel, "token", "refused-by-the-keyring")
        message = panel.messages["token"]
        assert not message.isHidden()
        assert message.text() == (
            "Token was not saved: nobody answered the keyring's dialog to unlock the keyring"
        )
        assert keyring.lookup(**KEYRING_ATTRIBUTES) is None  # locked: libsecret cannot read
        assert settings.token == "typed-into-the-panel"  # the old one is still in use
        panel.show()
        qtbot.waitExposed(panel)
        panel.ensureWidgetVisible(token)
        panel.grab().save(str(artifacts_dir / "admin-token-refused-by-keyring.png"))
