"""History pages across a message that is not stored yet (chat_server/history.py).

In the Redis mode the writers share the commits stream, so a room's later message can be
stored before an earlier one another writer took; a page read in between saw the later rows
and skipped the earlier one for good (found by a fresh-clone run: a page of 25 messages with
seq 19 missing). Here the missing row is made by hand, in both modes: the row is taken out
of the database and put back as a late writer would."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from persistence.transcripts_postgres import COLUMNS
from support.client import Client
from support.cluster import Deployment, Member
from support.deployment_sql import sql
from support.moderation import api
from support.procs import TIMEOUT_SCALE

GAP_WAIT_S = 1.0  # chat_server.history.GAP_WAIT_S
_NAMES = ", ".join(COLUMNS)


async def _room_with(dep: Deployment, n: int) -> tuple[str, Member]:
    """A fresh local room with ``n`` messages, all of them stored."""
    name, phrase, (room, _, _) = dep.new_org()
    member = dep.register(org=(name, phrase))
    c = await Client.connect(dep.gateways[0].ws_url, member.token)
    try:
        await c.join(room)
        for i in range(n):
            await c.post(room, f"message {i + 1}", cid=f"g{i}")
    finally:
        await c.close()
    deadline = time.monotonic() + 15 * TIMEOUT_SCALE
    while (await sql(dep, "SELECT count(*) FROM messages WHERE room = ?", room))[0][0] < n:
        assert time.monotonic() < deadline, "the messages were not stored"
        await asyncio.sleep(0.05)
    return room, member


async def _take_out(dep: Deployment, room: str, seq: int) -> tuple[Any, ...]:
    (row,) = await sql(dep, f"SELECT {_NAMES} FROM messages WHERE room = ? AND seq = ?", room, seq)
    await sql(dep, "DELETE FROM messages WHERE room = ? AND seq = ?", room, seq)
    return row


async def _put_back(dep: Deployment, row: tuple[Any, ...]) -> None:
    marks = ", ".join("?" * len(COLUMNS))
    await sql(dep, f"INSERT INTO messages ({_NAMES}) VALUES ({marks})", *row)


async def _page(dep: Deployment, m: Member, room: str, **params: Any) -> dict[str, Any]:
    r = await api(dep, "GET", f"/api/rooms/{room}/messages", m.token, params=params)
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def _seqs(page: dict[str, Any]) -> list[int]:
    return [m["seq"] for m in page["messages"]]


async def test_a_page_waits_for_a_message_stored_late(deployment: Deployment) -> None:
    dep = deployment
    room, member = await _room_with(dep, 12)
    row = await _take_out(dep, room, 6)

    async def late_writer() -> None:
        await asyncio.sleep(0.3)
        await _put_back(dep, row)

    writer = asyncio.create_task(late_writer())
    page = await _page(dep, member, room, limit=10)
    await writer
    assert _seqs(page) == list(range(12, 2, -1))
    assert page["next_before"] == 3


async def test_a_seq_still_missing_ends_the_page_and_the_next_page_covers_it(deployment: Deployment) -> None:
    dep = deployment
    room, member = await _room_with(dep, 12)
    row = await _take_out(dep, room, 6)
    started = time.monotonic()
    first = await _page(dep, member, room, limit=10)
    assert time.monotonic() - started >= GAP_WAIT_S  # it waited before giving up
    # Nothing below the missing seq: the cursor stops above it.
    assert _seqs(first) == [12, 11, 10, 9, 8, 7]
    assert first["next_before"] == 7
    await _put_back(dep, row)  # stored by the time the next page is asked for
    second = await _page(dep, member, room, before=first["next_before"], limit=10)
    assert _seqs(second) == [6, 5, 4, 3, 2, 1]
    assert second["next_before"] is None


async def test_an_old_gap_is_read_past_without_waiting(deployment: Deployment) -> None:
    """A seq missing among messages posted long ago will not come (a row the database refused
    for good): the page does not wait for it."""
    dep = deployment
    room, member = await _room_with(dep, 12)
    await _take_out(dep, room, 6)
    await sql(dep, "UPDATE messages SET created_ms = created_ms - 3600000 WHERE room = ?", room)
    started = time.monotonic()
    page = await _page(dep, member, room, limit=10)
    assert time.monotonic() - started < GAP_WAIT_S
    assert _seqs(page) == [12, 11, 10, 9, 8, 7, 5, 4, 3, 2]
    assert page["next_before"] == 2
