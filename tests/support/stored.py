"""What tests of the stores put in a migrated database before they start: an organization
with its members, and messages as the transcript writer stores them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence import accounts, transcripts
from persistence.transcripts import NewMessage

_BATCH = 2000  # rows per insert: SQLite's bound-parameter limit is well above this


async def org_members(db: async_sessionmaker[AsyncSession], names: Sequence[str]) -> list[int]:
    """A new organization with a member per name (handle and email made from it); their
    storage keys, in the order named."""
    now = datetime.now(UTC).replace(tzinfo=None)
    async with db() as session:
        org = await accounts.add_org(session, "Test Org", "t", uuid.uuid4().hex, [], now)
        assert org.id is not None
        keys = []
        for name in names:
            user = await accounts.create_user(session, org.id, name, name, f"{name}@example.org", "x", now)
            assert user.id is not None
            keys.append(user.id)
    return keys


async def store_messages(
    db: async_sessionmaker[AsyncSession], rows: Sequence[tuple[str, int, int]],
    created_ms: int | None = None,
) -> None:
    """``(room, seq, author's storage key)`` rows, as the writer stores them, posted at
    ``created_ms`` (now when None)."""
    at = int(time.time() * 1000) if created_ms is None else created_ms
    async with db() as session:
        for start in range(0, len(rows), _BATCH):
            await transcripts.store(session, [
                NewMessage(uuid.uuid4().hex, room, seq, author, f"{room}-{seq}", f"note {seq}", None, at, None)
                for room, seq, author in rows[start:start + _BATCH]])
