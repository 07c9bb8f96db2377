"""A private desktop keyring for tests: a session bus of its own with GNOME Keyring on it.

Nothing here touches the developer's own keyring: the bus listens on a socket in the
test's folder, its configuration activates no services, and gnome-keyring-daemon keeps
its keyrings under the test's own XDG_DATA_HOME. ``secret-tool`` (libsecret, the same
library Seahorse and most desktop apps use) reads what Syncwatch stored, so the tests
check interoperability rather than Syncwatch against itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

TOOLS = ("dbus-daemon", "gnome-keyring-daemon", "secret-tool")


@dataclass
class PrivateKeyring:
    """A running session bus (``address``) and, once started, GNOME Keyring on it."""

    address: str
    env: dict[str, str]
    bus: subprocess.Popen[bytes]
    daemon: subprocess.Popen[bytes] | None = None

    def environ(self) -> dict[str, str]:
        """os.environ with this bus as the session bus (for SecretService.connect)."""
        return {**os.environ, **self.env}

    def start_keyring(self, password: str | None = "test-login-password") -> None:
        """Start gnome-keyring-daemon; with a password it creates and unlocks the "login"
        collection (as PAM does at login), without one there is no default collection."""
        args = ["gnome-keyring-daemon", "--foreground", "--components=secrets"]
        if password is not None:
            args.append("--unlock")
        self.daemon = subprocess.Popen(
            args,
            env=self.environ(),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert self.daemon.stdin is not None
        if password is not None:
            self.daemon.stdin.write(password.encode())
        self.daemon.stdin.close()
        deadline = time.monotonic() + 10
        while not self._owned("org.freedesktop.secrets"):
            if self.daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gnome-keyring-daemon did not come up on the test bus")
            time.sleep(0.02)
        if password is not None:  # the login collection is made just after the name is taken
            while not self._has_default_collection():
                if time.monotonic() > deadline:
                    raise RuntimeError("the login collection did not appear")
                time.sleep(0.02)

    def _has_default_collection(self) -> bool:
        from syncwatch.client.secret_service import SecretService

        service = SecretService.connect(self.environ())
        assert service is not None
        with service:
            return service.has_default_collection()

    def secret_tool(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["secret-tool", *args],
            env=self.environ(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )

    def lookup(self, **attributes: str) -> str | None:
        """What libsecret finds for these attributes (None when nothing)."""
        pairs = [part for item in attributes.items() for part in item]
        result = self.secret_tool("lookup", *pairs)
        return result.stdout if result.returncode == 0 else None

    def lock_all(self) -> None:
        """Lock every collection (what a screen lock or a timeout does on a desktop)."""
        result = self._dbus_send(
            "--dest=org.freedesktop.secrets",
            "/org/freedesktop/secrets",
            "org.freedesktop.Secret.Service.Lock",
            "array:objpath:/org/freedesktop/secrets/collection/login",
        )
        assert result.returncode == 0, result.stderr

    def _dbus_send(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["dbus-send", f"--bus={self.address}", "--print-reply", *args],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )

    def _owned(self, name: str) -> bool:
        result = self._dbus_send(
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            f"string:{name}",
        )
        return "boolean true" in result.stdout

    def stop(self) -> None:
        for process in (self.daemon, self.bus):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if self.bus.stdout is not None:
            self.bus.stdout.close()


def missing_tools() -> list[str]:
    return [tool for tool in (*TOOLS, "dbus-send") if shutil.which(tool) is None]


@contextmanager
def private_bus(folder: Path) -> Iterator[PrivateKeyring]:
    """A session bus in ``folder`` (no keyring on it yet: see start_keyring)."""
    folder.mkdir(parents=True, exist_ok=True)
    runtime = folder / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    socket = folder / "bus"
    config = folder / "bus.conf"
    config.write_text(_BUS_CONFIG.format(socket=socket), encoding="utf-8")
    bus = subprocess.Popen(
        ["dbus-daemon", "--nofork", f"--config-file={config}", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert bus.stdout is not None
    address = bus.stdout.readline().decode().strip()
    if not address:
        bus.kill()
        raise RuntimeError("dbus-daemon did not start")
    env = {
        "DBUS_SESSION_BUS_ADDRESS": address,
        "HOME": str(folder / "home"),
        "XDG_DATA_HOME": str(folder / "data"),
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_CONFIG_HOME": str(folder / "config"),
        "XDG_CACHE_HOME": str(folder / "cache"),
    }
    keyring = PrivateKeyring(address, env, bus)
    try:
        yield keyring
    finally:
        keyring.stop()
