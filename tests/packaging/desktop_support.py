"""A reference reader for desktop entries, written from the spec, to check what we write."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

_STRING_ESCAPES = {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


def read_entry(text: str) -> dict[str, str]:
    """The keys of the [Desktop Entry] group, string escapes undone."""
    lines = text.splitlines()
    assert lines[0] == "[Desktop Entry]", "the first line must open the main group"
    keys: dict[str, str] = {}
    for line in lines[1:]:
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line!r}"
        keys[key] = _unescape(value)
    return keys


def _unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value) and value[i + 1] in _STRING_ESCAPES:
            out.append(_STRING_ESCAPES[value[i + 1]])
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def split_exec(exec_value: str) -> list[str]:
    """The argv a launcher builds from an (already unescaped) Exec value."""
    args: list[str] = []
    current: list[str] = []
    in_quotes = started = False
    i = 0
    while i < len(exec_value):
        ch = exec_value[i]
        if in_quotes:
            if ch == "\\" and exec_value[i + 1] in '"`$\\':
                current.append(exec_value[i + 1])
                i += 1
            elif ch == '"':
                in_quotes = False
            else:
                current.append(ch)
        elif ch == '"':
            in_quotes = started = True
        elif ch == " ":
            if started:
                args.append("".join(current))
            current, started = [], False
        else:
            current.append(ch)
            started = True
        i += 1
    assert not in_quotes, f"unterminated quote in {exec_value!r}"
    if started:
        args.append("".join(current))
    return [arg.replace("%%", "%") for arg in args]


def validate_desktop_file(path: Path) -> None:
    """desktop-file-validate (Debian: desktop-file-utils) must accept ``path``."""
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        pytest.skip("desktop-file-validate is not installed (Debian: desktop-file-utils)")
    result = subprocess.run([tool, str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not result.stdout.strip(), result.stdout  # hints and warnings count too
