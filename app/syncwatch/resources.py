"""Where Syncwatch's bundled files (icons) live, however it was installed.

The repository keeps them in ``<repo>/resources``; the wheel carries the same tree as
``syncwatch/resources`` (pyproject.toml force-includes it), and so do the PyInstaller and
pyside6-deploy bundles. Code asks this module instead of building paths from
``__file__`` itself, so that an installed copy never reads a source tree by accident and
a missing file is reported with every place that was searched.

Stdlib only: any layer may import it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

#: Reverse-DNS application id: the .desktop file, the AppStream metainfo and the icon
#: theme name all use it, as the freedesktop specifications ask.
APP_ID: Final = "io.github.syncwatch.Syncwatch"

#: The application icon (menus, task switcher, window icon), inside ``icons/``.
APP_ICON: Final = "syncwatch.svg"


class ResourceNotFoundError(FileNotFoundError):
    """A bundled file is missing: the installation is incomplete or the name is wrong."""


def candidate_roots(module_file: Path) -> tuple[Path, ...]:
    """The resource folders to try for a ``syncwatch/resources.py`` at ``module_file``.

    First the installed layout (next to the package), then the source checkout
    (``<repo>/app/syncwatch/resources.py`` -> ``<repo>/resources``).
    """
    package_dir = module_file.resolve().parent
    return (package_dir / "resources", package_dir.parents[1] / "resources")


def resources_root(module_file: Path | None = None) -> Path:
    """The first existing folder of :func:`candidate_roots` that holds ``icons/``."""
    candidates = candidate_roots(module_file or Path(__file__))
    for root in candidates:
        if (root / "icons").is_dir():
            return root
    searched = ", ".join(str(root) for root in candidates)
    raise ResourceNotFoundError(f"Syncwatch's resources were not found (searched: {searched})")


def icon_dir() -> Path:
    """The folder of SVG icons (state icons and the app icon)."""
    return resources_root() / "icons"


def icon_path(name: str) -> Path:
    """One icon file by name (``"healthy.svg"``); refuses names that leave the folder."""
    if not name or Path(name).name != name:
        raise ValueError(f"icon name must be a plain file name, got {name!r}")
    path = icon_dir() / name
    if not path.is_file():
        raise ResourceNotFoundError(f"icon {name!r} is not in {path.parent}")
    return path


def app_icon_path() -> Path:
    """The application icon's SVG."""
    return icon_path(APP_ICON)
