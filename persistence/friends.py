"""Queries for friendships and friend requests. Ids are ``users.id`` (internal integers).

A pair of members has at most one row (``friend_models.Friendship``): a pending request, or
a friendship. Writes do not commit unless they say so: the friends service commits a change
together with what goes with it (the request's notification being marked handled).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, or_, update
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence import follows
from persistence.accounts import to_member
from persistence.event_models import Notification
from persistence.friend_models import Friendship
from persistence.models import Block, User
from persistence.notifications import insert_for
from rooms.model import Member


def pair(a_user_id: int, b_user_id: int) -> tuple[int, int]:
    """The row's key for two distinct members: smaller id first."""
    if a_user_id == b_user_id:
        raise ValueError("a member cannot be paired with themselves")
    return (a_user_id, b_user_id) if a_user_id < b_user_id else (b_user_id, a_user_id)


@dataclass(frozen=True, slots=True)
class Tie:
    """How two members stand, seen from nobody's side: friends, or who asked whom."""

    requester_id: int
    friends: bool
    created_ms: int
    since_ms: int | None


def _tie(row: Friendship) -> Tie:
    return Tie(requester_id=row.requester_id, friends=row.since_ms is not None,
               created_ms=row.created_ms, since_ms=row.since_ms)


def _unblocked(a: Any, b: Any) -> Any:
    """Neither of the two (columns or ids) blocked the other."""
    either = select(Block.blocker_id).where(
        or_(and_(col(Block.blocker_id) == a, col(Block.blocked_id) == b),
            and_(col(Block.blocker_id) == b, col(Block.blocked_id) == a)))
    return ~either.exists()


async def are_friends(session: AsyncSession, a_user_id: int, b_user_id: int) -> bool:
    """True when the two members are friends (a pending request is not a friendship); False
    for one member with themselves. A block ends a friendship in its own transaction
    (``sever``); this also says False for a pair with a block, so a friendship that slipped
    past one by a race is never honoured."""
    if a_user_id == b_user_id:
        return False
    low, high = pair(a_user_id, b_user_id)
    query = select(Friendship.since_ms).where(
        Friendship.low_id == low, Friendship.high_id == high, col(Friendship.since_ms).is_not(None),
        _unblocked(low, high))
    return (await session.exec(query)).first() is not None


async def friend_ids(session: AsyncSession, user_id: int) -> list[int]:
    """The ids of the member's friends, oldest friendship first (none with a block between)."""
    query = (select(Friendship.low_id, Friendship.high_id)
             .where(or_(col(Friendship.low_id) == user_id, col(Friendship.high_id) == user_id))
             .where(col(Friendship.since_ms).is_not(None))
             .where(_unblocked(col(Friendship.low_id), col(Friendship.high_id)))
             .order_by(col(Friendship.since_ms), col(Friendship.low_id), col(Friendship.high_id)))
    return [high if low == user_id else low for low, high in (await session.exec(query)).all()]


async def tie(session: AsyncSession, a_user_id: int, b_user_id: int) -> Tie | None:
    """The pair's row (a request or a friendship), or None."""
    row = await session.get(Friendship, pair(a_user_id, b_user_id))
    return None if row is None else _tie(row)


async def ties_of(session: AsyncSession, user_id: int) -> list[tuple[int, Tie]]:
    """Every row the member is in, as ``(the other member's id, tie)``, newest first."""
    query = (select(Friendship)
             .where(or_(col(Friendship.low_id) == user_id, col(Friendship.high_id) == user_id))
             .order_by(col(Friendship.created_ms).desc()))
    out = []
    for row in (await session.exec(query)).all():
        out.append((row.high_id if row.low_id == user_id else row.low_id, _tie(row)))
    return out


async def listing(session: AsyncSession, user_id: int) -> list[tuple[Member, Tie]]:
    """The member's friends and requests (either way) with the other member, newest first;
    a pair with a block between is left out."""
    other = case((col(Friendship.low_id) == user_id, col(Friendship.high_id)), else_=col(Friendship.low_id))
    query = (select(Friendship, User).join(User, col(User.id) == other)
             .where(or_(col(Friendship.low_id) == user_id, col(Friendship.high_id) == user_id))
             .where(_unblocked(col(Friendship.low_id), col(Friendship.high_id)))
             .order_by(col(Friendship.created_ms).desc()))
    return [(to_member(user), _tie(row)) for row, user in (await session.exec(query)).all()]


async def lock_pair(session: AsyncSession, a_user_id: int, b_user_id: int) -> None:
    """Hold the pair until the transaction ends, so that a request and a block of the same two
    members happen one after the other (red team: a request read "no block", a block committed
    meanwhile, and the request and its notification were stored beside the block). Call it
    before reading how the two stand. PostgreSQL: a transaction-scoped advisory lock on the
    pair; SQLite: a write that changes nothing takes the database's one write lock."""
    low, high = pair(a_user_id, b_user_id)
    if session.get_bind().dialect.name == "postgresql":
        await session.exec(select(func.pg_advisory_xact_lock(low, high)))
        return
    await session.exec(update(Friendship).where(col(Friendship.low_id) == -1).values(since_ms=None))


async def add_request(session: AsyncSession, requester_id: int, other_id: int, now_ms: int) -> bool:
    """Store a request from ``requester_id`` unless the pair already has a row; True when this
    call stored it (two gateways, or both members asking at once, store one). Not committed."""
    low, high = pair(requester_id, other_id)
    statement = insert_for(session)(Friendship).values(
        low_id=low, high_id=high, requester_id=requester_id, created_ms=now_ms, since_ms=None,
    ).on_conflict_do_nothing(index_elements=["low_id", "high_id"])
    result: Any = await session.exec(statement)
    return bool(result.rowcount)


async def accept(session: AsyncSession, accepter_id: int, requester_id: int, now_ms: int) -> bool:
    """Turn ``requester_id``'s pending request to ``accepter_id`` into a friendship; True when
    this call did (False: no such request, or it was already answered). Not committed."""
    low, high = pair(accepter_id, requester_id)
    result: Any = await session.exec(
        update(Friendship)
        .where(and_(col(Friendship.low_id) == low, col(Friendship.high_id) == high,
                    col(Friendship.requester_id) == requester_id, col(Friendship.since_ms).is_(None)))
        .values(since_ms=now_ms))
    return bool(result.rowcount)


async def remove(session: AsyncSession, a_user_id: int, b_user_id: int) -> Tie | None:
    """Delete the pair's row (declined, cancelled, unfriended or ended by a block); the tie
    that was there, or None when there was none (or another call removed it first). Not
    committed."""
    low, high = pair(a_user_id, b_user_id)
    row = await session.get(Friendship, (low, high))
    if row is None:
        return None
    found = _tie(row)
    result: Any = await session.exec(
        delete(Friendship).where(col(Friendship.low_id) == low, col(Friendship.high_id) == high))
    session.expunge(row)
    return found if result.rowcount else None



async def sever(session: AsyncSession, a_user_id: int, b_user_id: int, now_ms: int) -> tuple[int, int] | None:
    """A block between the two: their friendship or pending request ends, its request
    notification is marked handled, and neither follows the other. Not committed (the block
    is stored in the same transaction). Returns ``(the member asked, the notification)`` when
    a pending request's notification was marked handled, so that their devices can be told."""
    await lock_pair(session, a_user_id, b_user_id)  # a request being made waits, then sees the block
    gone = await remove(session, a_user_id, b_user_id)
    handled = None
    if gone is not None and not gone.friends:
        other = b_user_id if gone.requester_id == a_user_id else a_user_id
        nid = await handle_request_note(session, gone.requester_id, other, now_ms)
        handled = None if nid is None else (other, nid)
    await follows.sever(session, a_user_id, b_user_id)
    return handled


async def blocks_between(session: AsyncSession, viewer_id: int, other_id: int) -> tuple[bool, bool]:
    """(the viewer blocked the other, the other blocked the viewer)."""
    query = select(Block.blocker_id).where(
        or_(and_(col(Block.blocker_id) == viewer_id, col(Block.blocked_id) == other_id),
            and_(col(Block.blocker_id) == other_id, col(Block.blocked_id) == viewer_id)))
    found = set((await session.exec(query)).all())
    return viewer_id in found, other_id in found


# -- the one notification of a request ------------------------------------------------------
# ``Notifier.notify`` stores it under ``request_dedupe(requester)`` (the notifications module
# appends the recipient's id), so a pair has at most one, however often the request is made.


def request_dedupe(requester_public_id: str) -> str:
    return f"friend:{requester_public_id}"


async def _request_note_key(session: AsyncSession, requester_id: int, recipient_id: int) -> str | None:
    public_id = (await session.exec(select(User.public_id).where(User.id == requester_id))).first()
    return None if public_id is None else f"{request_dedupe(public_id)}:{recipient_id}"[:80]


async def handle_request_note(session: AsyncSession, requester_id: int, recipient_id: int, now_ms: int) -> int | None:
    """The request was accepted, declined or cancelled: its notification is marked read; its
    id when this changed it. Not committed."""
    key = await _request_note_key(session, requester_id, recipient_id)
    result = await session.exec(
        update(Notification).where(col(Notification.dedupe) == key, col(Notification.read_ms).is_(None))
        .values(read_ms=now_ms).returning(col(Notification.id)))
    found = result.first()
    return None if found is None else int(found[0])


async def revive_request_note(
    session: AsyncSession, requester_id: int, recipient_id: int, text: str, now_ms: int,
) -> int | None:
    """A new request where an earlier one was handled: the same notification, unread again
    and brought to the top; its id when there was one to revive. Not committed."""
    key = await _request_note_key(session, requester_id, recipient_id)
    result = await session.exec(
        update(Notification).where(col(Notification.dedupe) == key, col(Notification.read_ms).is_not(None))
        .values(read_ms=None, created_ms=now_ms, text=text[:300]).returning(col(Notification.id)))
    found = result.first()
    return None if found is None else int(found[0])
