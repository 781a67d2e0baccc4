"""Signed decisions: each record's hash signed with its operator's SSH key, checked offline.

A record's hash covers every field of the record and the hash before it; signing that hash
with `ssh-keygen -Y sign -n migration-runbook` (the format git uses for SSH-signed commits)
binds the record, and the chain before it, to a key. The plan names an `allowed_signers` file
(ssh-keygen's format: `alice ssh-ed25519 AAAA...`) kept in git beside it; a signature counts
only when that file gives its key to the record's operator. So an auditor can check, with
`ssh-keygen -Y verify` alone, that each signed decision was made by the person it names.

ssh-keygen does the cryptography; this module runs it with no shell and no terminal (a key
that needs a passphrase must be in the ssh-agent) and turns its answers into one-line errors.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import EventRefused, RunbookError
from .plan import Plan, signers_path

if TYPE_CHECKING:
    from .events import Event

NAMESPACE = "migration-runbook"
"""The ssh-keygen signature namespace: a signature made for git cannot pass as a decision."""
KEY_ENV = "RUNBOOK_SIGNING_KEY"
"""The environment variable naming the signing key when `--sign` is not given."""
TIMEOUT = 30
EXPORT_FORMAT = "migration-runbook-export/1"


class SigningError(RunbookError):
    """ssh-keygen is missing, or a key or allowed_signers file cannot be used."""


def _ssh_keygen() -> str:
    found = shutil.which("ssh-keygen")
    if not found:
        raise SigningError("ssh-keygen not found: install OpenSSH (8.2 or later) to sign "
                           "or verify decisions")
    return found


def _run(args: list[str], data: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """ssh-keygen with `data` on stdin, no terminal (it cannot stop to ask a passphrase)."""
    try:
        return subprocess.run([_ssh_keygen(), *args], input=data, capture_output=True,
                              timeout=TIMEOUT, start_new_session=True, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SigningError(f"ssh-keygen {args[0]} {args[1] if len(args) > 1 else ''} failed: "
                           f"{exc}") from None


def _said(result: subprocess.CompletedProcess[bytes]) -> str:
    text = (result.stderr or result.stdout or b"").decode("utf-8", "replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {result.returncode}"


# --- signing --------------------------------------------------------------------------------

@dataclass
class Signer:
    """A key to sign with: a private key file, or a public key whose private half the
    ssh-agent holds (ssh-keygen asks the agent then)."""

    key: Path | None
    signers: Path
    described: str
    phase: str = ""
    event: str = ""
    agent_key: str = ""     # "TYPE BASE64" of an agent's key (written out only to sign)

    def sign(self, record_hash: str, operator: str) -> str:
        """The armored signature of `record_hash`; EventRefused unless the allowed_signers
        file gives this key to `operator`."""
        with tempfile.TemporaryDirectory(prefix="runbook-key-") as folder:
            key = self.key
            if key is None:
                key = Path(folder) / "agent.pub"
                key.write_text(self.agent_key + "\n", encoding="ascii")
            result = _run(["-Y", "sign", "-n", NAMESPACE, "-f", str(key)],
                          record_hash.encode("ascii"))
        if result.returncode != 0 or b"BEGIN SSH SIGNATURE" not in result.stdout:
            raise SigningError(f"cannot sign with {self.described}: {_said(result)} (a key "
                               "with a passphrase must be loaded into ssh-agent)")
        signature = result.stdout.decode("ascii").strip() + "\n"
        ok, detail = verify_signature(self.signers, operator, record_hash, signature)
        if not ok:
            raise EventRefused(self.phase, self.event, f"phase '{self.phase}' cannot "
                               f"{self.event}: the signing key {self.described} is not "
                               f"{operator}'s in {self.signers} ({detail}); sign with your "
                               "own key")
        return signature


def signer_for(plan: Plan, phase_id: str, event: str, operator: str, key: str | None,
               source: str = "cli") -> Signer | None:
    """The key that signs `operator`'s decision, or None (unsigned).

    `key` (--sign), else $RUNBOOK_SIGNING_KEY, else a key in the ssh-agent that the plan's
    allowed_signers gives `operator`. A phase whose approvals require signatures refuses an
    unsigned decision (a rehearsal's, in simulated time and its own log, is exempt: see
    SECURITY.md).
    """
    from .approvals import signatures_required

    chosen = (key or "").strip()
    if source != "rehearsal":   # a rehearsal's operators are not whoever runs it
        chosen = chosen or os.environ.get(KEY_ENV, "").strip()
    signers = signers_path(plan)
    head = f"phase '{phase_id}' cannot {event}: "
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_file():
            raise EventRefused(phase_id, event, head + f"signing key {chosen}: no such file")
        if signers is None:
            raise EventRefused(phase_id, event, head + "the plan names no allowed_signers "
                               "file, so a signature could not be checked (add "
                               "allowed_signers: PATH)")
        return Signer(path, signers, str(path), phase_id, event)
    if signers is not None and os.environ.get("SSH_AUTH_SOCK") and source != "rehearsal":
        found = _agent_key(signers, operator)
        if found is not None:
            found.phase, found.event = phase_id, event
            return found
    if signatures_required(plan, phase_id) and source != "rehearsal":
        raise EventRefused(phase_id, event, head + "the plan requires signed decisions: sign "
                           f"with --sign KEY (or ${KEY_ENV}, or {operator}'s key in "
                           "ssh-agent)")
    return None


def _agent_key(signers: Path, operator: str) -> Signer | None:
    """A key the ssh-agent holds that `signers` lists for `operator`, if any."""
    try:
        listed = subprocess.run(["ssh-add", "-L"], capture_output=True, timeout=TIMEOUT,
                                check=False, start_new_session=True)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if listed.returncode != 0:
        return None
    theirs = {k for principals, k in allowed_keys(signers) if operator in principals}
    for line in listed.stdout.decode("utf-8", "replace").splitlines():
        parts = line.split()
        if len(parts) >= 2 and (parts[0], parts[1]) in theirs:
            return Signer(None, signers, f"the ssh-agent's {parts[0]} key",
                          agent_key=f"{parts[0]} {parts[1]}")
    return None


def allowed_keys(signers: Path) -> list[tuple[set[str], tuple[str, str]]]:
    """(principals, (key type, base64)) for each line of an allowed_signers file."""
    out = []
    try:
        text = signers.read_text(encoding="utf-8")
    except OSError as exc:
        raise SigningError(f"{signers}: cannot read the allowed_signers file ({exc})") from None
    for line in text.splitlines():
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        kinds = [i for i, p in enumerate(parts) if p.startswith(("ssh-", "ecdsa-", "sk-"))
                 and i > 0]
        if kinds and kinds[0] + 1 < len(parts):
            i = kinds[0]
            out.append((set(parts[0].split(",")), (parts[i], parts[i + 1])))
    return out


# --- verifying ------------------------------------------------------------------------------

def verify_signature(signers: Path, principal: str, record_hash: str,
                     signature: str) -> tuple[bool, str]:
    """Whether `signature` is `principal`'s signature of `record_hash` in the namespace; with
    a short reason (whose key it is when it is someone else's)."""
    with tempfile.TemporaryDirectory(prefix="runbook-sig-") as folder:
        sig = Path(folder) / "record.sig"
        sig.write_text(signature, encoding="ascii", errors="replace")
        result = _run(["-Y", "verify", "-f", str(signers), "-I", principal, "-n", NAMESPACE,
                       "-s", str(sig)], record_hash.encode("ascii"))
        if result.returncode == 0:
            return True, "good signature"
        owners = _run(["-Y", "find-principals", "-f", str(signers), "-s", str(sig)])
        names = owners.stdout.decode("utf-8", "replace").split() if owners.returncode == 0 \
            else []
    if names and principal not in names:
        return False, f"the key is {', '.join(names)}'s, not {principal}'s"
    if names:
        return False, "the signature does not match this record"
    return False, f"no key of {principal}'s in allowed_signers made it ({_said(result)})"


@dataclass(frozen=True)
class SignatureCheck:
    """The signatures of a log checked against allowed_signers."""

    ok: bool
    signed: int
    total: int
    by: dict[str, int]          # operator -> signed records
    first_bad: int | None
    message: str


def check_signatures(plan: Plan, events: Sequence[Event]) -> SignatureCheck:
    """Every signature against the plan's allowed_signers (principal = the record's operator,
    the namespace, the record's hash); a record unsigned where the plan requires signatures
    fails too. Names the first record that fails."""
    from .approvals import signatures_required

    signers = signers_path(plan)
    by: dict[str, int] = {}
    required = {p.id for p in plan.phases if signatures_required(plan, p.id)}
    from .chronology import is_rehearsal_log

    # A rehearsal's own log may be unsigned; a rehearsal's record in a real night's log is
    # judged like any other (else `-p source rehearsal` would skip the signature).
    rehearsal_log = is_rehearsal_log(events)
    for ev in events:
        if not ev.signature:
            if ev.phase in required and not rehearsal_log:
                kind = "a rehearsal record in a log of the real run, unsigned" \
                    if ev.source == "rehearsal" else "unsigned"
                return SignatureCheck(False, sum(by.values()), len(events), by, ev.seq,
                                      f"record {ev.seq} ({ev.phase} {ev.event} by "
                                      f"{ev.operator}) is {kind}, and the plan requires "
                                      "signed decisions")
            continue
        if signers is None:
            return SignatureCheck(False, sum(by.values()), len(events), by, ev.seq,
                                  f"record {ev.seq} is signed, but the plan names no "
                                  "allowed_signers file to check it against")
        ok, detail = verify_signature(signers, ev.operator, ev.hash, ev.signature)
        if not ok:
            return SignatureCheck(False, sum(by.values()), len(events), by, ev.seq,
                                  f"record {ev.seq} ({ev.phase} {ev.event} by {ev.operator}): "
                                  f"bad signature: {detail}")
        by[ev.operator] = by.get(ev.operator, 0) + 1
    signed = sum(by.values())
    if not events:
        return SignatureCheck(True, 0, 0, by, None, "no decisions to check")
    who = ", ".join(f"{name} {count}" for name, count in sorted(by.items()))
    return SignatureCheck(True, signed, len(events), by, None,
                          f"{signed} of {len(events)} decisions signed"
                          + (f" (by {who}), every signature good" if signed else ""))


# --- export ---------------------------------------------------------------------------------

def export(plan: Plan, events: Sequence[Event], head: tuple[int, str]) -> dict[str, Any]:
    """The log as one self-contained JSON document an auditor checks with jq and ssh-keygen.

    Each record carries `hashed`, the exact text whose SHA-256 is its `hash`, and its
    `signature`; `allowed_signers` is the file's text. See SECURITY.md for the shell loop.
    """
    from .events import canonical_json, record_hash

    signers = signers_path(plan)
    records = []
    for ev in events:
        row = ev.to_dict()
        stored = _stored_row(ev)
        fields = {key: stored[key] for key in _hashed_keys(stored)}
        fields["details"] = ev.details
        text = canonical_json(fields)
        if record_hash(stored) != ev.hash:
            row["hash_ok"] = False
        records.append({**row, "hashed": text})
    return {
        "format": EXPORT_FORMAT,
        "plan": plan.id,
        "revision": plan.revision,
        "namespace": NAMESPACE,
        "allowed_signers": signers.read_text(encoding="utf-8") if signers else "",
        "head": {"last_seq": head[0], "last_hash": head[1]},
        "records": records,
    }


def _hashed_keys(row: dict[str, Any]) -> list[str]:
    from .events import HASHED, HASHED_IF_SET

    return list(HASHED) + [k for k in HASHED_IF_SET if row.get(k)]


def _stored_row(ev: Event) -> dict[str, Any]:
    """An event back in its stored form (times as stamps), to recompute its hash."""
    from .events import canonical_json, stamp

    return {"seq": ev.seq, "plan": ev.plan, "phase": ev.phase, "event": ev.event,
            "operator": ev.operator, "reason": ev.reason, "at": stamp(ev.at),
            "recorded_at": stamp(ev.recorded_at), "source": ev.source,
            "notebook": ev.notebook, "details": canonical_json(ev.details),
            "prev_hash": ev.prev_hash, "hash": ev.hash, "login": ev.login}
