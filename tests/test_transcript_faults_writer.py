"""Transcripts under faults, the writer killed: a standalone ``kindred writer`` SIGKILLed
while it holds entries it has read but not committed (PostgreSQL + Redis) is taken over by a
new writer process, which claims them after the idle time; every acknowledged message ends up
in the database exactly once. redis-server and PostgreSQL are this module's own
(support/transcripts.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from support.client import Client
from support.transcripts import (
    Infra,
    assert_rows_match_acks,
    close_all,
    commits_drained,
    connect_members,
    consumers,
    paced_posts,
    pg_count,
    pg_duplicates,
    pg_rows,
)
from support.writer import WriterProcess, eventually


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

