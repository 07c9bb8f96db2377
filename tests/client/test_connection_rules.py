"""The pure rules under HubClient: delivery order and resync (ResumeCursor), failure
reasons and retry policy (classify_failure), hub addresses (HubEndpoint)."""

from __future__ import annotations

import socket
import ssl

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.datastructures import Headers
from websockets.exceptions import InvalidMessage, InvalidStatus
from websockets.http11 import Response

from syncwatch.client.connection import HubClient
from syncwatch.client.endpoint import HubEndpoint, TlsSetupError
from syncwatch.client.failures import classify_failure
from syncwatch.client.resume import Position, ResumeCursor
from syncwatch.core.protocol import Hello, ProtocolError, Snapshot, Subscribe, SyncUpdate
from tests.client.connection_support import RecordingListener, update


def numbered(*seqs: int) -> list[SyncUpdate]:
    return [update(seq)._replace(seq=seq) for seq in seqs]


# ------------------------------------------------------------------ ResumeCursor


def test_first_start_without_a_cursor_asks_for_a_snapshot() -> None:
    cursor = ResumeCursor()
    assert cursor.subscribe(Hello("h1", 40), stored=None) == Subscribe(since=None)
    assert cursor.updates(numbered(41)).updates == ()  # nothing before the snapshot
    assert cursor.snapshot(Snapshot(40, (), "h1")) == ("h1", None)
    assert list(cursor.updates(numbered(41, 42)).updates) == numbered(41, 42)
    assert cursor.position == Position("h1", 42)


def test_stored_cursor_resumes_and_skips_what_was_delivered() -> None:
    cursor = ResumeCursor()
    assert cursor.subscribe(Hello("h1", 40), stored=("h1", 30)) == Subscribe(30, "h1")
    delivery = cursor.updates(numbered(29, 30, 31, 32))
    assert [u.seq for u in delivery.updates] == [31, 32]
    assert not delivery.resync


def test_own_position_wins_over_a_lagging_store() -> None:
    cursor = ResumeCursor()
    cursor.subscribe(Hello("h1", 40), stored=("h1", 30))
    cursor.updates(numbered(31, 32, 33))
    assert cursor.subscribe(Hello("h1", 45), stored=("h1", 30)) == Subscribe(33, "h1")


def test_a_gap_asks_for_a_snapshot_and_delivers_nothing_past_it() -> None:
    cursor = ResumeCursor()
    cursor.subscribe(Hello("h1", 10), stored=("h1", 10))
    delivery = cursor.updates(numbered(11, 12, 14, 15))
    assert [u.seq for u in delivery.updates] == [11, 12]
    assert delivery.resync
    assert cursor.updates(numbered(13)).updates == ()
    assert cursor.subscribe(Hello("h1", 20), stored=("h1", 10)) == Subscribe(since=None)
    assert cursor.snapshot(Snapshot(20, (), "h1")) == ("h1", 12)


def test_a_new_hub_id_asks_for_a_snapshot_that_marks_the_gap() -> None:
    cursor = ResumeCursor()
    cursor.subscribe(Hello("h1", 10), stored=("h1", 10))
    cursor.updates(numbered(11))
    assert cursor.subscribe(Hello("h2", 3), stored=("h1", 10)) == Subscribe(since=None)
    assert cursor.snapshot(Snapshot(3, (), None)) == ("h2", 11)


def test_a_snapshot_at_the_known_position_is_no_gap() -> None:
    cursor = ResumeCursor()
    cursor.subscribe(Hello("h1", 10), stored=("h1", 10))
    assert cursor.snapshot(Snapshot(10, (), "h1")) == ("h1", None)


@given(
    start=st.integers(min_value=0, max_value=50),
    chunks=st.lists(
        st.lists(st.integers(min_value=0, max_value=80), max_size=8), min_size=1, max_size=20
    ),
)
def test_deliveries_are_always_consecutive_and_never_repeat(
    start: int, chunks: list[list[int]]
) -> None:
    cursor = ResumeCursor()
    cursor.subscribe(Hello("h", 100), stored=("h", start))
    delivered: list[int] = []
    for chunk in chunks:
        delivery = cursor.updates(numbered(*chunk))
        delivered.extend(u.seq for u in delivery.updates if u.seq is not None)
        if delivery.resync:
            assert cursor.awaiting_snapshot
            break
    assert delivered == list(range(start + 1, start + 1 + len(delivered)))


# ------------------------------------------------------------------ classify_failure


def handshake_cut_short() -> InvalidMessage:
    exc = InvalidMessage("did not receive a valid HTTP response")
    exc.__cause__ = EOFError("connection closed while reading HTTP status line")
    return exc


def http_error(status: int) -> InvalidStatus:
    return InvalidStatus(Response(status, "x", Headers()))


@pytest.mark.parametrize(
    ("exc", "reason", "retryable"),
    [
        (http_error(401), "hub refused the token", False),
        (http_error(403), "token not allowed to subscribe", False),
        (http_error(404), "no hub at this URL (HTTP 404)", False),
        (http_error(503), "hub unavailable (HTTP 503)", True),
        (ConnectionRefusedError(111, "refused"), "connection refused", True),
        (OSError("Multiple exceptions: [Errno 111] a, [Errno 111] b"), "connection refused", True),
        (socket.gaierror(-2, "Name or service not known"), "hub not found (DNS)", True),
        (TimeoutError(), "timed out", True),
        (handshake_cut_short(), "connection closed during the handshake", True),
        (TlsSetupError("CA file not found: x"), "CA file not found: x", False),
        (
            ssl.SSLError(1, "wrong version number"),
            "TLS handshake failed (does the hub use wss://?)",
            False,
        ),
        (ProtocolError("must be an object"), "hub sent an invalid frame (must be an object)", True),
    ],
)
def test_failures_have_a_reason_in_words_and_a_retry_policy(
    exc: BaseException, reason: str, retryable: bool
) -> None:
    failure = classify_failure(exc)
    assert (failure.reason, failure.retryable) == (reason, retryable)


def test_certificate_errors_are_not_retried() -> None:
    untrusted = ssl.SSLCertVerificationError(1, "self-signed certificate")
    untrusted.verify_code = 18
    mismatch = ssl.SSLCertVerificationError(1, "Hostname mismatch")
    mismatch.verify_code = 62
    assert classify_failure(untrusted).reason == "certificate not trusted"
    assert classify_failure(mismatch).reason == "hostname does not match the certificate"
    assert not classify_failure(untrusted).retryable
    assert not classify_failure(mismatch).retryable


# ------------------------------------------------------------------ HubEndpoint


def test_public_url_drops_credentials_and_token() -> None:
    endpoint = HubEndpoint("wss://me:pw@hub.example:9/v1/subscribe?token=s3cr3t&x=1", "t")
    assert endpoint.public_url == "wss://hub.example:9/v1/subscribe?x=1"
    assert endpoint.headers() == {"Authorization": "Bearer t"}


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("ws://127.0.0.1:1/v1/subscribe", True),
        ("ws://[::1]:1/", True),
        ("ws://localhost:1/", True),
        ("ws://10.0.0.2:1/", False),
        ("wss://hub.example.com/", False),
    ],
)
def test_loopback_hubs_are_recognised(url: str, loopback: bool) -> None:
    assert HubEndpoint(url).is_loopback is loopback


@pytest.mark.parametrize(
    ("url", "token", "message"),
    [
        ("http://hub/v1/subscribe", None, "must start with ws:// or wss://"),
        ("ws:///v1/subscribe", None, "has no host"),
        ("ws://hub:99999/", None, "invalid port"),
        ("ws://hub/", "a\r\nX-Evil: 1", "single line"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(
    url: str, token: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        HubEndpoint(url, token)
    with pytest.raises(ValueError, match=message):
        HubClient(url, listener=RecordingListener(), token=token)


def test_client_parameters_are_validated() -> None:
    with pytest.raises(ValueError, match="ping_timeout must be > 0"):
        HubClient("ws://h/", listener=RecordingListener(), ping_timeout=0)
    with pytest.raises(ValueError, match="backoff base must be > 0"):
        HubClient("ws://h/", listener=RecordingListener(), backoff_base=0)


def test_update_settings_refuses_a_bad_url_and_keeps_the_old_one() -> None:
    client = HubClient("ws://h:1/v1/subscribe", listener=RecordingListener())
    with pytest.raises(ValueError, match="ws:// or wss://"):
        client.update_settings("ftp://h/", None, None)
    assert client.status.hub_url == "ws://h:1/v1/subscribe"
