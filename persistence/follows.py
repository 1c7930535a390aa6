"""Queries for follows and for members' choices about others (``people_settings``: friend
requests and being followed). Ids are ``users.id``. Writes commit only when they say so."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.accounts import to_member
from persistence.friend_models import Follow, PeopleSettings
from persistence.models import Block, User
from persistence.notifications import insert_for
from rooms.model import Member


async def follow(session: AsyncSession, follower_id: int, followed_id: int, now_ms: int) -> bool:
    """Start following; True when this call did (False: followed already). Not committed."""
    statement = insert_for(session)(Follow).values(
        follower_id=follower_id, followed_id=followed_id, created_ms=now_ms,
    ).on_conflict_do_nothing(index_elements=["follower_id", "followed_id"])
    result: Any = await session.exec(statement)
    return bool(result.rowcount)


async def hold_follower(session: AsyncSession, follower_id: int) -> None:
    """Make one member's follows wait for each other until this transaction ends, so the count
    read next is not overtaken by a concurrent follow of theirs (the cap would be overshot).
    PostgreSQL locks the member's row; SQLite has no row locks (the dialect drops FOR UPDATE)
    and serializes writers at the insert instead, which ``following_count`` after the insert
    sees exactly."""
    await session.exec(select(User.id).where(User.id == follower_id).with_for_update())


async def unfollow(session: AsyncSession, follower_id: int, followed_id: int) -> bool:
    """Stop following; True when there was a follow. Not committed."""
    result: Any = await session.exec(delete(Follow).where(
        col(Follow.follower_id) == follower_id, col(Follow.followed_id) == followed_id))
    return bool(result.rowcount)


async def follows(session: AsyncSession, follower_id: int, followed_id: int) -> bool:
    return await session.get(Follow, (follower_id, followed_id)) is not None


def _honoured(follower_id: int) -> Any:
    """Follows that count: neither of the two blocked the other, and the followed member has
    not turned being followed off. Both end follows when they happen; this holds even if a
    follow slipped past one by a race."""
    blocked = select(Block.blocked_id).where(Block.blocker_id == follower_id)
    blockers = select(Block.blocker_id).where(Block.blocked_id == follower_id)
    closed = select(PeopleSettings.user_id).where(col(PeopleSettings.followable).is_(False))
    return and_(col(Follow.followed_id).not_in(blocked), col(Follow.followed_id).not_in(blockers),
                col(Follow.followed_id).not_in(closed))


async def followed_ids(session: AsyncSession, follower_id: int) -> list[int]:
    """Whom the member follows (the feed's authors)."""
    query = select(Follow.followed_id).where(Follow.follower_id == follower_id, _honoured(follower_id))
    return [int(i) for i in (await session.exec(query)).all()]


async def following_count(session: AsyncSession, follower_id: int) -> int:
    query = select(func.count()).select_from(Follow).where(Follow.follower_id == follower_id)
    return int((await session.exec(query)).one())


async def members_by_db_id(session: AsyncSession, user_ids: list[int]) -> list[Member]:
    if not user_ids:
        return []
    return await _people(session, select(User).where(col(User.id).in_(user_ids)))


async def _people(session: AsyncSession, query: Any) -> list[Member]:
    return [to_member(u) for u in (await session.exec(query)).all()]


async def following(session: AsyncSession, follower_id: int) -> list[Member]:
    """The members one follows, newest follow first."""
    query = (select(User).join(Follow, col(Follow.followed_id) == col(User.id))
             .where(Follow.follower_id == follower_id, _honoured(follower_id)).order_by(col(Follow.created_ms).desc()))
    return await _people(session, query)


def _honoured_by(followed_id: int) -> Any:
    """``_honoured`` seen from the member followed: no block either way, and they have not
    turned being followed off. (Red team: a follow that slipped past a block or "do not
    follow me" was hidden from the follower but still listed among the followed member's
    followers, and as "follows you" on their profile of the follower.)"""
    blocked = select(Block.blocked_id).where(Block.blocker_id == followed_id)
    blockers = select(Block.blocker_id).where(Block.blocked_id == followed_id)
    closed = select(PeopleSettings.user_id).where(
        PeopleSettings.user_id == followed_id, col(PeopleSettings.followable).is_(False))
    return and_(col(Follow.follower_id).not_in(blocked), col(Follow.follower_id).not_in(blockers),
                ~closed.exists())


async def follows_honoured(session: AsyncSession, follower_id: int, followed_id: int) -> bool:
    """Whether the follow exists and counts (``_honoured``): what a profile says."""
    query = select(Follow.follower_id).where(
        Follow.follower_id == follower_id, Follow.followed_id == followed_id, _honoured_by(followed_id))
    return (await session.exec(query)).first() is not None


async def followers(session: AsyncSession, followed_id: int) -> list[Member]:
    """The members who follow one (and count), newest first."""
    query = (select(User).join(Follow, col(Follow.follower_id) == col(User.id))
             .where(Follow.followed_id == followed_id, _honoured_by(followed_id))
             .order_by(col(Follow.created_ms).desc()))
    return await _people(session, query)


async def drop_followers(session: AsyncSession, followed_id: int) -> int:
    """Everyone stops following the member (they turned being followed off). Not committed."""
    result: Any = await session.exec(delete(Follow).where(col(Follow.followed_id) == followed_id))
    return int(result.rowcount or 0)


async def sever(session: AsyncSession, a_user_id: int, b_user_id: int) -> None:
    """Neither follows the other any more (a block). Not committed."""
    await session.exec(delete(Follow).where(
        col(Follow.follower_id).in_([a_user_id, b_user_id]),
        col(Follow.followed_id).in_([a_user_id, b_user_id])))


# -- choices ---------------------------------------------------------------------------------


async def settings_of(session: AsyncSession, user_id: int) -> PeopleSettings:
    row = await session.get(PeopleSettings, user_id)
    return row if row is not None else PeopleSettings(user_id=user_id)


async def save_settings(session: AsyncSession, row: PeopleSettings) -> None:
    """Store the member's choices. Not committed (turning following off drops the followers
    in the same transaction)."""
    await session.merge(row)
