"""The composition root of the desktop app: builds every object and wires them together.

Nothing else in the app constructs its own collaborators: this module creates the
embedded hub (when no hub is configured), the history store and its writer thread, the
engine, the Qt model, the network monitor and the faces, and routes the faces' intents
(quit, start at login, copy diagnostics) to the pieces that carry them out.

Start-up order serves the half-second "tray icon shown" target: the QApplication and a
"starting" tray icon come first (only PySide6 and the icon code are imported by then),
and the engine, store and hub are imported afterwards.

Shutdown (Quit, SIGTERM, SIGINT) is one path: stop the demo, stop the engine (the link
closes with 1000), drain the store writer (every received update is committed), stop
the embedded hub (its log flushed), then leave the event loop with exit status 0.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import dataclasses
import hashlib
import logging
import os
import secrets
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication, QSystemTrayIcon

    from syncwatch.qt.model import SyncStateModel
    from syncwatch.qt.settings import Settings
    from syncwatch.ui.faces import Faces


log = logging.getLogger("syncwatch")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
#: How long a clean shutdown may take before the remaining work is abandoned.
SHUTDOWN_TIMEOUT_S = 15.0
#: How long a second launch waits for the first one to listen (it may still be starting).
SECOND_LAUNCH_WAIT_S = 10.0
#: Updates the self-check publishes and expects to find in the history.
SELF_CHECK_UPDATES = 60


@dataclass(frozen=True, slots=True)
class LaunchOptions:
    """The command line after validation: what this run overrides in the saved settings."""

    hub_url: str | None
    token: str | None
    data_dir: Path
    config_dir: Path
    demo: bool
    verbose: bool
    self_check: bool


class UsageError(Exception):
    """A command-line value the app cannot run with; the message says which and why."""


def run(args: argparse.Namespace) -> int:
    """Run the desktop app (or its self-check) with the options of `syncwatch`."""
    started = time.monotonic()
    try:
        options = _launch_options(args)
    except UsageError as exc:
        print(f"syncwatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from syncwatch.diagnostics import setup_logging  # noqa: PLC0415

    logging_setup = setup_logging(verbose=options.verbose)
    try:
        if options.self_check:
            return _run_self_check(options)
        problem = _display_problem()
        if problem is not None:
            print(problem, file=sys.stderr)
            return EXIT_USAGE
        return _run_gui(options, started, logging_setup.log_file)
    finally:
        logging_setup.close()


def _launch_options(args: argparse.Namespace) -> LaunchOptions:
    hub_url = args.hub
    if hub_url is not None:
        from syncwatch.qt.settings import validate_hub_url  # noqa: PLC0415

        problem = validate_hub_url(hub_url)
        if problem is not None:
            raise UsageError(f"--hub: {problem}")
    token = None
    if args.token_file is not None:
        try:
            token = args.token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--token-file: cannot read {args.token_file}: {exc}") from None
        if not token or any(ch.isspace() or not ch.isprintable() for ch in token):
            raise UsageError(f"--token-file: {args.token_file} does not hold a single token")
    data_dir = args.data_dir or platformdirs.user_data_path("syncwatch", appauthor=False)
    if data_dir.exists() and not data_dir.is_dir():
        raise UsageError(f"--data-dir: {data_dir} exists and is not a directory")
    config_dir = (
        data_dir / "config"
        if args.data_dir is not None
        else platformdirs.user_config_path("syncwatch", appauthor=False)
    )
    return LaunchOptions(
        hub_url=hub_url,
        token=token,
        data_dir=data_dir,
        config_dir=config_dir,
        demo=args.demo,
        verbose=args.verbose,
        self_check=args.self_check,
    )


def _display_problem() -> str | None:
    """Why a GUI cannot start here, in words with the way out; None if it can."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform.startswith(("offscreen", "minimal", "vnc", "eglfs", "linuxfb")):
        return None
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return (
            "syncwatch: no display (neither DISPLAY nor WAYLAND_DISPLAY is set).\n"
            "  Syncwatch is a desktop app: start it from a desktop session, or under a virtual\n"
            "  X server with a system tray: `make run-xvfb` (or packaging/with-xvfb syncwatch).\n"
            "  To check the engine without any display: syncwatch --self-check"
        )
    return None


# --------------------------------------------------------------------------- the GUI


#: Qt messages that say nothing to a user (the offscreen platform of --self-check).
_QT_NOISE = ("does not support propagateSizeHints",)


def _route_qt_messages_to_logging() -> None:
    """Qt's warnings go to our log (file and stderr) like everything else, so that a bug
    report's diagnostics include them."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler  # noqa: PLC0415

    qt_log = logging.getLogger("syncwatch.qt-messages")
    levels = {
        QtMsgType.QtDebugMsg: logging.DEBUG,
        QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.WARNING,
        QtMsgType.QtCriticalMsg: logging.ERROR,
        QtMsgType.QtFatalMsg: logging.CRITICAL,
    }

    def handler(kind: QtMsgType, context: object, message: str) -> None:
        del context
        noise = any(text in message for text in _QT_NOISE)
        qt_log.log(logging.DEBUG if noise else levels.get(kind, logging.WARNING), "%s", message)

    qInstallMessageHandler(handler)


def _run_gui(options: LaunchOptions, started: float, log_file: Path | None) -> int:
    from PySide6.QtWidgets import QApplication  # noqa: PLC0415

    from syncwatch.ui.early_tray import show_starting_icon  # noqa: PLC0415

    _route_qt_messages_to_logging()
    app = QApplication([sys.argv[0] if sys.argv else "syncwatch"])
    app.setApplicationName("Syncwatch")
    app.setApplicationDisplayName("Syncwatch")
    app.setDesktopFileName("io.github.syncwatch.Syncwatch")
    app.setQuitOnLastWindowClosed(False)  # a tray app: closing a window never quits
    early_icon = show_starting_icon()
    # benchmarks/bench_startup.py times start-up by this line's timestamp.
    if early_icon.geometry().x() > 0:
        log.info("tray icon docked after %.0f ms", (time.monotonic() - started) * 1000)
    elif early_icon.isVisible():
        log.info(
            "tray icon shown, not docked yet after %.0f ms", (time.monotonic() - started) * 1000
        )

    from syncwatch.client.store.lock import acquire_instance_lock  # noqa: PLC0415

    options.data_dir.mkdir(parents=True, exist_ok=True)
    lock = acquire_instance_lock(options.data_dir)
    if lock is None:
        early_icon.hide()
        if _ask_running_instance_to_show(options.data_dir):
            print("syncwatch: already running; its dashboard was raised.", file=sys.stderr)
            return EXIT_OK
        print(
            f"syncwatch: another Syncwatch uses {options.data_dir}; "
            "quit it first or choose another --data-dir.",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    import qasync  # noqa: PLC0415

    try:
        return int(qasync.run(_serve(app, options, early_icon, log_file)))
    finally:
        lock.release()


def _instance_socket_path(data_dir: Path) -> Path:
    """Where the instance using ``data_dir`` listens for "show yourself" requests.

    A Unix socket in the user's runtime directory (``$XDG_RUNTIME_DIR``, private to the
    user), else in the temp directory with a name holding the uid; either way only the
    user may connect (mode 0600). Plain asyncio rather than QLocalServer: QtNetwork cost
    ~3 MiB of the tray-only footprint for this one message. The name is a digest of the
    data directory, so that it fits the 107-byte limit of socket paths."""
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    uid = os.getuid() if hasattr(os, "getuid") else 0
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / f"syncwatch-{digest}.sock"
    return Path(tempfile.gettempdir()) / f"syncwatch-{uid}-{digest}.sock"


def _ask_running_instance_to_show(data_dir: Path, *, wait_s: float = SECOND_LAUNCH_WAIT_S) -> bool:
    """Ask the instance holding ``data_dir`` to raise its dashboard; False if none answers
    within ``wait_s``. The instance may still be starting (it takes the lock first and
    listens ~0.5 s later: a launcher clicked twice), so a missing or refusing socket is
    tried again until then."""
    path = str(_instance_socket_path(data_dir))
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(2.0)
                conn.connect(path)
                conn.sendall(b"show\n")
                # Wait for its answer, so that "raised" is true when this process says it.
                return conn.recv(16).startswith(b"ok")
        except (FileNotFoundError, ConnectionRefusedError):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        except OSError:
            return False


async def _listen_for_second_launches(
    data_dir: Path, on_show: Callable[[], None]
) -> asyncio.AbstractServer | None:
    """Serve :func:`_ask_running_instance_to_show`; None (logged) if the socket cannot be
    made - a second launch then says it cannot reach this one, nothing worse."""
    path = _instance_socket_path(data_dir)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5.0)
            if request.strip() == b"show":
                on_show()
                writer.write(b"ok\n")
                await writer.drain()
        except (OSError, TimeoutError):
            pass  # a client that went away or never spoke: nothing to do
        finally:
            writer.close()

    # This process holds the instance lock: a socket file left there is a dead one's.
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    try:
        server = await asyncio.start_unix_server(answer, path=str(path))
        path.chmod(0o600)
    except OSError as exc:
        log.warning("a second launch will not be able to raise this one: %s", exc)
        return None
    return server


async def _serve(
    app: QApplication, options: LaunchOptions, early_icon: QSystemTrayIcon, log_file: Path | None
) -> int:
    from syncwatch import desktop  # noqa: PLC0415
    from syncwatch.client.engine import SyncEngine, hub_is_loopback, public_url  # noqa: PLC0415
    from syncwatch.client.store import HistoryReader, HistoryStore, StoreWriter  # noqa: PLC0415
    from syncwatch.heap import freeze_long_lived, keep_large_blocks_mapped  # noqa: PLC0415
    from syncwatch.hub.config import HubConfig, Role  # noqa: PLC0415
    from syncwatch.hub.server import Hub  # noqa: PLC0415
    from syncwatch.qt.model import SyncStateModel  # noqa: PLC0415
    from syncwatch.qt.network import NetworkMonitor  # noqa: PLC0415
    from syncwatch.qt.settings import Settings  # noqa: PLC0415
    from syncwatch.ui.faces import Faces  # noqa: PLC0415

    loop = asyncio.get_running_loop()
    # qasync's own default executor starts 10 QThreads up front; the app's blocking jobs
    # (the keyring read, the hub's log reads, the history writer's close) need a few
    # threads, started when first needed.
    loop.set_default_executor(
        concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="syncwatch-io")
    )
    quit_requested = asyncio.Event()
    options.config_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings.open(options.config_dir)
    hub_url = options.hub_url or settings.hub_url
    # The first read may ask the desktop keyring, which may show its unlock dialog: off
    # the GUI thread, so that the tray stays responsive meanwhile (then it is cached).
    # The job returns nothing: an executor's result may be logged.
    await loop.run_in_executor(None, settings.load_token)
    token = options.token if options.token is not None else (settings.token or None)

    hub: Hub | None = None
    if not hub_url:
        # The embedded hub listens on loopback only, and still asks for a token: other
        # local users must not read or feed this user's sync status.
        token = secrets.token_urlsafe(24)
        hub = Hub(
            HubConfig(data_dir=options.data_dir / "hub", port=0, tokens={token: Role.PUBLISHER})
        )
        await hub.start()
        hub_url = hub.url
        log.info("embedded hub on %s (log %s)", hub_url, options.data_dir / "hub")

    store = HistoryStore(options.data_dir / "history.db")
    if store.recovered_from is not None:
        log.warning("%s", store.recovery_message)
    writer = StoreWriter(store)
    config = dataclasses.replace(settings.engine_config(hub_url), token=token or None)
    engine = SyncEngine(config, writer, cursor=store.cursor)
    reader = HistoryReader(store.path)
    model = SyncStateModel(engine, reader=reader)
    faces = Faces(model, settings, tray_icon=early_icon)
    network = NetworkMonitor()
    network.onlineChanged.connect(engine.set_network_online)
    network.resumed.connect(lambda _slept: engine.notify_resumed())
    faces.quitRequested.connect(quit_requested.set)

    def set_autostart(enabled: bool) -> None:
        try:
            desktop.set_autostart(
                enabled, desktop.config_home(os.environ), desktop.current_command()
            )
        except OSError as exc:
            faces.show_autostart(not enabled, f"could not change autostart: {exc}")
        else:
            faces.show_autostart(enabled)

    faces.autostartRequested.connect(set_autostart)
    faces.show_autostart(desktop.is_autostart_enabled(desktop.config_home(os.environ)))
    # The token in use may be the embedded hub's or --token-file's, not the saved one.
    connect_copy_diagnostics(
        faces, settings, log_file, known_secrets=[t for t in (token, options.token) if t]
    )

    def first_commit() -> None:
        if writer.updates_committed == 0:
            return  # connection and health rows so far: the line promises updates
        log.info("history committed to %s", store.path)
        model.historyChanged.disconnect(first_commit)

    model.historyChanged.connect(first_commit)

    # Another `syncwatch` started with this data dir: it exits, we raise the dashboard.
    instance_server = await _listen_for_second_launches(options.data_dir, faces.open_dashboard)

    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, quit_requested.set)

    tasks: set[asyncio.Task[object]] = set()
    engine_task: asyncio.Task[object] = asyncio.ensure_future(engine.run())
    tasks.add(engine_task)
    demo_stop = asyncio.Event()
    if options.demo:
        from syncwatch.client.demo_command import run_demo  # noqa: PLC0415
        from syncwatch.core.workload import WorkloadConfig  # noqa: PLC0415

        # Lively enough to show every face moving, with a failure now and then.
        workload = WorkloadConfig(rate_ops_per_min=90.0, error_rate_pct=3.0, agents=4)
        demo = asyncio.ensure_future(run_demo(hub_url, token, workload, demo_stop))
        tasks.add(demo)
        log.info("demo workload started")
    faces.start()
    # A hub on loopback needs no reachability hints: the client ignores them for it.
    loopback = hub_is_loopback(hub_url)
    network.start(reachability=not loopback)
    if loopback:
        log.info("network reachability: not watched (the hub is on this machine)")
    else:
        log.info("network reachability: %s", network.backend or "no backend on this platform")
    freeze_long_lived("start-up")
    keep_large_blocks_mapped()
    # public_url: a hub URL may carry ?token= (browsers' way), which must not reach logs.
    log.info("syncwatch ready: hub %s, history %s", public_url(hub_url), store.path)

    await quit_requested.wait()
    log.info("shutting down")
    demo_stop.set()
    engine.stop()
    done, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_TIMEOUT_S)
    for task in pending:
        task.cancel()
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.error("task ended with an error", exc_info=task.exception())
    network.stop()
    model.shutdown()
    faces.close()
    if instance_server is not None:
        instance_server.close()
        with contextlib.suppress(OSError):
            _instance_socket_path(options.data_dir).unlink()
    await loop.run_in_executor(None, writer.close)
    reader.close()
    store.close()
    if hub is not None:
        await hub.stop()
    app.processEvents()
    log.info("stopped cleanly")
    return EXIT_OK


def connect_copy_diagnostics(
    faces: Faces,
    settings: Settings,
    log_file: Path | None,
    *,
    known_secrets: Collection[str] = (),
    environment: Mapping[str, str] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now().astimezone(),
) -> None:
    """Answer "Copy diagnostics" (tray menu, admin panel): the report for a bug report goes
    on the clipboard, and the faces say so where the user asked.

    The settings are read here, on the GUI thread that owns the QSettings; the rest (the
    last 200 lines of the log, up to 512 KiB across the current and the rotated file, and
    the package versions, ~20 ms of metadata look-ups) runs on a worker thread with
    :func:`~syncwatch.qt.workers.run_in_thread`: a cold or network-mounted home directory
    can make that I/O take long enough to freeze the tray. A request made while a report is
    being built is answered by that report. Secrets never reach the clipboard: the token
    setting is redacted by name, and every token in use (``known_secrets`` and the saved
    one) wherever it appears.
    """
    from PySide6.QtGui import QGuiApplication  # noqa: PLC0415

    from syncwatch.diagnostics import collect_diagnostics  # noqa: PLC0415
    from syncwatch.qt.workers import Outcome, WorkDone, run_in_thread  # noqa: PLC0415

    #: The job building a report, while there is one (and the reference that keeps it alive).
    building: list[WorkDone] = []

    def copy() -> None:
        if building:
            return
        snapshot: dict[str, object] = settings.values()
        # Where the token lives (keyring or file) helps a report; the name dodges redaction.
        snapshot["key_storage"] = settings.token_location
        held = {*known_secrets, settings.token} - {""}
        generated_at = now()
        env = dict(os.environ if environment is None else environment)

        def build() -> str:
            return collect_diagnostics(
                snapshot, log_file, now=generated_at, environment=env, known_secrets=held
            )

        def done(outcome: Outcome[str]) -> None:
            building.clear()
            if outcome.value is None:
                log.error("could not collect diagnostics", exc_info=outcome.error)
                faces.show_diagnostics_result(
                    f"Could not collect diagnostics: {outcome.error}", ok=False
                )
                return
            QGuiApplication.clipboard().setText(outcome.value)
            log.info("diagnostics copied to the clipboard (%d characters)", len(outcome.value))
            faces.show_diagnostics_result(
                "Diagnostics copied to the clipboard: paste them into your bug report."
            )

        building.append(run_in_thread(build, done))

    faces.diagnosticsRequested.connect(copy)


# --------------------------------------------------------------------------- self-check


def _run_self_check(options: LaunchOptions) -> int:
    """Start the real engine, model and an embedded hub, push updates through, and verify.

    Runs without a display (offscreen Qt) so that a packaged build can prove, headless,
    that every layer loads and works together.
    """
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import qasync  # noqa: PLC0415
    from PySide6.QtWidgets import QApplication  # noqa: PLC0415

    _route_qt_messages_to_logging()
    app = QApplication([sys.argv[0] if sys.argv else "syncwatch"])
    del app
    try:
        summary = qasync.run(_self_check(options.data_dir / "self-check"))
    except SelfCheckError as exc:
        print(f"self-check FAILED: {exc}")
        return EXIT_FAILURE
    print(f"self-check passed: {summary}")
    return EXIT_OK


def _check_faces(model: SyncStateModel, work_dir: Path) -> None:
    """Build the dashboard and show its live plots (offscreen): modules that load only when
    a view first opens (pyqtgraph, QtOpenGL) must be there, or the check fails here rather
    than on a user's desktop."""
    from PySide6.QtWidgets import QApplication  # noqa: PLC0415

    from syncwatch.qt.settings import Settings  # noqa: PLC0415
    from syncwatch.ui.dashboard.window import SyncStatusIndicators  # noqa: PLC0415

    dashboard = SyncStatusIndicators(model, Settings.open(work_dir / "config", keyring=None))
    try:
        dashboard.show_tab("metrics")
        dashboard.show()
        QApplication.processEvents()
        if "pyqtgraph" not in sys.modules:
            raise SelfCheckError("the dashboard's plots did not load pyqtgraph")
    finally:
        dashboard.close()
        dashboard.deleteLater()


class SelfCheckError(Exception):
    """What the self-check found wrong, in words."""


async def _self_check(work_dir: Path) -> str:
    import shutil  # noqa: PLC0415

    from syncwatch.client.engine import EngineConfig, SyncEngine  # noqa: PLC0415
    from syncwatch.client.reporter import Reporter  # noqa: PLC0415
    from syncwatch.client.store import HistoryReader, HistoryStore, StoreWriter  # noqa: PLC0415
    from syncwatch.hub.config import HubConfig, Role  # noqa: PLC0415
    from syncwatch.hub.server import Hub  # noqa: PLC0415
    from syncwatch.qt.model import SyncStateModel  # noqa: PLC0415

    await asyncio.to_thread(shutil.rmtree, work_dir, ignore_errors=True)
    await asyncio.to_thread(work_dir.mkdir, parents=True)
    token = secrets.token_urlsafe(16)
    hub = Hub(HubConfig(data_dir=work_dir / "hub", port=0, tokens={token: Role.PUBLISHER}))
    await hub.start()
    store = HistoryStore(work_dir / "history.db")
    writer = StoreWriter(store)
    engine = SyncEngine(EngineConfig(hub_url=hub.url, token=token), writer, cursor=store.cursor)
    reader = HistoryReader(store.path)
    model = SyncStateModel(engine, reader=reader)
    engine_task = asyncio.ensure_future(engine.run())
    try:
        async with Reporter(hub.url, token, source="self-check") as reporter:
            for n in range(SELF_CHECK_UPDATES):
                await reporter.update(
                    operation_id=f"self-check-{n % 10}",
                    operation_type="upload",
                    status="completed" if n >= SELF_CHECK_UPDATES - 10 else "in_progress",
                    progress=100.0 if n >= SELF_CHECK_UPDATES - 10 else float(n),
                    item=f"self-check/file-{n % 10}.jpg",
                )
        deadline = time.monotonic() + 20
        while len(model.operations) < 10 or engine.state.last_seq < SELF_CHECK_UPDATES:
            if time.monotonic() > deadline:
                raise SelfCheckError(
                    f"the engine saw {engine.state.last_seq} of {SELF_CHECK_UPDATES} updates"
                )
            await asyncio.sleep(0.05)
        if not await asyncio.get_running_loop().run_in_executor(None, writer.flush, 10.0):
            raise SelfCheckError("the history store did not commit within 10 s")
        cursor = store.cursor()
        if cursor is None or cursor[1] != SELF_CHECK_UPDATES:
            raise SelfCheckError(f"the history's cursor is {cursor}, not at {SELF_CHECK_UPDATES}")
        _check_faces(model, work_dir)
        return (
            f"hub {hub.url}, {SELF_CHECK_UPDATES} updates published, acknowledged, "
            f"received and stored; health {model.health.status.value}"
        )
    finally:
        engine.stop()
        await asyncio.wait({engine_task}, timeout=SHUTDOWN_TIMEOUT_S)
        model.shutdown()
        writer.close()
        reader.close()
        store.close()
        await hub.stop()
