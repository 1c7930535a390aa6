"""The cap on members one may follow holds under concurrent follows, on SQLite and PostgreSQL.

Before, the count was read and then the follow written, so follows racing each other could
each see room for one more and overshoot the cap. Ten follows at once by a member a few
short of it: exactly as many succeed as there was room for, the rest are refused, and the
member follows exactly ``MAX_FOLLOWING``.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from chat_server.social.following import Following
from persistence import follows, migrate
from persistence.accounts import to_member
from persistence.db import make_engine, session_factory
from persistence.models import Organization, User
from rooms.friends import MAX_FOLLOWING, TooManyFollowed
from support.procs import Postgres

ROOM_LEFT = 5
RACERS = 10


async def _members(url: str, count: int) -> list[User]:
    engine = make_engine(url)
    now = datetime.now(UTC).replace(tzinfo=None)
    try:
        async with engine.begin() as conn:
            org_id = (await conn.execute(select(Organization.id).limit(1))).scalar()  # type: ignore[arg-type]
            if org_id is None:
                org_id = (await conn.execute(insert(Organization).values(
                    slug="cap-test", name="Cap test", key_digest="-" * 64, created_at=now,
                ).returning(Organization.id))).scalar_one()  # type: ignore[arg-type]
            await conn.execute(insert(User), [{
                "public_id": "u" + secrets.token_hex(8), "org_id": org_id, "handle": f"cap{i}",
                "handle_key": f"cap{i}", "email": f"cap{i}@example.invalid",
                "password_hash": "-", "role": "member", "created_at": now,
            } for i in range(count)])
        factory = session_factory(engine)
        async with factory() as db:
            return list((await db.exec(select(User).order_by(User.id))).scalars())  # type: ignore[call-overload]
    finally:
        await engine.dispose()


async def _race(url: str) -> tuple[int, int, int]:
    users = await _members(url, MAX_FOLLOWING + RACERS + 1)
    me, others = to_member(users[0]), users[1:]
    engine = make_engine(url)
    factory = session_factory(engine)
    try:
        async with factory() as db:  # up to a few short of the cap
            for i, other in enumerate(others[: MAX_FOLLOWING - ROOM_LEFT]):
                await follows.follow(db, me.db_id, int(other.id or 0), i)
            await db.commit()
        service = Following(factory)
        results = await asyncio.gather(
            *(service.follow(me, o.public_id) for o in others[MAX_FOLLOWING - ROOM_LEFT:][:RACERS]),
            return_exceptions=True)
        async with factory() as db:
            count = await follows.following_count(db, me.db_id)
    finally:
        await engine.dispose()
    unexpected = [r for r in results if isinstance(r, BaseException) and not isinstance(r, TooManyFollowed)]
    assert not unexpected, unexpected
    done = sum(1 for r in results if not isinstance(r, BaseException))
    refused = sum(1 for r in results if isinstance(r, TooManyFollowed))
    return done, refused, count


def test_concurrent_follows_never_pass_the_cap_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'k.db'}"
    migrate.upgrade(url)
    assert asyncio.run(_race(url)) == (ROOM_LEFT, RACERS - ROOM_LEFT, MAX_FOLLOWING)


@pytest.mark.parametrize("attempt", range(2))
def test_concurrent_follows_never_pass_the_cap_on_postgres(postgres: Postgres, attempt: int) -> None:
    postgres.reset_database()
    migrate.upgrade(postgres.url)
    assert asyncio.run(_race(postgres.url)) == (ROOM_LEFT, RACERS - ROOM_LEFT, MAX_FOLLOWING)
