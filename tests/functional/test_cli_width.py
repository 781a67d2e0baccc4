"""How wide tables are when stdout is not a terminal (`| less`, `| tee`, `make rehearse`).

$COLUMNS when set; else the width of the terminal that stderr is on; else 160 columns (CI
logs, files). A terminal itself is rich's business (it asks the terminal, or $COLUMNS)."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

from tests.conftest import EXAMPLE, ROOT

RUNBOOK = str(Path(sys.executable).with_name("runbook"))
WIDE_SCHEDULE = [RUNBOOK, "schedule", str(EXAMPLE), "--wide"]  # about 150 columns at most


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "RUNBOOK_STORE")}
    return env | extra


def _widest(text: str) -> int:
    return max(len(line.rstrip()) for line in text.splitlines())


def test_piped_output_takes_the_width_of_the_terminal_on_stderr():
    leader, follower = pty.openpty()
    try:
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 80, 0, 0))
        result = subprocess.run(WIDE_SCHEDULE, stdout=subprocess.PIPE,
                                stderr=follower, stdin=subprocess.DEVNULL, text=True,
                                env=_env(), cwd=ROOT, timeout=120)
    finally:
        os.close(follower)
        os.close(leader)
    assert result.returncode == 0
    assert 70 < _widest(result.stdout) <= 80


def test_piped_output_honours_columns():
    result = subprocess.run(WIDE_SCHEDULE, capture_output=True, text=True,
                            env=_env(COLUMNS="100"), cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert 80 < _widest(result.stdout) <= 100


def test_output_with_no_terminal_at_all_is_160_columns():
    result = subprocess.run(WIDE_SCHEDULE, capture_output=True, text=True,
                            env=_env(), cwd=ROOT, stdin=subprocess.DEVNULL, timeout=120)
    assert result.returncode == 0, result.stderr
    assert 100 < _widest(result.stdout) <= 160
