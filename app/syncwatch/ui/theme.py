"""Light and dark themes that follow the system unless the user picked one.

The faces use the application palette (no hard-coded colours except the state colours),
so switching the palette here re-themes the tray menu, the floating widget, the dashboard
and, on the next draw, the plots. "system" follows ``QStyleHints.colorScheme`` and its
change signal; "light" and "dark" pin it.

Signals:
    themeChanged(bool): the palette was switched; True for dark.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette

_R = QPalette.ColorRole

_LIGHT = {
    _R.Window: "#f3f3f3",
    _R.WindowText: "#1d1d1d",
    _R.Base: "#ffffff",
    _R.AlternateBase: "#f5f7fa",
    _R.Text: "#1d1d1d",
    _R.Button: "#e8e8e8",
    _R.ButtonText: "#1d1d1d",
    _R.Highlight: "#1e6fd0",
    _R.HighlightedText: "#ffffff",
    _R.ToolTipBase: "#ffffdc",
    _R.ToolTipText: "#1d1d1d",
    _R.PlaceholderText: "#7a7a7a",
    _R.Mid: "#b8b8b8",
    _R.Light: "#ffffff",
    _R.Dark: "#a0a0a0",
    _R.Link: "#1a5fb4",
}
_DARK = {
    _R.Window: "#202124",
    _R.WindowText: "#e6e6e6",
    _R.Base: "#17181a",
    _R.AlternateBase: "#24262a",
    _R.Text: "#e6e6e6",
    _R.Button: "#2d2f33",
    _R.ButtonText: "#e6e6e6",
    _R.Highlight: "#3b82d6",
    _R.HighlightedText: "#ffffff",
    _R.ToolTipBase: "#2d2f33",
    _R.ToolTipText: "#e6e6e6",
    _R.PlaceholderText: "#8a8a8a",
    _R.Mid: "#4a4c50",
    _R.Light: "#3a3c40",
    _R.Dark: "#101112",
    _R.Link: "#8ab4f8",
}


def palette_for(dark: bool) -> QPalette:
    """A complete palette for the Fusion style in the light or dark theme."""
    palette = QPalette()
    for role, colour in (_DARK if dark else _LIGHT).items():
        palette.setColor(role, QColor(colour))
    disabled = QColor("#6f6f6f" if dark else "#9a9a9a")
    for role in (_R.WindowText, _R.Text, _R.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return palette


def system_prefers_dark() -> bool:
    return QGuiApplication.styleHints().colorScheme() is Qt.ColorScheme.Dark


def wants_dark(choice: str) -> bool:
    """The setting "system" / "light" / "dark" resolved against the desktop's scheme."""
    if choice not in ("system", "light", "dark"):
        raise ValueError(f"theme must be system, light or dark, got {choice!r}")
    return system_prefers_dark() if choice == "system" else choice == "dark"


class ThemeWatcher(QObject):
    """Applies the chosen theme to the application and keeps following the system."""

    themeChanged = Signal(bool)  # noqa: N815

    def __init__(self, choice: str = "system", parent: QObject | None = None) -> None:
        super().__init__(parent)
        #: "system", "light" or "dark".
        self._choice = choice
        #: Whether the dark palette is applied (None before the first apply).
        self.dark: bool | None = None
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._on_system_changed)
        self.apply()

    def set_choice(self, choice: str) -> None:
        wants_dark(choice)  # validates
        self._choice = choice
        self.apply()

    def apply(self) -> None:
        dark = wants_dark(self._choice)
        if dark == self.dark:
            return
        self.dark = dark
        app = QGuiApplication.instance()
        if isinstance(app, QGuiApplication):
            QGuiApplication.setPalette(palette_for(dark))
        self.themeChanged.emit(dark)

    def _on_system_changed(self, _scheme: Qt.ColorScheme) -> None:
        if self._choice == "system":
            self.apply()
