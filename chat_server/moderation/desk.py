"""What staff read and do over HTTP besides the ``moderate`` action: a room's state and the
restrictions in force, the safety queue (each showing of a private message audited), resolving
an item, the audit log; and any member's blocks. Who may see what is decided here, from the
member's staff assignments (``contexts``) and the pure rules of rooms/moderation.py."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.moderation.duty import DutyRoster
from chat_server.moderation.facts import FactsCache
from chat_server.moderation.safety import org_rooms
from chat_server.moderation.service import Moderation
from persistence import communities, safety_queue
from persistence import moderation as store
from rooms.access import can_see
from rooms.catalog import is_slug
from rooms.errors import NoSuchRoom, NotFound
from rooms.model import Community, Member
from rooms.moderation import NOT_STAFF, Forbidden, may_moderate_room
from rooms.roles import Role

Assigned = Callable[[Member], Awaitable[frozenset[str]]]  # the national rooms one is staff of
BlocksChanged = Callable[[int, int], Awaitable[None]]  # (blocker, blocked): conversations close
ToldRead = Callable[[Member, list[int]], Awaitable[None]]  # notifications handled, to all devices


class NotStaff(Forbidden):
    """403 ``forbidden`` with reason ``not_staff``, in the API's own words."""

    def __init__(self, detail: str) -> None:
        super().__init__(NOT_STAFF)
        self.detail = detail


def _now_ms() -> int:
    return int(time.time() * 1000)


def private_org(member: Member, assigned: frozenset[str]) -> int | None:
    """The organization whose private items (reports and crisis matches from conversations)
    the caller sees: their own, when they moderate its rooms."""
    if member.org_id is not None and may_moderate_room(member, org_rooms(member.org_id), assigned):
        return member.org_id
    return None


async def _audit_private_views(db: AsyncSession, member: Member, items: list[dict[str, Any]]) -> None:
    """Every showing of a private message's snapshot to staff is on record (not committed)."""
    now_ms = _now_ms()
    for item in items:
        if item.get("private"):
            message = item.get("message") or {}
            await store.audit(db, now_ms, member.db_id, "view_private", item["room"], None,
                              message.get("id"), "", None, f"{item['kind']} item {item['id']}")


class StaffDesk:
    def __init__(self, db: async_sessionmaker[AsyncSession], assigned: Assigned, facts: FactsCache,
                 roster: DutyRoster, moderation: Moderation, blocks_changed: BlocksChanged,
                 told_read: ToldRead) -> None:
        self._db = db
        self._assigned = assigned
        self._facts = facts
        self._roster = roster
        self._moderation = moderation
        self._blocks_changed = blocks_changed
        self._told_read = told_read

    async def staff_context(self, member: Member) -> frozenset[str]:
        """The rooms the member is assigned to; ``NotStaff`` for a member below navigator."""
        if member.role.rank < Role.NAVIGATOR.rank:
            raise NotStaff("only staff may do this")
        return await self._assigned(member)

    async def _room(self, member: Member, slug: str) -> Community:
        if not is_slug(slug):
            raise NoSuchRoom("no such room")
        async with self._db() as db:
            community = await communities.by_slug(db, slug)
        if community is None or not can_see(member, community):
            raise NoSuchRoom("no such room")
        return community

    async def _moderated_rooms(self, member: Member, assigned: frozenset[str]) -> list[str] | None:
        """The slugs the member moderates; None for "every room" (admins)."""
        if member.role is Role.ADMIN:
            return None
        async with self._db() as db:
            visible = await communities.visible_to(db, member)
        return [c.slug for c in visible if may_moderate_room(member, c, assigned)]

    async def scope(self, member: Member, assigned: frozenset[str],
                    wanted: str | None) -> tuple[list[str] | None, bool]:
        """The rooms a staff listing covers: those the caller moderates (None: all, for
        admins), or the one named (``?room=``) if they moderate it; and whether one was named."""
        rooms = await self._moderated_rooms(member, assigned)
        if not wanted:
            return rooms, False
        if rooms is not None and wanted not in rooms:
            raise NotStaff("you are not staff of this room")
        return [wanted], True

    async def overview(self, member: Member, slug: str) -> dict[str, Any]:
        """The room's state and the restrictions in force."""
        assigned = await self.staff_context(member)
        community = await self._room(member, slug)
        if not may_moderate_room(member, community, assigned):
            raise NotStaff("you are not staff of this room")
        facts = await self._facts.facts(community.slug)
        state = facts.state_frame(self._roster.covers(facts.community)) if facts is not None else {}
        state.pop("type", None)
        async with self._db() as db:
            restrictions = await store.restrictions_view(db, community.slug, _now_ms())
        return {"state": state, "restrictions": restrictions}

    async def queue(self, member: Member, assigned: frozenset[str], status: str | None, limit: int,
                    wanted: str | None) -> list[dict[str, Any]]:
        """Crisis matches and reports in the caller's rooms (``status`` None: all), and the
        private ones of their organization, each showing audited."""
        rooms, one_room = await self.scope(member, assigned, wanted)
        async with self._db() as db:
            items = await safety_queue.queue_page(
                db, rooms, status, limit, viewer=member.db_id,
                org_id=None if one_room else private_org(member, assigned))
            await _audit_private_views(db, member, items)
            await db.commit()
        return items

    async def resolve(self, member: Member, assigned: frozenset[str], item_id: int,
                      note: str | None) -> dict[str, Any]:
        """Resolve an item of the caller's rooms (or of their organization's private ones):
        others' are "not found"; audited."""
        now_ms = _now_ms()
        async with self._db() as db:
            item = await safety_queue.queue_item(db, item_id, viewer=member.db_id)
            rooms = await self._moderated_rooms(member, assigned)
            private = private_org(member, assigned)
            theirs = rooms is None or (item is not None and (
                item.room in rooms or (item.snapshot is not None and item.org_id == private is not None)))
            if item is None or not theirs:
                raise NotFound("no such item")
            view = await safety_queue.queue_resolve(db, item, member.db_id, note, now_ms)
            await _audit_private_views(db, member, [view])
            about = f" about question {item.question_id}" if item.question_id else ""
            await store.audit(db, now_ms, member.db_id, "resolve", item.room, None, item.message_id,
                              note or "", None, f"{item.kind} item {item.id}{about}")
            await db.commit()
        return view

    async def audit_log(self, member: Member, assigned: frozenset[str], before: int | None, limit: int,
                        wanted: str | None) -> list[dict[str, Any]]:
        """Newest first, for the rooms the caller moderates."""
        rooms, one_room = await self.scope(member, assigned, wanted)
        if rooms is not None and not one_room and "*" in assigned:
            rooms = [*rooms, "*"]  # platform staff also see platform bans and duty changes
        async with self._db() as db:
            # Everyone also sees their own entries (going on duty, codes they issued).
            mine = None if one_room else member.db_id
            return await store.audit_page(db, rooms, before, limit, actor=mine)

    async def blocks(self, member: Member) -> list[dict[str, Any]]:
        async with self._db() as db:
            found = await store.blocked_by(db, member.db_id)
        return [m.public() for m in found]

    async def set_block(self, member: Member, target: str, on: bool) -> None:
        change = await self._moderation.set_block(member, target, on)
        # Their conversation closes (or opens again) on every gateway now.
        await self._blocks_changed(member.db_id, change.target_db_id)
        if change.handled is not None:
            # The block ended a pending friend request: its notification is handled, and every
            # device of the member asked hears it, as when they decline (red team: the badge
            # kept counting a request from someone just blocked until the next re-read).
            asked, nid = change.handled
            await self._told_read(asked, [nid])
