"""Calendars: a session's ``.ics`` and each member's subscribable feed.

The feed's URL carries a secret (``/calendar/{secret}.ics``) so that phone calendars can
subscribe without a cookie; only its SHA-256 is stored, and making a new one revokes the old.
"""

from __future__ import annotations

import secrets
import time

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.api.common import ApiError, caller, parse_body, runtime
from chat_server.api.sessions import _event_id, _who, events
from chat_server.events import ics
from chat_server.events.lifecycle import utcnow
from persistence import notifications
from persistence import sessions as store
from persistence.accounts import to_member
from persistence.models import User
from rooms.schedule import zone

ICS = "text/calendar; charset=utf-8"


class FeedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tz: str = Field(default="UTC", max_length=64)


def _base(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', 'localhost')}"


async def event_calendar(request: Request) -> Response:
    """``GET /api/events/{id}/calendar.ics``: the session's series with its dates."""
    who = await _who(request)
    view = await events(request).get(who, _event_id(request))
    async with runtime(request).db() as db:
        occ = await store.get(db, view["id"])
        assert occ is not None
        dates = await store.of_series(db, occ.series.id or 0)
    body = ics.series_calendar(occ.series, dates, _base(request))
    return Response(body, media_type=ICS, headers={
        "content-disposition": f'attachment; filename="session-{view["id"]}.ics"',
    })


async def make_feed(request: Request) -> Response:
    """``POST /api/me/calendar {tz}``: a new secret feed URL (the previous one stops working)."""
    body = await parse_body(request, FeedIn)
    member, _ = await caller(request)
    zone(body.tz)
    secret = secrets.token_urlsafe(24)
    async with runtime(request).db() as db:
        await notifications.set_feed(db, member.db_id, secret, body.tz, int(time.time() * 1000))
    return JSONResponse({"url": f"{_base(request)}/calendar/{secret}.ics", "tz": body.tz}, 201)


async def revoke_feed(request: Request) -> Response:
    """``DELETE /api/me/calendar``: the feed URL stops working."""
    member, _ = await caller(request)
    async with runtime(request).db() as db:
        await notifications.revoke_feed(db, member.db_id)
    return Response(status_code=204)


async def feed(request: Request) -> Response:
    """``GET /calendar/{secret}.ics``: every date the member signed up for or hosts."""
    secret = str(request.path_params["secret"])
    if not 20 <= len(secret) <= 64:
        raise ApiError(404, "not_found", "no such calendar")
    async with runtime(request).db() as db:
        found = await notifications.feed(db, secret)
        user = None if found is None else await db.get(User, found.user_id)
        if found is None or user is None:
            raise ApiError(404, "not_found", "no such calendar")
        member = to_member(user)
        mine = await store.mine(db, member.db_id, utcnow(), 500)
    items = [(o.series, o.row) for o, status in mine if status in ("in", "host")]
    body = ics.member_feed(items, found.tz, _base(request), f"Kindred: {member.handle}")
    return Response(body, media_type=ICS, headers={"cache-control": "no-store"})

