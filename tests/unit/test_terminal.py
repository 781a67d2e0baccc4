"""`terminal.visible`: the one function that shows text from outside (a log, a check, a file
name) without letting it drive the terminal; `events.printable` is it, on one line."""

from __future__ import annotations

import pytest

from migration_runbook.events import brief, printable
from migration_runbook.terminal import has_control, visible


@pytest.mark.parametrize("text,shown", [
    ("plain Zoë 李雷 🚀 e\u0301", "plain Zoë 李雷 🚀 e\u0301"),
    ("\x1b[2J\x9b31m\x07", "\\x1b[2J\\x9b31m\\x07"),
    ("\u202eevil\u202c \u2066x\u2069", "\\u202eevil\\u202c \\u2066x\\u2069"),
    ("zero\u200bwidth\u200djoin", "zero\\u200bwidth\\u200djoin"),
    ("line\u2028sep\u2029para\x85", "line\\u2028sep\\u2029para\\x85"),
    ("no\xa0break", "no\\xa0break"),
    ("tag\U000e0041", "tag\\U000e0041"),
    ("caf\udce9", "caf\\xe9"),                   # a byte that was not UTF-8
    ("tab\tand\nnewline\r", "tab\tand\nnewline\\x0d"),
])
def test_visible_shows_every_unprintable_character_as_an_escape(text, shown) -> None:
    assert visible(text) == shown
    assert has_control(text) == (text != shown)


def test_one_line_and_a_limit_are_what_stored_values_in_messages_get() -> None:
    assert visible("a\tb\nc", one_line=True) == "a\\x09b\\x0ac"
    assert visible("x" * 12, limit=10) == "x" * 10 + "..."
    value = "mal\x00\x1b[2Jlory\n\udcff" + "y" * 200
    assert printable(value) == visible(value, one_line=True, limit=100)
    assert printable(value).startswith("mal\\x00\\x1b[2Jlory\\x0a\\xff")
    assert brief("\u202e") == "'\\u202e'"
