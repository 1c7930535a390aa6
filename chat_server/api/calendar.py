"""Calendars over HTTP: a session's ``.ics`` and each member's subscribable feed
(chat_server/events/calendars.py).

The feed's URL carries a secret (``/calendar/{secret}.ics``) so that phone calendars can
subscribe without a cookie; only its SHA-256 is stored, and making a new one revokes the old.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.api.common import caller, parse_body, service
from chat_server.api.sessions import _event_id, _who, events
from chat_server.events import ics
from chat_server.events.calendars import Calendars

ICS = "text/calendar; charset=utf-8"


class FeedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tz: str = Field(default="UTC", max_length=64)


def _base(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', 'localhost')}"


def _calendars(request: Request) -> Calendars:
    return service(request, "calendars", Calendars)


async def event_calendar(request: Request) -> Response:
    """``GET /api/events/{id}/calendar.ics``: the session's series with its dates."""
    who = await _who(request)
    view = await events(request).get(who, _event_id(request))
    series, dates = await _calendars(request).series(view["id"])
    body = ics.series_calendar(series, dates, _base(request))
    return Response(body, media_type=ICS, headers={
        "content-disposition": f'attachment; filename="session-{view["id"]}.ics"',
    })


async def make_feed(request: Request) -> Response:
    """``POST /api/me/calendar {tz}``: a new secret feed URL (the previous one stops working)."""
    body = await parse_body(request, FeedIn)
    member, _ = await caller(request)
    secret = await _calendars(request).new_feed(member, body.tz)
    return JSONResponse({"url": f"{_base(request)}/calendar/{secret}.ics", "tz": body.tz}, 201)


async def revoke_feed(request: Request) -> Response:
    """``DELETE /api/me/calendar``: the feed URL stops working."""
    member, _ = await caller(request)
    await _calendars(request).revoke_feed(member)
    return Response(status_code=204)


async def feed(request: Request) -> Response:
    """``GET /calendar/{secret}.ics``: every date the member signed up for or hosts."""
    found = await _calendars(request).feed(str(request.path_params["secret"]))
    body = ics.member_feed(found.items, found.tz, _base(request), f"Kindred: {found.handle}")
    return Response(body, media_type=ICS, headers={"cache-control": "no-store"})
