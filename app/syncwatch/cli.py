"""The `syncwatch` command: the desktop app by default, plus `hub`, `publish` and `demo`.

Sub-commands are imported only when chosen, so that `syncwatch --version` and the GUI's
start-up do not pay for modules they do not use.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, cast

#: sub-command -> (module providing configure_parser/run, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "hub": ("syncwatch.hub.command", "run a standalone sync-status hub"),
    "publish": ("syncwatch.client.publish_command", "report sync updates to a hub"),
    "demo": ("syncwatch.client.demo_command", "drive a realistic media-library workload"),
    "desktop": ("syncwatch.desktop", "add or remove the menu entry and start-at-login entry"),
}


class _Command(Protocol):
    def configure_parser(self, parser: argparse.ArgumentParser) -> None: ...
    def run(self, args: argparse.Namespace) -> int: ...


def package_version() -> str:
    # importlib.metadata costs ~150 ms and ~2 MiB to import (email, zipfile, csv...): the
    # GUI's start-up, before the tray icon, must not pay for it (see _VersionAction).
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("syncwatch")
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "0+unknown"


class _VersionAction(argparse.Action):
    """``--version``: looks the version up only when asked (argparse's own action needs the
    string when the parser is built, i.e. on every start)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        print(f"syncwatch {package_version()}")
        parser.exit()


def gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syncwatch",
        description=(
            "Live monitor for media-library sync operations. Starts in the system tray; "
            "with no hub configured it runs an embedded hub on loopback."
        ),
        epilog="Other commands: "
        + "; ".join(f"syncwatch {name} - {text}" for name, (_, text) in SUBCOMMANDS.items())
        + ". See `syncwatch COMMAND --help`.",
    )
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument(
        "--hub",
        metavar="URL",
        help="hub to monitor for this run (ws:// or wss://); default: the saved setting, "
        "or an embedded hub on loopback",
    )
    parser.add_argument("--token-file", metavar="F", type=Path, help="file holding the hub token")
    parser.add_argument(
        "--data-dir", metavar="DIR", type=Path, help="where the history and settings live"
    )
    parser.add_argument(
        "--demo", action="store_true", help="also run the demo workload into the embedded hub"
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="log debug messages")
    parser.add_argument(
        "--self-check",
        action="store_true",
        help="start the engine against an embedded hub, check it end to end, and exit",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in SUBCOMMANDS:
        module_name, text = SUBCOMMANDS[args[0]]
        command = cast(_Command, importlib.import_module(module_name))
        parser = argparse.ArgumentParser(prog=f"syncwatch {args[0]}", description=text)
        command.configure_parser(parser)
        return command.run(parser.parse_args(args[1:]))
    options = gui_parser().parse_args(args)
    import syncwatch.main  # noqa: PLC0415 - Qt is imported only for the GUI

    return syncwatch.main.run(options)


if __name__ == "__main__":
    sys.exit(main())
