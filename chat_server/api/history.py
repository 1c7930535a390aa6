"""Transcripts: a room's messages page by page, a thread, and full-text search.

Members see only rooms open to them; another organization's room is "not found", and so is
a private conversation to anyone but its participants (and to the recipient of a request they
have not accepted). Removed messages come back as tombstones: ``body`` null and ``removed``
true.
"""

from __future__ import annotations

import time
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.api.common import ApiError, caller, runtime
from persistence import communities, moderation, reactions, transcripts
from rooms import ids
from rooms.access import can_see
from rooms.catalog import is_slug
from rooms.model import Member
from rooms.moderation import Restriction

MAX_PAGE = 200
DEFAULT_PAGE = 50


def int_param(request: Request, name: str, default: int | None, low: int, high: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_request", f"{name} must be a whole number") from None
    if value < low:
        raise ApiError(400, "invalid_request", f"{name} must be at least {low}")
    return min(value, high) if high is not None else value


def kept_out(restriction: Restriction) -> ApiError:
    """403 ``banned`` or ``kicked``, with ``until`` (ms, or null) and the navigator's reason,
    as the WebSocket says it."""
    kind = "banned" if restriction.kind == "ban" else "kicked"
    until = None if restriction.until is None else int(restriction.until * 1000)
    return ApiError(403, kind, "you may not read this room for now",
                    extra={"until": until, "reason": restriction.reason})


async def with_reactions(db: AsyncSession, views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each message's ``reactions`` (``{name: {count, by}}``), on those that have any."""
    found = await reactions.summaries(db, [str(v["id"]) for v in views if v.get("body") is not None])
    for view in views:
        if view["id"] in found:
            view["reactions"] = found[view["id"]]
    return views


async def readable_conversation(request: Request, member: Member, slug: str) -> bool:
    """True for a conversation's room the member may read; False for any other room (a
    conversation they may not read is then refused as a room that does not exist)."""
    rt = runtime(request)
    return rt.conversations is not None and await rt.conversations.service.readable(member, slug)


async def _visible_room(request: Request, member: Member, slug: str) -> None:
    """404 for a room the member cannot see; 403 ``banned`` while they are banned or kicked
    from it (a member kept out of a room must not read it over HTTP either)."""
    if not is_slug(slug):
        raise ApiError(404, "not_found", "no such room")
    if await readable_conversation(request, member, slug):
        return
    async with runtime(request).db() as db:
        community = await communities.by_slug(db, slug)
        if community is None or not can_see(member, community):
            raise ApiError(404, "not_found", "no such room")
        closed = await moderation.rooms_closed_to(db, member.db_id, int(time.time() * 1000))
        if slug in closed:
            raise kept_out(closed[slug])


async def room_messages(request: Request) -> Response:
    """``GET /api/rooms/{slug}/messages?before=SEQ&limit=N``: newest first. Pass the returned
    ``next_before`` as ``before`` for the next (older) page; seq cursors never skip or repeat
    a message, however many arrive meanwhile."""
    member, _ = await caller(request)
    slug = request.path_params["slug"]
    await _visible_room(request, member, slug)
    before = int_param(request, "before", None, 1, 2**62)
    limit = int_param(request, "limit", DEFAULT_PAGE, 1, MAX_PAGE) or DEFAULT_PAGE
    async with runtime(request).db() as db:
        found = await transcripts.page(db, slug, before, limit, viewer=member.db_id)
        views = await with_reactions(db, [m.view() for m in found])
    next_before = found[-1].seq if len(found) == limit and found[-1].seq > 1 else None
    return JSONResponse({"messages": views, "next_before": next_before})


async def thread(request: Request) -> Response:
    """``GET /api/messages/{id}/thread``: the thread's root and its replies, in order. Any
    message of the thread may be named."""
    member, _ = await caller(request)
    message_id = request.path_params["id"]
    if not ids.is_message_id(message_id):
        raise ApiError(404, "not_found", "no such message")
    async with runtime(request).db() as db:
        found = await transcripts.by_id(db, message_id)
        if found is not None:
            try:
                await _visible_room(request, member, found.room)
            except ApiError:
                raise ApiError(404, "not_found", "no such message") from None
            root = found.thread_root or found.id
            messages = await with_reactions(db, [m.view() for m in await transcripts.thread(
                db, root, viewer=member.db_id)])
    if found is None:
        raise ApiError(404, "not_found", "no such message")
    return JSONResponse({"root": root, "messages": messages})


async def search(request: Request) -> Response:
    """``GET /api/search?q=...&room=SLUG&limit=N&offset=K``: best matches first, over the
    rooms open to the member (or one of them)."""
    member, _ = await caller(request)
    q = request.query_params.get("q", "").strip()
    if not q or len(q) > 200 or not q.isprintable():
        raise ApiError(400, "invalid_request", "q must have 1 to 200 printable characters")
    limit = int_param(request, "limit", 20, 1, 100) or 20
    offset = int_param(request, "offset", 0, 0, 10_000) or 0
    room = request.query_params.get("room")
    rt = runtime(request)
    private = await readable_conversation(request, member, room) if room and is_slug(room) else False
    async with rt.db() as db:
        if private:
            rooms = [room or ""]
        elif room:
            if not is_slug(room):
                raise ApiError(404, "not_found", "no such room")
            community = await communities.by_slug(db, room)
            if community is None or not can_see(member, community):
                raise ApiError(404, "not_found", "no such room")
            rooms = [room]
        else:
            rooms = [c.slug for c in await communities.visible_to(db, member)]
            if rt.conversations is not None:  # and my own conversations, the readable ones
                rooms += await rt.conversations.service.readable_rooms(member)
        closed = await moderation.rooms_closed_to(db, member.db_id, int(time.time() * 1000))
        if room and room in closed:
            raise kept_out(closed[room])
        rooms = [r for r in rooms if r not in closed]
        found = await transcripts.search(db, q, rooms, limit + 1, offset, viewer=member.db_id)
        results = await with_reactions(db, [m.view() for m in found[:limit]])
    more = len(found) > limit
    return JSONResponse({
        "results": results,
        "next_offset": offset + limit if more else None,
    })
