"""Embedded mode on PostgreSQL: one process, no Redis, `KINDRED_DATABASE_URL` set.

The embedded store commits on its own SQLite thread when the database is a SQLite file
(persistence/sqlite_writer.py); on PostgreSQL it takes the SQLAlchemy path. This is the
only test of that path: posts from several members at once are each stored once at their
acknowledged place, seqs carry on after a restart, and a join from 0 replays them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.client import Client
from support.cluster import Deployment
from support.procs import TIMEOUT_SCALE, Postgres
from support.transcripts import (
    assert_rows_match_acks,
    close_all,
    connect_members,
    has_seq,
    paced_posts,
    pg_rows,
)


@pytest.fixture(scope="module")
def embedded_pg(tmp_path_factory: pytest.TempPathFactory, postgres: Postgres) -> Iterator[Deployment]:
    postgres.reset_database()
    dep = Deployment.start(
        tmp_path_factory.mktemp("embedded-pg"), count=1, extra_env={"KINDRED_DATABASE_URL": postgres.url}
    )
    yield dep
    dep.stop()


async def test_posts_are_stored_once_and_seqs_survive_a_restart(
    embedded_pg: Deployment, postgres: Postgres
) -> None:
    dep, gw = embedded_pg, embedded_pg.gateways[0]
    assert "KINDRED_REDIS_URL" not in dep.env
    assert not (Path(dep.env["KINDRED_DATA_DIR"]) / "kindred.db").exists()  # not SQLite
    name, phrase, rooms = dep.new_org()
    members = [dep.register(org=(name, phrase)) for _ in range(6)]
    clients = await connect_members(dep, members, rooms)
    try:
        # Two members a room post at once, so the store sees batches of more than one row.
        batches = await asyncio.wait_for(
            asyncio.gather(
                *(paced_posts(c, rooms[i % 3], f"pg{i}", 40, 0) for i, c in enumerate(clients))
            ),
            60 * TIMEOUT_SCALE,
        )
        acks = [a for batch in batches for a in batch]
        assert len(acks) == 240
        assert_rows_match_acks(await pg_rows(postgres.dsn, rooms), acks, rooms)
    finally:
        await close_all(clients)

    gw.kill()
    await asyncio.to_thread(gw.start)
    clients = await connect_members(dep, members, rooms)
    try:
        for k in range(3):
            ack = await clients[k].post(rooms[k], "after the restart", cid="pg-after")
            assert ack["seq"] == 81, ack  # 2 members x 40 before it, in each room
            acks.append(ack)
        assert_rows_match_acks(await pg_rows(postgres.dsn, rooms), acks, rooms)
        reader = await Client.connect(gw.ws_url, members[0].token)
        clients.append(reader)
        for room in rooms:
            await reader.join(room, since=0)
        for room in rooms:
            await reader.wait_until(has_seq(reader, room, 81), 10, f"the replay of {room}")
            assert [m["seq"] for m in reader.messages(room)] == list(range(1, 82))
    finally:
        await close_all(clients)
