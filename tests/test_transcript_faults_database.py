"""Transcripts under faults, the database away: PostgreSQL stopped for 30 s while members
chat (writer inside ``kindred serve``): sends are still acknowledged and delivered, and the
backlog is written once it is back, each acknowledged message exactly once. redis-server and
PostgreSQL are this module's own (support/transcripts.py).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from redis.asyncio import Redis

from support.client import Client
from support.transcripts import (
    Infra,
    assert_rows_match_acks,
    close_all,
    commits_drained,
    connect_members,
    has_messages,
    pg_count,
    pg_duplicates,
    pg_rows,
)
from support.writer import eventually


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
