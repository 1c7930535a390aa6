"""Notifications over HTTP: the list (unread first), marking read, the settings per kind and
the digest, and the unread counts per room (``GET /api/me/unread``, ``POST
/api/rooms/{slug}/read``). Marking read on one device is told to the member's other
connections (``notifications_read``, ``unread`` frames; chat_server/social)."""

from __future__ import annotations

import time
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.api.common import ApiError, caller, parse_body, runtime
from chat_server.api.history import int_param, readable_conversation
from persistence import communities, notifications, unread
from rooms.access import can_see
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


async def list_notifications(request: Request) -> Response:
    """``GET /api/notifications``: unread first, newest first within each; ``next_offset``."""
    member, _ = await caller(request)
    offset = int_param(request, "offset", 0, 0, 100_000) or 0
    limit = int_param(request, "limit", 50, 1, 200) or 50
    async with runtime(request).db() as db:
        found = await notifications.page(db, member.db_id, offset, limit)
        count = await notifications.unread_count(db, member.db_id)
    next_offset = offset + limit if len(found) == limit else None
    return JSONResponse({"notifications": found, "unread": count, "next_offset": next_offset})


async def mark_read(request: Request) -> Response:
    """``POST /api/notifications/read {ids}`` or ``{all: true}``: others' ids are ignored."""
    body = await parse_body(request, ReadIn)
    member, _ = await caller(request)
    if body.all == (body.ids is not None):
        raise ApiError(400, "invalid_request", "give either ids or all: true")
    rt = runtime(request)
    async with rt.db() as db:
        changed = await notifications.mark_read(db, member.db_id, None if body.all else body.ids,
                                                int(time.time() * 1000))
        count = await notifications.unread_count(db, member.db_id)
    if changed:
        assert rt.social is not None, "social is wired in Runtime.open"
        await rt.social.notifier.tell_read(member, changed)
    return JSONResponse({"read": changed, "unread": count})


def _settings_view(muted: str, digest: str) -> dict[str, object]:
    return {"muted": [k for k in muted.split(",") if k], "digest": digest, "kinds": sorted(KINDS),
            "digest_choices": list(DIGEST_CHOICES)}


async def get_settings(request: Request) -> Response:
    member, _ = await caller(request)
    async with runtime(request).db() as db:
        row = await notifications.settings_of(db, member.db_id)
    return JSONResponse(_settings_view(row.muted, row.digest))


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
    async with runtime(request).db() as db:
        row = await notifications.settings_of(db, member.db_id)
        if muted is not None:
            row.muted = ",".join(sorted(set(muted)))
        if body.digest is not None:
            row.digest = body.digest
        view = _settings_view(row.muted, row.digest)
        await notifications.save_settings(db, row)
    return JSONResponse(view)


async def my_unread(request: Request) -> Response:
    """``GET /api/me/unread``: unread notifications, new messages per room one can see, and
    per conversation one may read."""
    member, _ = await caller(request)
    rt = runtime(request)
    private = [] if rt.conversations is None else await rt.conversations.service.readable_rooms(member)
    async with rt.db() as db:
        rooms = [c.slug for c in await communities.visible_to(db, member)]
        counts = await unread.room_counts(db, member.db_id, rooms)
        conversations = await unread.room_counts(db, member.db_id, private)
        count = await notifications.unread_count(db, member.db_id)
    return JSONResponse({"notifications": count, "rooms": counts, "conversations": conversations})


async def room_read(request: Request) -> Response:
    """``POST /api/rooms/{slug}/read {seq}``: seen up to ``seq`` (default: the newest)."""
    body = await parse_body(request, RoomReadIn)
    member, _ = await caller(request)
    slug = request.path_params["slug"]
    rt = runtime(request)
    private = await readable_conversation(request, member, slug)
    async with rt.db() as db:
        community = await communities.by_slug(db, slug)
        if community is None or not (private or can_see(member, community)):
            raise ApiError(404, "not_found", "no such room")
        seq = body.seq if body.seq is not None else (await rt.broker.heads([slug]))[slug]
        kept = await unread.mark_room(db, member.db_id, slug, seq)
    assert rt.social is not None, "social is wired in Runtime.open"
    await rt.social.notifier.tell_room_read(member, slug, kept)
    return JSONResponse({"room": slug, "seq": kept})
