"""A member's profile as another member sees it (``GET /api/people/{user}``): handle, role,
the rooms both write in (only rooms the viewer can see and join), how the two stand as
friends, and following.

Nothing here says that the other member blocked the viewer: ``can_befriend`` and
``can_follow`` are false then, exactly as when the other turned requests or following off
(rooms/friends.py). What the viewer did themselves (they blocked the other) is theirs to see.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.social.feed import readable
from chat_server.social.ties import other_member, read_pair
from persistence import feed as feed_store
from persistence import follows
from rooms import ids
from rooms.friends import can_befriend, can_follow, state
from rooms.model import Member

MAX_IN_COMMON = 20


class People:
    def __init__(self, db: async_sessionmaker[AsyncSession], clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def profile(self, viewer: Member, target: str) -> dict[str, Any]:
        """Raises ``NoSuchMember`` (rooms.errors). The viewer's own profile says ``self: true`` and no ties."""
        if target == viewer.id and ids.is_user_id(target):
            return {"user": viewer.public(), "self": True, "rooms_in_common": []}
        async with self._db() as db:
            other = await other_member(db, viewer, target, "view")
            pair = await read_pair(db, viewer, other)
            where = await readable(db, viewer, int(self._clock() * 1000))
            common = await feed_store.rooms_in_common(db, viewer.db_id, other.db_id, list(where.rooms))
            following = await follows.follows(db, viewer.db_id, other.db_id)
            follows_you = await follows.follows_honoured(db, other.db_id, viewer.db_id)
        return {
            "user": other.public(), "self": False,
            "friend": state(pair).value, "can_befriend": can_befriend(pair),
            "following": following and can_follow(pair), "can_follow": can_follow(pair),
            "follows_you": follows_you, "you_blocked": pair.viewer_blocked_other,
            "rooms_in_common": [{"slug": slug, "name": where.name(slug)} for slug in common[:MAX_IN_COMMON]],
        }
