"""Signed decisions: real ed25519 keys made by ssh-keygen, checked by `runbook verify` and by
the shell loop of SECURITY.md with `ssh-keygen -Y verify` alone."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from migration_runbook.errors import EventRefused
from migration_runbook.events import open_log
from migration_runbook.plan import load_plan
from tests.conftest import ROOT, run_cli
from tests.hardening.conftest import rewrite_log

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs OpenSSH")

T0 = datetime(2020, 3, 1, 20, 0, tzinfo=UTC)
PLAN = """
id: signed
title: Signed decisions
timezone: Pacific/Auckland
services: [{id: api, name: API}]
allowed_signers: keys/allowed_signers
team:
  - {name: alice, roles: [incident-commander]}
  - {name: bob, roles: [change-manager]}
approvals: {go: [change-manager], require_signatures: REQUIRE}
phases:
  - {id: db, name: Database, start: 2020-03-02 10:00, end: 2020-03-02 14:00,
     rollback: {duration: 30m, plan: back}}
"""


def make_key(folder: Path, name: str) -> Path:
    """A fresh ed25519 key pair, no passphrase, made by ssh-keygen."""
    key = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)],
                   check=True, capture_output=True)
    return key


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "keys"
    folder.mkdir()
    made = {name: make_key(folder, name) for name in ("alice", "bob", "mallory")}
    lines = [f"{name} {made[name].with_suffix('.pub').read_text().strip()}"
             for name in ("alice", "bob")]         # mallory's key is on nobody's line
    (folder / "allowed_signers").write_text("\n".join(lines) + "\n")
    return made


def plan_file(tmp_path: Path, require: bool) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN.replace("REQUIRE", "true" if require else "false").lstrip())
    return path


@pytest.fixture
def plan_path(tmp_path, keys) -> Path:
    return plan_file(tmp_path, require=True)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def record_night(plan_path: Path, run: Path, keys: dict[str, Path]) -> None:
    with open_log(load_plan(plan_path), run) as log:
        log.record("db", "approve", "bob", at=at(0), sign=str(keys["bob"]))
        log.record("db", "go", "alice", at=at(1), sign=str(keys["alice"]))
        log.record("db", "start", "alice", at=at(2), sign=str(keys["alice"]))
        log.record("db", "complete", "alice", "done", at=at(3), sign=str(keys["alice"]))


def test_signed_decisions_verify_and_say_who_signed(plan_path, keys, tmp_path):
    run = tmp_path / "run"
    record_night(plan_path, run, keys)
    with open_log(load_plan(plan_path), run) as log:
        first = log.events()[0]
    assert first.signature.startswith("-----BEGIN SSH SIGNATURE-----")
    result = run_cli("verify", plan_path, "--outputs", run)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == ("signed: 4 of 4 decisions signed (by alice 3, "
                                             "bob 1), every signature good")


def test_a_decision_signed_with_another_member_s_key_is_refused(plan_path, keys, tmp_path):
    with open_log(load_plan(plan_path), tmp_path / "run") as log:
        with pytest.raises(EventRefused) as caught:
            log.record("db", "approve", "bob", at=at(0), sign=str(keys["alice"]))
        assert log.events() == []
    message = str(caught.value)
    assert message.startswith(f"phase 'db' cannot approve: the signing key {keys['alice']} "
                              "is not bob's in ")
    assert "(the key is alice's, not bob's); sign with your own key" in message
    with open_log(load_plan(plan_path), tmp_path / "run") as log:
        with pytest.raises(EventRefused, match="no key of bob's in allowed_signers made it"):
            log.record("db", "approve", "bob", at=at(0), sign=str(keys["mallory"]))


def test_require_signatures_refuses_an_unsigned_decision(plan_path, keys, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK",
                                                            "RUNBOOK_SIGNING_KEY")}
    result = run_cli("phase", plan_path, "db", "approve", "--operator", "bob",
                     "--outputs", tmp_path / "run", env=env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "phase 'db' cannot approve: the plan requires signed decisions: sign with --sign KEY "
        "(or $RUNBOOK_SIGNING_KEY, or bob's key in ssh-agent)")
    assert not (tmp_path / "run" / "events.sqlite").exists()


def test_the_cli_signs_through_the_phase_notebook_with_the_environment_s_key(
        plan_path, keys, tmp_path):
    env = {**os.environ, "RUNBOOK_SIGNING_KEY": str(keys["bob"])}
    env.pop("SSH_AUTH_SOCK", None)
    result = run_cli("phase", plan_path, "db", "approve", "--operator", "bob",
                     "--outputs", tmp_path / "run", env=env)
    assert result.returncode == 0, result.stderr
    assert "approve recorded as event #1 by bob" in result.stdout and ", signed" in result.stdout
    # the wrong key through --sign: refused in one line, nothing recorded
    result = run_cli("phase", plan_path, "db", "go", "--operator", "alice", "--sign",
                     keys["bob"], "--outputs", tmp_path / "run", env=env)
    assert result.returncode == 1
    assert "is not alice's in" in result.stderr and "Traceback" not in result.stderr
    with sqlite3.connect(tmp_path / "run" / "events.sqlite") as db:
        assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 1


def test_the_ssh_agent_s_key_signs_when_no_key_is_named(plan_path, keys, tmp_path):
    socket = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        env = {**os.environ, "SSH_AUTH_SOCK": str(socket)}
        for _ in range(100):
            if socket.exists():
                break
            subprocess.run(["sleep", "0.05"], check=True)
        subprocess.run(["ssh-add", str(keys["bob"])], env=env, check=True, capture_output=True)
        old = os.environ.get("SSH_AUTH_SOCK")
        os.environ["SSH_AUTH_SOCK"] = str(socket)
        try:
            with open_log(load_plan(plan_path), tmp_path / "run") as log:
                ev = log.record("db", "approve", "bob", at=at(0))
                with pytest.raises(EventRefused, match="requires signed decisions"):
                    log.record("db", "go", "alice", at=at(1))   # only bob's key is loaded
        finally:
            if old is None:
                os.environ.pop("SSH_AUTH_SOCK")
            else:
                os.environ["SSH_AUTH_SOCK"] = old
        assert ev.signature.startswith("-----BEGIN SSH SIGNATURE-----")
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=10)


def test_a_forged_record_with_the_chain_recomputed_fails_verify_at_that_record(
        plan_path, keys, tmp_path):
    run = tmp_path / "run"
    record_night(plan_path, run, keys)
    rewrite_log(run / "events.sqlite", {3: {"reason": "started on time, honest"}})
    with open_log(load_plan(plan_path), run) as log:
        assert log.verify().ok, "the chain alone cannot see a full rewrite"
    result = run_cli("verify", plan_path, "--outputs", run)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "signed: record 3 (db start by alice): bad signature: the signature does not match "
        "this record")
    # re-signed by the forger with another member's key: still not alice's signature
    with sqlite3.connect(run / "events.sqlite") as db:
        forged_hash = db.execute("SELECT hash FROM events WHERE seq = 3").fetchone()[0]
        signature = subprocess.run(
            ["ssh-keygen", "-Y", "sign", "-n", "migration-runbook", "-f", str(keys["bob"])],
            input=forged_hash.encode(), capture_output=True, check=True).stdout.decode()
        db.execute("UPDATE events SET signature = ? WHERE seq = 3", (signature,))
    result = run_cli("verify", plan_path, "--outputs", run)
    assert result.returncode == 1
    assert result.stderr.strip() == ("signed: record 3 (db start by alice): bad signature: "
                                     "the key is bob's, not alice's")


# --- a rehearsal's records are not a real night's (source=rehearsal is unsigned) --------------

def test_a_rehearsal_record_is_refused_in_a_real_night_s_log(plan_path, keys, tmp_path):
    """`-p source rehearsal` (or source="rehearsal") cannot slip an unsigned decision into a
    real night's log, with or without a typed time."""
    run = tmp_path / "run"
    with open_log(load_plan(plan_path), run) as log:
        log.record("db", "approve", "bob", at=at(0), sign=str(keys["bob"]))
        before = log.events()
        for when in (None, at(1)):
            with pytest.raises(EventRefused) as caught:
                log.record("db", "go", "alice", at=when, source="rehearsal")
            assert str(caught.value) == (
                "phase 'db' cannot go: a rehearsal plays into a log of its own, and this one "
                "holds events of the real run (rehearse into a fresh --outputs folder)")
        assert log.events() == before


def test_a_real_decision_is_refused_in_a_rehearsal_s_log(plan_path, keys, tmp_path):
    """An unsigned rehearsal approval recorded first cannot open a real, signed go."""
    run = tmp_path / "run"
    with open_log(load_plan(plan_path), run) as log:
        log.record("db", "approve", "bob", at=at(0), source="rehearsal")
        before = log.events()
        with pytest.raises(EventRefused) as caught:
            log.record("db", "go", "alice", at=at(1), sign=str(keys["alice"]))
        assert str(caught.value) == (
            "phase 'db' cannot go: this event log is a rehearsal's (it holds rehearsal "
            "records); the real run keeps a log of its own (use another --outputs folder or "
            "--store)")
        assert log.events() == before


def test_verify_fails_an_unsigned_rehearsal_record_appended_to_a_real_night_s_log(
        plan_path, keys, tmp_path):
    """Written past the tool (straight into the database, chain extended): `verify` names it,
    where a rehearsal's own log of unsigned records verifies."""
    from migration_runbook.events import record_hash

    run = tmp_path / "run"
    record_night(plan_path, run, keys)
    with sqlite3.connect(run / "events.sqlite") as db:
        db.row_factory = sqlite3.Row
        row = dict(db.execute("SELECT * FROM events ORDER BY seq DESC LIMIT 1").fetchone())
        row.update(seq=5, event="note", operator="bob", reason="rolled back, all fine",
                   source="rehearsal", signature="", details="{}", prev_hash=row["hash"])
        row["hash"] = record_hash(row)
        db.execute(f"INSERT INTO events ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                   list(row.values()))
        db.execute("UPDATE plans SET last_seq = 5, last_hash = ?", (row["hash"],))
    result = run_cli("verify", plan_path, "--outputs", run)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "signed: record 5 (db note by bob) is a rehearsal record in a log of the real run, "
        "unsigned, and the plan requires signed decisions")
    rehearsal = tmp_path / "rehearsal"
    with open_log(load_plan(plan_path), rehearsal) as log:
        log.record("db", "approve", "bob", at=at(0), source="rehearsal")
    result = run_cli("verify", plan_path, "--outputs", rehearsal)
    assert result.returncode == 0, result.stderr


def test_unsigned_records_are_counted_where_signatures_are_not_required(keys, tmp_path):
    path = plan_file(tmp_path, require=False)
    with open_log(load_plan(path), tmp_path / "run") as log:
        log.record("db", "approve", "bob", at=at(0), sign=str(keys["bob"]))
        log.record("db", "note", "alice", "unsigned", at=at(1))
    result = run_cli("verify", path, "--outputs", tmp_path / "run",
                     env={k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"})
    assert result.returncode == 0, result.stderr
    assert "signed: 1 of 2 decisions signed (by bob 1), every signature good" in result.stdout


def security_commands() -> list[str]:
    """The offline check's shell lines, exactly as SECURITY.md gives them."""
    text = (ROOT / "SECURITY.md").read_text()
    return [line for line in text.splitlines()
            if line.startswith(("jq -r .allowed_signers", "jq -e '.records"))]


def test_the_export_verifies_with_ssh_keygen_alone(plan_path, keys, tmp_path):
    if shutil.which("jq") is None:
        pytest.skip("the documented loop uses jq")
    run = tmp_path / "run"
    record_night(plan_path, run, keys)
    audit = tmp_path / "audit"
    audit.mkdir()
    result = run_cli("export", plan_path, "--outputs", run, "-o", audit / "log.json")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{audit / 'log.json'}: 4 records of signed, 4 signed"
    loop, chain = security_commands()
    clean = {"PATH": "/usr/bin:/bin"}      # no runbook, no Python package, no database
    ok = subprocess.run(["bash", "-c", loop], cwd=audit, capture_output=True, text=True,
                        env=clean, timeout=120)
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "", "")
    assert subprocess.run(["bash", "-c", chain], cwd=audit, capture_output=True,
                          env=clean).returncode == 0
    # the same file with one record edited: that record fails, and only that one
    document = json.loads((audit / "log.json").read_text())
    hashed = json.loads(document["records"][2]["hashed"])
    hashed["reason"] = "edited afterwards"
    document["records"][2]["hashed"] = json.dumps(hashed, sort_keys=True,
                                                  separators=(",", ":"))
    (audit / "log.json").write_text(json.dumps(document))
    bad = subprocess.run(["bash", "-c", loop], cwd=audit, capture_output=True, text=True,
                         env=clean, timeout=120)
    assert bad.stdout == "record 3 FAILS\n"
    # a signature moved onto another record fails too
    document = json.loads((audit / "log.json").read_text())
    document["records"][2] = json.loads(json.dumps(document["records"][2]))
    document["records"][1]["signature"] = document["records"][0]["signature"]
    (audit / "log.json").write_text(json.dumps(document))
    bad = subprocess.run(["bash", "-c", loop], cwd=audit, capture_output=True, text=True,
                         env=clean, timeout=120)
    assert bad.stdout == "record 2 FAILS\nrecord 3 FAILS\n"


def test_the_plan_s_signing_keys_are_checked_when_it_is_loaded(tmp_path):
    from migration_runbook.errors import PlanInvalid

    path = plan_file(tmp_path, require=True)        # no keys/ folder made
    with pytest.raises(PlanInvalid) as caught:
        load_plan(path)
    assert caught.value.lines() == [
        f"{path}:5: allowed_signers: no file {tmp_path / 'keys' / 'allowed_signers'} (a path "
        "relative to the plan file)"]
    path.write_text(path.read_text().replace("allowed_signers: keys/allowed_signers\n", "")
                    + "\n")
    with pytest.raises(PlanInvalid) as caught:
        load_plan(path)
    assert caught.value.lines() == [
        f"{path}:8: approvals.require_signatures needs the plan's allowed_signers file "
        "(allowed_signers: PATH)"]
    long_name = plan_file(tmp_path, require=False)
    long_name.write_text(long_name.read_text().replace("keys/allowed_signers", "k" * 400))
    with pytest.raises(PlanInvalid, match="allowed_signers: no file"):
        load_plan(long_name)
