"""Fixtures for the faces: where screenshots go, and a clock the tests control."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from syncwatch.qt.settings import Settings
from tests.ui.harness import LiveModel, live_model, qt_asyncio_loop


@pytest.fixture(scope="session")
def artifacts_dir(pytestconfig: pytest.Config) -> Path:
    """$SYNCWATCH_ARTIFACTS or artifacts/ under the repo root: PNGs for a person to look at."""
    folder = Path(os.environ.get("SYNCWATCH_ARTIFACTS") or pytestconfig.rootpath / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Real settings in an INI file of the test's own."""
    return Settings.open(tmp_path / "config")


@pytest.fixture(scope="session")
def qt_loop(qapp: QApplication) -> Iterator[asyncio.AbstractEventLoop]:
    """The session's qasync loop (see tests/ui/harness.py)."""
    with qt_asyncio_loop(qapp) as loop:
        yield loop


@pytest.fixture
def live(qt_loop: asyncio.AbstractEventLoop, qtbot: QtBot, tmp_path: Path) -> Iterator[LiveModel]:
    """A SyncStateModel connected to a real hub on loopback (tests/ui/harness.py)."""
    with live_model(qt_loop, qtbot, tmp_path) as running:
        yield running
