"""Who may decide: the plan's team, its roles, and the approvals a phase's `go` needs.

A plan may declare its team (`team: [{name, roles, login}]`) and the roles that must approve
each phase's `go` (`approvals: {go: [roles]}`, overridable per phase). Then:

- only a team member may record anything (`--operator` must be one of its names);
- a holder of a required role records `approve` for a phase (or `revoke` to withdraw it);
- `go` is refused, naming what is missing, until every required role has approved, each role
  by a different person, and the person saying `go` is not the only approver (four eyes);
- an approval stands until it is revoked, the phase is rolled back after it, or the plan's
  revision changes (the approval records the revision it approved).

Everything here is computed from the plan and the log; nothing is stored but the events.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import times
from .plan import Member, Plan

if TYPE_CHECKING:
    from .events import Event

APPROVAL_EVENTS = ("approve", "revoke")
VOIDING = ("rollback", "rolled-back")
"""Events of a phase after which its earlier approvals no longer count."""


@dataclass(frozen=True)
class Approval:
    """One `approve` event and what became of it."""

    phase: str
    person: str
    roles: tuple[str, ...]      # the required roles the person held when approving
    at: datetime
    seq: int
    revision: int | None
    status: str = "standing"    # standing, revoked, voided by rollback, voided by revision
    ended_at: datetime | None = None
    ended_seq: int | None = None


# --- the plan's rules ---------------------------------------------------------------------

def required_roles(plan: Plan, phase_id: str) -> list[str]:
    """The roles that must approve `phase_id`'s go (the phase's list, else the plan's)."""
    own = plan.phase(phase_id).approvals
    if own is not None and own.go is not None:
        return list(dict.fromkeys(own.go))
    return list(dict.fromkeys(plan.approvals.go or []))


def signatures_required(plan: Plan, phase_id: str) -> bool:
    """Whether every decision about `phase_id` must be signed."""
    own = plan.phase(phase_id).approvals
    if own is not None and own.require_signatures is not None:
        return own.require_signatures
    return bool(plan.approvals.require_signatures)


def member(plan: Plan, name: str) -> Member | None:
    """The team member called `name`, if any."""
    return next((m for m in plan.team if m.name == name), None)


def holders(plan: Plan, role: str) -> list[str]:
    """The team members holding `role`, in plan order."""
    return [m.name for m in plan.team if role in m.roles]


def first_holders(plan: Plan, phase_id: str) -> list[str]:
    """One approver a required role, each a different person where the team allows: the
    first team member holding it (what a rehearsal records)."""
    chosen: list[str] = []
    for role in required_roles(plan, phase_id):
        people = holders(plan, role)
        pick = next((p for p in people if p not in chosen), people[0] if people else None)
        if pick and pick not in chosen:
            chosen.append(pick)
    return chosen


def operator_refusal(plan: Plan, phase_id: str, event: str, operator: str) -> str | None:
    """Why `operator` may not record anything, as one line (None: they may)."""
    if not plan.team or member(plan, operator) is not None:
        return None
    names = [m.name for m in plan.team]
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    return (f"phase '{phase_id}' cannot {event}: '{operator}' is not on the plan's team "
            f"(team: {shown})")


def login_refusal(plan: Plan, phase_id: str, event: str, operator: str, login: str,
                  backend: str) -> str | None:
    """Why `operator` may not record through database login `login` (None: they may).

    On a PostgreSQL store, a team member with a `login` must be connected as that login
    (`session_user`); a SQLite file has no logins to compare.
    """
    found = member(plan, operator)
    if found is None or not found.login or backend != "postgresql" or login == found.login:
        return None
    return (f"phase '{phase_id}' cannot {event}: {operator} records as database login "
            f"'{found.login}', and this connection is '{login}' (connect as {found.login})")


# --- what the log says ----------------------------------------------------------------------

def history(plan: Plan, events: Iterable[Event], phase_id: str | None = None) -> list[Approval]:
    """Every approval of `phase_id` (or of every phase), in log order, with its fate."""
    out: list[Approval] = []
    current: dict[tuple[str, str], int] = {}    # (phase, person) -> index in out
    for ev in events:
        if phase_id is not None and ev.phase != phase_id:
            continue
        if ev.event == "approve":
            details = ev.details or {}
            roles = tuple(str(r) for r in details.get("roles", []) if isinstance(r, str))
            revision = details.get("revision")
            current[(ev.phase, ev.operator)] = len(out)
            out.append(Approval(ev.phase, ev.operator, roles, ev.at, ev.seq,
                                revision if isinstance(revision, int) else None))
        elif ev.event == "revoke":
            index = current.pop((ev.phase, ev.operator), None)
            if index is not None:
                out[index] = _ended(out[index], "revoked", ev)
        elif ev.event in VOIDING:
            for key in [k for k in current if k[0] == ev.phase]:
                index = current.pop(key)
                out[index] = _ended(out[index], "voided by rollback", ev)
    return [a if a.status != "standing" or a.revision == plan.revision
            else _replace(a, status="voided by revision") for a in out]


def _ended(approval: Approval, status: str, ev: Event) -> Approval:
    return _replace(approval, status=status, ended_at=ev.at, ended_seq=ev.seq)


def _replace(approval: Approval, **changes: Any) -> Approval:
    from dataclasses import replace

    return replace(approval, **changes)


def standing(plan: Plan, events: Iterable[Event], phase_id: str) -> list[Approval]:
    """The approvals that count towards `phase_id`'s next go."""
    return [a for a in history(plan, events, phase_id) if a.status == "standing"]


def assign(roles: Sequence[str], approvals: Sequence[Approval],
           exclude: str | None = None) -> dict[str, str]:
    """Role -> person, each role to a different approver holding it (a maximum matching)."""
    people = {a.person: set(a.roles) for a in approvals if a.person != exclude}
    taken: dict[str, str] = {}      # person -> role

    def place(role: str, seen: set[str]) -> bool:
        for person, held in people.items():
            if role in held and person not in seen:
                seen.add(person)
                if person not in taken or place(taken[person], seen):
                    taken[person] = role
                    return True
        return False

    for role in roles:
        place(role, set())
    return {role: person for person, role in taken.items()}


def go_refusal(plan: Plan, events: Sequence[Event], phase_id: str,
               operator: str | None) -> str | None:
    """Why `phase_id` may not go yet for want of approvals, as one line (None: it may)."""
    roles = required_roles(plan, phase_id)
    if not roles:
        return None
    current = standing(plan, events, phase_id)
    matched = assign(roles, current)
    missing = [r for r in roles if r not in matched]
    head = f"phase '{phase_id}' cannot go: "
    if missing:
        parts = []
        for role in missing:
            who = holders(plan, role)
            already = [a.person for a in current if role in a.roles]
            if already:
                parts.append(f"{role} (approved only by {_and(already)}, who already counts "
                             f"as {_and([matched_role(matched, p) for p in already])}; each "
                             "role needs a different person)")
            else:
                parts.append(f"{role} (may approve: {_and(who) or 'nobody on the team'})")
        got = "; approved so far: " + ", ".join(
            f"{role} by {person}" for role, person in matched.items()) if matched else ""
        return head + f"waiting for approval by {'; '.join(parts)}{got}"
    if operator and set(matched.values()) == {operator}:
        other = assign(roles, current, exclude=operator)
        if all(r in other for r in roles):
            return None
        others = [p for r in roles for p in holders(plan, r) if p != operator]
        return (head + f"{operator} is its only approver and may not also say go (four "
                f"eyes): another {_and(roles)} ({_and(list(dict.fromkeys(others))) or 'nobody'})"
                " must approve, or another team member say go")
    return None


def matched_role(matched: dict[str, str], person: str) -> str:
    return next((role for role, who in matched.items() if who == person), "nothing")


def approval_refusal(plan: Plan, events: Sequence[Event], phase_id: str, event: str,
                     operator: str) -> str | None:
    """Why `operator` may not `approve` or `revoke` `phase_id` now (None: they may)."""
    roles = required_roles(plan, phase_id)
    head = f"phase '{phase_id}' cannot {event}: "
    if not roles:
        return head + "the plan asks no approval for its go (approvals: {go: [roles]})"
    mine = [m for m in standing(plan, events, phase_id) if m.person == operator]
    if event == "revoke":
        return None if mine else head + f"{operator} has no standing approval of its go"
    found = member(plan, operator)
    held = [r for r in roles if found is not None and r in found.roles]
    if not held:
        has = ", ".join(found.roles) if found is not None and found.roles else "no role"
        return head + f"{operator} holds no role its go needs (needs {_and(roles)}; " \
                      f"{operator} holds {has})"
    if mine:
        return head + f"{operator} has already approved it (event #{mine[-1].seq})"
    return None


def approve_details(plan: Plan, phase_id: str, operator: str) -> dict[str, Any]:
    """What an `approve` records: the required roles the approver holds, the plan revision."""
    found = member(plan, operator)
    roles = [r for r in required_roles(plan, phase_id) if found and r in found.roles]
    return {"roles": roles, "revision": plan.revision}


def go_details(plan: Plan, events: Sequence[Event], phase_id: str,
               operator: str) -> dict[str, Any]:
    """The approvals a `go` stands on, to record with it: role -> {by, seq}."""
    roles = required_roles(plan, phase_id)
    if not roles:
        return {}
    current = standing(plan, events, phase_id)
    matched = assign(roles, current)
    if set(matched.values()) == {operator}:
        matched = assign(roles, current, exclude=operator)
    seqs = {a.person: a.seq for a in current}
    return {"approvals": {role: {"by": person, "seq": seqs[person]}
                          for role, person in matched.items()}}


# --- for people -----------------------------------------------------------------------------

def rows(plan: Plan, events: Sequence[Event], phase_id: str | None = None,
         tz: str | None = None) -> list[dict[str, Any]]:
    """Each approval as a plain row (status, report, notebook): who approved what, when."""
    zone = plan.display_zone(tz)
    return [{"phase": a.phase, "by": a.person, "roles": list(a.roles), "seq": a.seq,
             "at": times.format_both(a.at, zone), "at_utc": times.format_iso_utc(a.at),
             "status": a.status,
             "ended": times.format_both(a.ended_at, zone) if a.ended_at else ""}
            for a in history(plan, events, phase_id)]


def summary(plan: Plan, events: Sequence[Event], phase_id: str) -> dict[str, Any]:
    """For `runbook status`: required roles, standing approvals (role -> who, when), missing."""
    roles = required_roles(plan, phase_id)
    current = standing(plan, events, phase_id)
    matched = assign(roles, current) if roles else {}
    by_person = {a.person: a for a in current}
    return {
        "required": roles,
        "approved": [{"role": role, "by": person,
                      "at_utc": times.format_iso_utc(by_person[person].at),
                      "seq": by_person[person].seq} for role, person in matched.items()],
        "missing": [r for r in roles if r not in matched],
    }


def summary_text(plan: Plan, events: Sequence[Event], phase_id: str) -> str:
    """One short text for a status table cell ('' when the phase needs no approval)."""
    info = summary(plan, events, phase_id)
    if not info["required"]:
        return ""
    zone = plan.zone
    lines = [f"{a['role']}: {a['by']} "
             f"{times.format_local(times.parse_instant(a['at_utc']), zone, with_date=False)}"
             for a in info["approved"]]
    if info["missing"]:
        lines.append("missing: " + ", ".join(info["missing"]))
    return "\n".join(lines)


def _and(words: Sequence[str]) -> str:
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]
