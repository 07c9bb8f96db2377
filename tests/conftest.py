"""Test-session set-up shared by every folder except tests/core (which runs Qt-free).

Widgets are tested on a real X server: before any QApplication exists, the session starts
Xvfb (on a display number it picks itself) and trayer, a system tray, on it, so that
QSystemTrayIcon really docks. Without Xvfb (outside `make test`) Qt falls back to the
offscreen platform and the tests marked `tray` fail with a message saying why.
"""

from __future__ import annotations

import os

import pytest

from tests.support.xserver import VirtualDisplay

_display: VirtualDisplay | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _display  # noqa: PLW0603 - one X server for the whole session
    # No test may reach the developer's own desktop keyring (or anything else on their
    # session bus): the keyring tests start a private bus of their own (tests/support).
    os.environ.pop("DBUS_SESSION_BUS_ADDRESS", None)
    if os.environ.get("SYNCWATCH_TEST_DISPLAY") == "none":
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        return
    _display = VirtualDisplay.start_if_available()
    if _display is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    else:
        os.environ["DISPLAY"] = _display.name
        os.environ["QT_QPA_PLATFORM"] = "xcb"
    # Reproducible rendering and no accidental use of the developer's own settings.
    os.environ.setdefault("QT_SCALE_FACTOR", "1")
    os.environ["XDG_CONFIG_HOME"] = str(config.rootpath / ".pytest-xdg" / "config")
    os.environ["XDG_DATA_HOME"] = str(config.rootpath / ".pytest-xdg" / "data")
    os.environ["XDG_STATE_HOME"] = str(config.rootpath / ".pytest-xdg" / "state")
    os.environ["XDG_CACHE_HOME"] = str(config.rootpath / ".pytest-xdg" / "cache")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _display is not None:
        _display.stop()


@pytest.fixture(scope="session")
def x_display() -> VirtualDisplay:
    """The session's virtual X server with a system tray; fails clearly when there is none."""
    if _display is None:
        pytest.fail("no Xvfb/trayer on this machine: run `make test`, which installs them")
    return _display
