"""Times: parse plan times in the plan's zone, keep them in UTC, display them at the edge.

Everything inside the package is a timezone-aware UTC `datetime`; conversion to a display
zone happens only in the helpers below, so a DST change can never stretch a duration.
"""

from __future__ import annotations

import functools
import math
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DURATION = re.compile(r"^\s*(?:(?P<d>\d+)\s*d)?\s*(?:(?P<h>\d+)\s*h)?\s*(?:(?P<m>\d+)\s*m)?"
                       r"\s*(?:(?P<s>\d+)\s*s)?\s*$", re.IGNORECASE)
_ISO_DURATION = re.compile(r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?"
                           r"(?:(?P<s>\d+)S)?)?$", re.IGNORECASE)
MAX_DURATION = timedelta(days=366)
"""The longest duration a plan may state: keeps sums of durations far from overflow."""


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name` (tzdata ships with the package, so no system zone data is needed)."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("time zone must be an IANA name such as 'Pacific/Auckland'")
    try:
        if name in ("localtime", "posixrules"):  # the machine's zone, not a portable name
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {_short(name)} (use an IANA name such as "
                         "'Pacific/Auckland')") from None


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """'45m', '1h30m', '2h', '90s', '1d' or ISO 8601 'PT45M'; a bare number is minutes.

    Refuses negative, non-finite and absurd (over `MAX_DURATION`) values, so that sums of
    durations can never overflow and a typo cannot hide behind a huge number.
    """
    if isinstance(text, timedelta):
        delta = text
    elif isinstance(text, bool) or not isinstance(text, int | float | str):
        raise ValueError(f"invalid duration {_short(text)} (write e.g. 45m, 1h30m or PT45M)")
    elif isinstance(text, int | float):
        if not math.isfinite(text):
            raise ValueError(f"invalid duration {text!r} (a number of minutes must be finite)")
        if text < 0:
            raise ValueError(f"invalid duration {text!r} (a number is minutes and must not be "
                             "negative)")
        if text > MAX_DURATION.total_seconds() / 60:
            raise ValueError(f"duration {text!r} minutes is longer than "
                             f"{MAX_DURATION.days} days")
        delta = timedelta(minutes=text)
    else:
        delta = _text_duration(text)
    if delta < timedelta(0) or delta > MAX_DURATION:
        raise ValueError(f"duration {delta} must be between 0 and {MAX_DURATION.days} days")
    return delta


@functools.lru_cache(maxsize=4096)
def _text_duration(text: str) -> timedelta:
    """`parse_duration` of a text, remembered: a large plan writes the same few durations
    thousands of times (a refusal, being an exception, is not remembered)."""
    stripped = text.strip()
    match = _ISO_DURATION.match(stripped) if stripped.upper().startswith("P") else None
    match = match or _DURATION.match(stripped)
    if not match or not any(match.groupdict().values()):
        raise ValueError(f"invalid duration {_short(text)} (write e.g. 45m, 1h30m or "
                         "PT45M)")
    parts = {k: int(v or 0) for k, v in match.groupdict().items()}
    seconds = ((parts["d"] * 24 + parts["h"]) * 60 + parts["m"]) * 60 + parts["s"]
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"duration {_short(text)} is longer than {MAX_DURATION.days} days")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """'4h', '3h 30m', '45m' ('3d 2h' past two days): how people write a window's length."""
    total = int(round(delta.total_seconds() / 60))
    sign, total = ("-", -total) if total < 0 else ("", total)
    hours, minutes = divmod(total, 60)
    if hours >= 48:  # an overrun measured against a window long past
        days, hours = divmod(hours, 24)
        return f"{sign}{days}d {hours}h" if hours else f"{sign}{days}d"
    if hours and minutes:
        return f"{sign}{hours}h {minutes:02d}m"
    return f"{sign}{hours}h" if hours else f"{sign}{minutes}m"


def localize(wall: datetime, tz: ZoneInfo) -> datetime:
    """Attach `tz` to a naive wall-clock time, refusing times that do not exist or repeat."""
    early = wall.replace(tzinfo=tz, fold=0)
    late = wall.replace(tzinfo=tz, fold=1)
    if early.utcoffset() != late.utcoffset():
        # Either a gap (the clock jumps over it) or an overlap (the clock shows it twice).
        round_trip = early.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
        if round_trip != wall:
            raise ValueError(f"{wall:%Y-%m-%d %H:%M} does not exist in {tz.key} "
                             "(clocks skip it for daylight saving)")
        raise ValueError(f"{wall:%Y-%m-%d %H:%M} happens twice in {tz.key} (daylight saving "
                         f"ends); write it with its offset, e.g. "
                         f"{early.isoformat(timespec='minutes')} or "
                         f"{late.isoformat(timespec='minutes')}")
    return early


def parse_time(value: str | datetime, tz: ZoneInfo | None) -> datetime:
    """A plan time as UTC: wall time in `tz`, or ISO 8601 with an offset that `tz` agrees with.

    `tz` None means the plan's zone is unknown (already reported): offsets are taken as
    written and wall times as UTC, so that one mistake is not reported again for every time.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            parsed = _from_iso(text)
        except ValueError:
            raise ValueError(f"invalid time {_short(value)} (write 'YYYY-MM-DD HH:MM' in the "
                             "plan's zone, or ISO 8601 with an offset)") from None
        if not re.search(r"\d[T ]\d", text, re.IGNORECASE):
            raise ValueError(f"time {_short(value)} has no time of day (write "
                             "'YYYY-MM-DD HH:MM')")
    else:
        raise ValueError(f"invalid time {_short(value)} (write 'YYYY-MM-DD HH:MM' in the "
                         "plan's zone, or ISO 8601 with an offset)")
    try:
        if parsed.tzinfo is None:
            parsed = localize(parsed, tz or UTC_ZONE)
        offset = parsed.utcoffset()
        if tz is not None:
            in_zone = parsed.astimezone(tz)
            if in_zone.utcoffset() != offset:
                spec = "seconds" if in_zone.second else "minutes"
                raise ValueError(
                    f"offset {_offset(offset)} of {_short(value)} disagrees with {tz.key}, "
                    f"which is {_offset(in_zone.utcoffset())} ({in_zone.tzname()}) at that "
                    f"moment; write {in_zone.isoformat(timespec=spec)}, or the local "
                    "time without an offset")
        instant = parsed.astimezone(UTC)
    except OverflowError:
        instant = None
    if instant is None or not EARLIEST_INSTANT <= instant <= LATEST_INSTANT:
        # A plan in year 1 or 9999 would overflow where a day is added or a zone applied
        # (comms, schedule --tz, the rehearsal's clock): refused here, like an event's time.
        raise ValueError(f"time {_short(value)} is out of range (years "
                         f"{EARLIEST_INSTANT.year} to {LATEST_INSTANT.year})")
    return instant


def _from_iso(text: str) -> datetime:
    """ISO 8601; a trailing 'Z' or 'z' means UTC."""
    return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)


def parse_instant(value: str | datetime | None) -> datetime:
    """An absolute instant (event times, `at=`): ISO 8601; no offset means UTC; empty means now."""
    given = value.strip() if isinstance(value, str) else str(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        return now()
    if isinstance(value, str):
        try:
            value = _from_iso(value.strip())
        except ValueError:
            raise ValueError(f"invalid time {value!r} (use ISO 8601, e.g. "
                             "2020-09-07T09:00:00Z)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        instant = value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"time {_short(value)} is out of range") from None
    if not EARLIEST_INSTANT <= instant <= LATEST_INSTANT:
        # Year 1 is valid ISO, but is written '1-01-01' by strftime and cannot be shown in a
        # zone east of UTC; an event log must stay readable by every command.
        raise ValueError(f"time {_short(given)} is out of range (years "
                         f"{EARLIEST_INSTANT.year} to {LATEST_INSTANT.year})")
    return instant


def parse_typed(value: str | datetime, tz: ZoneInfo) -> datetime:
    """A time an operator typed (`--at`, `--as-of`, a notebook's `at`) as UTC.

    Without an offset it is a wall time in `tz`, the plan's zone, as every time in the plan
    file is (a time the clocks skip, or show twice, is refused as in `localize`); with an
    offset or a trailing Z it is taken as written. A time of day is required, so that a bare
    date cannot quietly mean midnight.
    """
    given = value.strip() if isinstance(value, str) else value
    if isinstance(given, str):
        try:
            parsed = _from_iso(given)
        except ValueError:
            raise ValueError(f"invalid time {_short(value)} (write 'YYYY-MM-DD HH:MM' in the "
                             f"plan's zone {tz.key}, or ISO 8601 with an offset, e.g. "
                             "2020-09-07T09:00Z)") from None
        if not re.search(r"\d[T ]\d", given, re.IGNORECASE):
            raise ValueError(f"time {_short(value)} has no time of day (write 'YYYY-MM-DD "
                             "HH:MM')")
    elif isinstance(given, datetime):
        parsed = given
    else:
        raise ValueError(f"invalid time {_short(value)} (write 'YYYY-MM-DD HH:MM')")
    try:
        if parsed.tzinfo is None:
            parsed = localize(parsed, tz)
        instant = parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"time {_short(value)} is out of range") from None
    return parse_instant(instant)   # the same range as every recorded time


def format_typed(instant: datetime, tz: ZoneInfo) -> str:
    """'Mon 7 Sep 2020 20:50 NZST = Mon 7 Sep 2020 08:50 UTC': a typed time read back in full
    (year, seconds when there are any), so that a slip of a day, a year or a zone shows."""
    def one(at: datetime) -> str:
        clock = f"{at:%H:%M:%S}" if at.second or at.microsecond else f"{at:%H:%M}"
        return f"{at:%a} {at.day} {at:%b} {at.year} {clock} {at.tzname()}"

    return f"{one(instant.astimezone(tz))} = {one(instant.astimezone(UTC_ZONE))}"


def describe_typed(typed: str | datetime, instant: datetime, tz: ZoneInfo) -> str:
    """How a typed time was read: "'2020-09-07 20:50' (no offset: Pacific/Auckland time) is
    Mon 7 Sep 2020 20:50 NZST = Mon 7 Sep 2020 08:50 UTC"."""
    text = typed.strip() if isinstance(typed, str) else typed.isoformat()
    naive = (_naive_text(text) if isinstance(typed, str) else typed.tzinfo is None)
    how = f" (no offset: {tz.key} time)" if naive else ""
    return f"{_short(text)}{how} is {format_typed(instant, tz)}"


def _naive_text(text: str) -> bool:
    try:
        return _from_iso(text).tzinfo is None
    except ValueError:
        return False


EARLIEST_INSTANT = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_INSTANT = datetime(9998, 12, 31, tzinfo=UTC)
"""The instants an event may be recorded at (`parse_instant`)."""


def now() -> datetime:
    """The current instant in UTC."""
    return datetime.now(UTC)


def abbreviation(instant: datetime, tz: ZoneInfo) -> str:
    """The zone abbreviation in force at `instant` (NZST before 27 Sep 2020, NZDT after)."""
    return instant.astimezone(tz).tzname() or tz.key


def local(instant: datetime, tz: ZoneInfo) -> datetime:
    """`instant` as an aware datetime in `tz`."""
    return instant.astimezone(tz)


def wall(instant: datetime, tz: ZoneInfo) -> datetime:
    """Naive wall-clock time in `tz`: what plotting libraries that ignore offsets need."""
    return instant.astimezone(tz).replace(tzinfo=None)


def format_local(instant: datetime, tz: ZoneInfo, with_date: bool = True) -> str:
    """'Mon 7 Sep 21:00 NZST' (or '21:00 NZST')."""
    at = instant.astimezone(tz)
    clock = f"{at:%H:%M} {at.tzname()}"
    return f"{at:%a} {at.day} {at:%b} {clock}" if with_date else clock


def format_utc(instant: datetime, with_date: bool = True) -> str:
    """'Mon 7 Sep 09:00 UTC' (or '09:00 UTC')."""
    return format_local(instant, UTC_ZONE, with_date)


def format_both(instant: datetime, tz: ZoneInfo) -> str:
    """'Mon 7 Sep 21:00 NZST (09:00 UTC)', with the UTC date where it differs from the local one."""
    at = instant.astimezone(tz)
    same_day = at.date() == instant.astimezone(UTC).date()
    return f"{format_local(instant, tz)} ({format_utc(instant, with_date=not same_day)})"


def format_iso_local(instant: datetime, tz: ZoneInfo) -> str:
    """ISO 8601 in `tz` with its offset, to the minute: '2020-09-07T21:00+12:00'."""
    return instant.astimezone(tz).isoformat(timespec="minutes")


def format_iso_utc(instant: datetime) -> str:
    """ISO 8601 in UTC with a Z: '2020-09-07T09:00:00Z'."""
    at = instant.astimezone(UTC)
    if at.year < 1000:  # strftime writes such a year unpadded; keep its text
        return at.strftime("%Y-%m-%dT%H:%M:%SZ")
    # isoformat is C and several times quicker than strftime: status writes 50,000 of these
    return at.isoformat(timespec="seconds")[:-6] + "Z"  # "...+00:00" -> "...Z"


def _short(value: object, limit: int = 60) -> str:
    """`repr(value)`, cut to `limit` characters, so that an error stays one short line."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _offset(delta: timedelta | None) -> str:
    """'+12:00', or '+11:39:04' for an offset with seconds (local mean time before a zone
    adopted standard time), so two offsets that differ are never written the same."""
    seconds = int((delta or timedelta()).total_seconds())
    sign = "+" if seconds >= 0 else "-"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


UTC_ZONE = ZoneInfo("UTC")
