"""Friendships in storage (persistence/friends.py), on SQLite and on PostgreSQL, migrated by
Alembic: a request is not a friendship, accepting makes one both ways, removing ends it, a
pair has one row whichever member asked first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence import follows, friends, moderation
from persistence.db import make_engine, session_factory
from persistence.models import Block, Organization, User
from support.sqlite_db import migrated_database


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    yield await migrated_database(request, tmp_path)


async def _people(db: AsyncSession, n: int) -> list[int]:
    now = datetime.now(UTC).replace(tzinfo=None)
    org = Organization(name="Org", slug="org", key_digest="k" * 64, created_at=now)
    db.add(org)
    await db.flush()
    assert org.id is not None
    users = [User(public_id=f"u{i:016x}", org_id=org.id, handle=f"member{i}", handle_key=f"member{i}",
                  email=f"m{i}@example.org", password_hash="x", created_at=now) for i in range(n)]
    db.add_all(users)
    await db.commit()
    return [u.id for u in users if u.id is not None]


async def test_friendship_lifecycle(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        async with session_factory(engine)() as db:
            ann, ben, cat, dan = await _people(db, 4)
            assert await friends.are_friends(db, ann, ben) is False
            assert await friends.friend_ids(db, ann) == []

            # A request is stored once, from whoever asked first; it is not a friendship.
            assert await friends.add_request(db, ben, ann, now_ms=1000) is True
            assert await friends.add_request(db, ann, ben, now_ms=1001) is False  # same pair
            await db.commit()
            found = await friends.tie(db, ann, ben)
            assert found is not None and found.requester_id == ben and not found.friends
            assert await friends.are_friends(db, ann, ben) is False
            assert await friends.friend_ids(db, ben) == []

            # Only the member asked can accept, and only once.
            assert await friends.accept(db, ben, ann, now_ms=1100) is False  # the asker cannot
            assert await friends.accept(db, ann, ben, now_ms=1200) is True
            assert await friends.accept(db, ann, ben, now_ms=1300) is False
            await db.commit()
            assert await friends.are_friends(db, ann, ben) is True
            assert await friends.are_friends(db, ben, ann) is True
            assert await friends.are_friends(db, ann, ann) is False

            await friends.add_request(db, ann, cat, now_ms=2000)
            await friends.accept(db, cat, ann, now_ms=2100)
            await friends.add_request(db, dan, ann, now_ms=2200)  # stays pending
            await db.commit()
            assert await friends.friend_ids(db, ann) == [ben, cat]  # oldest friendship first
            assert await friends.friend_ids(db, cat) == [ann]
            assert await friends.friend_ids(db, dan) == []
            assert [(other, t.friends) for other, t in await friends.ties_of(db, ann)] == [
                (dan, False), (cat, True), (ben, True)]

            # Unfriending removes the one row; removing again finds nothing.
            gone = await friends.remove(db, ben, ann)
            assert gone is not None and gone.friends and gone.since_ms == 1200
            assert await friends.remove(db, ann, ben) is None
            await db.commit()
            assert await friends.are_friends(db, ann, ben) is False
            assert await friends.friend_ids(db, ann) == [cat]
            with pytest.raises(ValueError):
                friends.pair(ann, ann)
    finally:
        await engine.dispose()


async def test_a_block_ends_the_friendship_and_is_honoured_even_if_a_row_slipped_past(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        async with session_factory(engine)() as db:
            ann, ben, cat = await _people(db, 3)
            for other in (ben, cat):
                await friends.add_request(db, ann, other, now_ms=1000)
                await friends.accept(db, other, ann, now_ms=1100)
            await follows.follow(db, ann, ben, now_ms=1200)
            await follows.follow(db, ben, ann, now_ms=1200)
            await db.commit()
            assert await friends.friend_ids(db, ann) == [ben, cat]

            # Blocking (persistence.moderation.set_block) severs the pair in its transaction.
            await moderation.set_block(db, ben, ann, True, now_ms=2000)
            assert await friends.tie(db, ann, ben) is None
            assert await follows.followed_ids(db, ann) == [] and await follows.followed_ids(db, ben) == []
            assert await friends.friend_ids(db, ann) == [cat]

            # A friendship row next to a block (a race) still counts for nothing.
            db.add(Block(blocker_id=cat, blocked_id=ann, created_ms=3000))
            await db.commit()
            assert await friends.tie(db, ann, cat) is not None
            assert await friends.are_friends(db, ann, cat) is False
            assert await friends.friend_ids(db, ann) == [] and await friends.friend_ids(db, cat) == []
            assert await friends.listing(db, ann) == []
    finally:
        await engine.dispose()
