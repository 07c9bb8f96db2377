"""Menu entry and autostart: files a freedesktop session reads, written to temporary homes."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncwatch import desktop
from syncwatch.cli import SUBCOMMANDS
from syncwatch.resources import APP_ID, app_icon_path
from tests.packaging.desktop_support import read_entry, split_exec, validate_desktop_file

REPO = Path(__file__).resolve().parents[2]
ODD_COMMAND = ["/opt/my apps/sync$watch", "--data-dir", '~/x "quoted" \\ 100%', "#tag"]


@given(st.lists(st.text(alphabet=st.characters(exclude_categories=("Cc", "Cs"))), min_size=1))
def test_exec_line_gives_back_the_exact_arguments(command: list[str]) -> None:
    entry = read_entry(desktop.desktop_entry(command))
    assert split_exec(entry["Exec"]) == command


def test_line_breaks_cannot_be_launched() -> None:
    with pytest.raises(ValueError, match="line break"):
        desktop.quote_exec_argument("a\nb")


def test_an_entry_needs_a_command() -> None:
    with pytest.raises(ValueError, match="command"):
        desktop.desktop_entry([])


@pytest.mark.parametrize("autostart", [False, True])
def test_entries_pass_the_freedesktop_validator(tmp_path: Path, autostart: bool) -> None:
    path = tmp_path / desktop.DESKTOP_FILE
    path.write_text(desktop.desktop_entry(ODD_COMMAND, autostart=autostart), encoding="utf-8")
    validate_desktop_file(path)


def test_packaged_desktop_file_is_the_one_the_app_writes() -> None:
    """packaging/linux's static file and install_menu_entry must not drift apart."""
    static = REPO / "packaging" / "linux" / desktop.DESKTOP_FILE
    assert static.read_text(encoding="utf-8") == desktop.desktop_entry(["syncwatch"])
    validate_desktop_file(static)


def test_autostart_on_off_and_read_back_from_disk(tmp_path: Path) -> None:
    config = tmp_path / "config"
    assert not desktop.is_autostart_enabled(config)
    path = desktop.set_autostart(True, config, ["/usr/bin/syncwatch"])
    assert path == config / "autostart" / f"{APP_ID}.desktop"
    entry = read_entry(path.read_text(encoding="utf-8"))
    assert split_exec(entry["Exec"]) == ["/usr/bin/syncwatch"]
    assert entry["X-GNOME-Autostart-enabled"] == "true"
    assert desktop.is_autostart_enabled(config)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left over
    desktop.set_autostart(False, config, ["/usr/bin/syncwatch"])
    assert not path.exists()
    assert not desktop.is_autostart_enabled(config)
    desktop.set_autostart(False, config, ["/usr/bin/syncwatch"])  # off twice is fine


def test_an_entry_hidden_by_the_session_counts_as_off(tmp_path: Path) -> None:
    """GNOME's and KDE's startup settings switch an entry off by adding Hidden=true."""
    path = desktop.set_autostart(True, tmp_path, ["syncwatch"])
    path.write_text(path.read_text(encoding="utf-8") + "Hidden=true\n", encoding="utf-8")
    assert not desktop.is_autostart_enabled(tmp_path)


def test_unwritable_config_raises_os_error(tmp_path: Path) -> None:
    blocker = tmp_path / "config"
    blocker.write_text("a file where a folder should be", encoding="utf-8")
    with pytest.raises(OSError, match="config"):
        desktop.set_autostart(True, blocker, ["syncwatch"])


def test_xdg_dirs_follow_the_base_directory_spec(tmp_path: Path) -> None:
    home = {"HOME": str(tmp_path)}
    assert desktop.config_home(home) == tmp_path / ".config"
    assert desktop.data_home(home) == tmp_path / ".local" / "share"
    assert desktop.config_home({**home, "XDG_CONFIG_HOME": "/x/cfg"}) == Path("/x/cfg")
    assert desktop.data_home({**home, "XDG_DATA_HOME": "relative"}) == tmp_path / ".local/share"
    with pytest.raises(ValueError, match="HOME"):
        desktop.config_home({})


def test_launch_command_prefers_the_bundle_then_the_script(tmp_path: Path) -> None:
    python = tmp_path / "bin" / "python"
    python.parent.mkdir()
    assert desktop.launch_command("/opt/sw/syncwatch", frozen=True) == ["/opt/sw/syncwatch"]
    assert desktop.launch_command(str(python), frozen=False) == [str(python), "-m", "syncwatch.cli"]
    script = python.with_name("syncwatch")
    script.write_text("#!/bin/sh\n", encoding="utf-8")
    script.chmod(0o755)
    assert desktop.launch_command(str(python), frozen=False) == [str(script)]


def test_menu_entry_install_and_uninstall(tmp_path: Path) -> None:
    written = desktop.install_menu_entry(tmp_path, ["/usr/bin/syncwatch"], app_icon_path())
    entry, icon = written
    assert entry == tmp_path / "applications" / f"{APP_ID}.desktop"
    assert icon == tmp_path / "icons/hicolor/scalable/apps" / f"{APP_ID}.svg"
    assert icon.read_bytes() == app_icon_path().read_bytes()
    assert read_entry(entry.read_text(encoding="utf-8"))["Icon"] == APP_ID
    validate_desktop_file(entry)
    assert desktop.uninstall_menu_entry(tmp_path) == written
    assert desktop.uninstall_menu_entry(tmp_path) == []


def test_desktop_command_installs_for_the_user_named_by_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"HOME": str(tmp_path)}
    parser = argparse.ArgumentParser()
    desktop.configure_parser(parser)
    for action in ("install", "autostart-on", "status"):
        assert desktop.run(parser.parse_args([action]), env) == 0
    out = capsys.readouterr().out
    assert "start at login: on" in out
    autostart = tmp_path / ".config/autostart" / f"{APP_ID}.desktop"
    argv = split_exec(read_entry(autostart.read_text(encoding="utf-8"))["Exec"])
    assert argv == desktop.current_command()
    assert os.access(argv[0], os.X_OK), "the entry must start something that exists"
    assert (tmp_path / ".local/share/applications" / f"{APP_ID}.desktop").is_file()
    for action in ("uninstall", "autostart-off", "status"):
        assert desktop.run(parser.parse_args([action]), env) == 0
    out = capsys.readouterr().out
    assert "start at login: off" in out
    assert "menu entry: not installed" in out
    with pytest.raises(SystemExit):
        parser.parse_args(["bogus"])


@pytest.mark.skipif(
    "desktop" not in SUBCOMMANDS,
    reason="cli.py does not wire `syncwatch desktop` yet (SUBCOMMANDS needs its line)",
)
def test_syncwatch_desktop_status_runs_from_the_command_line(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": "", "XDG_DATA_HOME": ""}
    result = subprocess.run(
        [sys.executable, "-m", "syncwatch.cli", "desktop", "status"],
        capture_output=True, text=True, check=False, timeout=60, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "start at login: off" in result.stdout
