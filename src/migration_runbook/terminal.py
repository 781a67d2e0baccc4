"""What reaches the operator's terminal: text from outside shown, never obeyed.

A check's HTTP status line, a command's output, a stored record or a file name can carry
escape sequences (clear the screen, erase the line above, retitle the window, colour the
rest of the session) or bidirectional overrides that reorder what is read. `visible` turns
each such character into a `\\x1b`-style escape, so it is seen and does nothing; the CLI
passes every error line, table cell and CSV/JSON value through it.
"""

from __future__ import annotations

import re
from typing import Any

CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""C0 and C1 controls but tab and newline, and the bidirectional marks and overrides."""
_BREAKS = re.compile("[\t\n\u2028\u2029]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: Any, one_line: bool = False) -> str:
    """`text` (made a string) with every control character shown as an escape; `one_line`
    also shows tabs and line breaks escaped, so one value stays on one line."""
    shown = CONTROL.sub(_escape, str(text))
    return _BREAKS.sub(_escape, shown) if one_line else shown


def has_control(text: str) -> bool:
    """Whether `visible` would change `text` (tabs and newlines aside)."""
    return CONTROL.search(text) is not None
