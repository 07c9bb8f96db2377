"""HubConfig and the token file: bad settings fail at once with a message naming them."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncwatch.hub import HubConfig, HubConfigError, Role, load_token_file, parse_token_file


def test_defaults_are_a_loopback_hub_without_auth(tmp_path: Path) -> None:
    config = HubConfig(data_dir=tmp_path)
    assert (config.host, config.port, config.scheme) == ("127.0.0.1", 8765, "ws")
    assert not config.auth_enabled
    assert config.max_frame_bytes == 64 * 1024
    assert config.retention_s == 7 * 86_400
    assert config.retention_updates == 1_000_000
    assert config.max_finished_operations == 10_000
    assert config.abandon_after_s == 86_400


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"port": 70_000}, "port"),
        ({"host": ""}, "host"),
        ({"tls_cert": Path("c.pem")}, "tls_cert and tls_key"),
        ({"publisher_rate": 0}, "publisher_rate"),
        ({"retention_s": float("nan")}, "retention_s"),
        ({"viewer_backlog_updates": 0}, "viewer_backlog_updates"),
        ({"max_finished_operations": 0}, "max_finished_operations: must be at least 1"),
        ({"abandon_after_s": 0}, "abandon_after_s: must be a positive number"),
        ({"abandon_after_s": float("inf")}, "abandon_after_s"),
        ({"max_frame_bytes": 10}, "max_frame_bytes"),
        ({"synchronous": "OFF"}, "synchronous"),
        ({"tokens": {"has space": Role.VIEWER}}, "tokens"),
    ],
)
def test_bad_settings_name_the_setting(
    tmp_path: Path, options: dict[str, object], named: str
) -> None:
    with pytest.raises(HubConfigError, match=named):
        HubConfig(data_dir=tmp_path, **options)  # type: ignore[arg-type]


def test_config_is_frozen(tmp_path: Path) -> None:
    config = HubConfig(data_dir=tmp_path, tokens={"t": Role.VIEWER})
    with pytest.raises(AttributeError):
        config.port = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.tokens["x"] = Role.PUBLISHER  # type: ignore[index]


def test_token_file_reads_roles_and_ignores_comments() -> None:
    text = "# hub tokens\npublisher s3cr3t\n\nviewer abc  # the dashboard\nVIEWER def\n"
    assert parse_token_file(text) == {
        "s3cr3t": Role.PUBLISHER,
        "abc": Role.VIEWER,
        "def": Role.VIEWER,
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("admin s3cr3t\n", "line 1: unknown role 'admin'"),
        ("publisher\n", "line 1: expected"),
        ("viewer a\npublisher a b\n", "line 2: expected"),
        ("viewer same\npublisher same\n", "line 2: the same token"),
    ],
)
def test_token_file_errors_name_the_line_not_the_token(text: str, message: str) -> None:
    with pytest.raises(HubConfigError, match=message) as caught:
        parse_token_file(text)
    assert "s3cr3t" not in str(caught.value)
    assert "same\n" not in str(caught.value)


def test_missing_or_empty_token_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(HubConfigError, match="cannot read token file"):
        load_token_file(tmp_path / "missing")
    empty = tmp_path / "tokens"
    empty.write_text("# nothing yet\n")
    with pytest.raises(HubConfigError, match="holds no tokens"):
        load_token_file(empty)
