"""Every long-lived resource built from ``Settings`` in one ``async with``, and closed with it.

``open_resources(settings)`` is the one place that makes the database engine, reads (or
creates) the server secret, and makes the Redis client: ``kindred serve`` (the app's
lifespan, then ``Runtime.open``), ``kindred writer`` and the admin commands all go through it,
so they agree on pools, timeouts and the secret. Nothing is built at import time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import BlockingConnectionPool, Redis
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.config import Settings
from chat_server.security import new_secret
from persistence import accounts
from persistence.db import make_engine, session_factory


@dataclass(frozen=True, slots=True)
class Resources:
    settings: Settings
    engine: AsyncEngine
    db: async_sessionmaker[AsyncSession]
    secret: str
    redis: Redis | None  # None in the embedded mode (no KINDRED_REDIS_URL)


def make_redis(settings: Settings) -> Redis:
    """One client for the process. A blocking pool: when every connection is busy (a
    reconnect storm: hundreds of joins at once), a command waits for one instead of failing
    "too many connections", which a join would report as "unavailable"."""
    pool = BlockingConnectionPool.from_url(
        settings.redis_url or "", max_connections=settings.redis_max_connections, timeout=5,
        socket_connect_timeout=2, socket_timeout=5, health_check_interval=10,
    )
    return Redis(connection_pool=pool)


@asynccontextmanager
async def open_resources(settings: Settings) -> AsyncIterator[Resources]:
    """The engine, the secret and (with ``redis_url``) the Redis client; closed on exit,
    Redis first."""
    engine = make_engine(settings.effective_database_url, plain_local=settings.postgres_plain_local)
    try:
        db = session_factory(engine)
        async with db() as session:
            secret = settings.secret_key or await accounts.server_secret(session, new_secret())
        redis = make_redis(settings) if settings.redis_url else None
        try:
            yield Resources(settings, engine, db, secret, redis)
        finally:
            if redis is not None:
                await redis.aclose()
    finally:
        await engine.dispose()
