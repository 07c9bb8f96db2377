"""Where the hub token lives: the desktop's keyring when it has one, else a private file.

The token is the one secret Syncwatch holds. The settings file is no place for it (other
tools back it up and sync it, and people paste it into bug reports), so it is kept

1. in the keyring (the Secret Service, :mod:`syncwatch.client.secret_service`), as the
   item labelled "Syncwatch hub token", when a keyring answers on the session bus and
   has a default collection to keep it in; or else
2. in ``token`` in the config directory, created with mode 0600 (readable by the user
   only).

What each case guarantees:

- A token saved while a keyring is available is written there, and the file is removed.
  If the keyring refuses (locked and its dialog dismissed, an error), the save fails with
  :class:`TokenStoreError` saying why: nothing is saved, so the user can retry, and a
  token never ends up in the file while an older one waits in the keyring.
- A token file found while a keyring is available (saved where no keyring answered, or
  by a version without keyring support) is moved into the keyring: stored, read back,
  and only then deleted. It replaces what the keyring held, since a save into the keyring
  always removes the file: a file is the newer of the two. If the move fails the file
  stays and is used; nothing is lost.
- Without a keyring, the file is used, as the only place.

The token is read once and then served from memory (the engine holds it in memory
anyway); each write replaces the copy.

The store needs little of a keyring (:class:`Keyring`); :func:`desktop_keyring` opens the
one on the session bus, importing the D-Bus client only when there is a bus: a tray app
in a session without one (or a test) does not carry it (~1.1 MiB).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final, Protocol, Self

log = logging.getLogger(__name__)

#: The attributes that name Syncwatch's item in the keyring (what ``secret-tool`` shows).
KEYRING_ATTRIBUTES: Final = {"application": "syncwatch", "secret": "hub-token"}
KEYRING_LABEL: Final = "Syncwatch hub token"


class KeyringError(Exception):
    """A keyring is there but did not do what was asked; the message says why, in words."""


class Keyring(Protocol):
    """An open session with a keyring: what the store needs of one. Its methods raise
    :class:`KeyringError` (or OSError, TimeoutError) when the keyring fails."""

    def has_default_collection(self) -> bool: ...
    def lookup(self, attributes: Mapping[str, str]) -> str | None: ...
    def store(self, label: str, attributes: Mapping[str, str], secret: str) -> None: ...
    def delete(self, attributes: Mapping[str, str]) -> bool: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc_info: object) -> None: ...


#: Opens a keyring session, or answers None when there is no keyring.
KeyringOpener = Callable[[], Keyring | None]


def desktop_keyring() -> Keyring | None:
    """The keyring of this session's bus (the Secret Service), or None without one."""
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return None
    from syncwatch.client.secret_service import SecretService  # noqa: PLC0415 - see above

    return SecretService.connect(os.environ)


class TokenStoreError(Exception):
    """The token could not be saved; the message says why, in words for the user, so
    that it reads after the field's name ("Token was not saved: ...")."""


class TokenStore:
    """The hub token's home (see the module docstring).

    ``path`` is the token file; ``keyring`` opens a keyring session (None: never use a
    keyring, the file is the only place)."""

    def __init__(self, path: Path, keyring: KeyringOpener | None = desktop_keyring) -> None:
        #: The fallback file (mode 0600).
        self.path = path
        self._open_keyring = keyring
        #: The token as last read or written; None until the first read.
        self._cached: str | None = None
        #: Where the token was last found or put: "keyring" or "file".
        self._kept_in = "file"

    @property
    def location(self) -> str:
        """Where the token is kept, in words for the admin panel and diagnostics."""
        if self._kept_in == "keyring":
            return "the desktop keyring (Secret Service)"
        return f"{self.path} (readable only by you)"

    def read(self, valid: Callable[[str], bool] = bool) -> str:
        """The token, or "" when none is saved (or the saved one is not ``valid``)."""
        if self._cached is None:
            token = self._load()
            self._cached = token if token and valid(token) else ""
        return self._cached

    def write(self, token: str) -> None:
        """Save ``token`` ("" removes it); raises TokenStoreError and saves nothing when
        the keyring refuses."""
        try:
            keyring = self._keyring()
        except KeyringError as exc:
            raise TokenStoreError(f"was not saved: the desktop keyring failed: {exc}") from None
        if keyring is None:
            try:
                self._write_file(token)
            except OSError as exc:
                raise TokenStoreError(f"was not saved: {exc.strerror or exc}") from None
            self._kept_in = "file"
        else:
            with keyring:
                try:
                    if token:
                        keyring.store(KEYRING_LABEL, KEYRING_ATTRIBUTES, token)
                    else:
                        keyring.delete(KEYRING_ATTRIBUTES)
                except (KeyringError, OSError, TimeoutError) as exc:
                    raise TokenStoreError(f"was not saved: {exc}") from None
            self.path.unlink(missing_ok=True)
            self._kept_in = "keyring"
        self._cached = token

    # ------------------------------------------------------------------ reading

    def _keyring(self) -> Keyring | None:
        """A keyring session that can keep the token, or None; raises KeyringError
        when a keyring is there but failed to answer."""
        if self._open_keyring is None:
            return None
        try:
            keyring = self._open_keyring()
        except (OSError, TimeoutError) as exc:
            raise KeyringError(str(exc) or type(exc).__name__) from None
        if keyring is None:
            return None
        try:
            usable = keyring.has_default_collection()
        except BaseException:
            keyring.close()
            raise
        if not usable:
            log.info("the desktop keyring has no default collection: the token stays in a file")
            keyring.close()
            return None
        return keyring

    def _load(self) -> str:
        try:
            keyring = self._keyring()
        except KeyringError as exc:
            log.warning("desktop keyring unavailable (%s): reading the token file", exc)
            keyring = None
        if keyring is None:
            self._kept_in = "file"
            return self._read_file()
        with keyring:
            # A save into the keyring removes the file, so a file is never older than
            # what the keyring holds: it was saved where no keyring answered, or by a
            # version without keyring support. It wins, and moves in.
            file_token = self._read_file()
            if file_token:
                return self._move_file_into(keyring, file_token)
            try:
                token = keyring.lookup(KEYRING_ATTRIBUTES)
            except (KeyringError, OSError, TimeoutError) as exc:
                log.warning("desktop keyring did not answer (%s): no token read", exc)
                self._kept_in = "file"
                return ""
            self._kept_in = "keyring"  # also with nothing saved yet: the next save goes there
            return token or ""

    def _move_file_into(self, keyring: Keyring, token: str) -> str:
        self._kept_in = "file"
        try:
            keyring.store(KEYRING_LABEL, KEYRING_ATTRIBUTES, token)
            moved = keyring.lookup(KEYRING_ATTRIBUTES) == token
        except (KeyringError, OSError, TimeoutError) as exc:
            log.warning(
                "could not move the token into the desktop keyring (%s): kept in %s", exc, self.path
            )
            return token
        if moved:
            self.path.unlink(missing_ok=True)
            self._kept_in = "keyring"
            log.info("moved the token from %s into the desktop keyring", self.path)
        return token

    # ------------------------------------------------------------------ the file

    def _read_file(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return ""

    def _write_file(self, token: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not token:
            self.path.unlink(missing_ok=True)
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(token)
        os.replace(tmp, self.path)
