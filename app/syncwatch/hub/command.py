"""``syncwatch hub``: run a standalone hub until SIGINT or SIGTERM.

Logs go to stderr. Once listening, one line goes to stdout, ``syncwatch hub listening on
URL``, so that scripts and tests that started it with ``--port 0`` learn the port.
Exit codes: 0 after a clean shutdown, 2 for a bad argument or setting, 1 when the hub
cannot start (busy port, unreadable certificate or data directory).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from syncwatch.heap import keep_large_blocks_mapped
from syncwatch.hub.config import (
    DEFAULT_ABANDON_AFTER_S,
    DEFAULT_MAX_ACTIVE,
    DEFAULT_MAX_FINISHED,
    DEFAULT_PORT,
    HubConfig,
    HubConfigError,
    load_token_file,
)
from syncwatch.hub.eventlog import EventLogError
from syncwatch.hub.server import Hub, HubStartError

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_START_FAILED = 1
EXIT_BAD_ARGUMENT = 2


def default_data_dir() -> Path:
    import platformdirs  # noqa: PLC0415 - only when no --data is given

    return platformdirs.user_data_path("syncwatch") / "hub"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the hub's options to ``parser`` (``syncwatch hub`` and ``python -m syncwatch.hub``)."""
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port, 0 for any free one (default: %(default)s)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="directory of the event log (default: the user data dir)",
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        default=None,
        help="file of 'publisher TOKEN' / 'viewer TOKEN' lines; without it anyone may connect",
    )
    parser.add_argument(
        "--tls-cert", type=Path, default=None, help="PEM certificate chain (serves wss://)"
    )
    parser.add_argument("--tls-key", type=Path, default=None, help="PEM private key of --tls-cert")
    parser.add_argument(
        "--abandon-after",
        type=float,
        default=DEFAULT_ABANDON_AFTER_S,
        metavar="SECONDS",
        help="give up (mark failed) an active operation with no update for this long "
        "(default: %(default).0f, a day)",
    )
    parser.add_argument(
        "--max-finished",
        type=int,
        default=DEFAULT_MAX_FINISHED,
        metavar="N",
        help="finished operations kept for snapshots, most recently finished first "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--max-active",
        type=int,
        default=DEFAULT_MAX_ACTIVE,
        metavar="N",
        help="active operations held at most; updates starting more are refused "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="(default: INFO)",
    )


def build_config(args: argparse.Namespace) -> HubConfig:
    """The HubConfig the arguments describe; HubConfigError names what is wrong."""
    tokens = load_token_file(args.token_file) if args.token_file is not None else {}
    return HubConfig(
        data_dir=args.data if args.data is not None else default_data_dir(),
        host=args.host,
        port=args.port,
        tokens=tokens,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        abandon_after_s=args.abandon_after,
        max_finished_operations=args.max_finished,
        max_active_operations=args.max_active,
    )


def run(args: argparse.Namespace) -> int:
    """Run the hub the parsed arguments describe; returns the process exit code."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            stream=sys.stderr,
            level=getattr(logging, args.log_level, logging.INFO),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    try:
        config = build_config(args)
    except HubConfigError as exc:
        print(f"syncwatch hub: {exc}", file=sys.stderr)
        return EXIT_BAD_ARGUMENT
    try:
        asyncio.run(_serve(config))
    except (HubStartError, EventLogError) as exc:
        print(f"syncwatch hub: {exc}", file=sys.stderr)
        return EXIT_START_FAILED
    return EXIT_OK


async def _serve(config: HubConfig) -> None:
    keep_large_blocks_mapped()  # this process is the hub's alone (syncwatch.heap)
    hub = Hub(config)
    await hub.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(f"syncwatch hub listening on {hub.url}", flush=True)
    await hub.serve_until(stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="syncwatch hub", description="Run a Syncwatch hub.")
    configure_parser(parser)
    return run(parser.parse_args(argv))
