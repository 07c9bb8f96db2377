"""The looks the faces can take, in a module of its own so that the early tray icon
(syncwatch.ui.early_tray) can draw one without importing the core (~60 ms at start-up)."""

from __future__ import annotations

from enum import StrEnum


class FaceState(StrEnum):
    """The one look of the app at a moment; each has its own icon and colour."""

    IDLE = "idle"
    SYNCING = "syncing"
    WARNING = "warning"
    CRITICAL = "critical"
    DISCONNECTED = "disconnected"


#: Colour per state, shared by the tray's colour icons, the floating dot and the header.
STATE_COLOURS: dict[FaceState, str] = {
    FaceState.IDLE: "#2e7d32",
    FaceState.SYNCING: "#1e6fd0",
    FaceState.WARNING: "#e69500",
    FaceState.CRITICAL: "#c62828",
    FaceState.DISCONNECTED: "#6b6b6b",
}

#: Badges above this read "99+": as informative as "1432" on a 22-pixel icon.
MAX_BADGE = 99
