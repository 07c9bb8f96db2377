"""A virtual X server with a system tray, for tests that need a real desktop."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass


@dataclass
class VirtualDisplay:
    """Xvfb plus trayer (a freedesktop system tray) on a display number Xvfb chose."""

    name: str
    xvfb: subprocess.Popen[bytes]
    tray: subprocess.Popen[bytes] | None

    @classmethod
    def start_if_available(cls, width: int = 1280, height: int = 800) -> VirtualDisplay | None:
        if shutil.which("Xvfb") is None:
            return None
        read_fd, write_fd = os.pipe()
        xvfb = subprocess.Popen(
            [
                "Xvfb",
                "-displayfd",
                str(write_fd),
                "-screen",
                "0",
                f"{width}x{height}x24",
                "-nolisten",
                "tcp",
                "-noreset",
            ],
            pass_fds=(write_fd,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(write_fd)
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        if not number:
            xvfb.kill()
            return None
        name = f":{number}"
        tray = None
        if shutil.which("trayer") is not None:
            env = {**os.environ, "DISPLAY": name}
            tray = subprocess.Popen(
                [
                    "trayer",
                    "--edge",
                    "top",
                    "--align",
                    "right",
                    "--widthtype",
                    "pixel",
                    "--width",
                    "160",
                    "--height",
                    "40",
                    "--transparent",
                    "false",
                    "--SetDockType",
                    "true",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            cls._wait_for_tray(name)
        return cls(name=name, xvfb=xvfb, tray=tray)

    @staticmethod
    def _wait_for_tray(name: str, timeout: float = 5.0) -> None:
        """Wait until trayer has mapped its window (then it owns the tray selection)."""
        deadline = time.monotonic() + timeout
        env = {**os.environ, "DISPLAY": name}
        while time.monotonic() < deadline:
            probe = subprocess.run(
                ["xdotool", "search", "--class", "trayer"],
                env=env,
                capture_output=True,
                check=False,
            )
            if probe.stdout.strip():
                time.sleep(0.2)
                return
            time.sleep(0.05)

    def stop(self) -> None:
        for proc in (self.tray, self.xvfb):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
