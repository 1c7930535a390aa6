"""Who is calling over HTTP, as the handlers need to know it: the member of a session token
(the socket handshake's lean lookup) and the origins other than the server's own whose pages
may change something (KINDRED_ALLOWED_ORIGINS); and, for staff, the rooms their rights
depend on. Built in Runtime.open, handed to the handlers by name (api/common.service)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence import moderation as moderation_store
from rooms.model import Member
from rooms.roles import Role

MemberLookup = Callable[[str], Awaitable[Member | None]]  # a live session's member, by token


@dataclass(frozen=True, slots=True)
class Callers:
    member_for_token: MemberLookup
    allowed_origins: frozenset[str]


class MemberContexts:
    """A member's staff context, read fresh for each request (an assignment made a moment
    ago counts at once)."""

    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db

    async def assigned(self, member: Member) -> frozenset[str]:
        """The national rooms the member is assigned to as staff (none below navigator, and
        then no read at all)."""
        if member.role.rank < Role.NAVIGATOR.rank:
            return frozenset()
        async with self._db() as session:
            return await moderation_store.assignments(session, member.db_id)
