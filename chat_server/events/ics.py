"""iCalendar (RFC 5545) documents of sessions, built with the ``icalendar`` library.

* A session's calendar (``/api/events/{id}/calendar.ics``): the series as one VEVENT in its own
  time zone, with its RRULE, and one override per moved or cancelled date (``RECURRENCE-ID``,
  ``STATUS:CANCELLED``), so a calendar app shows exactly the dates that happen.
* A member's feed (``/calendar/{secret}.ics``): every date they signed up for or host, each
  its own VEVENT in the member's chosen time zone, cancelled ones marked ``STATUS:CANCELLED``.

Both carry the VTIMEZONE definitions of the zones they use. Only what the member may see goes
in: title, description, times, the community's name and the page's URL; never who signed up.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vRecur

from chat_server.events.views import aware
from persistence.event_models import EventOccurrence, EventSeries
from rooms.sessions import State

PRODID = "-//Kindred//Scheduled sessions//EN"


def _calendar(name: str) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    return cal


def _event(series: EventSeries, uid: str, start: datetime, end: datetime, where: ZoneInfo,
           stamp: datetime, base_url: str, occ_id: str) -> Event:
    ev = Event()
    ev.add("uid", uid)
    ev.add("dtstamp", stamp)
    ev.add("dtstart", aware(start).astimezone(where))
    ev.add("dtend", aware(end).astimezone(where))
    ev.add("summary", series.title)
    if series.description:
        ev.add("description", series.description)
    ev.add("url", f"{base_url}/#/sessions/{occ_id}")
    return ev


def _status(ev: Event, occ: EventOccurrence) -> None:
    cancelled = occ.state == State.CANCELLED.value
    ev.add("status", "CANCELLED" if cancelled else "CONFIRMED")


def series_calendar(series: EventSeries, occs: Sequence[EventOccurrence], base_url: str) -> bytes:
    where = ZoneInfo(series.tz)
    stamp = datetime.now(UTC)
    cal = _calendar(series.title)
    first = occs[0]
    uid = f"{series.public_id}@kindred"
    master = _event(series, uid, first.original_start, first.original_start + (first.ends_at - first.starts_at),
                    where, stamp, base_url, first.public_id)
    if series.recurrence:
        text = series.recurrence.strip()
        master.add("rrule", vRecur.from_ical(text[6:] if text.upper().startswith("RRULE:") else text))
    else:
        _status(master, first)
    cal.add_component(master)
    if series.recurrence:
        for occ in occs:
            if occ.starts_at == occ.original_start and occ.state != State.CANCELLED.value:
                continue
            ev = _event(series, uid, occ.starts_at, occ.ends_at, where, stamp, base_url, occ.public_id)
            ev.add("recurrence-id", aware(occ.original_start).astimezone(where))
            _status(ev, occ)
            cal.add_component(ev)
    cal.add_missing_timezones()
    return bytes(cal.to_ical())


def member_feed(
    items: Sequence[tuple[EventSeries, EventOccurrence]], tz: str, base_url: str, name: str,
) -> bytes:
    where = ZoneInfo(tz)
    stamp = datetime.now(UTC)
    cal = _calendar(name)
    for series, occ in items:
        ev = _event(series, f"{occ.public_id}@kindred", occ.starts_at, occ.ends_at, where, stamp,
                    base_url, occ.public_id)
        _status(ev, occ)
        cal.add_component(ev)
    cal.add_missing_timezones()
    return bytes(cal.to_ical())
