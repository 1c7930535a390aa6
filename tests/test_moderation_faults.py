"""Removing a message while no transcript writer is running (Redis mode): the body must be
gone from the room's log, the commits queue and the database, and stay gone once a writer
catches up: the writer's insert meets the tombstone row on the primary key and does nothing.
Every message posted is counted."""

from __future__ import annotations

from collections.abc import Iterator

import asyncpg
import pytest
from redis.asyncio import Redis

from support.client import JSON, Client
from support.cluster import Deployment, shared_servers
from support.procs import Postgres, RedisServer
from support.writer import WriterProcess, eventually

ROOM = "thyroid-cancer"


@pytest.fixture(scope="module")
def lagging(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, postgres: Postgres
) -> Iterator[Deployment]:
    """Two gateways sharing Redis and PostgreSQL, with no transcript writer at all."""
    env = {**shared_servers(redis_server, postgres), "KINDRED_RUN_WRITER": "false"}
    dep = Deployment.start(tmp_path_factory.mktemp("lagging"), count=2, extra_env=env)
    yield dep
    dep.stop()


async def _rows(dsn: str) -> dict[str, str | None]:
    conn = await asyncpg.connect(dsn)
    try:
        records = await conn.fetch("SELECT id, body FROM messages WHERE room = $1", ROOM)
    finally:
        await conn.close()
    return {r["id"]: r["body"] for r in records}


async def _stream_bodies(redis: Redis, key: str) -> list[bytes]:
    return [fields[b"f"] for _, fields in await redis.xrange(key, "-", "+")]


async def test_removal_before_the_writer_stored_the_message(
    lagging: Deployment, postgres: Postgres, redis_server: RedisServer
) -> None:
    dep = lagging
    nav = dep.register(handle="LagNavigator")
    dep.cli("user", "role", "LagNavigator", "navigator")
    dep.cli("user", "assign", "LagNavigator", ROOM)
    member = dep.register()
    n = await Client.connect(dep.gateways[0].ws_url, nav.token, protocol=JSON)
    m = await Client.connect(dep.gateways[1].ws_url, member.token)
    redis = Redis.from_url(redis_server.url)
    writer = WriterProcess(dep.env, dep.workdir, "late-writer")
    bodies = ["first words", "a hurtful sentence", "last words"]
    try:
        await n.join(ROOM)
        await m.join(ROOM)
        acks = [await m.post(ROOM, body, cid=f"lag-{i}") for i, body in enumerate(bodies)]
        assert [a["type"] for a in acks] == ["ack"] * 3
        assert await _rows(postgres.dsn) == {}  # nothing stored: no writer runs
        assert await redis.xlen("kindred:commits") == 3

        victim = acks[1]["id"]
        await n.send({"type": "moderate", "room": ROOM, "action": "remove", "message": victim,
                      "reason": "unkind", "cid": "rm"})
        done = await n.wait_frame("moderated", cid="rm")
        assert done["message"] == victim
        await m.wait_frame("removed", id=victim)

        # The body is nowhere in Redis: not in the room's log, not in the writers' queue.
        hurtful = bodies[1].encode()
        assert not any(hurtful in f for f in await _stream_bodies(redis, f"kindred:log:{ROOM}"))
        assert not any(hurtful in f for f in await _stream_bodies(redis, "kindred:commits"))
        assert await redis.xlen("kindred:commits") == 2
        # ... and the database already holds the tombstone.
        assert await _rows(postgres.dsn) == {victim: None}

        # A writer starts late and stores the other two; the tombstone stays a tombstone.
        writer.start()

        async def all_stored() -> bool:
            return len(await _rows(postgres.dsn)) == 3

        await eventually(all_stored, 20, "the late writer storing the messages")
        rows = await _rows(postgres.dsn)
        assert rows == {acks[0]["id"]: bodies[0], victim: None, acks[2]["id"]: bodies[2]}, writer.log_text()
        assert await redis.xlen("kindred:commits") == 0

        # A member resuming from the start is replayed the tombstone in its place.
        late = await Client.connect(dep.gateways[1].ws_url, dep.register().token)
        try:
            await late.join(ROOM, since=0)
            await late.wait_until(lambda f: len(late.messages(ROOM)) >= 3, 5, "the replay")
            replayed = [(x["seq"], x["body"]) for x in late.messages(ROOM)]
            assert replayed == [(acks[0]["seq"], bodies[0]), (acks[1]["seq"], None),
                                (acks[2]["seq"], bodies[2])]
        finally:
            await late.close()
    finally:
        writer.kill()
        await redis.aclose()
        await n.close()
        await m.close()
