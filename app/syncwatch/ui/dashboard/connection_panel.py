"""The connection panel: state, hub URL, latency now and its sparkline, reconnects,
uptime and time since the last message - the facts users need to trust the rest."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QPushButton, QWidget

from syncwatch.core.connection import ConnectionState
from syncwatch.ui.dashboard.sparkline import Sparkline
from syncwatch.ui.presenter import format_duration, format_latency, format_ms
from syncwatch.ui.source import Clock

if TYPE_CHECKING:
    from syncwatch.qt.model import SyncStateModel

_STATE_WORDS = {
    ConnectionState.CONNECTING: "Connecting…",
    ConnectionState.CONNECTED: "Connected",
    ConnectionState.RECONNECTING: "Reconnecting",
    ConnectionState.DISCONNECTED: "Disconnected",
    ConnectionState.OFFLINE: "Offline (network down)",
    ConnectionState.ERROR: "Error",
}


class ConnectionPanel(QGroupBox):
    """Facts about the link; ticks once a second only while visible (uptime, last message)."""

    def __init__(
        self, model: SyncStateModel, *, clock: Clock = time.time, parent: QWidget | None = None
    ) -> None:
        super().__init__("Connection", parent)
        self._model = model
        self._clock = clock
        self.state = QLabel()
        self.hub = QLabel()
        self.hub.setWordWrap(True)
        self.latency = QLabel()
        self.sparkline = Sparkline()
        self.attempts = QLabel()
        self.uptime = QLabel()
        self.last_message = QLabel()
        self.reconnect_button = QPushButton("Reconnect now")
        self.reconnect_button.clicked.connect(model.reconnect_now)
        form = QFormLayout(self)
        form.addRow("State", self.state)
        form.addRow("Hub", self.hub)
        form.addRow("Latency", self.latency)
        form.addRow("", self.sparkline)
        form.addRow("Reconnects", self.attempts)
        form.addRow("Uptime", self.uptime)
        form.addRow("Last message", self.last_message)
        form.addRow("", self.reconnect_button)
        #: Re-reads the clock-dependent figures once a second, only while shown.
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self.refresh)
        model.connectionChanged.connect(self.refresh)
        model.latencyChanged.connect(self.refresh)
        self.refresh()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        self.refresh()
        self._tick.start()

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802
        super().hideEvent(event)
        self._tick.stop()

    def refresh(self, *_: object) -> None:
        m, now = self._model, self._clock()
        conn = m.connection
        word = _STATE_WORDS.get(conn.state, str(conn.state))
        if conn.state is ConnectionState.RECONNECTING and conn.retry_in_s is not None:
            word += f" (attempt {conn.attempt}, next try in {format_duration(conn.retry_in_s)})"
        if conn.reason:
            word += f" — {conn.reason}"
        self.state.setText(word)
        # "Reconnect now" skips the backoff wait; it does nothing while the link is up
        self.reconnect_button.setEnabled(conn.state is not ConnectionState.CONNECTED)
        self.hub.setText(m.hub_url or conn.hub_url)
        lat = m.latency
        text = format_latency(lat)
        if lat.avg_ms is not None:
            text += f", avg {format_ms(lat.avg_ms)}"
        self.latency.setText(text)
        self.sparkline.set_points(m.latency_history)
        self.attempts.setText(
            f"{m.reconnect_count} since start"
            + (f", attempt {conn.attempt} now" if conn.attempt else "")
        )
        up = m.uptime_s
        self.uptime.setText("—" if up is None else format_duration(up))
        last = m.last_message_at
        self.last_message.setText("—" if last is None else f"{format_duration(now - last)} ago")
