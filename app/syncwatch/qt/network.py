"""What the desktop knows about the network and about sleep, as plain events.

Two hints the connection cannot get by itself:

- **Reachability** from Qt's QNetworkInformation. "Disconnected" lets the client stop
  retrying and say "offline" instead of counting failed attempts; a change back to
  online lets it reconnect at once. In containers (and on many desktops) the glib
  backend reports Online whenever a default route exists, internet or not: it is a hint,
  never proof that the hub is reachable, and the connection keeps its own evidence.
- **Resume from sleep**: the monotonic clock stops while the machine sleeps, the wall
  clock does not. A check every few seconds that sees the wall clock move much further
  than the monotonic one means the machine slept: the link is probably dead and the
  client should reconnect now instead of waiting for its ping timeout or backoff.

Clocks are injected so that tests can make the machine "sleep".

Signals:
    onlineChanged(bool): the platform's reachability hint changed (True = online).
    resumed(float): the machine resumed after sleeping for about this many seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from PySide6.QtCore import QObject, QTimer, Signal

if TYPE_CHECKING:
    # Imported when a backend is loaded: QtNetwork costs ~3 MiB, and a hub on loopback
    # needs no backend (see NetworkMonitor.start).
    from PySide6.QtNetwork import QNetworkInformation

#: How often the clocks are compared; once every few seconds costs nothing while idle.
RESUME_CHECK_INTERVAL_MS: Final = 5_000
#: A wall-clock lead over the monotonic clock larger than this is a sleep, not NTP slew.
RESUME_JUMP_THRESHOLD_S: Final = 8.0


class NetworkMonitor(QObject):
    """Reachability and resume hints for the engine (see the module docstring).

    Signals:
        onlineChanged(bool): the platform's reachability hint changed (True = online).
        resumed(float): the machine resumed after sleeping for about this many seconds.
    """

    onlineChanged = Signal(bool)  # noqa: N815 - Qt signal naming
    resumed = Signal(float)

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        check_interval_ms: int = RESUME_CHECK_INTERVAL_MS,
        jump_threshold_s: float = RESUME_JUMP_THRESHOLD_S,
    ) -> None:
        super().__init__(parent)
        self._wall_clock = wall_clock
        self._monotonic = monotonic
        self._jump_threshold_s = jump_threshold_s
        #: Wall minus monotonic at the last check: constant while the machine is awake.
        self._offset = wall_clock() - monotonic()
        #: The last reachability hint, None while the platform gives none.
        self._online: bool | None = None
        #: The loaded QNetworkInformation backend's name, or None.
        self.backend: str | None = None
        self._timer = QTimer(self)
        self._timer.setObjectName("resume-check")
        self._timer.setInterval(check_interval_ms)
        self._timer.timeout.connect(self.check_resume)

    @property
    def online(self) -> bool | None:
        """The platform's reachability hint: True, False, or None when it gives none."""
        return self._online

    def start(self, *, reachability: bool = True) -> None:
        """Start resume checks and, with ``reachability``, load the platform's reachability
        backend (if it has one).

        Pass ``reachability=False`` for a hub on loopback: the client ignores offline hints
        for it anyway, and a backend is not free (the glib one loads GIO and its modules,
        ~4 MiB of the tray-only footprint)."""
        self._offset = self._wall_clock() - self._monotonic()
        self._timer.start()
        if not reachability:
            return
        from PySide6.QtNetwork import QNetworkInformation  # noqa: PLC0415

        if QNetworkInformation.loadBackendByFeatures(QNetworkInformation.Feature.Reachability):
            info = QNetworkInformation.instance()
            if info is not None:
                self.backend = info.backendName()
                info.reachabilityChanged.connect(self._on_reachability)
                self._on_reachability(info.reachability())

    def stop(self) -> None:
        self._timer.stop()
        if self.backend is None:
            return
        from PySide6.QtNetwork import QNetworkInformation  # noqa: PLC0415

        info = QNetworkInformation.instance()
        if info is not None:
            info.reachabilityChanged.disconnect(self._on_reachability)
        self.backend = None

    def set_online_hint(self, online: bool | None) -> None:
        """Take a reachability hint (from QNetworkInformation, or a test)."""
        if online is None or online == self._online:
            self._online = online if online is not None else self._online
            return
        self._online = online
        self.onlineChanged.emit(online)

    def check_resume(self) -> float | None:
        """Compare the clocks; emit ``resumed`` and return the slept seconds after a sleep."""
        offset = self._wall_clock() - self._monotonic()
        jump = offset - self._offset
        self._offset = offset
        if jump > self._jump_threshold_s:
            self.resumed.emit(jump)
            return jump
        return None

    def _on_reachability(self, reachability: QNetworkInformation.Reachability) -> None:
        from PySide6.QtNetwork import QNetworkInformation  # noqa: PLC0415

        if reachability == QNetworkInformation.Reachability.Unknown:
            return
        self.set_online_hint(reachability != QNetworkInformation.Reachability.Disconnected)
