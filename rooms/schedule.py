"""Validating a session's fields and expanding its recurrence into occurrences (pure).

Recurrence is an RFC 5545 RRULE expanded by ``python-dateutil``, never by hand. It is expanded
in the session's own time zone, on the wall clock: a weekly drop-in at 18:00 in New York stays
at 18:00 across daylight-saving changes. A rule must end (``COUNT`` or ``UNTIL``) and yield at
most ``MAX_OCCURRENCES`` occurrences; occurrences are stored one by one, so one can be moved or
cancelled without touching the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrulestr

from rooms.sessions import AudienceMode, InvalidEvent, Kind

MAX_OCCURRENCES = 500
MAX_TITLE_CHARS = 120
MAX_DESCRIPTION_CHARS = 4000
MAX_DURATION = timedelta(hours=12)
MAX_LOBBY_MINUTES = 120
MAX_CAPACITY = 100_000
MAX_HOSTS = 10
MAX_RULE_CHARS = 500
MAX_URL_CHARS = 500
_UNTIL_UTC = re.compile(r"UNTIL=(\d{8}T\d{6})Z", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Fields:
    """A session's fields as given (times aware, any zone)."""

    kind: Kind
    title: str
    description: str
    starts_at: datetime
    ends_at: datetime
    tz: str
    capacity: int | None
    recurrence: str | None
    lobby_minutes: int
    audience_mode: AudienceMode
    video_url: str | None


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ``InvalidEvent`` if there is none by that name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidEvent(f"tz: unknown time zone {name[:64]!r} (use an IANA name such as Europe/Paris)") from None


def clean_text(value: str, name: str, limit: int, required: bool) -> str:
    text = value.strip()
    if required and not text:
        raise InvalidEvent(f"{name}: must not be empty")
    if len(text) > limit:
        raise InvalidEvent(f"{name}: at most {limit} characters")
    if "\x00" in text:
        raise InvalidEvent(f"{name}: must not contain NUL")
    return text


def video_host(url: str) -> str:
    """The host of a video link; ``InvalidEvent`` unless it is a plain https URL."""
    if len(url) > MAX_URL_CHARS:
        raise InvalidEvent(f"video_url: at most {MAX_URL_CHARS} characters")
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        raise InvalidEvent("video_url: must be an https:// link without a user name")
    return parts.hostname


def check(fields: Fields, now: datetime) -> Fields:
    """The fields cleaned, or ``InvalidEvent`` naming the first rule broken."""
    if fields.starts_at.tzinfo is None or fields.ends_at.tzinfo is None:
        raise InvalidEvent("starts_at, ends_at: give an offset (ISO 8601, e.g. 2027-01-05T18:00:00-05:00)")
    zone(fields.tz)
    if fields.ends_at <= fields.starts_at:
        raise InvalidEvent("ends_at: must be after starts_at")
    if fields.ends_at - fields.starts_at > MAX_DURATION:
        raise InvalidEvent(f"ends_at: a session lasts at most {MAX_DURATION.seconds // 3600} hours")
    if fields.ends_at <= now:
        raise InvalidEvent("ends_at: must be in the future")
    if fields.capacity is not None and not 1 <= fields.capacity <= MAX_CAPACITY:
        raise InvalidEvent(f"capacity: 1 to {MAX_CAPACITY}, or null for no limit")
    if not 0 <= fields.lobby_minutes <= MAX_LOBBY_MINUTES:
        raise InvalidEvent(f"lobby_minutes: 0 to {MAX_LOBBY_MINUTES}")
    if fields.kind is Kind.DROP_IN and fields.audience_mode is AudienceMode.HOSTS_ONLY:
        raise InvalidEvent("audience_mode: hosts_only is for webinars; a drop-in is a conversation")
    if fields.video_url is not None:
        video_host(fields.video_url)
    return Fields(
        fields.kind,
        clean_text(fields.title, "title", MAX_TITLE_CHARS, True),
        clean_text(fields.description, "description", MAX_DESCRIPTION_CHARS, False),
        fields.starts_at.astimezone(UTC), fields.ends_at.astimezone(UTC), fields.tz,
        fields.capacity, fields.recurrence, fields.lobby_minutes, fields.audience_mode,
        fields.video_url,
    )


def _rule_text(rule: str) -> str:
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    if not text or len(text) > MAX_RULE_CHARS or "\n" in text or ":" in text:
        raise InvalidEvent("recurrence: one RRULE, e.g. FREQ=WEEKLY;BYDAY=TU;UNTIL=20270601T000000Z")
    parts = {p.split("=", 1)[0].upper() for p in text.split(";") if p}
    if "COUNT" not in parts and "UNTIL" not in parts:
        raise InvalidEvent("recurrence: the rule never ends; give COUNT or UNTIL")
    return text


def expand(rule: str | None, starts_at: datetime, tz: str) -> list[datetime]:
    """The starts (UTC) of every occurrence, the first one included.

    ``rule`` is expanded on the wall clock of ``tz`` from the first start. Raises
    ``InvalidEvent`` for a rule that does not parse, never ends, or yields more than
    ``MAX_OCCURRENCES`` occurrences.
    """
    first = starts_at.astimezone(UTC)
    if rule is None:
        return [first]
    where = zone(tz)
    text = _rule_text(rule)
    local = first.astimezone(where).replace(tzinfo=None)

    # UNTIL in UTC (as RFC 5545 asks when the start has a zone) becomes our wall clock, since
    # the expansion runs on naive local times.
    def local_until(match: re.Match[str]) -> str:
        instant = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        return "UNTIL=" + instant.astimezone(where).strftime("%Y%m%dT%H%M%S")

    text = _UNTIL_UTC.sub(local_until, text)
    try:
        parsed = rrulestr(text, dtstart=local)
        starts = list(islice(iter(parsed), MAX_OCCURRENCES + 1))
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidEvent(f"recurrence: not a valid RRULE ({exc})") from None
    if len(starts) > MAX_OCCURRENCES:
        raise InvalidEvent(f"recurrence: yields more than {MAX_OCCURRENCES} occurrences")
    if not starts:
        raise InvalidEvent("recurrence: yields no occurrence")
    # The first occurrence is the given start even when the rule would not produce it
    # (RFC 5545: DTSTART always counts as the first instance).
    out = [first]
    for start in starts:
        instant: datetime = start.replace(tzinfo=where).astimezone(UTC)
        if instant != first:
            out.append(instant)
    return sorted(out)[:MAX_OCCURRENCES]
