"""Linux desktop integration for a user install: the menu entry, its icon, and autostart.

A system package installs ``packaging/linux/io.github.syncwatch.Syncwatch.desktop`` and
the hicolor icons itself. A user who ran ``pip install`` or ``pipx install`` gets none of
that, so ``syncwatch desktop install`` writes the same entry (pointing at the command
that is running) and the scalable icon into ``$XDG_DATA_HOME``. Autostart at login is an
entry of the same text in ``$XDG_CONFIG_HOME/autostart``, which every freedesktop
session (GNOME, KDE, Xfce, LXQt...) launches; whether it is on is read from the disk,
never from a remembered setting, so that removing the file by hand is respected.

Everything here is a function of explicit paths and an environment mapping, so tests
run on temporary folders. This module sits beside main/cli: the admin panel asks for
autostart with a signal, and main.py calls :func:`set_autostart`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from syncwatch.resources import APP_ID, app_icon_path

DESKTOP_FILE: Final = f"{APP_ID}.desktop"

#: Characters that force an Exec argument into double quotes (Desktop Entry spec,
#: "The Exec key").
_RESERVED: Final = frozenset(" \t\n\"'\\><~|&;$*?#()`")
#: Inside double quotes these must be preceded by a backslash.
_ESCAPED_IN_QUOTES: Final = frozenset('"`$\\')


def config_home(env: Mapping[str, str]) -> Path:
    """``$XDG_CONFIG_HOME``, or ``~/.config`` as the XDG Base Directory spec says."""
    return _xdg_dir(env, "XDG_CONFIG_HOME", ".config")


def data_home(env: Mapping[str, str]) -> Path:
    """``$XDG_DATA_HOME``, or ``~/.local/share``."""
    return _xdg_dir(env, "XDG_DATA_HOME", ".local/share")


def _xdg_dir(env: Mapping[str, str], name: str, fallback: str) -> Path:
    value = env.get(name, "")
    if value and Path(value).is_absolute():  # the spec says relative values are ignored
        return Path(value)
    home = env.get("HOME", "")
    if not home:
        raise ValueError(f"neither an absolute ${name} nor $HOME is set")
    return Path(home) / fallback


def quote_exec_argument(arg: str) -> str:
    """One argument of an Exec line, quoted and escaped as the Desktop Entry spec says."""
    if not arg:
        return '""'
    if "\n" in arg or "\r" in arg:
        raise ValueError(f"a desktop entry cannot run an argument with a line break: {arg!r}")
    text = arg.replace("%", "%%")  # field codes
    if any(ch in _RESERVED for ch in text):
        text = '"' + "".join("\\" + ch if ch in _ESCAPED_IN_QUOTES else ch for ch in text) + '"'
    # The string-value escape rule applies on top: a backslash is written as two.
    return text.replace("\\", "\\\\")


def launch_command(executable: str, frozen: bool) -> list[str]:
    """How to start this Syncwatch again: the bundle, the `syncwatch` script, or ``-m``."""
    if frozen:  # PyInstaller / Nuitka bundle: the executable is the program
        return [executable]
    script = Path(executable).with_name("syncwatch")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [executable, "-m", "syncwatch.cli"]


def current_command() -> list[str]:
    """:func:`launch_command` for the running interpreter."""
    # PyInstaller sets sys.frozen; Nuitka (pyside6-deploy) marks compiled modules instead.
    frozen = bool(getattr(sys, "frozen", False)) or "__compiled__" in globals()
    return launch_command(sys.executable, frozen)


def desktop_entry(command: Sequence[str], *, autostart: bool = False) -> str:
    """The text of the menu entry (or, with ``autostart``, the login entry)."""
    if not command:
        raise ValueError("a desktop entry needs a command to run")
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Name=Syncwatch",
        "GenericName=Sync Monitor",
        "Comment=Live status of media-library sync operations",
        f"Exec={' '.join(quote_exec_argument(arg) for arg in command)}",
        f"Icon={APP_ID}",
        "Terminal=false",
        "Categories=Network;FileTransfer;Monitor;",
        "Keywords=sync;synchronisation;media;library;tray;monitor;",
        "StartupNotify=false",
    ]
    if autostart:
        lines.append("X-GNOME-Autostart-enabled=true")
    return "\n".join(lines) + "\n"


def autostart_path(config_dir: Path) -> Path:
    return config_dir / "autostart" / DESKTOP_FILE


def is_autostart_enabled(config_dir: Path) -> bool:
    """True when the login entry exists and is not switched off (``Hidden=true``)."""
    path = autostart_path(config_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    return not any(line.strip().lower() == "hidden=true" for line in text.splitlines())


def set_autostart(enabled: bool, config_dir: Path, command: Sequence[str]) -> Path:
    """Write or remove the login entry; returns its path. OSError when the disk refuses."""
    path = autostart_path(config_dir)
    if enabled:
        _write_atomically(path, desktop_entry(command, autostart=True))
    else:
        path.unlink(missing_ok=True)
    return path


def install_menu_entry(data_dir: Path, command: Sequence[str], icon_svg: Path) -> list[Path]:
    """Put Syncwatch in the application menu of this user; returns the files written."""
    entry = data_dir / "applications" / DESKTOP_FILE
    icon = data_dir / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
    _write_atomically(entry, desktop_entry(command))
    icon.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(icon_svg, icon)
    return [entry, icon]


def uninstall_menu_entry(data_dir: Path) -> list[Path]:
    """Remove what :func:`install_menu_entry` wrote; returns the files that were there."""
    removed = []
    for path in (
        data_dir / "applications" / DESKTOP_FILE,
        data_dir / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg",
    ):
        if path.exists():
            path.unlink()
            removed.append(path)
    return removed


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


# -- `syncwatch desktop ...`: the sub-command protocol of syncwatch.cli ---------------------


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        choices=("install", "uninstall", "autostart-on", "autostart-off", "status"),
        help="install/uninstall the menu entry and icon for this user; "
        "turn starting at login on or off; or show what is in place",
    )


def run(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    environment = os.environ if env is None else env
    config_dir, data_dir = config_home(environment), data_home(environment)
    action: str = args.action
    if action == "install":
        for path in install_menu_entry(data_dir, current_command(), app_icon_path()):
            print(f"wrote {path}")
    elif action == "uninstall":
        removed = uninstall_menu_entry(data_dir)
        for path in removed:
            print(f"removed {path}")
        if not removed:
            print("no menu entry was installed")
    elif action in ("autostart-on", "autostart-off"):
        path = set_autostart(action == "autostart-on", config_dir, current_command())
        print(f"{'wrote' if action == 'autostart-on' else 'removed'} {path}")
    else:
        entry = data_dir / "applications" / DESKTOP_FILE
        print(f"menu entry: {entry if entry.is_file() else 'not installed'}")
        state = "on" if is_autostart_enabled(config_dir) else "off"
        print(f"start at login: {state} ({autostart_path(config_dir)})")
    return 0
