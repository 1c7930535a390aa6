"""The community directory as a member sees it: national rooms for everyone, local rooms for
their organization (``/api/communities``)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence import communities
from rooms.access import can_see
from rooms.catalog import is_slug
from rooms.errors import NotFound
from rooms.model import Community, Member


class Directory:
    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db

    async def listing(self, member: Member) -> list[Community]:
        """The rooms open to ``member``, without sessions' live rooms (reached from their
        session)."""
        async with self._db() as db:
            found = await communities.visible_to(db, member)
        return [c for c in found if c.kind != "event"]

    async def get(self, member: Member, slug: str) -> Community:
        """One room; ``NotFound`` also for one ``member`` may not see ("not found",
        not "forbidden")."""
        if not is_slug(slug):
            raise NotFound("no such community")
        async with self._db() as db:
            found = await communities.by_slug(db, slug)
        if found is None or not can_see(member, found):
            raise NotFound("no such community")
        return found
