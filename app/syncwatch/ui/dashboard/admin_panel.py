"""Admin: every setting with its validation message, the database, the hub's /metrics,
autostart at login, and "Copy diagnostics" for bug reports.

Autostart is a file on disk (an XDG autostart entry), written by main.py through
syncwatch.desktop: the panel asks with ``autostartRequested(bool)`` and main.py answers
with :meth:`AdminPanel.show_autostart` (the state read back from the disk, and a message
if writing failed). "Copy diagnostics" works the same way: the panel asks with
``diagnosticsRequested()``, main.py builds the report, puts it on the clipboard and answers
with :meth:`AdminPanel.show_diagnostics_status`, a quiet line beside the button.

Each setting is saved when its editor is left (or toggled) and only if
``Settings.validate`` accepts it; otherwise the message appears beside the field in red and
nothing is saved, so a half-typed URL never reaches the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from PySide6.QtCore import Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from syncwatch.core.alerts import NotificationKind
from syncwatch.qt.settings import (
    FIELDS,
    FLOATING_SIZES,
    THEMES,
    TRAY_ICON_SETS,
    Settings,
    SettingsError,
)
from syncwatch.qt.workers import Outcome, WorkDone, run_in_thread
from syncwatch.ui.presenter import format_bytes

if TYPE_CHECKING:
    from syncwatch.qt.model import SyncStateModel

#: Field name -> label shown; the order is the form's order.
LABELS: Final = {
    "hub_url": "Hub URL (empty: embedded hub)",
    "token": "Token",
    "ca_file": "CA certificate file",
    "ping_interval_s": "Ping interval (s)",
    "ping_timeout_s": "Ping timeout (s)",
    "health_check_interval_s": "Health check interval (s)",
    "error_window_s": "Error-rate window (s)",
    "warning_error_rate_pct": "Warning above error rate (%)",
    "critical_error_rate_pct": "Critical above error rate (%)",
    "warning_active_ops": "Warning above active operations",
    "retention_operations_days": "Keep operations (days)",
    "retention_snapshots_days": "Keep health snapshots (days)",
    "floating_opacity": "Floating widget opacity (0.2-1)",
    "floating_size": "Floating widget size",
    "floating_visible": "Show floating widget",
    "theme": "Theme",
    "tray_icon_set": "Tray icon set",
    "disconnect_grace_s": "Disconnect alert after (s)",
}
_CHOICES: Final = {
    "floating_size": FLOATING_SIZES,
    "theme": THEMES,
    "tray_icon_set": TRAY_ICON_SETS,
}
_KIND_LABELS: Final = {
    NotificationKind.HEALTH_CRITICAL: "Health became critical",
    NotificationKind.CONNECTION_LOST: "Connection lost",
    NotificationKind.CONNECTION_RESTORED: "Connection restored",
    NotificationKind.OPERATIONS_FAILED: "Operations failed (summarised)",
    NotificationKind.SOURCE_STALE: "A source stopped syncing",
}
ERROR_STYLE: Final = "color: #c62828;"
#: Settings with their own controls elsewhere in the panel.
_ELSEWHERE: Final = frozenset({"autostart"})


class AdminPanel(QScrollArea):
    """Settings, notifications, database, hub metrics and autostart (see module doc).

    Signals:
        autostartRequested(bool): the user switched "start at login" on or off.
        diagnosticsRequested(): the user pressed "Copy diagnostics".
    """

    autostartRequested = Signal(bool)  # noqa: N815
    diagnosticsRequested = Signal()  # noqa: N815

    def __init__(
        self, model: SyncStateModel, settings: Settings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._model = model
        self._settings = settings
        #: Editors and their message labels by setting name.
        self.editors: dict[str, QWidget] = {}
        self.messages: dict[str, QLabel] = {}
        #: Outstanding database-info read.
        self._job: WorkDone | None = None
        body = QWidget()
        grid = QGridLayout(body)
        grid.addWidget(self._settings_box(), 0, 0, 4, 1)
        grid.addWidget(self._notifications_box(), 0, 1)
        grid.addWidget(self._database_box(), 1, 1)
        grid.addWidget(self._hub_box(), 2, 1)
        grid.addWidget(self._bug_report_box(), 3, 1)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 2)
        self.setWidget(body)
        self.setWidgetResizable(True)
        model.hubMetricsReceived.connect(self.hub_metrics.setPlainText)

    # ------------------------------------------------------------------ settings

    def _settings_box(self) -> QGroupBox:
        box = QGroupBox("Settings")
        form = QFormLayout(box)
        for name in _form_fields():
            editor = self._editor(name)
            message = QLabel("")
            message.setStyleSheet(ERROR_STYLE)
            message.setWordWrap(True)
            message.hide()
            cell = QWidget()
            column = QVBoxLayout(cell)
            column.setContentsMargins(0, 0, 0, 0)
            column.setSpacing(1)
            column.addWidget(editor)
            column.addWidget(message)
            form.addRow(_label(name), cell)
            self.editors[name] = editor
            self.messages[name] = message
        self.autostart_box = QCheckBox("Start Syncwatch when I log in")
        self.autostart_box.setChecked(bool(self._settings.get("autostart")))
        self.autostart_box.toggled.connect(self.autostartRequested)
        self.autostart_message = QLabel("")
        form.addRow("Autostart", self.autostart_box)
        form.addRow("", self.autostart_message)
        return box

    def _editor(self, name: str) -> QWidget:
        value = self._settings.get(name)
        kind = FIELDS[name].kind
        if name in _CHOICES:
            combo = QComboBox()
            combo.addItems(list(_CHOICES[name]))
            combo.setCurrentText(str(value))
            combo.currentTextChanged.connect(lambda text, n=name: self.save(n, text))
            return combo
        if kind is bool:
            check = QCheckBox()
            check.setChecked(bool(value))
            check.toggled.connect(lambda on, n=name: self.save(n, on))
            return check
        line = QLineEdit(str(value))
        if name == "token":
            line.setEchoMode(QLineEdit.EchoMode.Password)
            self.token_edit = line
            self._show_token_location()
        line.editingFinished.connect(lambda n=name, w=line: self.save(n, w.text()))
        return line

    def save(self, name: str, raw: object) -> bool:
        """Convert, validate and save one field; show the reason and keep the old value if
        it is refused. Returns whether it was saved."""
        value = _convert(raw, FIELDS[name].kind)
        error = self._settings.validate(name, value)
        if error is None:
            try:
                self._settings.set(name, value)
            except SettingsError as exc:
                error = exc.message
        message = self.messages[name]
        message.setText("" if error is None else f"{_label(name).split(' (')[0]} {error}")
        message.setVisible(error is not None)
        if name == "token":
            self._show_token_location()
        return error is None

    def _show_token_location(self) -> None:
        """Say where the token is kept: the desktop keyring, or the private file."""
        where = f"kept in {self._settings.token_location}"
        self.token_edit.setPlaceholderText(where)
        self.token_edit.setToolTip(f"The hub token is {where}, never in the settings file.")

    def show_autostart(self, enabled: bool, message: str = "") -> None:
        """Show the autostart state as it is on disk (main.py calls this after a change)."""
        self.autostart_box.blockSignals(True)
        self.autostart_box.setChecked(enabled)
        self.autostart_box.blockSignals(False)
        self.autostart_message.setText(message)
        if self._settings.get("autostart") != enabled:
            self._settings.set("autostart", enabled)

    # ------------------------------------------------------------------ notifications

    def _notifications_box(self) -> QGroupBox:
        box = QGroupBox("Notifications")
        column = QVBoxLayout(box)
        self.kind_boxes: dict[NotificationKind, QCheckBox] = {}
        for kind, label in _KIND_LABELS.items():
            check = QCheckBox(label)
            check.setChecked(self._settings.notification_kind_enabled(kind.value))
            check.toggled.connect(lambda on, k=kind: self._set_kind(k, on))
            column.addWidget(check)
            self.kind_boxes[kind] = check
        return box

    def _set_kind(self, kind: NotificationKind, enabled: bool) -> None:
        self._settings.set_notification_kind_enabled(kind.value, enabled)
        self._model.set_notification_kind_enabled(kind.value, enabled)

    # ------------------------------------------------------------------ database

    def _database_box(self) -> QGroupBox:
        box = QGroupBox("History database")
        form = QFormLayout(box)
        self.db_path = QLabel("—")
        self.db_path.setWordWrap(True)
        self.db_size = QLabel("—")
        self.db_rows = QLabel("—")
        self.db_rows.setWordWrap(True)
        cleanup = QPushButton("Clean up now")
        cleanup.setToolTip("Delete rows older than the retention periods")
        cleanup.clicked.connect(self._model.cleanup_now)
        compact = QPushButton("Compact database")
        compact.clicked.connect(self._model.compact_database)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh_database)
        buttons = QHBoxLayout()
        for button in (cleanup, compact, refresh):
            buttons.addWidget(button)
        form.addRow("Location", self.db_path)
        form.addRow("Size", self.db_size)
        form.addRow("Rows", self.db_rows)
        form.addRow(buttons)
        return box

    def refresh_database(self) -> None:
        """Read the database's location and size on a worker thread (it counts rows)."""
        model = self._model

        def done(outcome: Outcome[Any]) -> None:
            self._job = None
            info = outcome.value
            if outcome.error is not None or info is None:
                self.db_path.setText(f"unavailable ({outcome.error or 'no store'})")
                return
            self.db_path.setText(str(info.path))
            self.db_size.setText(format_bytes(float(info.size_bytes)))
            counts = getattr(info, "row_counts", {}) or {}
            self.db_rows.setText(", ".join(f"{k} {v:,}" for k, v in counts.items()) or "—")

        self._job = run_in_thread(model.database_info, done)

    # ------------------------------------------------------------------ hub

    def _hub_box(self) -> QGroupBox:
        box = QGroupBox("Hub metrics (/metrics)")
        column = QVBoxLayout(box)
        self.hub_metrics = QPlainTextEdit()
        self.hub_metrics.setReadOnly(True)
        self.hub_metrics.setPlaceholderText("Press Refresh to read the hub's /metrics")
        self.hub_metrics.setMinimumHeight(140)
        fetch = QPushButton("Refresh")
        fetch.clicked.connect(self._model.request_hub_metrics)
        column.addWidget(self.hub_metrics)
        column.addWidget(fetch)
        return box

    # ------------------------------------------------------------------ bug report

    def _bug_report_box(self) -> QGroupBox:
        box = QGroupBox("Bug report")
        column = QVBoxLayout(box)
        self.diagnostics_button = QPushButton("Copy diagnostics")
        self.diagnostics_button.setToolTip(
            "Copy versions, settings (without secrets) and the recent log to the clipboard"
        )
        self.diagnostics_button.clicked.connect(self.diagnosticsRequested)
        self.diagnostics_status = QLabel("Versions, settings without secrets, the recent log.")
        self.diagnostics_status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.diagnostics_button)
        row.addWidget(self.diagnostics_status, 1)
        column.addLayout(row)
        return box

    def show_diagnostics_status(self, text: str, *, error: bool = False) -> None:
        """What became of "Copy diagnostics" (main.py calls this when it is done)."""
        self.diagnostics_status.setText(text)
        self.diagnostics_status.setStyleSheet(ERROR_STYLE if error else "")

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        self.refresh_database()


def _form_fields() -> list[str]:
    """Every setting the form edits: the known ones in a sensible order, then any others
    the settings define (so a new setting is never missing from the panel)."""
    names = [n for n in LABELS if n in FIELDS]
    names += [n for n in FIELDS if n not in LABELS and n not in _ELSEWHERE]
    return names


def _label(name: str) -> str:
    return LABELS.get(name) or name.replace("_", " ").capitalize()


def _convert(raw: object, kind: type) -> object:
    """Text from an editor as the field's type; unconvertible text is passed on as is, so
    that the validator words the complaint."""
    if not isinstance(raw, str) or kind is str:
        return raw
    text = raw.strip()
    convert: Callable[[str], object] = int if kind is int else float
    try:
        return convert(text)
    except ValueError:
        return text
