"""The desktop's keyring: the freedesktop Secret Service, spoken over D-Bus with jeepney.

GNOME Keyring, KWallet (5.97 and later), KeePassXC and others serve the Secret Service API
on the user's session bus. Syncwatch keeps one secret there (the hub token, see
:mod:`syncwatch.client.token_store`), so this module speaks only what that needs: find an
item by its attributes, read it, create or replace it in the default collection, delete
it, and unlock what is locked through the service's own prompt.

Why not the ``keyring`` package: measured on this project's machine, importing it and
letting it pick a backend adds 23 MiB to the process (an ``importlib.metadata`` scan of
every installed distribution, and ``cryptography`` through SecretStorage), while the
whole tray-only footprint must stay under 90 MiB; jeepney is pure Python and adds ~3 MiB.
The price is that only Linux-style desktops with a Secret Service get a keyring, which
is where Syncwatch runs; elsewhere the token file is used.

The session uses the spec's ``plain`` algorithm: the secret crosses the user's own
session bus, a socket that only the user's processes can open and that dbus-daemon does
not let others eavesdrop on. The ``dh-ietf1024-sha256-aes128-cbc-pkcs7`` alternative would
bring ``cryptography`` back for no gain in that setting.

Every call is blocking, bounded by a timeout, and opens its own connection: the token is
read once at start-up and written when the user saves it, so a long-lived socket (and a
reader for it) would buy nothing. A locked collection is unlocked through the service's
prompt, which the desktop shows as a password dialog; the wait for it is bounded by
:data:`PROMPT_TIMEOUT_S` (a desktop without a prompter never answers: seen with GNOME
Keyring on a bare X server).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any, Final

from jeepney import DBusAddress, DBusErrorResponse, HeaderFields, MatchRule, Message, MessageType
from jeepney import new_method_call as _new_method_call
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import DBusConnection, open_dbus_connection

from syncwatch.client.token_store import KeyringError

BUS_NAME: Final = "org.freedesktop.secrets"
_PATH: Final = "/org/freedesktop/secrets"
_PREFIX: Final = "org.freedesktop.Secret."
_NO_OBJECT: Final = "/"
#: How long one D-Bus call may take before the keyring counts as not answering.
CALL_TIMEOUT_S: Final = 5.0
#: How long the user has to answer the keyring's own unlock dialog.
PROMPT_TIMEOUT_S: Final = 120.0


class SecretServiceError(KeyringError):
    """The keyring answered, but not with what was asked; the message says why, in words."""


#: What each method answers (its reply's D-Bus signature): anything else is refused
#: before it is unpacked, so that a misbehaving service is an error, never a crash.
_RETURNS: Final = {
    "OpenSession": "vo",
    "Close": "",
    "ReadAlias": "o",
    "SearchItems": "aoao",
    "Unlock": "aoo",
    "GetSecret": "(oayays)",
    "CreateItem": "oo",
    "Delete": "o",
    "Prompt": "",
    "Dismiss": "",
}


def _checked(reply: Message, what: str, signature: str) -> tuple[Any, ...]:
    """The body of ``reply`` if it is a method return of ``signature``."""
    if reply.header.message_type == MessageType.error:
        raise SecretServiceError(f"the keyring refused {what}: {DBusErrorResponse(reply).name}")
    if reply.header.fields.get(HeaderFields.signature, "") != signature:
        raise SecretServiceError(f"the keyring answered {what} with something unexpected")
    body: tuple[Any, ...] = reply.body
    return body


def _call(
    conn: DBusConnection, path: str, interface: str, method: str, signature: str, *body: Any
) -> tuple[Any, ...]:
    """One method call; an error reply, or one of the wrong shape, is a SecretServiceError."""
    address = DBusAddress(path, bus_name=BUS_NAME, interface=_PREFIX + interface)
    reply: Message = conn.send_and_get_reply(
        _new_method_call(address, method, signature, body), timeout=CALL_TIMEOUT_S
    )
    return _checked(reply, method, _RETURNS[method])


class SecretService:
    """One open session with the user's Secret Service (see the module docstring); a
    :class:`~syncwatch.client.token_store.Keyring`.

    Use :meth:`connect`, which answers None when there is no keyring to talk to, and
    close it (it is a context manager)."""

    def __init__(
        self, conn: DBusConnection, session: str, prompt_timeout_s: float = PROMPT_TIMEOUT_S
    ) -> None:
        #: The connection to the session bus this session lives on.
        self._conn = conn
        #: The object path of the ``plain`` session secrets are transferred in.
        self._session = session
        #: How long to wait for the user to answer the keyring's dialog.
        self._prompt_timeout_s = prompt_timeout_s

    @classmethod
    def connect(
        cls, environ: Mapping[str, str] = os.environ, *, prompt_timeout_s: float = PROMPT_TIMEOUT_S
    ) -> SecretService | None:
        """A session with the keyring of the session bus ``environ`` names, or None when
        there is no session bus, or nobody serves (or can be started to serve) the
        Secret Service on it. Other failures raise SecretServiceError."""
        if not environ.get("DBUS_SESSION_BUS_ADDRESS"):
            return None
        try:
            conn = open_dbus_connection(environ["DBUS_SESSION_BUS_ADDRESS"])
        except (OSError, RuntimeError, ValueError) as exc:  # no bus there, or not one we speak
            del exc
            return None
        try:
            if not _service_reachable(conn):
                conn.close()
                return None
            _, session = _call(conn, _PATH, "Service", "OpenSession", "sv", "plain", ("s", ""))
        except BaseException:
            conn.close()
            raise
        return cls(conn, session, prompt_timeout_s)

    def close(self) -> None:
        with contextlib.suppress(OSError, SecretServiceError, TimeoutError):
            _call(self._conn, self._session, "Session", "Close", "")
        self._conn.close()

    def __enter__(self) -> SecretService:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ items

    def has_default_collection(self) -> bool:
        """Whether the keyring has a default collection to keep new secrets in (a fresh
        GNOME Keyring started without the user's login password has none)."""
        (path,) = _call(self._conn, _PATH, "Service", "ReadAlias", "s", "default")
        return bool(path) and path != _NO_OBJECT

    def lookup(self, attributes: Mapping[str, str]) -> str | None:
        """The secret of the first item with these attributes, None when there is none.
        A locked item is unlocked first (the keyring may ask the user)."""
        path = self._find(attributes)
        if path is None:
            return None
        ((_session, _params, value, _content_type),) = _call(
            self._conn, path, "Item", "GetSecret", "o", self._session
        )
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise SecretServiceError("the keyring holds a secret that is not text") from None

    def store(self, label: str, attributes: Mapping[str, str], secret: str) -> None:
        """Create the item, or replace the one with the same attributes, in the default
        collection (unlocking it first if needed)."""
        (collection,) = _call(self._conn, _PATH, "Service", "ReadAlias", "s", "default")
        if not collection or collection == _NO_OBJECT:
            raise SecretServiceError("the keyring has no default collection")
        self._unlock([collection])
        properties = {
            _PREFIX + "Item.Label": ("s", label),
            _PREFIX + "Item.Attributes": ("a{ss}", dict(attributes)),
        }
        _item, prompt = _call(
            self._conn,
            collection,
            "Collection",
            "CreateItem",
            "a{sv}(oayays)b",
            properties,
            (self._session, b"", secret.encode("utf-8"), "text/plain; charset=utf8"),
            True,
        )
        if prompt != _NO_OBJECT:
            self._prompt(prompt, "save the token")

    def delete(self, attributes: Mapping[str, str]) -> bool:
        """Delete every item with these attributes; False when there was none."""
        found = False
        for path in self._search(attributes):
            found = True
            (prompt,) = _call(self._conn, path, "Item", "Delete", "")
            if prompt != _NO_OBJECT:
                self._prompt(prompt, "delete the token")
        return found

    # ------------------------------------------------------------------ helpers

    def _search(self, attributes: Mapping[str, str]) -> Iterator[str]:
        unlocked, locked = _call(
            self._conn, _PATH, "Service", "SearchItems", "a{ss}", dict(attributes)
        )
        if locked:
            self._unlock(list(locked))
        yield from unlocked
        yield from locked

    def _find(self, attributes: Mapping[str, str]) -> str | None:
        return next(self._search(attributes), None)

    def _unlock(self, paths: list[str]) -> None:
        _unlocked, prompt = _call(self._conn, _PATH, "Service", "Unlock", "ao", paths)
        if prompt != _NO_OBJECT:
            self._prompt(prompt, "unlock the keyring")

    def _prompt(self, prompt: str, purpose: str) -> None:
        """Show the keyring's own dialog and wait for the user's answer."""
        rule = MatchRule(
            type="signal",
            sender=BUS_NAME,
            interface=_PREFIX + "Prompt",
            member="Completed",
            path=prompt,
        )
        conn = self._conn
        reply = conn.send_and_get_reply(message_bus.AddMatch(rule), timeout=CALL_TIMEOUT_S)
        _checked(reply, "AddMatch", "")
        with conn.filter(rule) as answers:
            _call(conn, prompt, "Prompt", "Prompt", "s", "")
            try:
                signal = conn.recv_until_filtered(answers, timeout=self._prompt_timeout_s)
            except TimeoutError:
                with contextlib.suppress(OSError, SecretServiceError, TimeoutError):
                    _call(conn, prompt, "Prompt", "Dismiss", "")
                raise SecretServiceError(
                    f"nobody answered the keyring's dialog to {purpose}"
                ) from None
        dismissed, _result = _checked(signal, "Completed", "bv")
        if dismissed:
            raise SecretServiceError(f"the keyring's dialog to {purpose} was dismissed")


def _service_reachable(conn: DBusConnection) -> bool:
    """Someone owns the Secret Service name, or the bus can start a service for it."""
    (owned,) = _checked(
        conn.send_and_get_reply(message_bus.NameHasOwner(BUS_NAME), timeout=CALL_TIMEOUT_S),
        "NameHasOwner",
        "b",
    )
    if owned:
        return True
    (activatable,) = _checked(
        conn.send_and_get_reply(message_bus.ListActivatableNames(), timeout=CALL_TIMEOUT_S),
        "ListActivatableNames",
        "as",
    )
    return BUS_NAME in activatable
