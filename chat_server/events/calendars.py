"""Calendars: a session's series with its dates, and each member's subscribable feed.

The feed's URL carries a secret (``/calendar/{secret}.ics``) so that phone calendars can
subscribe without a cookie; making a new one revokes the old.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.events.lifecycle import utcnow
from persistence import notifications
from persistence import sessions as store
from persistence.accounts import to_member
from persistence.event_models import EventOccurrence, EventSeries
from persistence.models import User
from rooms.errors import NotFound
from rooms.model import Member
from rooms.schedule import zone

FEED_MAX = 500  # dates in a member's feed


@dataclass(frozen=True, slots=True)
class MemberFeed:
    handle: str
    tz: str
    items: list[tuple[EventSeries, EventOccurrence]]  # the dates signed up for or hosted


class Calendars:
    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db

    async def series(self, event_id: str) -> tuple[EventSeries, list[EventOccurrence]]:
        """The series of a session the caller was already allowed to see, with its dates."""
        async with self._db() as db:
            occ = await store.get(db, event_id)
            assert occ is not None, "the caller checked the session exists"
            dates = await store.of_series(db, occ.series.id or 0)
        return occ.series, dates

    async def new_feed(self, member: Member, tz: str) -> str:
        """A new feed secret in time zone ``tz`` (``InvalidEvent`` for an unknown one); the
        previous secret stops working."""
        zone(tz)
        secret = secrets.token_urlsafe(24)
        async with self._db() as db:
            await notifications.set_feed(db, member.db_id, secret, tz, int(time.time() * 1000))
        return secret

    async def revoke_feed(self, member: Member) -> None:
        async with self._db() as db:
            await notifications.revoke_feed(db, member.db_id)

    async def feed(self, secret: str) -> MemberFeed:
        """The dates of the member whose feed this is; ``NotFound`` for an unknown secret."""
        if not 20 <= len(secret) <= 64:
            raise NotFound("no such calendar")
        async with self._db() as db:
            found = await notifications.feed(db, secret)
            user = None if found is None else await db.get(User, found.user_id)
            if found is None or user is None:
                raise NotFound("no such calendar")
            member = to_member(user)
            mine = await store.mine(db, member.db_id, utcnow(), FEED_MAX)
        items = [(o.series, o.row) for o, status in mine if status in ("in", "host")]
        return MemberFeed(member.handle, found.tz, items)
