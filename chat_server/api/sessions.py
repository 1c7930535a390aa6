"""The scheduled-sessions API (``/api/events...``, never mixed with sign-in sessions).

Refusals of the domain (``RoomError``) become HTTP statuses here, in one table.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.api.common import ApiError, caller, parse_body, service
from chat_server.api.history import int_param
from chat_server.api.questions import answered_questions
from chat_server.callers import MemberContexts
from chat_server.events.service import Caller, Events
from chat_server.history import RoomHistory
from rooms import ids
from rooms.catalog import is_slug
from rooms.schedule import Fields
from rooms.sessions import (
    AudienceMode,
    Kind,
    State,
)

_NULLABLE = frozenset({"capacity", "video_url"})  # null means "no limit", "no video"
ARCHIVE_PAGE = 1000



class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    room: str = Field(max_length=64)
    kind: Kind
    title: str = Field(max_length=1000)
    description: str = Field(default="", max_length=20_000)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    tz: str = Field(default="UTC", max_length=64)
    hosts: list[str] | None = Field(default=None, max_length=50)
    capacity: int | None = None
    recurrence: str | None = Field(default=None, max_length=1000)
    lobby_minutes: int = 10
    audience_mode: AudienceMode = AudienceMode.CHAT
    video_url: str | None = Field(default=None, max_length=1000)


class EventPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, max_length=1000)
    description: str | None = Field(default=None, max_length=20_000)
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    hosts: list[str] | None = Field(default=None, max_length=50)
    capacity: int | None = None
    lobby_minutes: int | None = None
    audience_mode: AudienceMode | None = None
    video_url: str | None = Field(default=None, max_length=1000)


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)


class StateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: Literal["lobby", "live", "ended", "archived"]


class AdmitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str = Field(max_length=24)


def events(request: Request) -> Events:
    return service(request, "events", Events)


async def _who(request: Request) -> Caller:
    member, _ = await caller(request)
    assigned = await service(request, "contexts", MemberContexts).assigned(member)
    return Caller(member, assigned)


def _event_id(request: Request) -> str:
    value = str(request.path_params["id"])
    if not ids.is_public_id(value):
        raise ApiError(404, "not_found", "no such session")
    return value


def _time(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, "invalid_request", f"{name}: an ISO 8601 time with an offset") from None
    if value.tzinfo is None:
        raise ApiError(400, "invalid_request", f"{name}: give an offset (e.g. +00:00)")
    return value.astimezone(UTC).replace(tzinfo=None)


async def create(request: Request) -> Response:
    body = await parse_body(request, EventIn)
    who = await _who(request)
    if not is_slug(body.room):
        raise ApiError(404, "not_found", "no such community")
    fields = Fields(
        body.kind, body.title, body.description, body.starts_at, body.ends_at, body.tz,
        body.capacity, body.recurrence, body.lobby_minutes, body.audience_mode, body.video_url,
    )
    view = await events(request).create(who, body.room, fields, body.hosts)
    return JSONResponse(view, 201)


async def list_events(request: Request) -> Response:
    """``GET /api/events?from=&to=&room=&kind=&after=&limit=``: by start; pass ``next`` as
    ``after`` for the following page."""
    who = await _who(request)
    room = request.query_params.get("room") or None
    kind = request.query_params.get("kind") or None
    if kind is not None and kind not in (Kind.DROP_IN.value, Kind.WEBINAR.value):
        raise ApiError(400, "invalid_request", "kind: drop_in or webinar")
    if room is not None and not is_slug(room):
        raise ApiError(404, "not_found", "no such community")
    limit = int_param(request, "limit", 50, 1, 200) or 50
    after = None
    raw_after = request.query_params.get("after")
    if raw_after:
        at, _, oid = raw_after.rpartition("_")
        try:
            after = (datetime.fromisoformat(at), int(oid))
        except ValueError:
            raise ApiError(400, "invalid_request", "after: the `next` of the previous page") from None
    views, last = await events(request).listing(
        who, _time(request, "from"), _time(request, "to"), room, kind, after, limit,
    )
    cursor = None if last is None else f"{last[0].isoformat()}_{last[1]}"
    return JSONResponse({"events": views, "next": cursor})


async def get_event(request: Request) -> Response:
    who = await _who(request)
    return JSONResponse(await events(request).get(who, _event_id(request)))


async def patch_event(request: Request) -> Response:
    body = await parse_body(request, EventPatch)
    who = await _who(request)
    changes: dict[str, Any] = {k: getattr(body, k) for k in body.model_fields_set}
    if not changes:
        raise ApiError(400, "invalid_request", "nothing to change")
    required = sorted(k for k, v in changes.items() if v is None and k not in _NULLABLE)
    if required:
        raise ApiError(400, "invalid_request", f"{', '.join(required)}: cannot be null")
    return JSONResponse(await events(request).patch(who, _event_id(request), changes))


async def cancel(request: Request) -> Response:
    body = await parse_body(request, CancelIn)
    who = await _who(request)
    return JSONResponse(await events(request).set_state(who, _event_id(request), State.CANCELLED, body.reason))


async def set_state(request: Request) -> Response:
    body = await parse_body(request, StateIn)
    who = await _who(request)
    return JSONResponse(await events(request).set_state(who, _event_id(request), State(body.state)))


async def signup(request: Request) -> Response:
    """``PUT`` signs up (or joins the waiting list); ``DELETE`` withdraws. Both idempotent."""
    who = await _who(request)
    event_id = _event_id(request)
    if request.method == "PUT":
        return JSONResponse(await events(request).signup(who, event_id))
    return JSONResponse(await events(request).withdraw(who, event_id))


async def admit(request: Request) -> Response:
    body = await parse_body(request, AdmitIn)
    who = await _who(request)
    return JSONResponse(await events(request).admit(who, _event_id(request), body.user))


async def mine(request: Request) -> Response:
    who = await _who(request)
    limit = int_param(request, "limit", 100, 1, 500) or 100
    return JSONResponse({"events": await events(request).mine(who, limit)})


async def archive(request: Request) -> Response:
    """``GET /api/events/{id}/archive?after=SEQ``: the session and its transcript in seq
    order (removed messages stay removed), once published; hosts and staff may read it
    before, to tidy it up."""
    who = await _who(request)
    view = await events(request).get(who, _event_id(request))
    if view["state"] != State.ARCHIVED.value and not (view["runs"] and view["state"] == State.ENDED.value):
        raise ApiError(409, "event_closed", "the archive is published after the session", extra={"state": view["state"]})
    after = int_param(request, "after", 0, 0, 2**62) or 0
    found = await service(request, "history", RoomHistory).seq_range(view["live_room"], after, ARCHIVE_PAGE + 1)
    more = len(found) > ARCHIVE_PAGE
    found = found[:ARCHIVE_PAGE]
    answered = await answered_questions(request, view["id"])  # issue 16: its answered questions
    return JSONResponse({
        "event": view, "messages": [m.view() for m in found],
        "next_after": found[-1].seq if more else None, "questions": answered,
    })
