"""Who may open which endpoint, and keeping their secrets out of the logs.

Tokens arrive as ``Authorization: Bearer T`` or, because browsers cannot set headers on
a WebSocket, as ``?token=T``; so the request line itself carries a secret. Every logger
the hub hands to websockets goes through :class:`RedactingLogger`, which rewrites both
forms before a record is created: with DEBUG logging websockets prints every request
line and header, and a token must not reach a log file even then.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, MutableMapping
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from syncwatch.hub.config import LOOPBACK_ORIGIN_HOSTS, Role

_TOKEN_IN_QUERY: Final = re.compile(r"(?i)([?&;]token=)[^&#\s\"']*")
_BEARER: Final = re.compile(r"(?i)(bearer\s+)\S+")
REDACTED: Final = "<redacted>"


def redact(text: str) -> str:
    """The text with every ``token=...`` value and ``Bearer ...`` credential hidden."""
    if "oken=" not in text and "earer" not in text and "EARER" not in text:
        return text
    return _BEARER.sub(r"\1" + REDACTED, _TOKEN_IN_QUERY.sub(r"\1" + REDACTED, text))


class RedactingLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger adapter that formats each message itself and redacts it (see module doc)."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger, {})

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        text = str(msg)
        if args:
            try:
                text = text % args
            except (TypeError, ValueError):
                text = f"{text} {args!r}"
        kwargs.setdefault("stacklevel", 2)
        self.logger.log(level, "%s", redact(text), **kwargs)

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        return msg, kwargs


def request_token(path: str, headers: Mapping[str, str]) -> str | None:
    """The token of a handshake: the Bearer header wins over the query parameter."""
    authorization = headers.get("Authorization")
    if authorization is not None:
        scheme, _, credential = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and credential.strip():
            return credential.strip()
    values = parse_qs(urlsplit(path).query).get("token")
    return values[-1] if values else None


def token_role(tokens: Mapping[str, Role], token: str | None) -> Role | None:
    """The role a token grants, None when it is missing or unknown."""
    if token is None:
        return None
    return tokens.get(token)


def origin_allowed(origin: str | None, extra: tuple[str, ...]) -> bool:
    """Whether a handshake's Origin may connect.

    Programs that are not browsers send no Origin and are judged by their token alone;
    browser pages must come from this machine (any port) or from an origin the operator
    listed, which stops a web page elsewhere from driving a user's local hub.
    """
    if origin is None:
        return True
    if origin in extra:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or parts.hostname is None:
        return False
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return host in LOOPBACK_ORIGIN_HOSTS
