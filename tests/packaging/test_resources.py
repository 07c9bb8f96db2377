"""syncwatch.resources finds the bundled icons in the source tree and in installed layouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncwatch import resources

REPO = Path(__file__).resolve().parents[2]


def test_source_checkout_uses_the_repository_resources() -> None:
    assert resources.icon_dir() == REPO / "resources" / "icons"
    assert resources.app_icon_path().read_text(encoding="utf-8").lstrip().startswith("<svg")


def test_installed_layout_is_preferred_over_a_source_tree(tmp_path: Path) -> None:
    # site-packages/syncwatch/resources/icons beside the module, as the wheel lays it out
    package = tmp_path / "lib" / "site-packages" / "syncwatch"
    (package / "resources" / "icons").mkdir(parents=True)
    (tmp_path / "lib" / "resources" / "icons").mkdir(parents=True)  # a decoy two levels up
    assert resources.resources_root(package / "resources.py") == package / "resources"


def test_missing_resources_name_every_place_searched(tmp_path: Path) -> None:
    module = tmp_path / "a" / "b" / "syncwatch" / "resources.py"
    module.parent.mkdir(parents=True)
    with pytest.raises(resources.ResourceNotFoundError) as caught:
        resources.resources_root(module)
    message = str(caught.value)
    assert str(module.parent / "resources") in message
    assert str(tmp_path / "a" / "resources") in message


@pytest.mark.parametrize("name", ["", "../pyproject.toml", "icons/healthy.svg", "/etc/passwd"])
def test_icon_names_cannot_leave_the_icon_folder(name: str) -> None:
    with pytest.raises(ValueError, match="plain file name"):
        resources.icon_path(name)


def test_an_unknown_icon_is_a_clear_error() -> None:
    with pytest.raises(resources.ResourceNotFoundError, match=r"no-such\.svg"):
        resources.icon_path("no-such.svg")


def test_every_state_icon_the_tray_uses_is_found() -> None:
    for name in ("healthy.svg", "syncing.svg", "warning.svg", "critical.svg", "disconnected.svg"):
        assert resources.icon_path(name).is_file()
