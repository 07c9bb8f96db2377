"""The health panel: status and score with the reasons, error rate, average sync time and
active operations - the explainable score users of other sync monitors never got."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QWidget

from syncwatch.core.health import Health, HealthStatus
from syncwatch.ui.presenter import STATE_COLOURS, FaceState, format_duration

if TYPE_CHECKING:
    from syncwatch.qt.model import SyncStateModel

_COLOURS = {
    HealthStatus.HEALTHY: STATE_COLOURS[FaceState.IDLE],
    HealthStatus.WARNING: STATE_COLOURS[FaceState.WARNING],
    HealthStatus.CRITICAL: STATE_COLOURS[FaceState.CRITICAL],
}


class HealthPanel(QGroupBox):
    """Shows the model's Health exactly as the core computed it (same thresholds)."""

    def __init__(self, model: SyncStateModel, parent: QWidget | None = None) -> None:
        super().__init__("Health", parent)
        self._model = model
        self.status = QLabel()
        self.reasons = QLabel()
        self.reasons.setWordWrap(True)
        self.error_rate = QLabel()
        self.avg_sync = QLabel()
        self.active = QLabel()
        form = QFormLayout(self)
        form.addRow("Status", self.status)
        form.addRow("Why", self.reasons)
        form.addRow("Error rate", self.error_rate)
        form.addRow("Avg sync time", self.avg_sync)
        form.addRow("Active", self.active)
        model.healthChanged.connect(self.show_health)
        self.show_health(model.health)

    def show_health(self, health: Health) -> None:
        colour = _COLOURS.get(health.status, "#6b6b6b")
        self.status.setText(
            f"<b style='color:{colour}'>{health.status.value.capitalize()}</b>"
            f" — score {health.score:.0f}/100"
        )
        self.reasons.setText("\n".join(f"• {r}" for r in health.reasons) or "Nothing to report")
        self.error_rate.setText(f"{health.error_rate:.1f}%")
        self.avg_sync.setText(
            "—" if health.avg_sync_time_s is None else format_duration(health.avg_sync_time_s)
        )
        self.active.setText(str(health.active_ops))
