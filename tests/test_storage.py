"""Migrations match the models on both databases; Redis presence semantics on a real Redis."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import msgpack
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from redis.asyncio import Redis
from sqlalchemy.engine import Connection

from chat_server.protocol.base import encode_for
from chat_server.protocol.rooms import Joined
from chat_server.wire import JSON, MSGPACK
from persistence import migrate
from persistence.db import make_engine
from persistence.models import SQLModel  # type: ignore[attr-defined]
from presence.redis_store import RedisPresence
from support.procs import Postgres, RedisServer


def _diff(url: str) -> list[object]:
    def include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
        # Full-text search lives outside the models: SQLite's FTS5 tables, PostgreSQL's
        # generated tsvector column and its index.
        return not (name or "").startswith("messages_fts") and name not in ("search", "ix_messages_search")

    def compare(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"include_object": include})
        return list(compare_metadata(context, SQLModel.metadata))

    async def main() -> list[object]:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(compare)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def test_sqlite_migrations_match_models(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'k.db'}"
    assert migrate.current_revision(url) is None
    migrate.upgrade(url)
    assert migrate.current_revision(url) == migrate.head_revision()
    assert _diff(url) == []


@pytest.mark.postgres
async def test_postgres_migrations_match_models(tmp_path: Path) -> None:
    with Postgres(tmp_path) as pg:
        await asyncio.to_thread(migrate.upgrade, pg.url)
        assert await asyncio.to_thread(_diff, pg.url) == []


ALICE = {"id": "u1", "handle": "alice", "role": "member"}
BOB = {"id": "u2", "handle": "bob", "role": "navigator"}


@pytest.mark.redis
async def test_redis_presence_across_gateways(redis_server: RedisServer) -> None:
    redis = Redis.from_url(redis_server.url)
    one = RedisPresence(redis, "gw-one", ttl_s=10)
    two = RedisPresence(redis, "gw-two", ttl_s=10)
    try:
        await redis.delete(*[f"kindred:p:room-x:{k}" for k in "zni"])
        assert await one.enter("room-x", ALICE, now=100) is True
        assert await two.enter("room-x", ALICE, now=100) is False  # same user, other gateway
        assert await two.enter("room-x", BOB, now=100) is True
        assert sorted(u["id"] for u in await one.present("room-x")) == ["u1", "u2"]
        assert await one.leave("room-x", "u1") is None  # still held by gw-two
        # gw-two dies: nothing refreshes its entries; a sweep after the TTL removes them once.
        assert await one.sweep(["room-x"], now=105) == []
        gone = await one.sweep(["room-x"], now=111)
        assert sorted(u["id"] for _, u in gone) == ["u1", "u2"]
        assert await one.sweep(["room-x"], now=112) == []
        assert await one.present("room-x") == []
        # A refresh after being swept announces the member anew.
        assert await one.refresh([("room-x", ALICE)], now=120) == [("room-x", ALICE)]
        assert await one.refresh([("room-x", ALICE)], now=121) == []
    finally:
        await one.close()
        await two.close()
        await redis.aclose()


@pytest.mark.redis
async def test_redis_enter_listing_is_enter_then_present_in_one_step(redis_server: RedisServer) -> None:
    """The join path's one round trip gives what ``enter`` and ``present`` give."""
    redis = Redis.from_url(redis_server.url)
    one = RedisPresence(redis, "gw-one", ttl_s=10)
    two = RedisPresence(redis, "gw-two", ttl_s=10)
    try:
        await redis.delete(*[f"kindred:p:room-y:{k}" for k in "zni"])
        new, present, count = await one.enter_listing("room-y", ALICE, now=100, limit=100)
        assert new is True and present == [ALICE] and count == 1
        new, present, count = await two.enter_listing("room-y", ALICE, now=100, limit=100)
        assert new is False and present == [ALICE] and count == 1  # same user, other gateway
        new, present, count = await two.enter_listing("room-y", BOB, now=100, limit=100)
        assert new is True and sorted(u["id"] for u in present) == ["u1", "u2"] and count == 2
        new, _, _ = await two.enter_listing("room-y", BOB, now=101, limit=100)  # a rejoin
        assert new is False
        assert await one.leave("room-y", "u1") is None and await two.leave("room-y", "u1") == ALICE
        _, present, _ = await one.enter_listing("room-y", ALICE, now=102, limit=100)
        assert sorted(u["id"] for u in present) == ["u1", "u2"]
        assert sorted(u["id"] for u in await one.present("room-y")) == ["u1", "u2"]
        assert await two.present_among("room-y", ["u1", "u2", "u3"]) == {"u1", "u2"}
        assert await one.present_among("room-y", []) == set()
    finally:
        await one.close()
        await two.close()
        await redis.aclose()


@pytest.mark.redis
async def test_redis_views_are_shared_and_read_only(redis_server: RedisServer) -> None:
    """Views are parsed once and shared between callers (a join's hot path): a caller that
    changed one would change every later answer, so a change raises instead."""
    redis = Redis.from_url(redis_server.url)
    one = RedisPresence(redis, "gw-one", ttl_s=10)
    try:
        await redis.delete(*[f"kindred:p:room-v:{k}" for k in "zni"])
        await one.enter("room-v", ALICE, now=100)
        _, listed, _ = await one.enter_listing("room-v", BOB, now=100, limit=100)
        (first,) = [v for v in await one.present("room-v") if v["id"] == "u1"]
        (again,) = [v for v in listed if v["id"] == "u1"]
        assert first is again  # shared, not copied per caller
        with pytest.raises(TypeError):
            first["role"] = "host"
        with pytest.raises(TypeError):
            first.update(role="host")
        with pytest.raises(TypeError):
            del first["handle"]
        with pytest.raises(TypeError):
            first.pop("handle")
        with pytest.raises(TypeError):
            first |= {"role": "host"}
        assert [v for v in await one.present("room-v") if v["id"] == "u1"] == [ALICE]
        # A copy is the caller's own to change.
        mine = dict(first)
        mine["role"] = "host"
        assert [v for v in await one.present("room-v") if v["id"] == "u1"] == [ALICE]
        # The wire encoders take a view as the dict it reads as.
        for protocol in (JSON, MSGPACK):
            data = encode_for(protocol, Joined("room-v", 0, listed, 2))
            body = json.loads(data) if protocol == JSON else msgpack.unpackb(data)
            assert sorted(body["present"], key=lambda v: v["id"]) == [ALICE, BOB]
        assert await one.leave("room-v", "u1") == ALICE
    finally:
        await one.close()
        await redis.aclose()


@pytest.mark.redis
async def test_redis_connection_cap(redis_server: RedisServer) -> None:
    redis = Redis.from_url(redis_server.url)
    one = RedisPresence(redis, "gw-one", ttl_s=10)
    two = RedisPresence(redis, "gw-two", ttl_s=10)
    try:
        await redis.delete("kindred:conns:cap-user")
        assert await one.open_connection("cap-user", "c1", cap=2, now=100)
        assert await two.open_connection("cap-user", "c2", cap=2, now=100)
        assert not await one.open_connection("cap-user", "c3", cap=2, now=100)
        await two.close_connection("cap-user", "c2")
        assert await one.open_connection("cap-user", "c3", cap=2, now=101)
        assert await two.open_connection("cap-user", "c4", cap=2, now=200)  # others expired
    finally:
        await one.close()
        await two.close()
        await redis.aclose()
