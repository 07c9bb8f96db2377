"""Where the hub is and how to reach it safely: URL validation, TLS context, headers.

Kept apart from the connection loop so that what a connection attempt is built from (the
URL, the token, the trust store) can be checked when the user enters it, and rebuilt from
scratch when the connection decides that its old pieces may be stale.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


class TlsSetupError(Exception):
    """The configured CA file cannot be used; ``reason`` says why in a user's words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class HubEndpoint:
    """A validated hub address plus the credentials to present to it."""

    #: The URL as configured (it may carry ``?token=``; never shown or logged).
    url: str
    token: str | None = None
    ca_file: str | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("ws", "wss"):
            raise ValueError(f"hub URL must start with ws:// or wss://, got {self.public_url!r}")
        if not parts.hostname:
            raise ValueError(f"hub URL has no host: {self.public_url!r}")
        try:
            _ = parts.port
        except ValueError as exc:
            raise ValueError(f"hub URL has an invalid port: {self.public_url!r}") from exc
        if self.token is not None and (not self.token or any(c in self.token for c in "\r\n")):
            raise ValueError("token must be a non-empty single line")

    @property
    def secure(self) -> bool:
        return urlsplit(self.url).scheme == "wss"

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def public_url(self) -> str:
        """The URL without user info or a ``token`` query parameter: safe to show and store."""
        parts = urlsplit(self.url)
        netloc = parts.netloc.rpartition("@")[2]
        query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "token"])
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))

    @property
    def is_loopback(self) -> bool:
        """True for a hub on this machine, which the state of the network cannot cut off."""
        host = self.host
        if host == "localhost" or host.endswith(".localhost"):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def headers(self) -> dict[str, str]:
        """HTTP headers of the opening handshake (the token as a Bearer credential)."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def ssl_context(self) -> ssl.SSLContext | None:
        """A fresh TLS context for wss:// (None for ws://) that verifies the certificate and
        the host name against the system trust store, or only ``ca_file`` when one is set.

        Building a new one re-reads the CA file, so a user who fixes the file on disk is
        heard at the next rebuild without restarting the app.
        """
        if not self.secure:
            return None
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except FileNotFoundError:
            raise TlsSetupError(f"CA file not found: {self.ca_file}") from None
        except (ssl.SSLError, OSError) as exc:
            raise TlsSetupError(f"CA file cannot be used: {self.ca_file} ({exc})") from None
