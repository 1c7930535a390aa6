"""The moderation and safety API: actions for admin screens, restrictions in force, the
safety queue, the audit log, reports and blocks. Room refusals map to HTTP statuses here."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.api.common import ApiError, caller, parse_body, runtime
from chat_server.api.history import int_param
from chat_server.moderation.safety import org_rooms
from persistence import communities, safety_queue
from persistence import moderation as store
from rooms import ids
from rooms.access import can_see
from rooms.catalog import is_slug
from rooms.commands import MAX_REASON, Command
from rooms.model import Community, Member
from rooms.moderation import NOT_STAFF, may_moderate_room
from rooms.roles import Role


class ModerateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: str = Field(max_length=16)
    user: str | None = Field(default=None, max_length=17)
    message: str | None = Field(default=None, max_length=32)
    duration_s: int | None = None
    reason: str | None = Field(default=None, max_length=MAX_REASON)
    platform: bool = False


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=MAX_REASON)


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=MAX_REASON)


async def _staff_context(request: Request, member: Member) -> frozenset[str]:
    if member.role.rank < Role.NAVIGATOR.rank:
        raise ApiError(403, "forbidden", "only staff may do this", extra={"reason": NOT_STAFF})
    return (await runtime(request).member_context(member))[0]


async def _room(request: Request, member: Member, slug: str) -> Community:
    if not is_slug(slug):
        raise ApiError(404, "no_such_room", "no such room")
    async with runtime(request).db() as db:
        community = await communities.by_slug(db, slug)
    if community is None or not can_see(member, community):
        raise ApiError(404, "no_such_room", "no such room")
    return community


async def _moderated_rooms(request: Request, member: Member, assigned: frozenset[str]) -> list[str] | None:
    """The slugs the member moderates; None for "every room" (admins)."""
    if member.role is Role.ADMIN:
        return None
    async with runtime(request).db() as db:
        visible = await communities.visible_to(db, member)
    return [c.slug for c in visible if may_moderate_room(member, c, assigned)]


async def _scope(request: Request, member: Member, assigned: frozenset[str]) -> tuple[list[str] | None, bool]:
    """The rooms a staff listing covers: those the caller moderates (None: all, for admins),
    or the one named by ``?room=`` if they moderate it; and whether one was named."""
    rooms = await _moderated_rooms(request, member, assigned)
    wanted = request.query_params.get("room")
    if not wanted:
        return rooms, False
    if rooms is not None and wanted not in rooms:
        raise ApiError(403, "forbidden", "you are not staff of this room", extra={"reason": NOT_STAFF})
    return [wanted], True


async def act(request: Request) -> Response:
    """``POST /api/rooms/{slug}/moderation``: the ``moderate`` frame over HTTP."""
    member, _ = await caller(request)
    body = await parse_body(request, ModerateIn)
    command = Command.parse(body.model_dump())
    answer = await runtime(request).moderation.act(member, request.path_params["slug"], command)
    return JSONResponse(answer)


async def room_overview(request: Request) -> Response:
    """``GET /api/rooms/{slug}/moderation``: the room's state and restrictions in force."""
    member, _ = await caller(request)
    assigned = await _staff_context(request, member)
    community = await _room(request, member, request.path_params["slug"])
    if not may_moderate_room(member, community, assigned):
        raise ApiError(403, "forbidden", "you are not staff of this room", extra={"reason": NOT_STAFF})
    rt = runtime(request)
    facts = await rt.facts.facts(community.slug)
    state = facts.state_frame(rt.roster.covers(facts.community)) if facts is not None else {}
    state.pop("type", None)
    async with rt.db() as db:
        restrictions = await store.restrictions_view(db, community.slug, int(time.time() * 1000))
    return JSONResponse({"state": state, "restrictions": restrictions})


def _private_org(member: Member, assigned: frozenset[str]) -> int | None:
    """The organization whose private items (reports and crisis matches from conversations)
    the caller sees: their own, when they moderate its rooms."""
    if member.org_id is not None and may_moderate_room(member, org_rooms(member.org_id), assigned):
        return member.org_id
    return None


async def _audit_private_views(db: AsyncSession, member: Member, items: list[dict[str, Any]]) -> None:
    """Every showing of a private message's snapshot to staff is on record (not committed)."""
    now_ms = int(time.time() * 1000)
    for item in items:
        if item.get("private"):
            message = item.get("message") or {}
            await store.audit(db, now_ms, member.db_id, "view_private", item["room"], None,
                              message.get("id"), "", None, f"{item['kind']} item {item['id']}")


async def queue(request: Request) -> Response:
    """``GET /api/moderation/queue``: crisis matches and reports in the caller's rooms, and
    the private ones of their organization (each showing audited)."""
    member, _ = await caller(request)
    assigned = await _staff_context(request, member)
    status = request.query_params.get("status", "open")
    if status not in ("open", "resolved", "all"):
        raise ApiError(400, "invalid_request", "status must be open, resolved or all")
    limit = int_param(request, "limit", 50, 1, 200) or 50
    rooms, one_room = await _scope(request, member, assigned)
    async with runtime(request).db() as db:
        items = await safety_queue.queue_page(
            db, rooms, None if status == "all" else status, limit, viewer=member.db_id,
            org_id=None if one_room else _private_org(member, assigned))
        await _audit_private_views(db, member, items)
        await db.commit()
    return JSONResponse({"items": items})


async def resolve(request: Request) -> Response:
    """``POST /api/moderation/queue/{id}/resolve``."""
    member, _ = await caller(request)
    assigned = await _staff_context(request, member)
    body = await parse_body(request, ResolveIn)
    raw_id = request.path_params["id"]
    if not raw_id.isdigit() or len(raw_id) > 12:
        raise ApiError(404, "not_found", "no such item")
    rt = runtime(request)
    now_ms = int(time.time() * 1000)
    async with rt.db() as db:
        item = await safety_queue.queue_item(db, int(raw_id), viewer=member.db_id)
        rooms = await _moderated_rooms(request, member, assigned)
        private_org = _private_org(member, assigned)
        theirs = rooms is None or (item is not None and (
            item.room in rooms or (item.snapshot is not None and item.org_id == private_org is not None)))
        if item is None or not theirs:
            raise ApiError(404, "not_found", "no such item")
        view = await safety_queue.queue_resolve(db, item, member.db_id, body.note, now_ms)
        await _audit_private_views(db, member, [view])
        await store.audit(db, now_ms, member.db_id, "resolve", item.room, None, item.message_id,
                          body.note or "", None,
                          f"{item.kind} item {item.id}" + (f" about question {item.question_id}" if item.question_id else ""))
        await db.commit()
    return JSONResponse(view)


async def audit_log(request: Request) -> Response:
    """``GET /api/moderation/audit``: newest first, for the rooms the caller moderates."""
    member, _ = await caller(request)
    assigned = await _staff_context(request, member)
    limit = int_param(request, "limit", 50, 1, 200) or 50
    before = int_param(request, "before", None, 1, 2**62)
    rooms, one_room = await _scope(request, member, assigned)
    if rooms is not None and not one_room and "*" in assigned:
        rooms = [*rooms, "*"]  # platform staff also see platform bans and duty changes
    async with runtime(request).db() as db:
        # Everyone also sees their own entries (going on duty, codes they issued).
        mine = None if one_room else member.db_id
        entries = await store.audit_page(db, rooms, before, limit, actor=mine)
    next_before = entries[-1]["id"] if len(entries) == limit else None
    return JSONResponse({"entries": entries, "next_before": next_before})


async def report(request: Request) -> Response:
    """``POST /api/messages/{id}/report``: any member, about a message they can see."""
    member, _ = await caller(request)
    body = await parse_body(request, ReportIn)
    message_id = request.path_params["id"]
    if not ids.is_message_id(message_id):
        raise ApiError(404, "no_such_message", "no such message")
    item, created = await runtime(request).safety.report(member, message_id, body.reason.strip())
    return JSONResponse({"item": item}, status_code=201 if created else 200)


async def blocks(request: Request) -> Response:
    """``GET /api/blocks``."""
    member, _ = await caller(request)
    async with runtime(request).db() as db:
        found = await store.blocked_by(db, member.db_id)
    return JSONResponse({"blocked": [m.public() for m in found]})


async def set_block(request: Request) -> Response:
    """``PUT`` / ``DELETE /api/blocks/{user}``."""
    member, _ = await caller(request)
    target = request.path_params["user"]
    if not ids.is_user_id(target):
        raise ApiError(404, "no_such_member", "no such member")
    rt = runtime(request)
    change = await rt.moderation.set_block(member, target, request.method == "PUT")
    if rt.conversations is not None:
        # Their conversation closes (or opens again) on every gateway now.
        await rt.conversations.service.blocks_changed(member.db_id, change.target_db_id)
    if change.handled is not None and rt.social is not None:
        # The block ended a pending friend request: its notification is handled, and every
        # device of the member asked hears it, as when they decline (red team: the badge
        # kept counting a request from someone just blocked until the next re-read).
        asked, nid = change.handled
        await rt.social.notifier.tell_read(asked, [nid])
    return Response(status_code=204)
