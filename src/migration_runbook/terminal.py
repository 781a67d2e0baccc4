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
"""C0 and C1 controls but tab and newline, and the bidirectional marks and overrides: what
JSON output escapes as `\\uXXXX` on top of JSON's own escapes (`visible` escapes more)."""


def _escape(char: str) -> str:
    """One character as the escape Python would write: `\\x1b`, `\\u202e`, `\\U000e0001`; a
    byte that was not UTF-8 (read back as a lone surrogate, U+DC80-U+DCFF) as `\\xe9`."""
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else \
        f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def visible(text: Any, one_line: bool = False, limit: int | None = None) -> str:
    """`text` (made a string) with every character Python does not call printable shown as
    an escape: controls, bidirectional marks and overrides, format characters, line and
    paragraph separators, bytes that were not UTF-8. Tabs and newlines are kept unless
    `one_line`, so one value stays on one line. `limit`: cut to that many characters, then
    `...` (a stored value in a message).

    The one such function: the CLI's output, check answers and `events.printable` (stored
    records named in messages and the report) all use it."""
    shown = str(text)
    if not shown.isprintable():   # the quick way for most text
        keep = "" if one_line else "\t\n"
        shown = "".join(c if c.isprintable() or c in keep else _escape(c) for c in shown)
    if limit is not None and len(shown) > limit:
        return shown[:limit] + "..."
    return shown


def has_control(text: str) -> bool:
    """Whether `visible` would change `text` (tabs and newlines aside)."""
    return visible(text) != text
