"""What a hub is told at start-up: where to listen, where to keep its log, who may talk.

Everything an operator can tune lives in one frozen, validated :class:`HubConfig`, so a
typo in a command line or in the embedding app fails at construction with a message
naming the setting, not minutes later inside a connection handler.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Final

from syncwatch.core.protocol import MAX_FRAME_BYTES

DEFAULT_PORT: Final = 8765
#: An active operation unheard of for this long is given up (``HubConfig.abandon_after_s``).
DEFAULT_ABANDON_AFTER_S: Final = 86_400.0
#: Finished operations held for snapshots (``HubConfig.max_finished_operations``).
DEFAULT_MAX_FINISHED: Final = 10_000
#: Active operations held at most (``HubConfig.max_active_operations``).
DEFAULT_MAX_ACTIVE: Final = 100_000
#: Origins that browsers on this machine send; always allowed unless the list is replaced.
LOOPBACK_ORIGIN_HOSTS: Final = ("localhost", "127.0.0.1", "[::1]")


class HubConfigError(ValueError):
    """A setting the hub cannot run with; the message names the setting."""


class Role(StrEnum):
    """What a token allows: viewers may only subscribe, publishers may also publish."""

    PUBLISHER = "publisher"
    VIEWER = "viewer"


@dataclass(frozen=True, slots=True)
class HubConfig:
    """Settings of one hub. Only ``data_dir`` is required; the defaults suit a hub on loopback.

    ``tokens`` maps each secret token to its role; an empty mapping turns authentication
    off (fine on loopback, where the embedded hub of the desktop app runs).
    """

    #: Directory of the event log (created if missing); one hub per directory.
    data_dir: Path
    host: str = "127.0.0.1"
    #: 0 picks a free port (tests, the embedded hub).
    port: int = DEFAULT_PORT
    tokens: Mapping[str, Role] = field(default_factory=dict)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: Extra browser origins allowed besides loopback ones ("https://ops.example.com").
    origins: tuple[str, ...] = ()
    #: WebSocket messages larger than this close the connection with 1009.
    max_frame_bytes: int = MAX_FRAME_BYTES
    #: Sustained updates per second one publisher connection may send...
    publisher_rate: float = 10_000.0
    #: ...with bursts of up to this many updates.
    publisher_burst: int = 20_000
    #: A publisher throttled without a break for this long is closed with 1008.
    rate_limit_grace_s: float = 2.0
    #: Log retention: updates older than this are deleted...
    retention_s: float = 7 * 86_400.0
    #: ...and so are all but the newest this many updates.
    retention_updates: int = 1_000_000
    #: A finished (completed, failed, cancelled) operation leaves snapshots after this long...
    finished_expiry_s: float = 86_400.0
    #: ...or sooner, oldest-finished first, once more than this many finished ones are held
    #: (memory and snapshot size stay bounded however fast operations finish).
    max_finished_operations: int = DEFAULT_MAX_FINISHED
    #: At most this many active (queued, in_progress) operations are held: beyond it an
    #: update that would start a new one is refused with error ``too_many_active``, while
    #: updates about known operations still go in (~0.4 KiB of memory each, so the
    #: default bounds them to ~40 MiB however long a publisher keeps starting new ones).
    max_active_operations: int = DEFAULT_MAX_ACTIVE
    #: An active (queued, in_progress) operation that no update has named for this long is
    #: given up: the hub appends a ``failed`` update saying so (docs/protocol.md, section 8).
    abandon_after_s: float = DEFAULT_ABANDON_AFTER_S
    #: How often retention and expiry run.
    maintenance_interval_s: float = 60.0
    #: Under load, live updates are gathered for at most this long into one batch frame.
    coalesce_window_s: float = 0.02
    #: Updates accepted and not yet committed, all publishers together, beyond which the
    #: hub reads no more from publishers until the log's commit catches up: a burst then
    #: waits in the publishers' sockets, not in the hub's memory. (A first commit of a
    #: 20,000-update burst let the hub hold 12 MiB of it at once, and the allocator kept
    #: those pages after the burst: docs/reliability.md.)
    max_uncommitted_updates: int = 5_000
    #: Updates held in memory for one viewer; a viewer further behind is served from the
    #: log until it has caught up (hub.viewers).
    viewer_backlog_updates: int = 10_000
    #: Seconds to wait for a close handshake before dropping the TCP connection.
    close_timeout_s: float = 5.0
    #: SQLite ``synchronous`` mode: NORMAL survives a killed process, FULL also a power cut.
    synchronous: str = "NORMAL"

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        object.__setattr__(self, "tokens", MappingProxyType(dict(self.tokens)))
        object.__setattr__(self, "origins", tuple(self.origins))
        if not self.host:
            raise HubConfigError("host: must not be empty")
        if not 0 <= self.port <= 65_535:
            raise HubConfigError(f"port: {self.port} is not between 0 and 65535")
        for token, role in self.tokens.items():
            if not isinstance(token, str) or not token or any(c.isspace() for c in token):
                raise HubConfigError("tokens: a token must be a non-empty string without spaces")
            if not isinstance(role, Role):
                raise HubConfigError(f"tokens: role must be publisher or viewer, got {role!r}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise HubConfigError("tls_cert and tls_key: give both or neither")
        if not 1024 <= self.max_frame_bytes <= 16 * 1024 * 1024:
            raise HubConfigError("max_frame_bytes: must be between 1 KiB and 16 MiB")
        positive = {
            "publisher_rate": self.publisher_rate,
            "rate_limit_grace_s": self.rate_limit_grace_s,
            "retention_s": self.retention_s,
            "finished_expiry_s": self.finished_expiry_s,
            "abandon_after_s": self.abandon_after_s,
            "maintenance_interval_s": self.maintenance_interval_s,
            "close_timeout_s": self.close_timeout_s,
        }
        for name, value in positive.items():
            if not (math.isfinite(value) and value > 0):
                raise HubConfigError(f"{name}: must be a positive number, got {value!r}")
        for name, count in (
            ("publisher_burst", self.publisher_burst),
            ("retention_updates", self.retention_updates),
            ("viewer_backlog_updates", self.viewer_backlog_updates),
            ("max_uncommitted_updates", self.max_uncommitted_updates),
            ("max_finished_operations", self.max_finished_operations),
            ("max_active_operations", self.max_active_operations),
        ):
            if count < 1:
                raise HubConfigError(f"{name}: must be at least 1, got {count}")
        if not 0 <= self.coalesce_window_s <= 1:
            raise HubConfigError("coalesce_window_s: must be between 0 and 1 second")
        if self.synchronous not in ("NORMAL", "FULL"):
            raise HubConfigError("synchronous: must be NORMAL or FULL")

    @property
    def auth_enabled(self) -> bool:
        return bool(self.tokens)

    @property
    def scheme(self) -> str:
        return "wss" if self.tls_cert is not None else "ws"


def parse_token_file(text: str, *, source: str = "token file") -> dict[str, Role]:
    """Read ``role token`` lines (``publisher s3cr3t``); ``#`` starts a comment.

    Errors name the line but never echo the token itself, which may be a real secret.
    """
    tokens: dict[str, Role] = {}
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise HubConfigError(
                f"{source}, line {number}: expected 'publisher TOKEN' or 'viewer TOKEN'"
            )
        role_name, token = parts
        try:
            role = Role(role_name.lower())
        except ValueError:
            raise HubConfigError(
                f"{source}, line {number}: unknown role {role_name!r} (publisher or viewer)"
            ) from None
        if token in tokens and tokens[token] is not role:
            raise HubConfigError(f"{source}, line {number}: the same token is given two roles")
        tokens[token] = role
    return tokens


def load_token_file(path: Path) -> dict[str, Role]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise HubConfigError(f"cannot read token file {path}: {exc.strerror}") from None
    tokens = parse_token_file(text, source=str(path))
    if not tokens:
        raise HubConfigError(f"token file {path} holds no tokens")
    return tokens
