"""The README's commands for running a hub and reporting to it, run as written.

The shell block under "Running a hub and reporting to it" is taken from README.md itself,
with its paths and port pointed at this test's own: if the README drifts from the
program, this fails.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def readme_block(heading: str) -> list[str]:
    """The commands of the first ```sh block after ``heading``, continuation lines joined."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(heading, 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None, f"no shell block after {heading!r}"
    return block.group(1).replace("\\\n", " ").strip().splitlines()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_hub_publish_and_demo_commands_work_as_written(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "tokens").write_text("publisher s3cret-publisher\n", encoding="utf-8")
    (tmp_path / "agent.token").write_text("s3cret-publisher\n", encoding="utf-8")

    def localise(command: str) -> str:
        command = command.replace("/var/lib/syncwatch-hub", str(tmp_path / "hub"))
        command = command.replace("/etc/syncwatch/tokens", str(tmp_path / "tokens"))
        command = command.replace("agent.token", str(tmp_path / "agent.token"))
        command = command.replace("8765", str(port))
        return re.sub(r"(^|\| *)syncwatch ", rf"\g<1>{BIN}/syncwatch ", command)

    hub_command, *reports = (localise(line) for line in readme_block("## Running a hub"))
    assert " hub " in hub_command
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    hub = subprocess.Popen(
        shlex.split(hub_command), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert hub.stdout is not None
        assert "listening" in hub.stdout.readline()
        for command in reports:
            bounded = command + " --duration 3" if " demo " in command else command
            result = subprocess.run(
                bounded,
                shell=True,
                capture_output=True,
                text=True,
                timeout=60,
                env=env,
                check=False,
            )
            assert result.returncode == 0, f"{bounded}\n{result.stdout}\n{result.stderr}"
    finally:
        hub.terminate()
        _, errors = hub.communicate(timeout=30)
    assert hub.returncode == 0, errors
    assert "s3cret" not in errors  # tokens never reach the log
