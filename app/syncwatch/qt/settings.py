"""The user's settings: typed, validated, persisted with QSettings.

Every field has one validator, used both by the admin panel (to show the message next to
the field while the user types) and by :meth:`Settings.set` (which refuses an invalid
value with :class:`SettingsError` and never writes it). Values read back from a settings
file that someone edited by hand are validated too: an invalid stored value falls back to
the default instead of reaching the engine, and a warning naming the setting and the rule
it broke is logged once (not its value, which may be a URL with credentials in it).

The token is a secret and never goes into the QSettings file, which other tools back up
and sync: a :class:`~syncwatch.client.token_store.TokenStore` keeps it in the desktop's
keyring when there is one, else in ``token`` in the config directory with mode 0600
(readable by the user only). A keyring that refuses a new token makes the save fail with
its reason, like any invalid value.

Signals:
    changed(str): a setting was saved; carries its name.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from PySide6.QtCore import QObject, QSettings, Signal

from syncwatch.client.engine import EngineConfig, RetentionPolicy
from syncwatch.client.token_store import (
    KeyringOpener,
    TokenStore,
    TokenStoreError,
    desktop_keyring,
)
from syncwatch.core.health import DEFAULT_THRESHOLDS, HealthThresholds
from syncwatch.core.protocol import MAX_SAFE_INT


class SettingsError(ValueError):
    """A value the settings refuse; the message says why, in words for the user."""

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        self.message = message
        super().__init__(f"{name}: {message}")


#: C0, DEL and C1 control characters: what a terminal, a log line or an INI file misreads.
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_URL_LEN: Final = 2048
MAX_TOKEN_LEN: Final = 4096
MAX_PATH_LEN: Final = 4096
THEMES: Final = ("system", "light", "dark")
FLOATING_SIZES: Final = ("small", "medium", "large")
#: The tray's icon set: "auto" follows the desktop's colour scheme (see
#: syncwatch.ui.icons.icon_theme_for); the others name a set of syncwatch.ui.icons.IconTheme.
TRAY_ICON_SETS: Final = ("auto", "colour", "mono-light", "mono-dark")

#: How a stored value of the wrong type is described in the warning.
_KIND_WORDS: Final[Mapping[type, str]] = {
    bool: "true or false",
    int: "a whole number",
    float: "a number",
    str: "text",
}

log = logging.getLogger(__name__)


def _check_text(value: object, max_len: int) -> str | None:
    if not isinstance(value, str):
        return f"must be text, got {type(value).__name__}"
    if len(value) > max_len:
        return f"is {len(value)} characters long; the limit is {max_len}"
    if _CONTROL.search(value):
        return "contains control characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: cannot be saved nor sent
        return "is not valid text (it contains a broken character)"
    return None


def validate_hub_url(value: object) -> str | None:
    """Empty (the embedded hub) or a ws:// / wss:// URL with a host and no credentials."""
    error = _check_text(value, MAX_URL_LEN)
    if error or value == "":
        return error
    assert isinstance(value, str)
    if value != value.strip() or " " in value:
        return "must not contain spaces"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme not in ("ws", "wss"):
        return "must start with ws:// or wss://"
    if not parts.hostname:
        return "has no host name"
    if parts.username is not None or parts.password is not None:
        return "must not contain a user name or password: put the token in the Token field"
    if port == 0:
        return "port 0 is not a port a hub can listen on"
    if parts.fragment:
        return "must not contain a #fragment"
    return None


def validate_token(value: object) -> str | None:
    """Any printable text without spaces (or empty: no token)."""
    error = _check_text(value, MAX_TOKEN_LEN)
    if error:
        return error
    assert isinstance(value, str)
    if any(ch.isspace() for ch in value):
        return "must not contain spaces or line breaks"
    return None


def validate_ca_file(value: object) -> str | None:
    """Empty (the system's CAs) or a readable file."""
    error = _check_text(value, MAX_PATH_LEN)
    if error or value == "":
        return error
    assert isinstance(value, str)
    try:
        path = Path(value).expanduser()
        if not path.is_file():
            return f"{value!r} does not exist or is not a file"
    except (RuntimeError, OSError) as exc:  # ~nosuchuser, a name too long for the system
        return f"{value!r} cannot be used as a file name ({exc})"
    if not os.access(path, os.R_OK):
        return f"{value!r} is not readable"
    return None


def _number(low: float, high: float, *, integer: bool, unit: str) -> Callable[[object], str | None]:
    def check(value: object) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a number, got {type(value).__name__}"
        if integer and not (isinstance(value, int) or float(value).is_integer()):
            return "must be a whole number"
        if not math.isfinite(value) or not low <= value <= high:
            return f"must be between {low:g} and {high:g}{unit}"
        return None

    return check


def _choice(choices: tuple[str, ...]) -> Callable[[object], str | None]:
    def check(value: object) -> str | None:
        if value not in choices:
            return f"must be one of {', '.join(choices)}"
        return None

    return check


def _boolean(value: object) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


@dataclass(frozen=True, slots=True)
class Field:
    """One setting: its default, its type and the rule its values obey."""

    default: Any
    kind: type
    validate: Callable[[object], str | None]


FIELDS: Final[Mapping[str, Field]] = {
    "hub_url": Field("", str, validate_hub_url),
    "token": Field("", str, validate_token),
    "ca_file": Field("", str, validate_ca_file),
    "ping_interval_s": Field(10.0, float, _number(1, 300, integer=False, unit=" s")),
    "ping_timeout_s": Field(10.0, float, _number(1, 300, integer=False, unit=" s")),
    "health_check_interval_s": Field(120, int, _number(10, 86_400, integer=True, unit=" s")),
    "error_window_s": Field(900, int, _number(60, 86_400, integer=True, unit=" s")),
    "warning_error_rate_pct": Field(
        DEFAULT_THRESHOLDS.warning_error_rate, float, _number(0, 100, integer=False, unit=" %")
    ),
    "critical_error_rate_pct": Field(
        DEFAULT_THRESHOLDS.critical_error_rate, float, _number(0, 100, integer=False, unit=" %")
    ),
    "warning_active_ops": Field(
        DEFAULT_THRESHOLDS.warning_active_ops, int, _number(1, 1_000_000, integer=True, unit="")
    ),
    "disconnect_grace_s": Field(
        DEFAULT_THRESHOLDS.disconnect_grace_s, float, _number(0, 3600, integer=False, unit=" s")
    ),
    "retention_operations_days": Field(30, int, _number(1, 3650, integer=True, unit=" days")),
    "retention_snapshots_days": Field(90, int, _number(1, 3650, integer=True, unit=" days")),
    "floating_opacity": Field(0.92, float, _number(0.2, 1.0, integer=False, unit="")),
    "floating_size": Field("medium", str, _choice(FLOATING_SIZES)),
    "floating_visible": Field(True, bool, _boolean),
    "theme": Field("system", str, _choice(THEMES)),
    "tray_icon_set": Field("colour", str, _choice(TRAY_ICON_SETS)),
    "autostart": Field(False, bool, _boolean),
}

#: Settings stored outside QSettings (see the module docstring).
_SECRET_FIELDS: Final = frozenset({"token"})
_SCREEN_NAME: Final = re.compile(r"[^A-Za-z0-9_.-]")
_MAX_NOTIFICATION_KIND_LEN: Final = 64


class Settings(QObject):
    """Typed, validated settings (see the module docstring).

    ``store`` is the QSettings to use (tests pass an INI file); ``tokens`` keeps the token
    (by default in the keyring, else in ``token`` in ``config_dir``). Read a value with
    :meth:`get` or the typed properties, change it with :meth:`set`, which validates first.

    Signals:
        changed(str): a setting was saved; carries its name.
    """

    changed = Signal(str)

    def __init__(
        self,
        store: QSettings,
        config_dir: Path,
        parent: QObject | None = None,
        *,
        tokens: TokenStore | None = None,
    ) -> None:
        super().__init__(parent)
        #: Where non-secret values live.
        self._store = store
        #: Where the token lives (keyring or a 0600 file in config_dir).
        self._tokens = tokens if tokens is not None else TokenStore(config_dir / "token")
        #: (name, stored text) pairs already reported as invalid: warned once, not per read.
        self._warned: set[tuple[str, str]] = set()

    @classmethod
    def open(
        cls,
        config_dir: Path,
        parent: QObject | None = None,
        *,
        keyring: KeyringOpener | None = desktop_keyring,
    ) -> Settings:
        """The settings file ``syncwatch.ini`` in ``config_dir`` (created on first save);
        the token in the keyring ``keyring`` opens (None: only the token file)."""
        store = QSettings(str(config_dir / "syncwatch.ini"), QSettings.Format.IniFormat)
        return cls(store, config_dir, parent, tokens=TokenStore(config_dir / "token", keyring))

    # ------------------------------------------------------------------ generic access

    @staticmethod
    def validate(name: str, value: object) -> str | None:
        """Why ``value`` cannot be saved as ``name``, or None when it can."""
        field = FIELDS.get(name)
        if field is None:
            return f"unknown setting {name!r}"
        return field.validate(value)

    def get(self, name: str) -> Any:
        """The saved value, or the default when none is saved or the saved one is invalid."""
        field = FIELDS.get(name)
        if field is None:
            raise KeyError(name)
        if name in _SECRET_FIELDS:
            return self._tokens.read(lambda token: validate_token(token) is None)
        raw = self._store.value(name)
        if raw is None:
            return field.default
        value = _coerce(raw, field.kind)
        problem = f"is not {_KIND_WORDS[field.kind]}" if value is None else field.validate(value)
        if problem is not None:
            self._warn_invalid(name, raw, problem, field.default)
            return field.default
        return value

    def _warn_invalid(self, name: str, raw: object, problem: str, default: object) -> None:
        key = (name, repr(raw))
        if key not in self._warned:
            self._warned.add(key)
            log.warning(
                "settings: the saved %s %s; using the default %r instead", name, problem, default
            )

    def set(self, name: str, value: object) -> None:
        """Validate and save; raises SettingsError (and saves nothing) when invalid."""
        error = self.validate(name, value) or self._check_together(name, value)
        if error is not None:
            raise SettingsError(name, error)
        field = FIELDS[name]
        if field.kind is float:
            value = float(value)  # type: ignore[arg-type]
        elif field.kind is int:
            value = int(value)  # type: ignore[call-overload]
        if name in _SECRET_FIELDS:
            assert isinstance(value, str)
            try:
                self._tokens.write(value)
            except TokenStoreError as exc:
                raise SettingsError(name, str(exc)) from None
        else:
            self._store.setValue(name, value)
            self._store.sync()
        self.changed.emit(name)

    def _check_together(self, name: str, value: object) -> str | None:
        """Rules between fields: the warning line may not be above the critical one."""
        if name == "warning_error_rate_pct" and float(value) > self.get("critical_error_rate_pct"):  # type: ignore[arg-type]
            return "must not be above the critical error rate"
        if name == "critical_error_rate_pct" and float(value) < self.get("warning_error_rate_pct"):  # type: ignore[arg-type]
            return "must not be below the warning error rate"
        return None

    def engine_config(self, hub_url: str | None = None) -> EngineConfig:
        """What the engine needs from these settings; ``hub_url`` overrides the saved one
        (the embedded hub's address when the setting is empty, or ``--hub``)."""
        thresholds = HealthThresholds(
            window_s=float(self.get("error_window_s")),
            critical_error_rate=self.get("critical_error_rate_pct"),
            warning_error_rate=min(
                self.get("warning_error_rate_pct"), self.get("critical_error_rate_pct")
            ),
            warning_active_ops=self.get("warning_active_ops"),
            disconnect_grace_s=self.get("disconnect_grace_s"),
        )
        return EngineConfig(
            hub_url=hub_url if hub_url is not None else self.hub_url,
            token=self.token or None,
            ca_file=self.ca_file or None,
            ping_interval_s=self.get("ping_interval_s"),
            ping_timeout_s=self.get("ping_timeout_s"),
            health_check_interval_s=float(self.get("health_check_interval_s")),
            thresholds=thresholds,
            retention=RetentionPolicy(
                operations_days=self.get("retention_operations_days"),
                snapshots_days=self.get("retention_snapshots_days"),
            ),
        )

    def values(self) -> dict[str, Any]:
        """Every setting's current value, by name."""
        return {name: self.get(name) for name in FIELDS}

    # ------------------------------------------------------------------ typed shortcuts

    @property
    def hub_url(self) -> str:
        return str(self.get("hub_url"))

    @property
    def token(self) -> str:
        return str(self.get("token"))

    @property
    def ca_file(self) -> str:
        return str(self.get("ca_file"))

    @property
    def token_path(self) -> Path:
        """The file that keeps the token (mode 0600) when there is no keyring."""
        return self._tokens.path

    def load_token(self) -> None:
        """Read the token from its store now (it may ask the keyring, which may ask the
        user): call it from a worker thread once at start-up; later reads are instant."""
        self.get("token")

    @property
    def token_location(self) -> str:
        """Where the token is kept, in words (the keyring, or the file)."""
        return self._tokens.location

    # ------------------------------------------------------------------ notifications

    def notification_kind_enabled(self, kind: str) -> bool:
        """Whether notifications of ``kind`` (a core NotificationKind value) are shown."""
        raw = self._store.value(f"notifications/{_check_kind(kind)}")
        value = _coerce(raw, bool) if raw is not None else None
        return True if value is None else bool(value)

    def set_notification_kind_enabled(self, kind: str, enabled: bool) -> None:
        if not isinstance(enabled, bool):
            raise SettingsError(f"notifications/{kind}", "must be true or false")
        self._store.setValue(f"notifications/{_check_kind(kind)}", enabled)
        self._store.sync()
        self.changed.emit(f"notifications/{kind}")

    # ------------------------------------------------------------------ floating widget

    def floating_position(self, screen: str) -> tuple[int, int] | None:
        """Where the floating widget was last left on the screen named ``screen``."""
        raw = self._store.value(f"floating_position/{_screen_key(screen)}")
        if not isinstance(raw, str):
            return None
        try:
            x_text, y_text = raw.split(",")
            x, y = int(x_text), int(y_text)
        except ValueError:
            return None
        if not (abs(x) <= 100_000 and abs(y) <= 100_000):
            return None
        return x, y

    def set_floating_position(self, screen: str, x: int, y: int) -> None:
        for axis, value in (("x", x), ("y", y)):
            if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 100_000:
                raise SettingsError("floating_position", f"{axis} must be a whole number of pixels")
        self._store.setValue(f"floating_position/{_screen_key(screen)}", f"{x},{y}")
        self._store.sync()
        self.changed.emit("floating_position")


def _coerce(raw: object, kind: type) -> Any:
    """A QSettings value (INI files give back strings) as ``kind``, or None if it is not one."""
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        return None
    if kind is int or kind is float:
        if isinstance(raw, bool):
            return None
        try:
            number = float(raw) if isinstance(raw, str | int | float) else None
        except ValueError:
            return None
        if number is None or not math.isfinite(number):
            return None
        if kind is int:
            return int(number) if number.is_integer() and abs(number) <= MAX_SAFE_INT else None
        return number
    return raw if isinstance(raw, str) else None


def _check_kind(kind: str) -> str:
    if (
        not isinstance(kind, str)
        or not kind
        or len(kind) > _MAX_NOTIFICATION_KIND_LEN
        or _SCREEN_NAME.search(kind)
    ):
        raise SettingsError("notifications", f"{kind!r} is not a notification kind")
    return kind


def _screen_key(screen: str) -> str:
    """A QSettings key for a screen name (names like 'HDMI-1' or 'DP-2'; '/' would nest)."""
    if not isinstance(screen, str):
        raise SettingsError("floating_position", "screen name must be text")
    return _SCREEN_NAME.sub("_", screen)[:64] or "default"
