"""Hostile settings and URLs are refused with a message - never a crash, never saved.

The validators of ``syncwatch.qt.settings`` stand between whatever a user pastes (or a
hand-edited INI file holds) and the engine. Hypothesis feeds them what a fuzzer would:
huge strings, control characters, lone surrogates, paths to nowhere, URLs with
credentials. Each must answer None (accepted) or a message in words; anything accepted
must really be usable.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from syncwatch.qt.settings import (
    MAX_PATH_LEN,
    MAX_URL_LEN,
    validate_ca_file,
    validate_hub_url,
    validate_token,
)

_FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_hosts = st.one_of(
    st.just("127.0.0.1"),
    st.just("[::1]"),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-", min_size=1, max_size=30),
    st.text(min_size=1, max_size=30),
)
_urls = st.one_of(
    st.text(max_size=200),
    st.builds(
        lambda scheme, creds, host, port, rest: f"{scheme}{creds}{host}{port}{rest}",
        st.sampled_from(["ws://", "wss://", "http://", "file://", "WS://", "ws:/", ""]),
        st.sampled_from(["", "user@", "user:pw@", ":pw@", "a%40b:c@"]),
        _hosts,
        st.sampled_from(["", ":0", ":8765", ":99999", ":-1", ":x"]),
        st.text(max_size=40),
    ),
)


def _is_control(ch: str) -> bool:
    """C0 and C1 control characters (what a terminal, a log or an INI file misreads)."""
    return unicodedata.category(ch) == "Cc"


def _is_message(result: object) -> bool:
    return isinstance(result, str) and len(result) > 3


@_FAST
@given(_urls)
@example("ws://user:secret@hub.example:8765")
@example("ws://hub.example/" + "x" * (MAX_URL_LEN + 1))
@example("ws://hub\x00.example")
@example("wss://hub.example/\r\nHost: evil")
def test_hub_urls_are_accepted_only_when_usable(url: str) -> None:
    result = validate_hub_url(url)
    if result is not None:
        assert _is_message(result)
        return
    if url == "":
        return  # the embedded hub
    parts = urlsplit(url)
    assert parts.scheme in ("ws", "wss")
    assert parts.hostname
    assert parts.username is None
    assert parts.password is None
    assert len(url) <= MAX_URL_LEN
    assert not any(_is_control(ch) or ch.isspace() for ch in url)


def test_credentials_in_a_url_are_refused_with_a_pointer_to_the_token_field() -> None:
    message = validate_hub_url("wss://alice:hunter2@hub.example")
    assert message is not None
    assert "Token" in message
    assert "hunter2" not in message


@_FAST
@given(st.text(max_size=300))
@example("x" * 100_000)
@example("tok en")
@example("tok\nen")
@example("tok\x1ben")
def test_tokens_are_single_printable_words(token: str) -> None:
    result = validate_token(token)
    if result is None:
        assert not any(ch.isspace() or _is_control(ch) for ch in token)
    else:
        assert _is_message(result)
        assert len(token) < 6 or token not in result  # the message never echoes a secret


@_FAST
@given(st.text(max_size=300))
@example("/nonexistent/ca.pem")
@example("/dev/null/ca.pem")
@example("/etc")
@example("\x00")
@example("/tmp/" + "b" * (MAX_PATH_LEN + 1))
def test_ca_files_must_exist_and_be_files(path: str) -> None:
    result = validate_ca_file(path)
    assert result is None or _is_message(result)


# Found by the property tests above (the validator raised instead of answering; C1 controls
# and lone surrogates were accepted). The app calls these when a user types a value and
# when a hand-edited INI is loaded.
def test_a_ca_path_under_an_unknown_users_home_is_refused_with_a_message() -> None:
    assert _is_message(validate_ca_file("~nosuchuser-syncwatch/ca.pem"))


def test_a_ca_path_with_an_overlong_name_is_refused_with_a_message() -> None:
    assert _is_message(validate_ca_file("/tmp/" + "b" * 300))


def test_a_url_that_is_not_valid_unicode_text_is_refused() -> None:
    # "\ud800" cannot be encoded to UTF-8: it cannot be saved or sent in a handshake.
    assert validate_hub_url("ws://\ud800") is not None


@pytest.mark.parametrize("value", ["tok\x80en", "tok\x9ben"])
def test_c1_control_characters_are_refused_in_tokens(value: str) -> None:
    assert validate_token(value) is not None
