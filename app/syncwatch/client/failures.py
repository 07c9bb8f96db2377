"""Why a connection to the hub failed, in words a user understands, and whether to retry.

The viewer connection shows the reason in its status ("connection refused") and decides
from ``retryable`` whether to back off and try again, or to stop in the ERROR state until
the user changes something: retrying a refused token or an untrusted certificate every
few seconds only fills logs (and may lock an account), it never fixes anything.
"""

from __future__ import annotations

import errno
import socket
import ssl
from dataclasses import dataclass
from typing import Final

from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
)

from syncwatch.client.endpoint import TlsSetupError
from syncwatch.core.protocol import ProtocolError

# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH (and ..._IP_ADDRESS_MISMATCH for a hub addressed
# by IP), ..._CERT_HAS_EXPIRED and ..._CERT_NOT_YET_VALID.
_NAME_MISMATCH: Final = (62, 64)
_CERT_EXPIRED: Final = 10
_CERT_NOT_YET_VALID: Final = 9


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed attempt: the reason shown to users and whether backing off may help."""

    reason: str
    retryable: bool


def classify_failure(exc: BaseException) -> Failure:
    """Map an exception raised while connecting or talking to the hub to a Failure."""
    if isinstance(exc, TlsSetupError):
        return Failure(exc.reason, retryable=False)
    if isinstance(exc, InvalidStatus):
        return _http_failure(exc.response.status_code)
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code in _NAME_MISMATCH:
            return Failure("hostname does not match the certificate", retryable=False)
        if exc.verify_code in (_CERT_EXPIRED, _CERT_NOT_YET_VALID):
            return Failure("certificate expired or not yet valid", retryable=False)
        return Failure("certificate not trusted", retryable=False)
    if isinstance(exc, ssl.SSLError):
        # Usually wss:// against a plain ws:// hub, or the reverse behind a proxy.
        return Failure("TLS handshake failed (does the hub use wss://?)", retryable=False)
    if isinstance(exc, InvalidURI):
        return Failure("invalid hub URL", retryable=False)
    if isinstance(exc, ProtocolError):
        return Failure(f"hub sent an invalid frame ({exc})", retryable=True)
    if isinstance(exc, ConnectionClosed):
        return Failure("connection lost", retryable=True)
    if isinstance(exc, InvalidMessage) and isinstance(exc.__cause__, EOFError | OSError):
        # Accepted, then closed before answering: a hub going down, or a proxy in front of
        # a hub that is down.
        return Failure("connection closed during the handshake", retryable=True)
    if isinstance(exc, InvalidHandshake):
        return Failure("no WebSocket hub answered at this address", retryable=True)
    if isinstance(exc, socket.gaierror):
        return Failure("hub not found (DNS)", retryable=True)
    if isinstance(exc, ConnectionRefusedError):
        return Failure("connection refused", retryable=True)
    if isinstance(exc, TimeoutError):
        return Failure("timed out", retryable=True)
    if isinstance(exc, ConnectionResetError):
        return Failure("connection reset", retryable=True)
    if isinstance(exc, OSError):
        return Failure(_os_reason(exc), retryable=True)
    return Failure(f"unexpected error: {type(exc).__name__}: {exc}", retryable=True)


def _http_failure(status: int) -> Failure:
    if status == 401:
        return Failure("hub refused the token", retryable=False)
    if status == 403:
        return Failure("token not allowed to subscribe", retryable=False)
    if status == 404:
        return Failure("no hub at this URL (HTTP 404)", retryable=False)
    if status >= 500:
        return Failure(f"hub unavailable (HTTP {status})", retryable=True)
    return Failure(f"hub rejected the connection (HTTP {status})", retryable=False)


_OS_REASONS: Final = {
    errno.ENETUNREACH: "network unreachable",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETDOWN: "network down",
    errno.ETIMEDOUT: "timed out",
    errno.ECONNABORTED: "connection aborted",
}


def _os_reason(exc: OSError) -> str:
    if exc.errno in _OS_REASONS:
        return _OS_REASONS[exc.errno]
    if exc.errno is None and f"[Errno {errno.ECONNREFUSED}]" in str(exc):
        # asyncio's "Multiple exceptions: ..." when every address of a name (::1 and
        # 127.0.0.1 for localhost) refused: it keeps only the texts of the errors.
        return "connection refused"
    return exc.strerror or str(exc) or type(exc).__name__
