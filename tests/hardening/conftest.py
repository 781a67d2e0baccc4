"""Helpers for the hardening tests: hostile payloads, a hang guard, and what a clean refusal is.

A clean refusal is what an operator at 2 a.m. must see for any mistake: exit 1, one line (or
one line a problem) on stderr, no Python traceback.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from tests.conftest import (
    EXAMPLE,
    ROOT,
    env_without_store,  # noqa: F401  (its tests import it from here)
)

RUNBOOK = Path(sys.executable).with_name("runbook")
PAPERMILL = Path(sys.executable).with_name("papermill")

PAYLOADS = (
    '<img src=x onerror="window.__pwned=1">',
    "<script>window.__pwned=1</script>",
    '"><svg onload="window.__pwned=1">',
    "'><iframe srcdoc=\"<script>parent.__pwned=1</script>\"></iframe>",
    "<a href=\"javascript:window.__pwned=1\" id=pwnlink>click</a>",
    "{{ 7*7 }} {% raw %}${7*7}",
)
"""Markup and script that must appear as typed, never as live HTML (or template code)."""

INJECTED = ("img[src='x']", "svg[onload]", "iframe[srcdoc]", "a#pwnlink", "[onerror]",
            "[onload]", "a[href^='javascript:']")
"""Selectors an injection would create in a page (none may match)."""


class Hang(BaseException):
    """Raised by `time_limit` when code runs too long (BaseException: nothing catches it)."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Fail with `Hang` if the block takes longer than `seconds` (main thread, POSIX)."""

    def expired(_signum: int, _frame: object) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def runbook(*args: object, cwd: Path | None = None, env: dict | None = None,
            timeout: float = 300, preexec_fn=None) -> subprocess.CompletedProcess[str]:
    """Run the real `runbook` command (its own process group, so a hang can be killed)."""
    return subprocess.run([str(RUNBOOK), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=timeout, env=env, preexec_fn=preexec_fn)


def assert_clean_refusal(result: subprocess.CompletedProcess[str], *, lines: int | None = 1
                         ) -> str:
    """Exit 1, no traceback, `lines` non-empty lines on stderr (None: any number); the text."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    err = result.stderr
    assert "Traceback" not in err and "Traceback" not in result.stdout, err
    assert 'File "' not in err, err
    shown = [line for line in err.splitlines() if line.strip()]
    assert shown, "a refusal must say why"
    if lines is not None:
        assert len(shown) == lines, shown
    return err.strip()


def example_data() -> dict:
    """The example plan as plain data (times as text, as written)."""
    from migration_runbook.plan import read_yaml

    data, _lines, errors = read_yaml(EXAMPLE)
    assert not errors
    return data


def dump(data: object) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


# --- a plan with markup in every free-text field ------------------------------------------

LITERAL = '<img src=x onerror="window.__pwned=1">'
"""The part of every payload a test looks for, as text, in what a person sees."""


def payload(tag: str, short: bool = False) -> str:
    """Markup and script tagged with the field it was put in (`tag` is text either way)."""
    if short:
        return f"{tag}{LITERAL}"
    return (f'{tag}{LITERAL}<script>window.__pwned=1</script>"><svg onload="window.__pwned=1">'
            f"<i class=pwn>{tag}</i><a class=pwn href=\"javascript:window.__pwned=1\">x</a>"
            "[md](javascript:window.__pwned=1) {{ 7*7 }} *em*")


def hostile_data(status_page: str = "javascript:window.__pwned=1//<svg onload=alert(1)>"
                 ) -> dict:
    """The example plan with a payload in every field that takes free text."""
    data = example_data()
    data["title"] = payload("T-title")
    data["description"] = payload("T-description")
    for i, service in enumerate(data["services"]):
        service["name"] = payload(f"T-service{i}-name")
        service["description"] = payload(f"T-service{i}-description")
    for p, phase in enumerate(data["phases"]):
        phase["name"] = payload(f"T-phase{p}-name")
        phase["description"] = payload(f"T-phase{p}-description")
        for i, impact in enumerate(phase["impacts"]):
            impact["detail"] = payload(f"T-phase{p}-impact{i}")
        phase["rollback"]["plan"] = payload(f"T-phase{p}-rollback")
        for s, step in enumerate(phase.get("steps", [])):
            step["name"] = payload(f"T-phase{p}-step{s}")
            step["owner"] = payload(f"T-phase{p}-owner{s}")
    data["phases"][0]["checks"] = [{"name": payload("T-check"), "command": "true",
                                    "timeout": "5s"}]
    comms = data["communications"]
    comms["sender"] = payload("T-sender")
    comms["status_page"] = status_page
    comms["on_call_request"] = payload("T-oncall")
    comms["backup_connection"] = payload("T-backup")
    for contact in comms["contacts"]:
        contact["name"] = payload("T-contact")
        contact["email"] = payload("T-email", short=True)
        contact["phone"] = payload("T-phone", short=True)
        contact["urgent_phone"] = payload("T-urgent", short=True)
    for i, notice in enumerate(comms["previous_notices"]):
        notice["title"] = payload(f"T-notice{i}")
        notice["sent"] = payload(f"T-sent{i}", short=True)
    return data


def write_hostile_plan(folder: Path, name: str = "hostile.yaml", **kwargs: str) -> Path:
    path = Path(folder) / name
    path.write_text(dump(hostile_data(**kwargs)), encoding="utf-8")
    return path


PROBE_JS = """() => ({
  pwned: typeof window.__pwned,
  parentPwned: typeof (window.parent && window.parent.__pwned),
  scripts: Array.from(document.scripts)
    .filter((s) => s.textContent.trim() === 'window.__pwned=1').length,
  iframes: Array.from(document.querySelectorAll('iframe'))
    .filter((f) => (f.getAttribute('srcdoc') || '').includes('__pwned')).length,
  scriptUrls: Array.from(document.querySelectorAll('*')).filter((el) =>
    Array.from(el.attributes).some((a) => /^\\s*(javascript|data|vbscript):/i.test(a.value)
      && !/^data:(image|font)\\//i.test(a.value.trim()))).length,
})"""


def assert_inert(page, literal: int = 1, page_errors: bool = False) -> str:
    """No payload ran or became an element; `literal` copies (at least) show as text.

    `page_errors`: tolerate the page's own script errors (a nbconvert page whose remote
    require.js was blocked offline, say); injected script errors show in the probe anyway.
    """
    page.page.wait_for_timeout(400)  # an injected <img onerror> fires after load
    probe = page.evaluate(PROBE_JS)
    assert probe == {"pwned": "undefined", "parentPwned": "undefined", "scripts": 0,
                     "iframes": 0, "scriptUrls": 0}, probe
    for selector in (*INJECTED, ".pwn", "i.pwn"):
        assert page.count(selector) == 0, f"injected element: {selector}"
    if not page_errors:
        assert page.page_errors == [], page.page_errors
    text = page.text
    assert text.count(LITERAL) >= literal, (text.count(LITERAL), text[:2000])
    return text


def rewrite_log(sqlite_file: Path, changes: dict[int, dict]) -> None:
    """Rewrite records the way someone with write access to the log could: change fields of
    the records in `changes` (seq -> {column: value}), then recompute every hash from there
    on and the head, so that the chain verifies again. What `verify --expect` is for."""
    import sqlite3

    from migration_runbook.events import record_hash
    from migration_runbook.store import GENESIS

    db = sqlite3.connect(sqlite_file)
    db.row_factory = sqlite3.Row
    try:
        rows = [dict(r) for r in db.execute("SELECT * FROM events ORDER BY plan, seq")]
        previous = GENESIS
        for row in rows:
            row.update(changes.get(row["seq"], {}))
            row["prev_hash"] = previous
            row["hash"] = previous = record_hash(row)
            columns = [c for c in row if c not in ("plan", "seq")]
            db.execute(f"UPDATE events SET {', '.join(f'{c} = ?' for c in columns)} "
                       "WHERE plan = ? AND seq = ?",
                       [row[c] for c in columns] + [row["plan"], row["seq"]])
        if rows:
            db.execute("UPDATE plans SET last_seq = ?, last_hash = ? WHERE id = ?",
                       (rows[-1]["seq"], previous, rows[-1]["plan"]))
        db.commit()
    finally:
        db.close()
