"""``syncwatch publish``: exit 0 only once acknowledged, clear messages and codes otherwise.

Most tests call ``run(args)`` in-process against a real hub on a background loop; one runs
the installed ``syncwatch`` executable as a user would.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from syncwatch.client import publish_command
from syncwatch.core.protocol import Status, SyncUpdate
from syncwatch.hub import Role
from tests.client.reporter_support import free_port, read_hub_log
from tests.support.hubproc import RunningHub, running_hub

TOKENS = {"pub-secret": Role.PUBLISHER, "view-secret": Role.VIEWER}


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[RunningHub]:
    with running_hub(tmp_path, tokens=TOKENS) as running:
        yield running


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="syncwatch publish")
    publish_command.configure_parser(parser)
    return parser.parse_args(list(argv))


def stored(hub: RunningHub) -> list[SyncUpdate]:
    return asyncio.run(read_hub_log(hub.url, "pub-secret"))


ONE = (
    "--operation-id",
    "op-42",
    "--type",
    "upload",
    "--status",
    "in_progress",
    "--progress",
    "42",
    "--item",
    "Photos/2026/12/IMG_4031.HEIC",
    "--bytes-done",
    "420",
    "--bytes-total",
    "1000",
)


def test_one_update_exits_0_once_acknowledged(
    hub: RunningHub, capsys: pytest.CaptureFixture[str]
) -> None:
    code = publish_command.run(
        parse("--hub", hub.url, "--token", "pub-secret", "--source", "cron", *ONE)
    )
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert out.strip() == "acknowledged: op-42 at seq 1"
    [update] = stored(hub)
    assert (update.operation_id, update.status, update.progress) == (
        "op-42",
        Status.IN_PROGRESS,
        42.0,
    )
    assert (update.item, update.bytes_done, update.bytes_total) == (
        "Photos/2026/12/IMG_4031.HEIC",
        420,
        1000,
    )
    assert update.source == "cron"
    assert abs(update.timestamp - time.time()) < 30


def test_a_token_file_works_and_a_wrong_token_exits_4(
    hub: RunningHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("pub-secret\n", encoding="utf-8")
    assert publish_command.run(parse("--hub", hub.url, "--token-file", str(token_file), *ONE)) == 0
    capsys.readouterr()
    code = publish_command.run(parse("--hub", hub.url, "--token", "wrong", *ONE))
    err = capsys.readouterr().err
    assert code == 4
    assert "refused the token (HTTP 401)" in err
    assert "wrong" not in err
    code = publish_command.run(parse("--hub", hub.url, "--token", "view-secret", *ONE))
    assert code == 4
    assert "HTTP 403" in capsys.readouterr().err


def test_an_unreachable_hub_exits_3_after_the_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"ws://127.0.0.1:{free_port()}"
    started = time.monotonic()
    code = publish_command.run(parse("--hub", url, "--timeout", "0.5", *ONE))
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 3
    assert "could not reach the hub" in err
    assert "within 0.5 s" in err
    assert elapsed < 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--type", "upload", "--status", "queued", "--progress", "0"), "missing --operation-id"),
        (
            ("--operation-id", "x", "--type", "upload", "--status", "queued", "--progress", "120"),
            "--progress: 120.0 is outside 0..100",
        ),
        (
            ("--operation-id", "x", "--type", "Up Load", "--status", "queued", "--progress", "1"),
            "--type:",
        ),
    ],
)
def test_bad_arguments_exit_2_naming_the_flag(
    argv: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert publish_command.run(parse("--hub", "ws://127.0.0.1:1", *argv)) == 2
    assert message in capsys.readouterr().err


def test_stdin_and_update_flags_do_not_mix(capsys: pytest.CaptureFixture[str]) -> None:
    assert publish_command.run(parse("--stdin", "--progress", "5", "--item", "a")) == 2
    assert "drop --progress, --item" in capsys.readouterr().err


def test_an_unreadable_token_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope"
    assert publish_command.run(parse("--token-file", str(missing), *ONE)) == 2
    assert "cannot read --token-file" in capsys.readouterr().err


def test_stdin_sends_the_good_lines_and_names_each_bad_one(
    hub: RunningHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    good = {"operation_id": "op-1", "operation_type": "download", "status": "queued", "progress": 0}
    lines = [
        orjson.dumps(good).decode(),
        "",  # blank lines are skipped
        '{"operation_id": "op-2", "operation_type": "upload", "status": "done", "progress": 5}',
        "this is not json",
        orjson.dumps(
            {**good, "status": "completed", "progress": 100, "timestamp": "2026-12-03T10:00:00Z"}
        ).decode(),
        "[1, 2]",
    ]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    code = publish_command.run(parse("--hub", hub.url, "--token", "pub-secret", "--stdin"))
    out, err = capsys.readouterr()
    assert code == 1
    assert "line 3: status: unknown status 'done'" in err
    assert "line 4: not valid JSON" in err
    assert "line 6: expected a JSON object" in err
    assert "2 of 2 updates acknowledged" in out
    log = stored(hub)
    assert [(u.operation_id, u.status) for u in log] == [
        ("op-1", Status.QUEUED),
        ("op-1", Status.COMPLETED),
    ]
    assert abs(log[0].timestamp - time.time()) < 30  # no timestamp: now
    assert log[1].timestamp_us == 1_796_292_000_000_000  # kept as given


def test_stdin_with_only_good_lines_exits_0(
    hub: RunningHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = "".join(
        orjson.dumps(
            {"operation_id": f"op-{i}", "operation_type": "scan", "status": "queued", "progress": 0}
        ).decode()
        + "\n"
        for i in range(3000)
    )
    monkeypatch.setattr(sys, "stdin", io.StringIO(lines))
    code = publish_command.run(parse("--hub", hub.url, "--token", "pub-secret", "--stdin"))
    assert (code, capsys.readouterr().out.strip()) == (0, "3000 of 3000 updates acknowledged")
    assert len(stored(hub)) == 3000


def test_the_installed_command_publishes(hub: RunningHub, tmp_path: Path) -> None:
    executable = Path(sys.executable).parent / "syncwatch"
    assert executable.exists(), "the package is installed with its console script"
    result = subprocess.run(
        [str(executable), "publish", "--hub", hub.url, "--token", "pub-secret", *ONE],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert "acknowledged: op-42 at seq 1" in result.stdout
    assert [u.operation_id for u in stored(hub)] == ["op-42"]
