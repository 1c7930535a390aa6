"""Notifications over HTTP: the list (unread first), marking read, the settings per kind and
the digest, and the unread counts per room (``GET /api/me/unread``, ``POST
/api/rooms/{slug}/read``). Marking read on one device is told to the member's other
connections (``notifications_read``, ``unread`` frames; chat_server/social/inbox.py)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.api.common import ApiError, caller, parse_body, service
from chat_server.api.history import int_param
from chat_server.social.inbox import Inbox
from rooms.notifications import DIGEST_CHOICES, KINDS, check_kinds


class ReadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Each id bounded to the column (red team: an id past 64 bits reached the query, a 500).
    ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] | None = Field(default=None, max_length=500)
    all: bool = False


class SettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    muted: list[str] | None = Field(default=None, max_length=20)
    digest: str | None = Field(default=None, max_length=8)


class RoomReadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seq: int | None = Field(default=None, ge=0, le=2**62)


def _inbox(request: Request) -> Inbox:
    return service(request, "inbox", Inbox)


async def list_notifications(request: Request) -> Response:
    """``GET /api/notifications``: unread first, newest first within each; ``next_offset``."""
    member, _ = await caller(request)
    offset = int_param(request, "offset", 0, 0, 100_000) or 0
    limit = int_param(request, "limit", 50, 1, 200) or 50
    found, count = await _inbox(request).page(member, offset, limit)
    next_offset = offset + limit if len(found) == limit else None
    return JSONResponse({"notifications": found, "unread": count, "next_offset": next_offset})


async def mark_read(request: Request) -> Response:
    """``POST /api/notifications/read {ids}`` or ``{all: true}``: others' ids are ignored."""
    body = await parse_body(request, ReadIn)
    member, _ = await caller(request)
    if body.all == (body.ids is not None):
        raise ApiError(400, "invalid_request", "give either ids or all: true")
    changed, count = await _inbox(request).mark_read(member, None if body.all else body.ids)
    return JSONResponse({"read": changed, "unread": count})


def _settings_view(muted: str, digest: str) -> dict[str, object]:
    return {"muted": [k for k in muted.split(",") if k], "digest": digest, "kinds": sorted(KINDS),
            "digest_choices": list(DIGEST_CHOICES)}


async def get_settings(request: Request) -> Response:
    member, _ = await caller(request)
    return JSONResponse(_settings_view(*await _inbox(request).settings(member)))


async def put_settings(request: Request) -> Response:
    """``PUT /api/notifications/settings {muted: [kinds], digest: "off"|"daily"}``."""
    body = await parse_body(request, SettingsIn)
    member, _ = await caller(request)
    try:
        muted = None if body.muted is None else check_kinds(body.muted)
    except ValueError as exc:
        raise ApiError(400, "invalid_request", str(exc)) from None
    if body.digest is not None and body.digest not in DIGEST_CHOICES:
        raise ApiError(400, "invalid_request", "digest is off or daily")
    return JSONResponse(_settings_view(*await _inbox(request).change_settings(member, muted, body.digest)))


async def my_unread(request: Request) -> Response:
    """``GET /api/me/unread``: unread notifications, new messages per room one can see, and
    per conversation one may read."""
    member, _ = await caller(request)
    return JSONResponse(await _inbox(request).unread(member))


async def room_read(request: Request) -> Response:
    """``POST /api/rooms/{slug}/read {seq}``: seen up to ``seq`` (default: the newest)."""
    body = await parse_body(request, RoomReadIn)
    member, _ = await caller(request)
    slug = request.path_params["slug"]
    kept = await _inbox(request).room_read(member, slug, body.seq)
    return JSONResponse({"room": slug, "seq": kept})
