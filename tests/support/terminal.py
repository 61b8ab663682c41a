"""Run a command in a pseudo-terminal, as a user's shell does, and read back what its screen shows.

:func:`run_in_terminal` starts a real process whose stdout and stderr are a pty (so Rich draws its live bar);
:func:`screen_lines` replays the bytes it wrote through a small terminal model (carriage return, newline, cursor up,
erase line — what Rich's live display uses) and returns the lines left on the screen, so a bar redrawn a hundred
times counts once.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

_CSI = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])")
_OSC = re.compile(r"\x1b\][^\x07\x1b]*(\x07|\x1b\\)")


def run_in_terminal(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 300, columns: int = 100,
                    rows: int = 40) -> tuple[int, str]:
    """Run ``argv`` with a pty of ``columns`` × ``rows`` as its terminal; returns (exit status, everything written)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {**env, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(rows)}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=follower, stdout=follower, stderr=follower,
                               close_fds=True, start_new_session=True)
    os.close(follower)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    data = os.read(leader, 65536)
                except OSError:  # the process closed the terminal (EIO)
                    break
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None:
                break
        else:
            process.kill()
        status = process.wait(timeout=30)
    finally:
        os.close(leader)
    return status, b"".join(chunks).decode("utf-8", errors="replace")


def screen_lines(output: str, columns: int = 100) -> list[str]:
    """The lines a terminal ``columns`` wide shows after ``output`` (scrollback included; a long line wraps),
    trailing spaces removed."""
    output = _OSC.sub("", output)
    lines: list[list[str]] = [[]]
    row = column = 0
    position = 0
    while position < len(output):
        match = _CSI.match(output, position)
        if match:
            argument, command = match.groups()
            count = int(argument) if argument.isdigit() else 1
            if command == "A":
                row = max(0, row - count)
            elif command == "B":
                row += count
            elif command == "G":
                column = max(0, count - 1)
            elif command == "K":
                line = lines[row] if row < len(lines) else []
                if argument in ("", "0"):
                    del line[column:]
                elif argument == "2":
                    line.clear()
            position = match.end()
            continue
        char = output[position]
        position += 1
        if char == "\r":
            column = 0
        elif char == "\n":
            row += 1
            column = 0
        elif char == "\x1b" or char == "\x07" or char == "\b":
            continue
        else:
            if column >= columns:  # the terminal wraps a line that reaches its right edge
                row, column = row + 1, 0
            while len(lines) <= row:
                lines.append([])
            line = lines[row]
            line.extend(" " * (column - len(line)))
            if column < len(line):
                line[column] = char
            else:
                line.append(char)
            column += 1
        while len(lines) <= row:
            lines.append([])
    text = ["".join(line).rstrip() for line in lines]
    while text and not text[-1]:
        text.pop()
    return text
