"""Queries for private conversations. Ids are ``users.id`` (internal integers) unless named
public.

A conversation's room is a ``communities`` row of kind ``dm`` created with it, in the same
transaction, so a conversation never exists without its room nor a room without its
conversation. State changes are conditional UPDATEs (``WHERE state = <the state read>``):
of two gateways racing, one changes it and the other is told it did not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, union, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence import communities
from persistence.accounts import to_member
from persistence.conversation_models import Conversation, ConversationMember, DmSetting
from persistence.event_models import Notification
from persistence.models import Block, Community, Message, User
from persistence.notifications import insert_for
from persistence.refusals import unique_clash
from persistence.social_models import RoomRead
from rooms.conversations import DM_KIND, ROOM_NAME, ROOM_PREFIX, room_of
from rooms.model import Community as RoomCommunity
from rooms.model import Member
from rooms.sessions import ROOM_PREFIX as EVENT_PREFIX


def pair_key(a_user_id: int, b_user_id: int) -> str:
    low, high = sorted((a_user_id, b_user_id))
    return f"{low}:{high}"


@dataclass(frozen=True, slots=True)
class Stored:
    """A conversation and everyone in it (the members as ``rooms.model.Member``, with their
    storage keys)."""

    row: Conversation
    members: tuple[Member, ...]

    @property
    def db_id(self) -> int:
        return self.row.id or 0

    def has(self, user_db_id: int) -> bool:
        return any(m.db_id == user_db_id for m in self.members)

    def others(self, user_db_id: int) -> list[Member]:
        return [m for m in self.members if m.db_id != user_db_id]


async def _with_members(db: AsyncSession, rows: Sequence[Conversation]) -> list[Stored]:
    if not rows:
        return []
    ids = [r.id for r in rows]
    query: Any = (select(ConversationMember.conversation_id, User)
                  .join(User, col(User.id) == col(ConversationMember.user_id))
                  .where(col(ConversationMember.conversation_id).in_(ids))
                  .order_by(col(User.id)))
    by_conv: dict[int, list[Member]] = {}
    for conv_id, user in (await db.exec(query)).all():
        by_conv.setdefault(int(conv_id), []).append(to_member(user))
    return [Stored(r, tuple(by_conv.get(r.id or 0, ()))) for r in rows]


async def _one(db: AsyncSession, where: Any) -> Stored | None:
    row = (await db.exec(select(Conversation).where(where))).first()
    return None if row is None else (await _with_members(db, [row]))[0]


async def by_room(db: AsyncSession, room: str) -> Stored | None:
    return await _one(db, col(Conversation.room) == room)


async def by_public_id(db: AsyncSession, public_id: str) -> Stored | None:
    return await _one(db, col(Conversation.public_id) == public_id)


async def live_pair(db: AsyncSession, a_user_id: int, b_user_id: int) -> Stored | None:
    """The two members' one-to-one conversation, unless none or declined."""
    return await _one(db, col(Conversation.pair_key) == pair_key(a_user_id, b_user_id))


async def declined(db: AsyncSession, requester_id: int, recipient_id: int) -> bool:
    """True when ``recipient_id`` declined a request from ``requester_id`` (one to one)."""
    theirs = select(ConversationMember.conversation_id).where(ConversationMember.user_id == recipient_id)
    query = select(Conversation.id).where(
        Conversation.state == "declined", Conversation.started_by == requester_id,
        col(Conversation.is_group).is_(False), col(Conversation.id).in_(theirs))
    return (await db.exec(query)).first() is not None


async def create(
    db: AsyncSession, public_id: str, starter_id: int, others: Sequence[int], state: str,
    now_ms: int,
) -> Stored | None:
    """A new conversation of ``starter_id`` with ``others``, and its room (commits). None for
    a pair that has a live conversation already (another request made it first): read it
    with ``live_pair``. Any other refusal is raised (``IntegrityError``)."""
    room = room_of(public_id)
    group = len(others) > 1
    db.add(Community(slug=room, name=ROOM_NAME, kind=DM_KIND, description="", org_id=None))
    row = Conversation(
        public_id=public_id, room=room, pair_key=None if group else pair_key(starter_id, others[0]),
        is_group=group, state=state, started_by=starter_id, created_ms=now_ms,
    )
    db.add(row)
    try:
        await db.flush()
        for user_id in (starter_id, *others):
            db.add(ConversationMember(conversation_id=row.id or 0, user_id=user_id))
        await db.commit()
    except IntegrityError as exc:
        await db.rollback()
        if unique_clash(exc) == {"conversations.pair_key"}:
            return None
        raise  # a member who does not exist, a room or id taken: not the pair's conversation
    return await by_public_id(db, public_id)


async def change_state(
    db: AsyncSession, conv_id: int, was: str, now: str, now_ms: int, *, requester: int | None = None,
) -> bool:
    """``was`` -> ``now`` (commits); True when this call did it. Declining frees the pair, so
    either may start afresh (the one who declined) or is refused (the one declined).
    ``requester``: a request nobody has written in yet changes hands (the other one starts)."""
    values: dict[str, Any] = {"state": now, "changed_ms": now_ms}
    where = [col(Conversation.id) == conv_id, col(Conversation.state) == was]
    if now == "declined":
        values["pair_key"] = None
    if requester is not None:
        values["started_by"] = requester
        where.append(col(Conversation.request_message).is_(None))
    result: Any = await db.exec(update(Conversation).where(*where).values(**values))
    await db.commit()
    return bool(result.rowcount)


async def mark_request(db: AsyncSession, conv_id: int, message_id: str) -> bool:
    """The request's first message, once (commits); True when this call recorded it."""
    result: Any = await db.exec(
        update(Conversation)
        .where(col(Conversation.id) == conv_id, col(Conversation.state) == "request",
               col(Conversation.request_message).is_(None))
        .values(request_message=message_id))
    await db.commit()
    return bool(result.rowcount)


def request_dedupe(public_id: str) -> str:
    """The ``dedupe`` key of a request's ``dm_request`` notification (``Notifier.notify``)."""
    return f"dm_request:{public_id}"


async def request_note(db: AsyncSession, user_id: int, public_id: str) -> int | None:
    """The member's ``dm_request`` notification of this conversation, if unread."""
    query = select(Notification.id).where(
        Notification.user_id == user_id, Notification.dedupe == f"{request_dedupe(public_id)}:{user_id}"[:80],
        col(Notification.read_ms).is_(None))
    found = (await db.exec(query)).first()
    return None if found is None else int(found)


async def of_member(db: AsyncSession, user_id: int) -> list[Stored]:
    """Every conversation the member is in, newest first (the caller decides what they see)."""
    mine = select(ConversationMember.conversation_id).where(ConversationMember.user_id == user_id)
    query = select(Conversation).where(col(Conversation.id).in_(mine)).order_by(
        col(Conversation.id).desc())
    return await _with_members(db, (await db.exec(query)).all())


async def last_activity(db: AsyncSession, rooms: Sequence[str]) -> dict[str, int]:
    """Per room, when its newest stored message was written (ms); rooms without any left out."""
    if not rooms:
        return {}
    query = select(Message.room, func.max(Message.created_ms)).where(
        col(Message.room).in_(list(rooms))).group_by(Message.room)
    return {room: int(ms) for room, ms in (await db.exec(query)).all() if ms is not None}


async def allow_of(db: AsyncSession, user_id: int) -> str | None:
    """The member's setting; None when they never chose (the default)."""
    row = await db.get(DmSetting, user_id)
    return None if row is None else row.allow


async def set_allow(db: AsyncSession, user_id: int, allow: str) -> None:
    """Commits."""
    statement = insert_for(db)(DmSetting).values(user_id=user_id, allow=allow)
    await db.exec(statement.on_conflict_do_update(index_elements=["user_id"], set_={"allow": allow}))
    await db.commit()


async def rooms_of(db: AsyncSession, user_id: int) -> list[RoomCommunity]:
    """The rooms the member takes part in: those they wrote in or opened (a read mark), of
    the directory's kinds (not a session's room, not a conversation)."""
    wrote = select(Message.room.label("room")).where(Message.author_id == user_id)  # type: ignore[attr-defined]
    read = select(RoomRead.room.label("room")).where(RoomRead.user_id == user_id)  # type: ignore[attr-defined]
    slugs = {r for (r,) in (await db.exec(union(wrote, read))).all()}  # type: ignore[call-overload]
    slugs = {s for s in slugs if not s.startswith((EVENT_PREFIX, ROOM_PREFIX))}
    return [c for c in await communities.by_slugs(db, sorted(slugs)) if c.kind not in (DM_KIND, "event")]


async def blocked_between(db: AsyncSession, a_user_id: int, b_user_id: int) -> bool:
    """True when either blocked the other."""
    query = select(Block.blocker_id).where(or_(
        (col(Block.blocker_id) == a_user_id) & (col(Block.blocked_id) == b_user_id),
        (col(Block.blocker_id) == b_user_id) & (col(Block.blocked_id) == a_user_id)))
    return (await db.exec(query)).first() is not None


async def blockers_of(db: AsyncSession, author_id: int, among: Sequence[int]) -> set[int]:
    """Those of ``among`` who blocked ``author_id``."""
    if not among:
        return set()
    query = select(Block.blocker_id).where(Block.blocked_id == author_id,
                                           col(Block.blocker_id).in_(list(among)))
    return {int(b) for b in (await db.exec(query)).all()}


async def members_by_public_ids(db: AsyncSession, public_ids: Sequence[str]) -> list[Member]:
    if not public_ids:
        return []
    rows = (await db.exec(select(User).where(col(User.public_id).in_(list(public_ids))))).all()
    return [to_member(u) for u in rows]


async def member(db: AsyncSession, user_id: int) -> Member | None:
    user = await db.get(User, user_id)
    return None if user is None else to_member(user)
