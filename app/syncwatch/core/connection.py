"""The link to the hub as the rest of the app sees it: states, status, latency figures.

Pure types, so that health scoring (core), the history store (client) and the faces
(ui) all speak of the connection in the same words without importing the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ConnectionState(StrEnum):
    """Where the client's link to the hub is.

    ``OFFLINE`` means the network itself is down (the client waits for it instead of
    retrying); ``ERROR`` means a failure that retrying cannot fix (a refused token, an
    untrusted certificate): the client waits for the user to change settings.
    """

    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    DISCONNECTED = "disconnected"
    OFFLINE = "offline"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class ConnectionStatus:
    """One observation of the link, as shown to users and stored in the history."""

    state: ConnectionState
    #: The hub's URL without credentials or token.
    hub_url: str
    #: Wall-clock time (epoch seconds) this state was entered.
    since: float
    #: Failed attempts since the last good connection (0 while connected).
    attempt: int = 0
    #: Seconds until the next try, while reconnecting.
    retry_in_s: float | None = None
    #: Why, in words a user understands ("hub refused the token", "connection refused").
    reason: str | None = None
    #: The hub's log id once connected.
    hub_id: str | None = None


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """Ping round-trip figures in milliseconds over the recent samples (None until one)."""

    current_ms: float | None = None
    min_ms: float | None = None
    avg_ms: float | None = None
    p95_ms: float | None = None
    samples: int = 0
