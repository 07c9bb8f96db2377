"""Logging to a rotating file, and the "copy diagnostics" text users paste into bug reports.

A tray app has no terminal: when something goes wrong, the log file is the only witness.
:func:`setup_logging` writes it under the platform's log directory (platformdirs: on
Linux ``~/.local/state/syncwatch/log``), rotating at 1 MiB with 5 old files kept, so it
never grows without bound; ``--verbose`` adds debug messages. A log directory that cannot
be created must not stop the app from starting: logging then goes to stderr only.

:func:`diagnostics_report` builds the text of "copy diagnostics": versions of everything
that matters for a Qt desktop bug (Python, PySide6, Qt, websockets, peewee, pyqtgraph,
the OS and the desktop session), the settings with every secret redacted, and the end of
the log. Secrets are removed by name (token, password, secret...) and from URLs and log
lines too, because a token pasted into a public issue is a token leaked; the tokens the
app actually holds (``known_secrets``) are also removed wherever they appear, whatever
surrounds them.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import platform
import re
import sys
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final, TextIO
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import platformdirs

LOG_FILE_NAME: Final = "syncwatch.log"
LOG_MAX_BYTES: Final = 1024 * 1024
LOG_BACKUPS: Final = 5
LOG_FORMAT: Final = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
REDACTED: Final = "<redacted>"
#: A known secret shorter than this is not searched for in the text: replacing every "ab"
#: would make the report unreadable, and such a value is no secret worth the name.
MIN_KNOWN_SECRET_LEN: Final = 6

#: A setting, query parameter or log field whose name contains one of these is a secret.
SECRET_WORDS: Final = ("token", "password", "passwd", "secret", "apikey", "api_key", "credential")
#: Distributions whose versions a bug report needs (looked up without importing them).
REPORTED_PACKAGES: Final = (
    "syncwatch", "PySide6-Essentials", "PySide6", "shiboken6", "qasync", "websockets",
    "peewee", "pyqtgraph", "numpy", "orjson", "platformdirs",
)  # fmt: skip
#: Environment variables that decide how Qt meets the desktop (tray, Wayland, scaling).
DESKTOP_VARIABLES: Final = (
    "XDG_CURRENT_DESKTOP", "XDG_SESSION_TYPE", "DESKTOP_SESSION", "WAYLAND_DISPLAY",
    "DISPLAY", "QT_QPA_PLATFORM", "QT_SCALE_FACTOR", "QT_QPA_PLATFORMTHEME",
)  # fmt: skip

_SECRET_IN_TEXT: Final = re.compile(
    r"(?P<name>[\w.-]*(?:" + "|".join(SECRET_WORDS) + r")[\w.-]*)"
    r"(?P<sep>[\"']?\s*[=:]\s*[\"']?)(?P<value>[^\s\"'&,;]+)",
    re.IGNORECASE,
)


def default_log_dir() -> Path:
    """Where the log lives on this platform (created on first use)."""
    return platformdirs.user_log_path("syncwatch", appauthor=False)


@dataclass(frozen=True, slots=True)
class LoggingSetup:
    """What :func:`setup_logging` installed, so that it can be undone (tests, re-runs)."""

    #: The log file, or None when its directory could not be created.
    log_file: Path | None
    #: The handlers added to the root logger.
    handlers: tuple[logging.Handler, ...]

    def close(self) -> None:
        root = logging.getLogger()
        for handler in self.handlers:
            root.removeHandler(handler)
            handler.close()


def setup_logging(
    *, verbose: bool, log_dir: Path | None = None, stream: TextIO | None = None
) -> LoggingSetup:
    """Log to a rotating file (everything at the chosen level) and to ``stream`` (stderr).

    Without ``verbose`` the file gets INFO and above and the terminal only warnings;
    with it both get DEBUG, except websockets' per-frame chatter and qasync's, which stay
    at INFO: qasync logs the result of every executor job at DEBUG, whatever it holds (a
    token read from the keyring was one, found by tests/security).
    """
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for chatty in ("websockets", "qasync"):
        logging.getLogger(chatty).setLevel(logging.INFO)
    formatter = logging.Formatter(LOG_FORMAT)
    console = logging.StreamHandler(stream if stream is not None else sys.stderr)
    console.setLevel(logging.DEBUG if verbose else logging.WARNING)
    console.setFormatter(formatter)
    handlers: list[logging.Handler] = [console]
    path = (log_dir or default_log_dir()) / LOG_FILE_NAME
    log_file: Path | None = None
    problem = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
        )
    except OSError as exc:
        problem = exc
    else:
        file_handler.setFormatter(formatter)
        handlers.append(file_handler)
        log_file = path
    for handler in handlers:
        root.addHandler(handler)
    if problem is not None:
        logging.getLogger(__name__).warning("no log file, logging to stderr only: %s", problem)
    return LoggingSetup(log_file, tuple(handlers))


def is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


def redact_url(url: str) -> str:
    """``url`` without a password in its user part or secret query parameters."""
    try:
        parts = urlsplit(url)
        has_password = parts.password is not None
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if has_password:
        netloc = f"{parts.username or ''}:{REDACTED}@{netloc.rpartition('@')[2]}"
    query = urlencode(
        [(k, REDACTED if is_secret_name(k) else v) for k, v in parse_qsl(parts.query, True)],
        safe="<>",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    """``text`` with every ``secretname=value`` / ``"secretname": "value"`` value hidden."""
    return _SECRET_IN_TEXT.sub(lambda m: f"{m['name']}{m['sep']}{REDACTED}", text)


def redact_settings(settings: Mapping[str, object]) -> dict[str, object]:
    """A copy of ``settings`` that is safe to publish; nested mappings are redacted too."""
    safe: dict[str, object] = {}
    for name, value in settings.items():
        if is_secret_name(name):
            safe[name] = REDACTED if value not in ("", None) else "<not set>"
        elif isinstance(value, Mapping):
            safe[name] = redact_settings(value)
        elif isinstance(value, str) and "://" in value:
            safe[name] = redact_url(value)
        elif isinstance(value, str):
            safe[name] = redact_text(value)
        else:
            safe[name] = value
    return safe


def read_log_tail(log_file: Path, lines: int, max_bytes: int = 256 * 1024) -> list[str]:
    """The last ``lines`` lines of the log, reaching into the previous (rotated) file."""
    collected: list[str] = []
    for path in (log_file, log_file.with_name(f"{log_file.name}.1")):
        if len(collected) >= lines:
            break
        try:
            with path.open("rb") as handle:
                size = handle.seek(0, 2)
                handle.seek(max(0, size - max_bytes))
                chunk = handle.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            continue
        file_lines = chunk.splitlines()
        if size > max_bytes and file_lines:
            file_lines = file_lines[1:]  # the first line was cut in the middle
        collected = file_lines + collected
    return collected[-lines:] if lines > 0 else []


def package_versions(names: Sequence[str] = REPORTED_PACKAGES) -> dict[str, str]:
    """Installed versions by distribution name, without importing anything."""
    # importlib.metadata costs ~150 ms and ~2 MiB to import: only when a report is made.
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    found: dict[str, str] = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def runtime_versions() -> dict[str, str]:
    """Python, the OS, and Qt as loaded (PySide6 can run a Qt other than its wheel's)."""
    info = {
        "Python": f"{platform.python_version()} ({platform.python_implementation()})",
        "OS": platform.platform(),
    }
    with contextlib.suppress(OSError):  # no /etc/os-release: not a freedesktop system
        info["Distribution"] = platform.freedesktop_os_release().get("PRETTY_NAME", "?")
    if "PySide6" in sys.modules:  # never import Qt just to report on it
        from PySide6.QtCore import qVersion  # noqa: PLC0415
        from PySide6.QtGui import QGuiApplication  # noqa: PLC0415

        info["Qt"] = qVersion()
        app = QGuiApplication.instance()
        if isinstance(app, QGuiApplication):
            info["Qt platform"] = QGuiApplication.platformName()
    return info


def diagnostics_report(
    *,
    generated_at: datetime,
    versions: Mapping[str, str],
    environment: Mapping[str, str],
    settings: Mapping[str, object],
    log_file: Path | None,
    log_lines: Sequence[str],
    known_secrets: Collection[str] = (),
) -> str:
    """The text of "copy diagnostics": Markdown that reads well pasted into an issue.

    Every value in ``known_secrets`` (the tokens in use) is replaced wherever it appears,
    on top of the redaction by name."""
    out = [f"## Syncwatch diagnostics ({generated_at.isoformat(timespec='seconds')})", ""]
    out += ["### Versions", *(f"- {name}: {value}" for name, value in versions.items()), ""]
    desktop = [f"- {name}={environment[name]}" for name in DESKTOP_VARIABLES if name in environment]
    out += ["### Desktop session", *(desktop or ["- (none of the usual variables set)"]), ""]
    safe = redact_settings(settings)
    out += ["### Settings", *(f"- {name}: {value!r}" for name, value in safe.items()), ""]
    where = str(log_file) if log_file is not None else "no log file"
    out += [f"### Log (last {len(log_lines)} lines of {where})", "```"]
    out += [redact_text(line) for line in log_lines]
    out += ["```", ""]
    text = "\n".join(out)
    for secret in sorted(known_secrets, key=len, reverse=True):  # longest first: no leftovers
        if len(secret) >= MIN_KNOWN_SECRET_LEN:
            text = text.replace(secret, REDACTED)
    return text


def collect_diagnostics(
    settings: Mapping[str, object],
    log_file: Path | None,
    *,
    now: datetime,
    environment: Mapping[str, str],
    lines: int = 200,
    known_secrets: Collection[str] = (),
) -> str:
    """:func:`diagnostics_report` for this process: what main.py puts on the clipboard.

    It reads the log's end and looks up package versions (tens of milliseconds, more on a
    slow disk), so main.py calls it on a worker thread; its only Qt calls read values fixed
    at start-up (the Qt version, the platform plugin's name)."""
    return diagnostics_report(
        generated_at=now,
        versions={**package_versions(), **runtime_versions()},
        environment=environment,
        settings=settings,
        log_file=log_file,
        log_lines=read_log_tail(log_file, lines) if log_file is not None else [],
        known_secrets=known_secrets,
    )
