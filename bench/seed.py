"""Bench-only seeding: members and signed-in sessions written straight into the database.

Registering 10,000 members through ``POST /api/register`` costs an argon2id hash each and
minutes of the short benchmark, and measures registration, which is not what the benchmark
is about. So the benchmark inserts users and sessions with the persistence layer's own
tables, in one transaction, exactly as registration plus sign-in would leave them, except
that the password hash is a placeholder nobody can sign in with. The tokens are real:
``kindred serve`` checks them at the handshake like any other session. Never used outside
``bench/``.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlmodel import col

from chat_server.security import new_token, token_digest
from persistence.db import make_engine
from persistence.models import Organization, Session, User


def _handle(i: int) -> str:
    # Letters only: a handle with 7 or more digits is refused as a phone number.
    letters = []
    n = i
    for _ in range(5):
        n, d = divmod(n, 26)
        letters.append(chr(97 + d))
    return "bench" + "".join(letters)


async def _seed(url: str, org_name: str, count: int, start: int) -> list[str]:
    engine = make_engine(url)
    now = datetime.now(UTC).replace(tzinfo=None)
    tokens = [new_token() for _ in range(count)]
    try:
        async with engine.begin() as conn:
            org_id = (await conn.execute(
                select(col(Organization.id)).where(col(Organization.name) == org_name)
            )).scalar_one()
            users: list[dict[str, Any]] = []
            for i in range(start, start + count):
                handle = _handle(i)
                users.append({
                    "public_id": "u" + secrets.token_hex(8), "org_id": org_id, "handle": handle,
                    "handle_key": handle, "email": f"{handle}@bench.invalid",
                    "password_hash": "bench-seeded: no password", "role": "member",
                    "created_at": now,
                })
            await conn.execute(insert(User), users)
            ids: dict[str, int] = dict((await conn.execute(  # type: ignore[arg-type]
                select(col(User.handle_key), col(User.id)).where(
                    col(User.handle_key).in_([u["handle_key"] for u in users]))
            )).tuples().all())
            await conn.execute(insert(Session), [
                {"token_digest": token_digest(t), "user_id": ids[u["handle_key"]],
                 "created_at": now, "expires_at": now + timedelta(days=1)}
                for t, u in zip(tokens, users, strict=True)
            ])
    finally:
        await engine.dispose()
    return tokens


def seed_members(url: str, org_name: str, count: int, start: int = 0) -> list[str]:
    """Create ``count`` members of ``org_name`` with one live session each; their tokens."""
    return asyncio.run(_seed(url, org_name, count, start))
