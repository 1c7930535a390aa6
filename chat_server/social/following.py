"""Following (``/api/following``) and a member's choices about others (``/api/people/settings``:
friend requests, being followed).

Following needs no consent and tells nobody. A member who turns being followed off loses
their followers at that moment (they are not told, and turning it on again does not bring
them back): nobody keeps reading a feed of someone who asked not to be followed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.social.ties import other_member, read_pair
from persistence import follows as store
from rooms.friends import check_follow
from rooms.model import Member


class Following:
    def __init__(self, db: async_sessionmaker[AsyncSession], clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def listing(self, member: Member) -> dict[str, Any]:
        """``{following, followers}``: public views, newest first."""
        async with self._db() as db:
            followed = await store.following(db, member.db_id)
            followers = await store.followers(db, member.db_id)
        return {"following": [m.public() for m in followed], "followers": [m.public() for m in followers]}

    async def follow(self, member: Member, target: str) -> dict[str, Any]:
        """Raises ``NoSuchMember``, ``Yourself``, ``YouBlocked``, ``NotTaking``,
        ``TooManyFollowed``; nothing changes then. Following twice is following."""
        async with self._db() as db:
            other = await other_member(db, member, target, "follow")
            await store.hold_follower(db, member.db_id)
            already = await store.follows(db, member.db_id, other.db_id)
            pair = await read_pair(db, member, other)
            check_follow(pair, already, await store.following_count(db, member.db_id))
            if await store.follow(db, member.db_id, other.db_id, int(self._clock() * 1000)):
                # Counted again inside the write: on SQLite a concurrent follow may have
                # committed between the first count and this insert's write lock. The pair
                # was checked above; only the count can have moved.
                check_follow(pair, False, await store.following_count(db, member.db_id) - 1)
            await db.commit()
        return {"user": other.public(), "following": True}

    async def unfollow(self, member: Member, target: str) -> dict[str, Any]:
        async with self._db() as db:
            other = await other_member(db, member, target, "unfollow")
            await store.unfollow(db, member.db_id, other.db_id)
            await db.commit()
        return {"user": other.public(), "following": False}

    async def settings(self, member: Member) -> dict[str, bool]:
        async with self._db() as db:
            row = await store.settings_of(db, member.db_id)
        return {"friend_requests": row.friend_requests, "followable": row.followable}

    async def change_settings(
        self, member: Member, friend_requests: bool | None, followable: bool | None,
    ) -> dict[str, bool]:
        """Change either choice; turning being followed off removes every follower."""
        async with self._db() as db:
            row = await store.settings_of(db, member.db_id)
            if friend_requests is not None:
                row.friend_requests = friend_requests
            if followable is not None:
                row.followable = followable
            view = {"friend_requests": row.friend_requests, "followable": row.followable}
            await store.save_settings(db, row)
            if not row.followable:
                await store.drop_followers(db, member.db_id)
            await db.commit()
        return view
