"""The hub token in the desktop keyring (a real GNOME Keyring on a private session bus),
and in its private file where there is no keyring."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncwatch.client.secret_service import SecretService
from syncwatch.client.token_store import KEYRING_ATTRIBUTES, TokenStore, TokenStoreError
from tests.support.keyring import PrivateKeyring, missing_tools, private_bus

pytestmark = pytest.mark.skipif(
    bool(missing_tools()),
    reason=f"needs {', '.join(missing_tools())} (make test installs them)",
)


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[PrivateKeyring]:
    with private_bus(tmp_path / "session") as session:
        yield session


@pytest.fixture
def keyring(bus: PrivateKeyring) -> PrivateKeyring:
    bus.start_keyring()
    return bus


def _store(tmp_path: Path, bus: PrivateKeyring, prompt_timeout_s: float = 120.0) -> TokenStore:
    """A TokenStore as the app builds one, on the test's bus instead of the desktop's."""
    environ = bus.environ()
    return TokenStore(
        tmp_path / "config" / "token",
        lambda: SecretService.connect(environ, prompt_timeout_s=prompt_timeout_s),
    )


def test_a_saved_token_goes_into_the_keyring_and_nowhere_on_disk(
    tmp_path: Path, keyring: PrivateKeyring
) -> None:
    tokens = _store(tmp_path, keyring)
    assert tokens.read() == ""
    tokens.write("hub-token-in-the-keyring")
    # libsecret (what Seahorse and secret-tool use) finds it under Syncwatch's attributes.
    assert keyring.lookup(**KEYRING_ATTRIBUTES) == "hub-token-in-the-keyring"
    assert not tokens.path.exists()
    assert tokens.location == "the desktop keyring (Secret Service)"
    # A new start reads it back from the keyring.
    assert _store(tmp_path, keyring).read() == "hub-token-in-the-keyring"
    for path in tmp_path.glob("config/**/*"):
        assert b"hub-token-in-the-keyring" not in path.read_bytes()


def test_a_new_token_replaces_the_old_one_and_clearing_it_deletes_the_item(
    tmp_path: Path, keyring: PrivateKeyring
) -> None:
    tokens = _store(tmp_path, keyring)
    tokens.write("first-token")
    tokens.write("second-token")
    assert keyring.lookup(**KEYRING_ATTRIBUTES) == "second-token"
    pairs = [part for item in KEYRING_ATTRIBUTES.items() for part in item]
    found = keyring.secret_tool("search", "--all", *pairs)
    assert found.stdout.count("label = Syncwatch hub token") == 1, found.stdout + found.stderr
    tokens.write("")
    assert keyring.lookup(**KEYRING_ATTRIBUTES) is None
    assert _store(tmp_path, keyring).read() == ""


def test_a_token_file_from_before_the_keyring_is_moved_into_it(
    tmp_path: Path, keyring: PrivateKeyring, caplog: pytest.LogCaptureFixture
) -> None:
    old = tmp_path / "config" / "token"
    old.parent.mkdir(parents=True)
    old.write_text("token-from-an-older-version\n")
    tokens = _store(tmp_path, keyring)
    with caplog.at_level(logging.INFO, logger="syncwatch.client.token_store"):
        assert tokens.read() == "token-from-an-older-version"
    assert keyring.lookup(**KEYRING_ATTRIBUTES) == "token-from-an-older-version"
    assert not old.exists()
    assert "moved the token" in caplog.text
    assert "token-from-an-older-version" not in caplog.text


def test_a_token_saved_where_no_keyring_answered_wins_over_the_older_one_in_the_keyring(
    tmp_path: Path, keyring: PrivateKeyring
) -> None:
    _store(tmp_path, keyring).write("older-token-in-the-keyring")
    # Saved meanwhile in a session without a keyring (say, over ssh): the file.
    TokenStore(tmp_path / "config" / "token", keyring=None).write("newer-token-in-a-file")
    tokens = _store(tmp_path, keyring)
    assert tokens.read() == "newer-token-in-a-file"
    assert keyring.lookup(**KEYRING_ATTRIBUTES) == "newer-token-in-a-file"
    assert not tokens.path.exists()


def test_an_unwritable_config_folder_is_a_clear_refusal(tmp_path: Path) -> None:
    folder = tmp_path / "config"
    folder.write_text("a file where the folder should be")
    with pytest.raises(TokenStoreError, match="was not saved: "):
        TokenStore(folder / "token", keyring=None).write("some-token")


def test_without_a_keyring_the_token_lives_in_a_file_only_the_user_can_read(
    tmp_path: Path, bus: PrivateKeyring
) -> None:
    # A session bus, but nobody serves the Secret Service on it (and none can be started).
    tokens = _store(tmp_path, bus)
    tokens.write("token-in-a-file")
    assert stat.S_IMODE(tokens.path.stat().st_mode) == 0o600
    assert tokens.path.read_text() == "token-in-a-file"
    assert tokens.location == f"{tokens.path} (readable only by you)"
    assert _store(tmp_path, bus).read() == "token-in-a-file"


def test_no_session_bus_at_all_means_the_file(tmp_path: Path) -> None:
    assert SecretService.connect({}) is None
    assert SecretService.connect({"DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path}/no"}) is None
    tokens = TokenStore(tmp_path / "token", lambda: SecretService.connect({}))
    tokens.write("file-token")
    assert TokenStore(tmp_path / "token", lambda: SecretService.connect({})).read() == "file-token"


def test_a_keyring_without_a_default_collection_is_not_used(
    tmp_path: Path, bus: PrivateKeyring
) -> None:
    # GNOME Keyring started without the login password (no PAM): it has no collection to
    # keep a new secret in without asking the user to create one.
    bus.start_keyring(password=None)
    tokens = _store(tmp_path, bus)
    tokens.write("token-without-a-collection")
    assert tokens.path.read_text() == "token-without-a-collection"
    assert bus.lookup(**KEYRING_ATTRIBUTES) is None


def test_a_locked_keyring_nobody_unlocks_refuses_the_save_and_keeps_the_old_token(
    tmp_path: Path, keyring: PrivateKeyring, caplog: pytest.LogCaptureFixture
) -> None:
    _store(tmp_path, keyring).write("the-old-token")
    keyring.lock_all()
    # Nobody answers the unlock dialog here (there is no prompter on this test bus).
    tokens = _store(tmp_path, keyring, prompt_timeout_s=0.5)
    with pytest.raises(
        TokenStoreError, match="was not saved: nobody answered the keyring's dialog to unlock"
    ):
        tokens.write("a-new-token")
    assert not tokens.path.exists()  # not quietly written to a file instead
    # The read falls back to the (absent) file with a warning: the app starts, unconnected.
    with caplog.at_level(logging.WARNING, logger="syncwatch.client.token_store"):
        assert _store(tmp_path, keyring, prompt_timeout_s=0.5).read() == ""
    assert "desktop keyring did not answer" in caplog.text


def test_without_a_session_bus_the_d_bus_client_is_never_loaded(tmp_path: Path) -> None:
    """The tray app's footprint: no bus, no jeepney (~1.1 MiB) in the process."""
    code = (
        "import sys; from pathlib import Path\n"
        "from syncwatch.client.token_store import TokenStore\n"
        f"store = TokenStore(Path({str(tmp_path / 'token')!r}))\n"
        "store.write('a-token'); assert store.read() == 'a-token'\n"
        "print(sorted(m for m in sys.modules if m.startswith('jeepney')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.strip() == "[]"
