"""``syncwatch publish``: report sync updates from a shell script or a cron job.

One update from flags, or many from ``--stdin`` (JSON lines, one update object a line).
The command exits 0 only once the hub acknowledged every update, i.e. stored it durably,
so a script can rely on ``$?``. Exit codes:

    0  every update acknowledged
    1  the hub rejected an update, or a --stdin line was invalid (the good ones are sent)
    2  bad arguments (argparse's code)
    3  the hub could not be reached, or did not acknowledge within --timeout
    4  the hub refused the token
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
from pathlib import Path
from typing import Any, Final, TextIO

import orjson

from syncwatch.client.reporter import (
    Reporter,
    ReporterAuthError,
    ReporterError,
    UpdateRejectedError,
    wall_clock_us,
)
from syncwatch.core.protocol import (
    KNOWN_OPERATION_TYPES,
    Ack,
    ProtocolError,
    Status,
    SyncUpdate,
    format_timestamp,
    update_from_dict,
)

EXIT_OK: Final = 0
EXIT_REJECTED: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNREACHABLE: Final = 3
EXIT_AUTH: Final = 4

DEFAULT_HUB: Final = "ws://127.0.0.1:8765"
PROG: Final = "syncwatch publish"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = "Report sync updates to a hub; exits 0 once the hub acknowledged them."
    parser.epilog = (
        "Exit codes: 0 acknowledged, 1 rejected by the hub or a bad --stdin line, 2 bad"
        " arguments, 3 hub unreachable or no ack within --timeout, 4 token refused."
        " --stdin reads one JSON object a line with the fields of docs/protocol.md"
        ' (operation_id, operation_type, status, progress, ...); "timestamp" defaults to now.'
    )
    add_hub_arguments(parser)
    parser.add_argument("--source", help="this publisher's id (default: publish@HOSTNAME)")
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=10.0,
        metavar="S",
        help="seconds to wait for the hub's acknowledgements (default: 10)",
    )
    parser.add_argument(
        "--stdin", action="store_true", help="read updates as JSON lines from standard input"
    )
    one = parser.add_argument_group("one update (without --stdin)")
    one.add_argument("--operation-id", metavar="ID")
    one.add_argument(
        "--type",
        dest="operation_type",
        metavar="TYPE",
        help=f"operation type: {', '.join(KNOWN_OPERATION_TYPES)} or another short name",
    )
    one.add_argument("--status", choices=[s.value for s in Status])
    one.add_argument("--progress", type=float, metavar="PCT", help="0..100")
    one.add_argument("--item", metavar="PATH", help="the file or folder concerned")
    one.add_argument("--bytes-done", type=int, metavar="N")
    one.add_argument("--bytes-total", type=int, metavar="N")
    one.add_argument("--error", metavar="TEXT", help="why the operation failed")


def add_hub_arguments(parser: argparse.ArgumentParser) -> None:
    """--hub, --token, --token-file and --ca-file (shared with ``syncwatch demo``)."""
    parser.add_argument(
        "--hub",
        metavar="URL",
        default=os.environ.get("SYNCWATCH_HUB", DEFAULT_HUB),
        help=f"hub URL, ws:// or wss:// (default: $SYNCWATCH_HUB or {DEFAULT_HUB})",
    )
    tokens = parser.add_mutually_exclusive_group()
    tokens.add_argument(
        "--token", metavar="T", help="publisher token (default: $SYNCWATCH_TOKEN; visible in ps)"
    )
    tokens.add_argument("--token-file", metavar="F", type=Path, help="file holding the token")
    parser.add_argument("--ca-file", metavar="PEM", help="CA certificate to trust for a wss:// hub")


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def read_token(args: argparse.Namespace) -> str | None:
    """The token from --token, --token-file or $SYNCWATCH_TOKEN; ValueError if unreadable."""
    if args.token_file is not None:
        try:
            token = Path(args.token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(
                f"cannot read --token-file {args.token_file}: {exc.strerror}"
            ) from None
        if not token:
            raise ValueError(f"--token-file {args.token_file} is empty")
        return token
    given: str | None = args.token or os.environ.get("SYNCWATCH_TOKEN")
    return given or None


def _fail(code: int, message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    """Publish what the arguments say; returns the exit code (module docstring)."""
    try:
        token = read_token(args)
    except ValueError as exc:
        return _fail(EXIT_USAGE, str(exc))
    source = args.source or f"publish@{socket.gethostname()}"[:128]
    flags = {
        "--operation-id": args.operation_id,
        "--type": args.operation_type,
        "--status": args.status,
        "--progress": args.progress,
        "--item": args.item,
        "--bytes-done": args.bytes_done,
        "--bytes-total": args.bytes_total,
        "--error": args.error,
    }
    if args.stdin:
        given = [flag for flag, value in flags.items() if value is not None]
        if given:
            return _fail(EXIT_USAGE, f"--stdin reads updates from input; drop {', '.join(given)}")
        return asyncio.run(_publish_lines(args, token, source, sys.stdin))
    required = ("--operation-id", "--type", "--status", "--progress")
    missing = [flag for flag in required if flags[flag] is None]
    if missing:
        return _fail(EXIT_USAGE, f"missing {', '.join(missing)} (or use --stdin)")
    fields: dict[str, Any] = {
        "operation_id": args.operation_id,
        "operation_type": args.operation_type,
        "status": args.status,
        "progress": args.progress,
        "item": args.item,
        "bytes_done": args.bytes_done,
        "bytes_total": args.bytes_total,
        "error": args.error,
    }
    try:
        update = _to_update({k: v for k, v in fields.items() if v is not None}, source)
    except ProtocolError as exc:
        flag = f"--{(exc.field or '').replace('_', '-').replace('operation-type', 'type')}"
        return _fail(EXIT_USAGE, f"{flag}: {exc.reason}" if exc.field else exc.reason)
    return asyncio.run(_publish_one(args, token, source, update))


def _to_update(obj: dict[str, Any], source: str) -> SyncUpdate:
    """Validate one update object as the hub would; a missing timestamp means now."""
    obj = dict(obj)
    if obj.get("type", "sync_update") != "sync_update":
        raise ProtocolError("must be 'sync_update' or absent", field="type")
    obj.pop("type", None)
    for key in ("seq", "counter"):
        if key in obj:
            raise ProtocolError("assigned by the hub and the publisher, not by input", field=key)
    obj.setdefault("timestamp", format_timestamp(wall_clock_us()))
    obj.setdefault("source", source)
    return update_from_dict(obj)


def _reporter(args: argparse.Namespace, token: str | None, source: str) -> Reporter:
    return Reporter(
        args.hub,
        token,
        source=source,
        ca_file=args.ca_file,
        open_timeout=min(10.0, args.timeout),
    )


async def _publish_one(
    args: argparse.Namespace, token: str | None, source: str, update: SyncUpdate
) -> int:
    try:
        reporter = _reporter(args, token, source)
    except ValueError as exc:
        return _fail(EXIT_USAGE, str(exc))
    reporter.start()
    try:
        async with asyncio.timeout(args.timeout):
            ack = await reporter.report(update)
    except TimeoutError:
        return _fail(EXIT_UNREACHABLE, _no_ack(reporter, args.timeout))
    except ReporterAuthError as exc:
        return _fail(EXIT_AUTH, str(exc))
    except UpdateRejectedError as exc:
        return _fail(EXIT_REJECTED, str(exc))
    except ReporterError as exc:
        return _fail(EXIT_UNREACHABLE, str(exc))
    finally:
        await reporter.aclose(flush=False)  # we awaited what we need; close with 1000
    print(_acked(ack))
    return EXIT_OK


def _acked(ack: Ack) -> str:
    kind = "already stored" if ack.duplicate else "acknowledged"
    return f"{kind}: {ack.operation_id} at seq {ack.seq}"


def _no_ack(reporter: Reporter, timeout: float) -> str:
    if reporter.last_error and not reporter.connected:
        return (
            f"could not reach the hub at {reporter.url} within {timeout:g} s"
            f" ({reporter.last_error})"
        )
    return f"no acknowledgement from the hub at {reporter.url} within {timeout:g} s"


async def _publish_lines(
    args: argparse.Namespace, token: str | None, source: str, stream: TextIO
) -> int:
    """Send every valid line, report every bad one with its number, wait for the acks."""
    try:
        reporter = _reporter(args, token, source)
    except ValueError as exc:
        return _fail(EXIT_USAGE, str(exc))
    code = EXIT_OK
    sent: list[tuple[int, asyncio.Future[Ack]]] = []
    reporter.start()
    try:
        number = 0
        while line := await asyncio.to_thread(stream.readline):
            number += 1
            if not line.strip():
                continue
            try:
                update = _to_update(_json_object(line), source)
            except ProtocolError as exc:
                code = EXIT_REJECTED
                print(f"{PROG}: line {number}: {exc}", file=sys.stderr)
                continue
            sent.append((number, await reporter.submit(update)))
        if sent:
            async with asyncio.timeout(args.timeout):
                await asyncio.wait([future for _, future in sent])
    except TimeoutError:
        return _fail(EXIT_UNREACHABLE, _no_ack(reporter, args.timeout))
    except ReporterAuthError as exc:
        return _fail(EXIT_AUTH, str(exc))
    except ReporterError as exc:  # e.g. the buffer filled while the hub was unreachable
        return _fail(EXIT_UNREACHABLE, str(exc))
    finally:
        await reporter.aclose(flush=False)
    if isinstance(reporter.error, ReporterAuthError):
        return _fail(EXIT_AUTH, str(reporter.error))
    acked = 0
    for number, future in sent:
        failure = future.exception()
        if failure is None:
            acked += 1
        else:
            code = EXIT_REJECTED
            print(f"{PROG}: line {number}: {failure}", file=sys.stderr)
    print(f"{acked} of {len(sent)} updates acknowledged")
    return code


def _json_object(line: str) -> dict[str, Any]:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"expected a JSON object, got {type(obj).__name__}")
    return obj


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog=PROG)
    configure_parser(_parser)
    sys.exit(run(_parser.parse_args()))
