"""What the transcript fault modules share (test_transcript_faults_*.py): their own
redis-server and PostgreSQL with one prepared database (``infra``, module-scoped, so each
module kills and stops only its own; registered in tests/conftest.py), the client that
notices a closed socket, readers of the stored rows, and the checks that the rows are
exactly the acknowledged messages.

Each test has its own rooms (``Deployment.new_org``) and compares the acks the clients
received with the rows of those rooms only.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from support.client import Client
from support.cluster import Deployment, Member
from support.gateways import Gateway, start_together
from support.procs import Postgres, RedisServer

COMMITS = "kindred:commits"
GROUP = "writers"

# (room, seq, id) of one stored message.
Row = tuple[str, int, str]


# --------------------------------------------------------------------------- helpers


@dataclass
class Infra:
    redis: RedisServer
    pg: Postgres
    base: Deployment  # migrated and seeded database, no gateways

    def gateways(self, tag: str, count: int, extra_env: Mapping[str, str] | None = None) -> Deployment:
        """``count`` fresh ``kindred serve`` processes on the shared database and Redis."""
        env = {**self.base.env, **(extra_env or {})}
        gws = [Gateway(env, self.base.workdir, name=f"{tag}-gw{i}") for i in range(count)]
        dep = Deployment(self.base.workdir, env, gws)
        start_together(gws)
        return dep


@pytest.fixture(scope="module")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    with (
        RedisServer(tmp_path_factory.mktemp("faults-redis")) as redis,
        Postgres(tmp_path_factory.mktemp("faults-pg")) as pg,
    ):
        env = {"KINDRED_REDIS_URL": redis.url, "KINDRED_DATABASE_URL": pg.url}
        base = Deployment.start(tmp_path_factory.mktemp("faults"), count=0, extra_env=env)
        yield Infra(redis, pg, base)


async def consumers(redis: Redis) -> dict[str, int]:
    """Consumer name -> pending entries, in the writers' group (empty if no group yet)."""
    try:
        info: list[dict[Any, Any]] = await redis.xinfo_consumers(COMMITS, GROUP)
    except ResponseError:
        return {}
    out: dict[str, int] = {}
    for c in info:
        name = c.get("name", c.get(b"name"))
        pending: Any = c.get("pending", c.get(b"pending"))
        out[name.decode() if isinstance(name, bytes) else str(name)] = int(pending)
    return out


async def commits_drained(redis: Redis) -> bool:
    """Nothing left in the durable queue: every entry committed, acknowledged and deleted."""
    if await redis.xlen(COMMITS) != 0:
        return False
    summary: Any = await redis.xpending(COMMITS, GROUP)
    return int(summary["pending"]) == 0


async def diagnose(redis: Redis, dsn: str, rooms: list[str], acks: list[dict[str, Any]]) -> str:
    """Where the acknowledged messages missing from the table are (for failure messages)."""
    stored = {i for _, _, i in await pg_rows(dsn, rooms)}
    missing = [a for a in acks if a["id"] not in stored]
    dead = await redis.xlen("kindred:commits:dead")
    summary: Any = await redis.xpending(COMMITS, GROUP)
    return (
        f"{len(stored)} rows, {len(missing)} acked messages missing "
        f"(e.g. {[(a['room'], a['seq']) for a in missing[:10]]}); commits stream length "
        f"{await redis.xlen(COMMITS)}, pending {summary}, consumers {await consumers(redis)}, "
        f"set aside {dead}"
    )


async def pg_rows(dsn: str, rooms: list[str]) -> list[Row]:
    conn = await asyncpg.connect(dsn)
    try:
        recs = await conn.fetch("SELECT room, seq, id FROM messages WHERE room = ANY($1::text[])", rooms)
    finally:
        await conn.close()
    return [(r["room"], int(r["seq"]), r["id"]) for r in recs]


async def pg_count(dsn: str, rooms: list[str]) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        n = await conn.fetchval("SELECT count(*) FROM messages WHERE room = ANY($1::text[])", rooms)
    finally:
        await conn.close()
    return int(n)


async def pg_duplicates(dsn: str, rooms: list[str]) -> list[Any]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(
            await conn.fetch(
                "SELECT room, seq, count(*) FROM messages WHERE room = ANY($1::text[]) "
                "GROUP BY room, seq HAVING count(*) > 1",
                rooms,
            )
        )
    finally:
        await conn.close()


def sqlite_rows(db_path: Path, rooms: list[str]) -> list[tuple[str, int, str, str]]:
    """(room, seq, id, cid) of the rooms' stored messages, read directly from the file."""
    marks = ",".join("?" * len(rooms))
    conn = sqlite3.connect(db_path, timeout=30)
    try:
        cur = conn.execute(f"SELECT room, seq, id, cid FROM messages WHERE room IN ({marks})", rooms)
        return [(str(r), int(s), str(i), str(c)) for r, s, i, c in cur.fetchall()]
    finally:
        conn.close()


def assert_contiguous(rows: list[Row], rooms: list[str]) -> dict[str, int]:
    """Per room the stored seqs are exactly 1..N; returns N per room."""
    heads: dict[str, int] = {}
    for room in rooms:
        seqs = sorted(seq for r, seq, _ in rows if r == room)
        assert seqs == list(range(1, len(seqs) + 1)), f"{room}: seqs not 1..N: {_holes(seqs)}"
        heads[room] = len(seqs)
    return heads


def _holes(seqs: list[int]) -> str:
    dup = sorted({s for s in seqs if seqs.count(s) > 1})
    missing = sorted(set(range(1, (max(seqs) if seqs else 0) + 1)) - set(seqs))
    return f"duplicated {dup[:20]}, missing {missing[:20]}, count {len(seqs)}"


def assert_rows_match_acks(rows: list[Row], acks: list[dict[str, Any]], rooms: list[str]) -> None:
    """The table holds exactly the acknowledged messages, each once, at its acked place."""
    by_id = {a["id"]: (a["room"], a["seq"]) for a in acks}
    ids = [i for _, _, i in rows]
    assert len(ids) == len(set(ids)), "a message id is stored twice"
    assert len(rows) == len(by_id), f"{len(rows)} rows for {len(by_id)} acknowledged messages"
    missing = set(by_id) - set(ids)
    extra = set(ids) - set(by_id)
    assert not missing and not extra, f"{len(missing)} acked not stored, {len(extra)} stored not acked"
    for room, seq, mid in rows:
        assert by_id[mid] == (room, seq), f"{mid} stored at {(room, seq)}, acked as {by_id[mid]}"
    assert_contiguous(rows, rooms)


async def connect_members(
    dep: Deployment, members: list[Member], rooms: list[str]
) -> list[Client]:
    """Member i on gateway i % n, joined to rooms[i % len(rooms)]."""
    clients: list[Client] = []
    for i, m in enumerate(members):
        c = await Client.connect(dep.gateways[i % len(dep.gateways)].ws_url, m.token)
        clients.append(c)
        await c.join(rooms[i % len(rooms)])
    return clients


async def paced_posts(
    client: Client, room: str, prefix: str, count: int, interval_s: float
) -> list[dict[str, Any]]:
    """``count`` posts, one at a time, each acked before the next; paced by ``interval_s``."""
    acks: list[dict[str, Any]] = []
    for i in range(count):
        ack = await client.post(room, f"{prefix} message {i}", cid=f"{prefix}-{i}")
        assert ack["type"] == "ack", ack
        acks.append(ack)
        await asyncio.sleep(interval_s)
    return acks


Frames = list[dict[str, Any]]


def has_messages(client: Client, room: str, n: int) -> Callable[[Frames], bool]:
    return lambda frames: len(client.messages(room)) >= n


def has_seq(client: Client, room: str, seq: int) -> Callable[[Frames], bool]:
    return lambda frames: any(m["seq"] == seq for m in client.messages(room))


def has_ack(cid: str) -> Callable[[Frames], bool]:
    return lambda frames: any(f.get("cid") == cid and f.get("type") == "ack" for f in frames)


async def close_all(clients: list[Client]) -> None:
    for c in clients:
        await c.close()


# --------------------------------------------------------------------------- 1. writer killed
