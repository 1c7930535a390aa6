"""Transcripts under faults: every acknowledged message ends up in the database exactly once.

Four crashes, each counting every message:

1. a standalone ``kindred writer`` SIGKILLed while it holds entries it has read but not
   committed (PostgreSQL + Redis): a new writer process claims them after the idle time;
2. PostgreSQL stopped for 30 s while members chat (writer inside ``kindred serve``): sends
   are still acknowledged and delivered, and the backlog is written once it is back;
3. redis-server SIGKILLed and restarted from its AOF while members chat: senders retry the
   same cid until acknowledged, and the table ends up with one row per acknowledged message;
4. embedded mode (SQLite): the server SIGKILLed right after an ack; after a restart every
   acknowledged message is stored, seqs continue, and a resume from 0 replays the database.

Each test has its own rooms (``Deployment.new_org``) and compares the acks the clients
received with the rows of those rooms only. redis-server and PostgreSQL are this module's own
(they are killed and stopped here); tests 1-3 share them and one prepared database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import msgpack
import pytest
import websockets
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from support.client import Client
from support.cluster import Deployment, Member
from support.procs import TIMEOUT_SCALE, Gateway, Postgres, RedisServer
from support.writer import WriterProcess, eventually

COMMITS = "kindred:commits"
GROUP = "writers"

# (room, seq, id) of one stored message.
Row = tuple[str, int, str]


class FaultClient(Client):
    """``support.client.Client`` whose reader notices a closed socket.

    The shared client reads ``ws.close_rcvd`` once the socket closes, which websockets 17's
    asyncio ``ClientConnection`` does not have: its reader task dies with AttributeError,
    ``close_code`` stays None and every waiter hangs until its deadline instead of raising
    ConnectionError. These tests close sockets on purpose (server SIGKILL), so they read
    the close from ``ws.close_code`` / ``ws.close_reason`` instead.
    """

    async def _read(self) -> None:
        try:
            async for data in self.ws:
                frame = msgpack.unpackb(data, raw=False) if isinstance(data, bytes) else json.loads(data)
                async with self._changed:
                    self.frames.append(frame)
                    self._changed.notify_all()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code or 1006
            self.close_reason = self.ws.close_reason or ""
            async with self._changed:
                self._changed.notify_all()


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
        try:
            _start_all(gws)
        except BaseException:
            dep.stop()
            raise
        return dep


def _start_all(gateways: list[Gateway]) -> None:
    """Start gateways concurrently (each start blocks until /healthz answers)."""
    errors: list[BaseException] = []

    def start(gw: Gateway) -> None:
        try:
            gw.start()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(gw,)) for gw in gateways]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


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
        c = await FaultClient.connect(dep.gateways[i % len(dep.gateways)].ws_url, m.token)
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


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.postgres
async def test_writer_sigkilled_with_entries_pending_is_taken_over(infra: Infra) -> None:
    """A standalone writer is SIGKILLed while blocked in its INSERT, i.e. with entries it has
    read from the group but not committed (pending under its consumer name). A new writer
    process (another pid, so another consumer name) takes them over with XAUTOCLAIM after
    KINDRED_WRITER_CLAIM_IDLE_S and the table holds exactly the 600 acked messages."""
    per_client, n_clients = 100, 6
    total = per_client * n_clients
    dep = infra.gateways("t1", 2, {"KINDRED_RUN_WRITER": "false"})
    writer_env = {**dep.env, "KINDRED_WRITER_CLAIM_IDLE_S": "2"}
    w1 = WriterProcess(writer_env, dep.workdir, "t1-writer1")
    w2 = WriterProcess(writer_env, dep.workdir, "t1-writer2")
    redis = Redis.from_url(infra.redis.url)
    clients: list[Client] = []
    posting: asyncio.Future[list[list[dict[str, Any]]]] | None = None
    lock: Any = None
    claiming: asyncio.Task[float] | None = None
    try:
        name, phrase, rooms = dep.new_org()
        members = [dep.register(org=(name, phrase), gateway=i % 2) for i in range(n_clients)]
        clients = await connect_members(dep, members, rooms)
        w1.start()
        await eventually(
            lambda: _has_consumer(redis, w1.consumer), 20, "writer 1 reading the commits stream"
        )
        posting = asyncio.gather(
            *(
                paced_posts(c, rooms[i % 3], f"t1c{i}", per_client, 0.03)
                for i, c in enumerate(clients)
            )
        )

        async def some_rows() -> bool:
            return await pg_count(infra.pg.dsn, rooms) >= 60

        await eventually(some_rows, 20, "writer 1 committed some rows")
        # Hold the table so the writer's next INSERT waits: it then has entries read from
        # the group (pending under its name) and not committed when it is killed.
        lock = await asyncpg.connect(infra.pg.dsn)
        tx = lock.transaction()
        await tx.start()
        await lock.execute("LOCK TABLE messages IN EXCLUSIVE MODE")

        async def blocked_with_pending() -> bool:
            waiting = await lock.fetchval(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE c.relname = 'messages' AND NOT l.granted"
            )
            return bool(waiting) and (await consumers(redis)).get(w1.consumer, 0) > 0

        await eventually(blocked_with_pending, 20, "writer 1 blocked in INSERT with pending entries")
        pending_at_kill = (await consumers(redis))[w1.consumer]
        rows_at_kill = await pg_count(infra.pg.dsn, rooms)
        w1.kill()
        killed_at = time.monotonic()
        await tx.rollback()
        await lock.close()
        lock = None
        assert 0 < rows_at_kill < total
        assert pending_at_kill > 0

        w2.start()
        assert w2.consumer != w1.consumer

        async def dead_writer_emptied() -> bool:
            return (await consumers(redis)).get(w1.consumer, 0) == 0

        claiming = asyncio.create_task(
            eventually(dead_writer_emptied, 30, "the dead writer's entries claimed")
        )
        acks = [a for batch in await posting for a in batch]
        posted_at = time.monotonic()
        assert len(acks) == total and len({a["id"] for a in acks}) == total

        async def all_rows() -> bool:
            return await pg_count(infra.pg.dsn, rooms) >= total

        await eventually(all_rows, 30, f"{total} rows")
        done_at = time.monotonic()
        await eventually(lambda: commits_drained(redis), 10, "commits stream drained")
        rows = await pg_rows(infra.pg.dsn, rooms)
        assert_rows_match_acks(rows, acks, rooms)
        assert await pg_duplicates(infra.pg.dsn, rooms) == []
        claimed_s = await claiming
        left = await consumers(redis)
        assert left.get(w1.consumer, 0) == 0, f"dead writer's entries never claimed: {left}"
        assert "took over" in w2.log_text(), w2.log_text()[-2000:]
        print(
            f"\n[writer kill] rows at kill {rows_at_kill}/{total}, pending in dead writer "
            f"{pending_at_kill}, claimed by the new writer {claimed_s:.2f}s after it started "
            f"(claim idle 2 s); all {total} rows {done_at - killed_at:.2f}s after the kill "
            f"({done_at - posted_at:.2f}s after the last ack)"
        )
    finally:
        if posting is not None and not posting.done():
            posting.cancel()
            with contextlib.suppress(BaseException):
                await posting
        if claiming is not None and not claiming.done():
            claiming.cancel()
        if lock is not None:
            await lock.close()
        w1.kill()
        w2.kill()
        await close_all(clients)
        await redis.aclose()
        dep.stop()


async def _has_consumer(redis: Redis, name: str) -> bool:
    return name in await consumers(redis)


# --------------------------------------------------------------------------- 2. database away


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.postgres
async def test_database_stopped_30s_chat_goes_on_and_backlog_is_written(infra: Infra) -> None:
    """PostgreSQL stopped for 30 s under connected clients posting ~10 msg/s: every send is
    acknowledged and delivered to the room; after PostgreSQL is back the writer inside
    ``kindred serve`` writes the backlog and the rows are exactly the acks."""
    outage_s, rate, n_clients = 30.0, 10.0, 6
    dep = infra.gateways("t2", 2)
    redis = Redis.from_url(infra.redis.url)
    clients: list[Client] = []
    acks: list[dict[str, Any]] = []
    latencies: list[tuple[float, float]] = []  # (sent at, ack latency)
    pending: set[asyncio.Task[None]] = set()
    catching_up: asyncio.Task[float] | None = None
    try:
        name, phrase, rooms = dep.new_org()
        members = [dep.register(org=(name, phrase), gateway=i % 2) for i in range(n_clients)]
        clients = await connect_members(dep, members, rooms)
        n = 0

        async def post_one(i: int) -> None:
            c = clients[i % n_clients]
            sent = time.monotonic()
            ack = await c.post(rooms[i % 3], f"t2 message {i}", cid=f"t2-{i}", timeout_s=5)
            assert ack["type"] == "ack", ack
            latencies.append((sent, time.monotonic() - sent))
            acks.append(ack)

        async def post_for(seconds: float) -> None:
            nonlocal n
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                task = asyncio.create_task(post_one(n))
                pending.add(task)
                task.add_done_callback(pending.discard)
                n += 1
                await asyncio.sleep(1 / rate)

        await post_for(2)
        await asyncio.gather(*pending)
        before = len(acks)

        async def caught_up() -> bool:
            return await pg_count(infra.pg.dsn, rooms) == len(acks)

        await eventually(caught_up, 15, "rows written before the outage")
        stopping = asyncio.create_task(asyncio.to_thread(infra.pg.stop))
        down_at = time.monotonic()
        await post_for(outage_s)
        await stopping
        await asyncio.gather(*pending)
        during = len(acks) - before
        await asyncio.to_thread(infra.pg.start)
        up_at = time.monotonic()
        backlog = before + during

        async def backlog_written() -> bool:
            return await pg_count(infra.pg.dsn, rooms) >= backlog

        # Timed from PostgreSQL accepting connections, while the chat goes on.
        catching_up = asyncio.create_task(
            eventually(backlog_written, 60, f"the {backlog} rows acked until the restart")
        )
        await post_for(2)
        await asyncio.gather(*pending)
        total = len(acks)
        assert total == n, f"{n} posted, {total} acked"
        assert during >= 0.8 * outage_s * rate, f"only {during} acks while the database was down"
        outage_latency = max(lat for sent, lat in latencies if down_at <= sent < up_at)

        catch_up = await catching_up
        await eventually(caught_up, 60, f"{total} rows after the database came back")
        rows = await pg_rows(infra.pg.dsn, rooms)
        assert_rows_match_acks(rows, acks, rooms)
        assert await pg_duplicates(infra.pg.dsn, rooms) == []
        await eventually(lambda: commits_drained(redis), 10, "commits stream drained")

        # Chat went on: each client received every message of its room, in order, once.
        for i, c in enumerate(clients):
            room = rooms[i % 3]
            want = sorted(a["seq"] for a in acks if a["room"] == room)
            await c.wait_until(has_messages(c, room, len(want)), 10, f"client {i}: {len(want)} messages")
            assert [m["seq"] for m in c.messages(room)] == want
            assert c.close_code is None, "a socket was closed during the outage"
        print(
            f"\n[database outage] {before} acks before, {during} during {outage_s:.0f}s down "
            f"(max ack latency while down {outage_latency * 1000:.0f} ms), {total} in all; "
            f"the {during} rows acked during the outage were written {catch_up:.2f}s after "
            f"PostgreSQL accepted connections again (~{during / max(catch_up, 1e-3):.0f} rows/s "
            f"including the writer's retry backoff of up to 2 s)"
        )
    finally:
        for task in list(pending):
            task.cancel()
        if catching_up is not None and not catching_up.done():
            catching_up.cancel()
        if not infra.pg.running:
            await asyncio.to_thread(infra.pg.start)
        await close_all(clients)
        await redis.aclose()
        dep.stop()


# --------------------------------------------------------------------------- 3. redis killed


@dataclass
class RetryingSender:
    """Posts ``count`` messages to one room, each retried with the same cid (reconnecting
    and re-joining as needed) until acknowledged."""

    url: str
    token: str
    room: str
    prefix: str
    count: int
    interval_s: float
    acks: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    clients: list[Client] = field(default_factory=list)
    _client: Client | None = None

    async def _connected(self) -> Client:
        if self._client is not None and self._client.close_code is None:
            return self._client
        self._client = None
        c = await FaultClient.connect(self.url, self.token)
        self.clients.append(c)
        await c.join(self.room, timeout_s=5)
        self._client = c
        return c

    async def run(self) -> None:
        for i in range(self.count):
            cid = f"{self.prefix}-{i}"
            backoff = 0.05
            while True:
                try:
                    c = await self._connected()
                    result = await c.post(self.room, f"{self.prefix} message {i}", cid, timeout_s=3)
                except (
                    ConnectionError, AssertionError, OSError, TimeoutError,
                    websockets.ConnectionClosed, websockets.InvalidStatus,
                ) as exc:
                    self.failures.append(type(exc).__name__)
                    if self._client is not None:
                        await self._client.close()
                        self._client = None
                else:
                    if result["type"] == "ack":
                        self.acks.append(result)
                        break
                    assert result.get("code") == "unavailable", result
                    self.failures.append("unavailable")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 0.5)
            await asyncio.sleep(self.interval_s)

    async def close(self) -> None:
        await close_all(self.clients)


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.postgres
async def test_redis_sigkilled_and_restarted_every_acked_message_stored_once(infra: Infra) -> None:
    """redis-server is SIGKILLed a third of the way through and restarted from its AOF while
    6 senders post; they retry the same cid until acked. The table ends with one row per
    acknowledged message, in gap-free seqs, the duplicate acks agreeing with the first."""
    per_sender, n_senders = 80, 6
    dep = infra.gateways("t3", 2)
    redis = Redis.from_url(infra.redis.url)
    senders: list[RetryingSender] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        name, phrase, rooms = dep.new_org()
        members = [dep.register(org=(name, phrase), gateway=i % 2) for i in range(n_senders)]
        senders = [
            RetryingSender(dep.gateways[i % 2].ws_url, m.token, rooms[i % 3], f"t3s{i}", per_sender, 0.03)
            for i, m in enumerate(members)
        ]
        tasks = [asyncio.create_task(s.run()) for s in senders]
        total = per_sender * n_senders

        async def third_acked() -> bool:
            return sum(len(s.acks) for s in senders) >= total // 3

        await eventually(third_acked, 30, "a third of the messages acked")
        acked_at_kill = sum(len(s.acks) for s in senders)
        await asyncio.to_thread(infra.redis.kill)
        down_at = time.monotonic()

        async def everyone_failed() -> bool:
            # The outage is seen by every sender still posting (and lasts at least 2 s).
            return time.monotonic() - down_at >= 2 and all(
                s.failures or len(s.acks) == s.count for s in senders
            )

        await eventually(everyone_failed, 20, "every sender saw the outage")
        await asyncio.to_thread(infra.redis.restart)
        up_at = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*tasks), 60 * TIMEOUT_SCALE)
        all_acked_at = time.monotonic()

        acks = [a for s in senders for a in s.acks]
        assert len(acks) == total
        # Every ack ever received for a cid (first tries, retries, late answers) agrees.
        by_cid: dict[tuple[int, str], tuple[str, int]] = {}
        for k, s in enumerate(senders):
            for c in s.clients:
                for f in c.frames:
                    if f.get("type") == "ack":
                        place = (f["id"], f["seq"])
                        assert by_cid.setdefault((k, f["cid"]), place) == place, f
        ids = {a["id"] for a in acks}
        assert len(ids) == total

        async def all_rows() -> bool:
            return await pg_count(infra.pg.dsn, rooms) >= len(ids)

        try:
            await eventually(all_rows, 30, f"{len(ids)} rows")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}: {await diagnose(redis, infra.pg.dsn, rooms, acks)}") from None
        rows_at = time.monotonic()
        rows = await pg_rows(infra.pg.dsn, rooms)
        assert_rows_match_acks(rows, acks, rooms)
        assert await pg_duplicates(infra.pg.dsn, rooms) == []
        await eventually(lambda: commits_drained(redis), 10, "commits stream drained")
        failures = [f for s in senders for f in s.failures]
        print(
            f"\n[redis kill] killed after {acked_at_kill}/{total} acks, down "
            f"{up_at - down_at:.1f}s, {len(failures)} failed attempts retried "
            f"({', '.join(sorted(set(failures)))}); all acked {all_acked_at - up_at:.1f}s "
            f"after the restart, rows == acks {rows_at - up_at:.1f}s after it"
        )
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        if not infra.redis.running:
            await asyncio.to_thread(infra.redis.restart)
        for s in senders:
            await s.close()
        await redis.aclose()
        dep.stop()


# --------------------------------------------------------------------------- 4. embedded


async def pipelined_posts(
    client: Client, room: str, prefix: str, count: int, window: int, on_ack: Callable[[], None]
) -> list[str]:
    """Send up to ``window`` posts ahead of their acks; stop when the socket closes.
    Returns the cids sent (acked or not)."""
    sent: list[str] = []
    try:
        for i in range(count):
            if i >= window:
                await client.wait_until(has_ack(sent[i - window]), 10, f"ack {sent[i - window]}")
                on_ack()
            cid = f"{prefix}-{i}"
            await client.send({"type": "send", "room": room, "body": f"{prefix} message {i}", "cid": cid})
            sent.append(cid)
    except (ConnectionError, websockets.ConnectionClosed):
        pass
    return sent


@pytest.mark.slow
async def test_embedded_sigkill_after_ack_keeps_every_acked_message(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Embedded mode: 6 senders pipeline posts; the server is SIGKILLed right after the
    150th ack. After a restart on the same data dir every acknowledged message is in SQLite,
    seqs are gap-free and continue, a send retried with an unacked cid is stored once, and a
    join with since=0 replays every stored message from the database in order, once."""
    n_senders, kill_after = 6, 150
    dep = Deployment.start(tmp_path_factory.mktemp("faults-embedded"), count=1)
    gw = dep.gateways[0]
    db_path = Path(dep.env["KINDRED_DATA_DIR"]) / "kindred.db"
    clients: list[Client] = []
    try:
        name, phrase, rooms = dep.new_org()
        members = [dep.register(org=(name, phrase)) for _ in range(n_senders)]
        clients = await connect_members(dep, members, rooms)
        seen = 0
        killed_at_ack = 0

        def on_ack() -> None:
            nonlocal seen, killed_at_ack
            seen += 1
            if seen == kill_after:
                gw.kill()  # SIGKILL, in the same event-loop step as the ack was seen
                killed_at_ack = seen

        sent = await asyncio.wait_for(
            asyncio.gather(
                *(
                    pipelined_posts(c, rooms[i % 3], f"t4s{i}", 1000, 8, on_ack)
                    for i, c in enumerate(clients)
                )
            ),
            60 * TIMEOUT_SCALE,
        )
        assert killed_at_ack == kill_after and not gw.running
        for c in clients:  # every frame the dead server had written is read by now
            await c.wait_closed(10)
        acks = [f for c in clients for f in c.frames if f.get("type") == "ack"]
        errors = [f for c in clients for f in c.frames if f.get("type") == "error"]
        assert errors == []
        assert len(acks) >= kill_after

        stored = sqlite_rows(db_path, rooms)
        stored_ids = {i for _, _, i, _ in stored}
        missing = [a for a in acks if a["id"] not in stored_ids]
        assert missing == [], f"{len(missing)} acknowledged messages lost: {missing[:5]}"
        places = {i: (r, s) for r, s, i, _ in stored}
        assert all(places[a["id"]] == (a["room"], a["seq"]) for a in acks)
        heads = assert_contiguous([(r, s, i) for r, s, i, _ in stored], rooms)
        acked_cids = {(k, f["cid"]) for k, c in enumerate(clients) for f in c.frames if f.get("type") == "ack"}
        unacked = [(k, cid) for k, cids in enumerate(sent) for cid in cids if (k, cid) not in acked_cids]
        stored_by_cid = {cid: i for _, _, i, cid in stored}
        committed_unacked = [x for x in unacked if x[1] in stored_by_cid]
        await close_all(clients)
        clients = []

        started = time.monotonic()
        await asyncio.to_thread(gw.start)
        restart_s = time.monotonic() - started
        clients = await connect_members(dep, members, rooms)
        # Seqs continue after the restart: a new post gets the stored head + 1.
        for k in range(3):
            room = rooms[k]
            ack = await clients[k].post(room, "after the restart", cid="t4-after")
            assert ack["type"] == "ack" and ack["seq"] == heads[room] + 1, (ack, heads[room])
            acks.append(ack)
        # Sends that were in flight are retried with their cid: those already committed are
        # acknowledged as duplicates of the stored row, the others are posted now.
        for k, cid in unacked:
            room = rooms[k % 3]
            ack = await clients[k].post(room, "retried", cid=cid)
            assert ack["type"] == "ack", ack
            if cid in stored_by_cid:
                assert ack.get("duplicate") is True and ack["id"] == stored_by_cid[cid], ack
            acks.append(ack)
        final = sqlite_rows(db_path, rooms)
        final_rows = [(r, s, i) for r, s, i, _ in final]
        assert_rows_match_acks(final_rows, acks, rooms)

        # A member joining with since=0 gets every stored message, in order, exactly once.
        reader = await FaultClient.connect(gw.ws_url, members[0].token)
        clients.append(reader)
        for room in rooms:
            await reader.join(room, since=0)
        marks: dict[str, int] = {}
        for k, room in enumerate(rooms):
            marks[room] = (await clients[k].post(room, "marker", cid="t4-marker"))["seq"]
        for room in rooms:
            await reader.wait_until(has_seq(reader, room, marks[room]), 10, f"marker in {room}")
            got = [(m["seq"], m["id"]) for m in reader.messages(room)]
            want = sorted((s, i) for r, s, i in final_rows if r == room)
            assert got[:-1] == want, f"{room}: replay differs from the database"
            assert got[-1][0] == marks[room] == len(want) + 1
        print(
            f"\n[embedded kill] killed after ack #{kill_after}; {len(acks) - 3 - len(unacked)} "
            f"acks received in all before the kill, {len(unacked)} sends unacked "
            f"({len(committed_unacked)} of them committed, acked as duplicates on retry); "
            f"restart {restart_s:.1f}s; {len(final)} rows replayed from since=0"
        )
    finally:
        await close_all(clients)
        dep.stop()
