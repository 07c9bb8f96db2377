"""Settings: typed values, validation that refuses hostile input, a private token file."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from syncwatch.qt.settings import FIELDS, Settings, SettingsError


@pytest.fixture
def settings(tmp_path: Path, qapp: object) -> Settings:
    return Settings.open(tmp_path / "config")


def _ini(tmp_path: Path) -> str:
    path = tmp_path / "config" / "syncwatch.ini"
    return path.read_text() if path.exists() else ""


def test_defaults_before_anything_is_saved(settings: Settings) -> None:
    assert settings.get("hub_url") == ""
    assert settings.get("health_check_interval_s") == 120
    assert settings.get("error_window_s") == 900
    assert settings.get("retention_operations_days") == 30
    assert settings.get("retention_snapshots_days") == 90
    assert settings.get("theme") == "system"
    assert settings.get("tray_icon_set") == "colour"
    assert settings.token == ""
    assert settings.notification_kind_enabled("operations_failed") is True


def test_valid_values_round_trip_through_a_new_instance(
    settings: Settings, tmp_path: Path, qtbot: QtBot
) -> None:
    with qtbot.waitSignal(settings.changed) as blocker:
        settings.set("hub_url", "wss://hub.example.org:8443/v1")
    assert blocker.args == ["hub_url"]
    settings.set("ping_interval_s", 15)
    settings.set("autostart", True)
    settings.set("theme", "dark")
    settings.set("tray_icon_set", "mono-dark")
    settings.set_notification_kind_enabled("source_stale", False)
    settings.set_floating_position("HDMI-1", 1200, -40)

    again = Settings.open(tmp_path / "config")
    assert again.hub_url == "wss://hub.example.org:8443/v1"
    assert again.get("ping_interval_s") == 15.0
    assert isinstance(again.get("ping_interval_s"), float)
    assert again.get("autostart") is True
    assert again.get("theme") == "dark"
    assert again.get("tray_icon_set") == "mono-dark"
    assert again.notification_kind_enabled("source_stale") is False
    assert again.floating_position("HDMI-1") == (1200, -40)
    assert again.floating_position("DP-2") is None


HOSTILE = [
    ("hub_url", "ws://" + "a" * 5000, "limit"),
    ("hub_url", "ws://host\n/evil", "control characters"),
    ("hub_url", "ws://user:secret@hub.example.org/", "password"),
    ("hub_url", "http://hub.example.org/", "ws://"),
    ("hub_url", "ws:///nohost", "host"),
    ("hub_url", "ws://host:99999/", "valid URL"),
    ("hub_url", " ws://host/", "spaces"),
    ("hub_url", 42, "text"),
    ("token", "abc\x00def", "control characters"),
    ("token", "x" * 10_000, "limit"),
    ("token", "two words", "spaces"),
    ("ca_file", "/nonexistent/ca.pem", "does not exist"),
    ("ping_interval_s", 0, "between"),
    ("ping_interval_s", float("nan"), "between"),
    ("ping_interval_s", float("inf"), "between"),
    ("ping_interval_s", "10", "number"),
    ("ping_timeout_s", True, "number"),
    ("health_check_interval_s", 10**12, "between"),
    ("health_check_interval_s", 120.5, "whole"),
    ("error_window_s", -1, "between"),
    ("retention_operations_days", 0, "between"),
    ("floating_opacity", 0.01, "between"),
    ("theme", "neon", "one of"),
    ("tray_icon_set", "neon", "must be one of auto, colour, mono-light, mono-dark"),
    ("tray_icon_set", "Colour", "one of"),
    ("tray_icon_set", 1, "one of"),
    ("autostart", "yes", "true or false"),
]


@pytest.mark.parametrize(("name", "value", "message"), HOSTILE)
def test_hostile_values_are_refused_with_a_message_and_never_saved(
    settings: Settings, tmp_path: Path, name: str, value: object, message: str
) -> None:
    error = Settings.validate(name, value)
    assert error is not None
    assert message in error
    before = settings.get(name)
    with pytest.raises(SettingsError, match=message):
        settings.set(name, value)
    assert settings.get(name) == before
    assert name not in _ini(tmp_path) or repr(value) not in _ini(tmp_path)
    if name == "token":
        assert not settings.token_path.exists()


def test_unknown_setting_is_refused(settings: Settings) -> None:
    assert Settings.validate("shell_command", "rm -rf /") == "unknown setting 'shell_command'"
    with pytest.raises(SettingsError):
        settings.set("shell_command", "rm -rf /")


def test_existing_ca_file_is_accepted(settings: Settings, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    settings.set("ca_file", str(ca))
    assert settings.ca_file == str(ca)
    settings.set("ca_file", "")
    assert settings.ca_file == ""


def test_token_lives_in_a_file_only_the_user_can_read(settings: Settings, tmp_path: Path) -> None:
    settings.set("token", "s3cr3t-token")
    assert settings.token == "s3cr3t-token"
    mode = stat.S_IMODE(settings.token_path.stat().st_mode)
    assert mode == 0o600
    assert "s3cr3t" not in _ini(tmp_path)
    settings.set("token", "")
    assert not settings.token_path.exists()
    assert settings.token == ""


def test_hand_edited_invalid_values_fall_back_to_defaults(tmp_path: Path, qapp: object) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "syncwatch.ini").write_text(
        "[General]\nping_interval_s=-5\nhub_url=http://evil/\ntheme=neon\n"
        "retention_operations_days=abc\nautostart=maybe\nerror_window_s=600\n"
    )
    settings = Settings(
        QSettings(str(config / "syncwatch.ini"), QSettings.Format.IniFormat), config
    )
    assert settings.get("ping_interval_s") == FIELDS["ping_interval_s"].default
    assert settings.hub_url == ""
    assert settings.get("theme") == "system"
    assert settings.get("retention_operations_days") == 30
    assert settings.get("autostart") is False
    assert settings.get("error_window_s") == 600


def test_a_bad_stored_icon_set_loads_as_the_default_with_one_warning(
    tmp_path: Path, qapp: object, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "syncwatch.ini").write_text("[General]\ntray_icon_set=rainbow\ntheme=dark\n")
    settings = Settings.open(config)
    with caplog.at_level(logging.WARNING, logger="syncwatch.qt.settings"):
        assert settings.get("tray_icon_set") == "colour"
        assert settings.get("tray_icon_set") == "colour"
        assert settings.values()["tray_icon_set"] == "colour"
    assert settings.get("theme") == "dark"  # the valid neighbour is kept
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "settings: the saved tray_icon_set must be one of auto, colour, mono-light, "
        "mono-dark; using the default 'colour' instead"
    ]  # once, however often it is read
    settings.set("tray_icon_set", "mono-light")  # and a valid choice replaces it
    assert Settings.open(config).get("tray_icon_set") == "mono-light"


def test_a_stored_value_of_the_wrong_type_is_warned_about_without_its_value(
    tmp_path: Path, qapp: object, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "syncwatch.ini").write_text(
        "[General]\nping_interval_s=soon\nhub_url=ws://me:pa55word@hub.example/\n"
    )
    settings = Settings.open(config)
    with caplog.at_level(logging.WARNING, logger="syncwatch.qt.settings"):
        assert settings.get("ping_interval_s") == 10.0
        assert settings.hub_url == ""
    text = caplog.text
    assert "the saved ping_interval_s is not a number; using the default 10.0" in text
    assert "the saved hub_url must not contain a user name or password" in text
    assert "pa55word" not in text


def test_screen_names_and_notification_kinds_cannot_escape_their_group(
    settings: Settings,
) -> None:
    settings.set_floating_position("../../General/hub_url", 10, 20)
    assert settings.hub_url == ""
    assert settings.floating_position("../../General/hub_url") == (10, 20)
    with pytest.raises(SettingsError):
        settings.set_notification_kind_enabled("../hub_url", False)
    with pytest.raises(SettingsError):
        settings.set_floating_position("HDMI-1", 10**9, 0)


def test_warning_threshold_cannot_pass_the_critical_one(settings: Settings) -> None:
    settings.set("critical_error_rate_pct", 12.0)
    with pytest.raises(SettingsError, match="above the critical"):
        settings.set("warning_error_rate_pct", 15.0)
    with pytest.raises(SettingsError, match="below the warning"):
        settings.set("critical_error_rate_pct", settings.get("warning_error_rate_pct") - 1)
    assert settings.get("critical_error_rate_pct") == 12.0


def test_engine_config_carries_the_settings(settings: Settings, tmp_path: Path) -> None:
    settings.set("hub_url", "ws://127.0.0.1:9999")
    settings.set("token", "tok")
    settings.set("ping_interval_s", 20)
    settings.set("error_window_s", 600)
    settings.set("critical_error_rate_pct", 15.0)
    settings.set("retention_snapshots_days", 60)
    config = settings.engine_config()
    assert config.hub_url == "ws://127.0.0.1:9999"
    assert config.token == "tok"
    assert config.ca_file is None
    assert config.ping_interval_s == 20.0
    assert config.thresholds.window_s == 600.0
    assert config.thresholds.critical_error_rate == 15.0
    assert config.retention.snapshots_days == 60
    assert config.health_check_interval_s == 120.0
    assert settings.engine_config("ws://127.0.0.1:1").hub_url == "ws://127.0.0.1:1"
