"""`runbook verify --expect HASH`: the hash chain anchored outside the log.

The chain shows a record edited in place; it cannot show a log rewritten from the edit on,
hashes recomputed, or cut short with its head fixed up. A hash copied elsewhere after a phase
(change ticket, chat, status page) can: `--expect` fails unless the chain is intact and that
hash is one of its records.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from migration_runbook.events import open_log
from migration_runbook.plan import load_plan
from tests.conftest import EXAMPLE
from tests.hardening.conftest import (
    assert_clean_refusal,
    env_without_store,
    rewrite_log,
    runbook,
)

STEPS = [("carrier-connections", "go"), ("carrier-connections", "start"),
         ("carrier-connections", "complete"), ("messaging-core", "go")]


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    """A run folder whose log holds four records, an hour apart from the first window."""
    folder = tmp_path / "run"
    plan = load_plan(EXAMPLE)
    at = plan.phases[0].start
    with open_log(plan, folder) as log:
        for phase, event in STEPS:
            log.record(phase, event, "ic", "as planned", at=at)
            at += timedelta(hours=1)
    return folder


def _hashes(outputs: Path) -> list[str]:
    with open_log(load_plan(EXAMPLE), outputs) as log:
        return [e.hash for e in log.events()]


def verify(outputs: Path, *args: str):
    return runbook("verify", EXAMPLE, "--outputs", outputs, *args, env=env_without_store())


def test_the_last_hash_verify_prints_is_the_one_to_anchor(outputs):
    result = verify(outputs)
    assert result.returncode == 0, result.stderr
    printed = re.search(r"last hash ([0-9a-f]{64})", result.stdout).group(1)
    assert printed == _hashes(outputs)[-1]
    anchored = verify(outputs, "--expect", printed)
    assert anchored.returncode == 0, anchored.stderr
    assert anchored.stdout.splitlines()[-1] == (
        f"omni-hosting-2020: expected hash {printed[:12]}... is record 4 of 4 "
        "(messaging-core go), the last")


def test_an_earlier_anchor_still_verifies_and_says_what_was_added_since(outputs):
    second = _hashes(outputs)[1]
    result = verify(outputs, "--expect", second)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        f"omni-hosting-2020: expected hash {second[:12]}... is record 2 of 4 "
        "(carrier-connections start); 2 recorded since")


def test_the_hash_may_be_pasted_with_spaces_or_in_capitals(outputs):
    last = _hashes(outputs)[-1]
    assert verify(outputs, "--expect", f"  {last.upper()}\n").returncode == 0


def test_a_rewritten_log_passes_the_chain_but_not_the_anchor(outputs):
    """Someone with write access edits a reason and recomputes every hash after it."""
    anchored = _hashes(outputs)[-1]
    rewrite_log(outputs / "events.sqlite", {2: {"reason": "started late: carrier delay"}})
    plain = verify(outputs)
    assert plain.returncode == 0, "the chain alone cannot see a full rewrite"
    err = assert_clean_refusal(verify(outputs, "--expect", anchored))
    assert err == (f"omni-hosting-2020: the expected hash {anchored[:12]}... is not a record "
                   "of this log (4 records, intact chain): the log was rewritten, or is not "
                   "the one the hash was taken from")


def test_a_log_cut_short_with_its_head_fixed_passes_the_chain_but_not_the_anchor(outputs):
    """Deleting the last decision and fixing the head row is invisible to the chain."""
    anchored = _hashes(outputs)[-1]
    db = sqlite3.connect(outputs / "events.sqlite")
    third = db.execute("SELECT hash FROM events WHERE seq = 3").fetchone()[0]
    db.execute("DELETE FROM events WHERE seq = 4")
    db.execute("UPDATE plans SET last_seq = 3, last_hash = ?", (third,))
    db.commit()
    db.close()
    assert verify(outputs).returncode == 0
    err = assert_clean_refusal(verify(outputs, "--expect", anchored))
    assert "is not a record of this log (3 records, intact chain)" in err


def test_a_broken_chain_fails_first_whatever_the_anchor(outputs):
    anchored = _hashes(outputs)[0]
    db = sqlite3.connect(outputs / "events.sqlite")
    db.execute("UPDATE events SET reason = 'edited' WHERE seq = 2")
    db.commit()
    db.close()
    err = assert_clean_refusal(verify(outputs, "--expect", anchored))
    assert err.startswith("record 2 was edited, deleted or reordered")


@pytest.mark.parametrize("given", ["", "abc", "3d744dcd239d", "g" * 64, "0" * 63, "0" * 65,
                                   "sha256:" + "0" * 64, "\x1b[2J" + "0" * 60])
def test_something_that_is_not_a_full_hash_is_refused_in_one_line(outputs, given):
    err = assert_clean_refusal(verify(outputs, "--expect", given))
    assert err.startswith("--expect: ") and "64 hex digits" in err
    assert "\x1b" not in err


def test_an_anchor_against_an_empty_log_fails(tmp_path):
    err = assert_clean_refusal(verify(tmp_path / "none", "--expect", "a" * 64))
    assert "is not a record of this log (0 records" in err
    assert not (tmp_path / "none").exists()  # verifying creates nothing


def test_an_anchor_from_another_run_fails(outputs, tmp_path):
    other = tmp_path / "other"
    with open_log(load_plan(EXAMPLE), other) as log:
        log.record("carrier-connections", "note", "ic", "another run")
    err = assert_clean_refusal(verify(outputs, "--expect", _hashes(other)[0]))
    assert "is not a record of this log" in err
