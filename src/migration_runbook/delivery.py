"""Delivery: notices sent through the plan's channels (Apprise), each delivery recorded once.

A channel is an Apprise URL in the plan (`communications.channels`); `${VAR}` in it is read from
the environment at the moment of sending, and the expanded URL is never printed, logged or kept.

Every delivery is a record in the event log's hash chain (event `notice-intent`, then
`notice-sent` or `notice-failed`; `notice-marked` for one recorded by hand, `notice-rehearsed`
for a rehearsal that sends nothing), carrying kind, phase, plan revision, channel, outcome and
the notice's digest. A notice goes out at most once per (kind, phase, revision, channel): the
check and the intent record are one transaction. The intent is written before Apprise is
called, so a crash between delivery and record leaves an intent without an outcome, which the
next run reports ("it may have gone out") instead of sending again silently.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import times
from .errors import RunbookError
from .plan import Channel, Plan

if TYPE_CHECKING:  # the event store and templates load when sending: `validate` stays quick
    from .events import EventLog
    from .notices import Notice
    from .store import Snapshot

EVENTS = ("notice-intent", "notice-sent", "notice-failed", "notice-marked", "notice-rehearsed")
"""Event-log records of deliveries; their `phase` column is empty (the phase is in details),
so they never take part in a phase's state machine or its back-filling rules."""
DONE = ("notice-sent", "notice-marked", "notice-rehearsed")
REHEARSAL_CHANNEL = "rehearsal"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class DeliveryError(RunbookError):
    """A notice that was not delivered: a refused second send, a failed channel, a lost record."""


# --- channels and secrets ------------------------------------------------------------------

def expand(channel: Channel, environ: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """The channel's URL with `${VAR}` replaced from the environment, and the secrets used
    (to scrub from any message). A variable that is not set is an error naming it."""
    env = os.environ if environ is None else environ
    missing = [name for name in _VAR.findall(channel.url) if not env.get(name)]
    if missing:
        raise DeliveryError(f"channel '{channel.id}': environment variable {missing[0]} is not "
                            f"set (its URL uses ${{{missing[0]}}})")
    secrets = [env[name] for name in _VAR.findall(channel.url)]
    return _VAR.sub(lambda m: env[m.group(1)], channel.url), secrets


def shown_url(channel: Channel) -> str:
    """The channel's URL as the plan writes it (`${VAR}` unexpanded), any literal password
    masked: what every message and output shows."""
    from .store import mask_url

    return mask_url(channel.url)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` without any secret (also URL-encoded), passwords in URLs masked, on one line."""
    from urllib.parse import quote

    from .store import mask_url

    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        for form in {secret, quote(secret, safe="")}:
            text = text.replace(form, "***")
    return " ".join(mask_url(text).split())


# --- what the log says was delivered ----------------------------------------------------

@dataclass(frozen=True)
class Delivery:
    """One delivery record read back from the event log."""

    seq: int
    event: str
    at: datetime
    kind: str
    phase: str
    revision: int
    channel: str
    digest: str
    subject: str
    error: str
    source: str

    @property
    def key(self) -> tuple[str, str, int, str]:
        return (self.kind, self.phase, self.revision, self.channel)


def deliveries(events: Iterable[Any]) -> list[Delivery]:
    """The delivery records among `events` (an event log's, in order)."""
    out = []
    for e in events:
        if e.event not in EVENTS:
            continue
        d = e.details or {}
        out.append(Delivery(e.seq, e.event, e.at, str(d.get("kind", "")),
                            str(d.get("phase", "")), int(d.get("revision", 0) or 0),
                            str(d.get("channel", "")), str(d.get("digest", "")),
                            str(d.get("subject", "")), str(d.get("error", "")), e.source))
    return out


def last_by_key(records: Iterable[Delivery]) -> dict[tuple[str, str, int, str], Delivery]:
    """Each (kind, phase, revision, channel) -> its latest record."""
    last: dict[tuple[str, str, int, str], Delivery] = {}
    for d in records:
        last[d.key] = d
    return last


def sent(records: Iterable[Delivery]) -> list[dict[str, Any]]:
    """Notices that went out, one entry a send (the channels of one notice together), oldest
    first: `at` (first delivery), kind, phase, revision, subject, digest, channels."""
    groups: dict[tuple[str, str, int, str], dict[str, Any]] = {}
    for d in records:
        if d.event not in DONE:
            continue
        key = (d.kind, d.phase, d.revision, d.digest)
        entry = groups.get(key)
        if entry is None or (d.channel in entry["channels"]):   # a re-send (--again): new entry
            if entry is not None:
                key = key + (d.seq,)  # type: ignore[assignment]
            groups[key] = {"at": d.at, "kind": d.kind, "phase": d.phase,
                           "revision": d.revision, "subject": d.subject, "digest": d.digest,
                           "channels": [d.channel], "seq": d.seq,
                           "rehearsal": d.event == "notice-rehearsed"}
        else:
            entry["channels"].append(d.channel)
    return sorted(groups.values(), key=lambda g: g["seq"])


# --- recording -----------------------------------------------------------------------------

def _append(log: EventLog, event: str, details: dict[str, Any], reason: str, at: datetime,
            source: str, operator: str,
            check: Callable[[list[Delivery]], None] | None = None) -> Delivery:
    """Append one delivery record to the log's hash chain; `check(deliveries so far)` runs in
    the same transaction and may refuse (nothing written)."""
    from .events import GENESIS, Event, canonical_json, jsonable, record_hash, stamp

    plan = log.plan

    def decide(snap: Snapshot) -> dict[str, Any]:
        if snap.bound_plan is not None and snap.bound_plan != plan.id:
            raise DeliveryError(f"the event log {log.location} belongs to plan "
                                f"'{snap.bound_plan}', not '{plan.id}' (use another --outputs "
                                "folder)")
        if check is not None:
            check(deliveries(Event.from_row(r) for r in snap.rows
                             if r["event"] in EVENTS))
        recorded = times.now()
        row = {"seq": snap.last_seq + 1, "plan": plan.id, "phase": "", "event": event,
               "operator": operator, "reason": reason, "at": stamp(at),
               "recorded_at": stamp(recorded), "source": source, "notebook": "",
               "details": canonical_json(jsonable(details)),
               "prev_hash": snap.last_hash or GENESIS}
        row["hash"] = record_hash(row)
        return row

    row = log.store.append(plan.id, None, decide, created_at=stamp(times.now()))
    return deliveries([Event.from_row(row)])[0]


# --- sending -------------------------------------------------------------------------------

@dataclass
class Outcome:
    """What one `send` did, channel by channel."""

    notice: Notice
    digest: str
    delivered: list[str] = field(default_factory=list)
    marked: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Lines about channels that already had this notice (nothing re-delivered)."""
    failed: dict[str, str] = field(default_factory=dict)
    kept: Path | None = None


@dataclass(frozen=True)
class Rendered:
    """A notice in every format a channel may want, and its digest."""

    text: Notice
    markdown: Notice
    html: Notice

    @property
    def digest(self) -> str:
        """SHA-256 of the subject and the text body: what customers were told."""
        from .events import canonical_json

        data = canonical_json({"subject": self.text.subject, "body": self.text.body})
        return hashlib.sha256(data.encode("utf-8")).hexdigest()


def render_all(plan: Plan, kind: str, phase: str | None = None, previous: Plan | None = None,
               log: EventLog | None = None, as_of: datetime | None = None) -> Rendered:
    """The notice in text, Markdown and HTML."""
    from .notices import render_notice

    def one(fmt: str) -> Notice:
        return render_notice(plan, kind, fmt, phase=phase, previous=previous, log=log,
                             as_of=as_of)

    return Rendered(one("text"), one("markdown"), one("html"))


def channels_for(plan: Plan, kind: str, names: Iterable[str] | None = None) -> list[Channel]:
    """The plan's channels that receive `kind` (or those named, each of which must)."""
    chosen = list(dict.fromkeys(names or []))
    known = {c.id: c for c in plan.communications.channels}
    if not known:
        raise DeliveryError(f"{plan.source or plan.id}: communications.channels is empty: "
                            "there is nowhere to send (see docs/communications.md)")
    for name in chosen:
        if name not in known:
            raise DeliveryError(f"--channel {name}: no such channel (channels: "
                                f"{', '.join(known)})")
        if not known[name].receives(kind):
            raise DeliveryError(f"channel '{name}' does not receive {kind} notices (its kinds: "
                                f"{', '.join(known[name].kinds)})")
    out = [known[n] for n in chosen] if chosen else \
        [c for c in plan.communications.channels if c.receives(kind)]
    if not out:
        raise DeliveryError(f"no channel receives {kind} notices (channels: "
                            f"{', '.join(known)})")
    return out


def _what(kind: str, phase: str, revision: int) -> str:
    return f"the {kind} notice" + (f" of '{phase}'" if phase else "") + \
        f" (revision {revision})"


def send(plan: Plan, log: EventLog, kind: str, phase: str | None = None, *,
         channels: Iterable[str] | None = None, previous: Plan | None = None,
         outputs: str | os.PathLike[str] | None = None, again: bool = False,
         mark_sent: bool = False, rehearsal: bool = False, at: datetime | None = None,
         source: str = "cli", operator: str = "", environ: dict[str, str] | None = None,
         deliver: Callable[[Channel, Rendered, dict[str, str] | None], str | None]
         | None = None) -> Outcome:
    """Send one notice to the plan's channels (or `channels`), recording each delivery.

    again: send even where it went out before (or may have). mark_sent: record it as sent
    without sending (after checking by hand that a lost delivery did go out). rehearsal:
    record `notice-rehearsed` on a single 'rehearsal' channel, send nothing. at: when (default
    now; a rehearsal gives its simulated time). outputs: the run folder the notice is kept in
    for the report (once a send). Raises DeliveryError (exit 1) when nothing could be sent or a
    channel failed; every outcome is recorded first.
    """
    from .notices import keep_notice

    if again and mark_sent:
        raise DeliveryError("--again and --mark-sent contradict each other: choose one")
    rendered = render_all(plan, kind, phase, previous, log, at)
    notice = rendered.text
    phase_id = notice.phase or ""
    outcome = Outcome(notice, rendered.digest)
    targets = [Channel(id=REHEARSAL_CHANNEL, url="rehearsal://")] if rehearsal else \
        channels_for(plan, kind, channels)
    urls: dict[str, tuple[str, list[str]]] = {}
    if not (rehearsal or mark_sent):
        urls = {c.id: expand(c, environ) for c in targets}   # a missing secret: before anything
    deliver = deliver or deliver_apprise
    operator = operator or os.environ.get("USER", "") or "runbook"
    zone = plan.zone
    what = _what(kind, phase_id, plan.revision)

    def base(channel: Channel) -> dict[str, Any]:
        return {"kind": kind, "phase": phase_id, "revision": plan.revision,
                "channel": channel.id, "digest": outcome.digest, "subject": notice.subject}

    for channel in targets:
        key = (kind, phase_id, plan.revision, channel.id)

        def check(records: list[Delivery], channel: Channel = channel, key: Any = key) -> None:
            last = last_by_key(records).get(key)
            if last is None or last.event == "notice-failed" or again:
                return
            when = times.format_both(last.at, zone)
            if last.event == "notice-intent":
                if mark_sent:
                    return
                raise DeliveryError(
                    f"{what} to channel '{channel.id}' was started at {when} (event "
                    f"#{last.seq}) but its outcome was never recorded: it may have gone out; "
                    "check, then use --mark-sent if it did or --again to send it again")
            raise _AlreadySent(f"{what} already went to channel '{channel.id}' at {when} "
                               f"(event #{last.seq}); use --again to send it again")

        when = at or times.now()
        try:
            if rehearsal or mark_sent:
                event = "notice-rehearsed" if rehearsal else "notice-marked"
                said = "rehearsal, not sent" if rehearsal else \
                    f"recorded as sent to {channel.id} (by hand, --mark-sent)"
                _append(log, event, base(channel), f"{what}: {said}", when, source, operator,
                        check)
                outcome.marked.append(channel.id)
                continue
            _append(log, "notice-intent", base(channel), f"{what}: sending to {channel.id}",
                    when, source, operator, check)
        except _AlreadySent as exc:
            outcome.skipped.append(str(exc))
            continue
        url, secrets = urls[channel.id]
        try:
            error = deliver(channel, rendered, {"url": url})
        except Exception as exc:  # noqa: BLE001 - any plugin failure is this channel's failure
            error = f"{type(exc).__name__}: {exc}"
        if error:
            reason = scrub(error, secrets) or "Apprise reported a failure"
            outcome.failed[channel.id] = reason
            _append(log, "notice-failed", {**base(channel), "error": reason},
                    f"{what}: {channel.id} failed: {reason}", times.now() if at is None else when,
                    source, operator)
        else:
            outcome.delivered.append(channel.id)
            _append(log, "notice-sent", base(channel), f"{what}: sent to {channel.id}",
                    times.now() if at is None else when, source, operator)
    if (outcome.delivered or outcome.marked) and outputs is not None:
        outcome.kept = keep_notice(notice, outputs, at)
    if outcome.failed:
        name, reason = next(iter(outcome.failed.items()))
        more = f" (and {len(outcome.failed) - 1} more channel(s))" if len(outcome.failed) > 1 \
            else ""
        done = f"; delivered to {', '.join(outcome.delivered)}" if outcome.delivered else ""
        raise DeliveryFailed(outcome, f"{what}: channel '{name}' failed: {reason}{more}{done}; "
                             "recorded as failed, run the same command to retry")
    if not (outcome.delivered or outcome.marked):
        raise DeliveryError(outcome.skipped[0] if len(outcome.skipped) == 1 else
                            f"{what} already went to every channel asked for: "
                            + "; ".join(outcome.skipped))
    return outcome


class _AlreadySent(DeliveryError):
    """This channel already has this notice (skipped unless it is the only one)."""


class DeliveryFailed(DeliveryError):
    """One or more channels failed; the outcome (recorded) is attached."""

    def __init__(self, outcome: Outcome, message: str):
        super().__init__(message)
        self.outcome = outcome


# --- Apprise -------------------------------------------------------------------------------

_LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ - [A-Z]+ - ")
EMAIL_CSS_WIDTH = 390
"""The narrowest screen an email must read on (px)."""


def email_html(html: str) -> str:
    """The HTML notice with its stylesheet inlined (mail clients drop <style>), css-inline."""
    import css_inline

    return css_inline.inline(html)


def deliver_apprise(channel: Channel, rendered: Rendered,
                    secret: dict[str, str] | None = None) -> str | None:
    """Deliver through Apprise; None when it went out, else Apprise's reason in one line.

    An email channel gets the HTML notice (CSS inlined), which Apprise sends with a text part;
    a channel that takes Markdown (Slack, Teams ...) the Markdown; anything else the text.
    """
    import apprise

    url = (secret or {}).get("url") or channel.url
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        return f"not an Apprise URL Apprise can use: {shown_url(channel)}"
    fmt = getattr(plugin, "notify_format", apprise.NotifyFormat.TEXT)
    if fmt == apprise.NotifyFormat.HTML:
        body, body_format = email_html(rendered.html.body), apprise.NotifyFormat.HTML
    elif fmt == apprise.NotifyFormat.MARKDOWN:
        body, body_format = rendered.markdown.body, apprise.NotifyFormat.MARKDOWN
    else:
        body, body_format = rendered.text.body, apprise.NotifyFormat.TEXT
    sender = apprise.Apprise()
    sender.add(plugin)
    with apprise.LogCapture(level=apprise.logging.WARNING) as logs:
        ok = sender.notify(body=body, title=rendered.text.subject, body_format=body_format)
    if ok:
        return None
    lines = [_LOG_PREFIX.sub("", line).strip() for line in logs.getvalue().splitlines()
             if line.strip()]
    return " ".join(lines[-2:]) if lines else "Apprise reported a failure"


# --- the channel lint ------------------------------------------------------------------

BLOCKING_LEVELS = ("unavailable", "delayed")
"""Impact levels under which a channel that depends on the service cannot be relied on."""


def notices_due(plan: Plan) -> list[tuple[str, str, datetime, str | None]]:
    """Every notice the plan calls for: (kind, phase or '', when it is due, UTC, the phase
    whose window it belongs to: in-progress and extended go out while their own phase runs)."""
    from .notices import notices_due as due

    return [(kind, phase or "", at, phase if kind in ("in-progress", "extended") else None)
            for at, kind, phase, _ in due(plan)]


def channel_lint(plan: Plan) -> list[Any]:
    """Warnings (PlanError) for each notice due on a channel while a service the channel
    depends on is unavailable or delayed: a channel sent through what is being migrated."""
    from .errors import PlanError
    from .plan import read_yaml

    lines: dict[Any, int] = {}
    if plan.source:
        try:
            lines = read_yaml(plan.source)[1]
        except (OSError, RunbookError):
            lines = {}
    out = []
    for index, channel in enumerate(plan.communications.channels):
        if not channel.depends_on:
            continue
        line = lines.get(("communications", "channels", index))
        for kind, phase_id, at, own in notices_due(plan):
            if not channel.receives(kind):
                continue
            for p in plan.phases:
                if not (p.id == own or p.start <= at < p.end):
                    continue
                for impact in p.impacts:
                    if impact.service in channel.depends_on and impact.level in BLOCKING_LEVELS:
                        notice = f"the {kind} notice" + (f" of phase '{phase_id}'"
                                                         if phase_id else "")
                        out.append(PlanError(
                            plan.source or plan.id, line,
                            f"warning: channel '{channel.id}' depends on service "
                            f"'{impact.service}', which is {impact.level} during phase "
                            f"'{p.id}' when {notice} is due "
                            f"({times.format_both(at, plan.zone)})",
                            None, "communications.channels"))
    return out
