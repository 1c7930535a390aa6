"""History pages across a message that is not stored yet (chat_server/history.py).

In the Redis mode the writers share the commits stream, so a room's later message can be
stored before an earlier one another writer took; a page read in between skipped the earlier
one for good (found by a fresh-clone run: a page of 25 messages with seq 19 missing). Here the
missing row is made by hand: taken out of the database and put back as a late writer would.
The wait is 3 s in these deployments (1 s by default), so that a row put back after 0.3 s is
inside it however loaded the machine is."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from persistence.transcripts_postgres import COLUMNS
from support.client import Client
from support.cluster import Deployment, Member, deployment_in_mode
from support.deployment_sql import sql
from support.moderation import api

WAIT_S = 3.0
_NAMES = ", ".join(COLUMNS)


@pytest.fixture(scope="module", params=["redis"])
def redis_gaps(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    yield from deployment_in_mode(request, tmp_path_factory, "gaps", {"KINDRED_HISTORY_GAP_WAIT_S": str(WAIT_S)})


async def _post(dep: Deployment, room: str, authors: list[Member], n: int) -> None:
    """``n`` messages to ``room``, the authors taking turns; returns once all are stored."""
    clients = [await Client.connect(dep.gateways[i % len(dep.gateways)].ws_url, m.token)
               for i, m in enumerate(authors)]
    try:
        for c in clients:
            await c.join(room)
        for i in range(n):
            await clients[i % len(clients)].post(room, f"message {i + 1}", cid=f"g{i}")
    finally:
        for c in clients:
            await c.close()
    deadline = time.monotonic() + 15
    while (await sql(dep, "SELECT count(*) FROM messages WHERE room = ?", room))[0][0] < n:
        assert time.monotonic() < deadline, "the messages were not stored"
        await asyncio.sleep(0.05)


async def _room_with(dep: Deployment, n: int, authors: int = 1) -> tuple[str, list[Member]]:
    """A fresh local room with ``n`` stored messages; its members: the authors, then a reader."""
    name, phrase, (room, _, _) = dep.new_org()
    members = [dep.register(org=(name, phrase)) for _ in range(authors + 1)]
    await _post(dep, room, members[:authors], n)
    return room, members


async def _take_out(dep: Deployment, room: str, seq: int) -> tuple[Any, ...]:
    (row,) = await sql(dep, f"SELECT {_NAMES} FROM messages WHERE room = ? AND seq = ?", room, seq)
    await sql(dep, "DELETE FROM messages WHERE room = ? AND seq = ?", room, seq)
    return row


async def _put_back_after(dep: Deployment, row: tuple[Any, ...], delay_s: float) -> None:
    await asyncio.sleep(delay_s)
    marks = ", ".join("?" * len(COLUMNS))
    await sql(dep, f"INSERT INTO messages ({_NAMES}) VALUES ({marks})", *row)


async def _page(dep: Deployment, m: Member, room: str, **params: Any) -> dict[str, Any]:
    r = await api(dep, "GET", f"/api/rooms/{room}/messages", m.token, params=params)
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


async def _timed_page(dep: Deployment, m: Member, room: str, **params: Any) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    page = await _page(dep, m, room, **params)
    return page, time.monotonic() - started


def _seqs(page: dict[str, Any]) -> list[int]:
    return [m["seq"] for m in page["messages"]]


READ_PAST = [12, 11, 10, 9, 8, 7, 5, 4, 3, 2]  # a page of 10 over 12 messages without seq 6


async def test_a_page_waits_for_a_message_stored_late(redis_gaps: Deployment) -> None:
    dep = redis_gaps
    room, (member, _) = await _room_with(dep, 12)
    row = await _take_out(dep, room, 6)
    writer = asyncio.create_task(_put_back_after(dep, row, 0.3))
    page = await _page(dep, member, room, limit=10)
    await writer
    assert _seqs(page) == list(range(12, 2, -1))
    assert page["next_before"] == 3


async def test_a_message_missing_just_below_the_previous_page_is_waited_for(redis_gaps: Deployment) -> None:
    """The gap at a page's edge: the first page ends at 8; 7 is late when the next is asked."""
    dep = redis_gaps
    room, (member, _) = await _room_with(dep, 12)
    first = await _page(dep, member, room, limit=5)
    assert _seqs(first) == [12, 11, 10, 9, 8] and first["next_before"] == 8
    row = await _take_out(dep, room, 7)
    writer = asyncio.create_task(_put_back_after(dep, row, 0.3))
    second = await _page(dep, member, room, before=8, limit=5)
    await writer
    assert _seqs(second) == [7, 6, 5, 4, 3]


async def test_a_seq_still_missing_after_the_wait_is_read_past(redis_gaps: Deployment) -> None:
    dep = redis_gaps
    room, (member, _) = await _room_with(dep, 12)
    await _take_out(dep, room, 6)
    page, took = await _timed_page(dep, member, room, limit=10)
    assert took >= WAIT_S  # it waited before reading past
    assert _seqs(page) == READ_PAST


async def test_an_old_gap_is_read_past_without_waiting(redis_gaps: Deployment) -> None:
    """A seq missing among messages posted long ago will not come (a row the database refused
    for good): the page does not wait for it."""
    dep = redis_gaps
    room, (member, _) = await _room_with(dep, 12)
    await _take_out(dep, room, 6)
    await sql(dep, "UPDATE messages SET created_ms = created_ms - 3600000 WHERE room = ?", room)
    page, took = await _timed_page(dep, member, room, limit=10)
    assert took < WAIT_S
    assert _seqs(page) == READ_PAST


async def test_messages_of_a_blocked_author_are_not_taken_for_missing_ones(redis_gaps: Deployment) -> None:
    """The reader blocked one of two authors taking turns: every other seq is left out of what
    they are shown, and none of it is a gap to wait for."""
    dep = redis_gaps
    room, (_ann, ben, reader) = await _room_with(dep, 12, authors=2)
    r = await api(dep, "PUT", f"/api/blocks/{ben.id}", reader.token)
    assert r.status_code == 204, r.text
    page, took = await _timed_page(dep, reader, room, limit=5)
    assert took < WAIT_S
    assert _seqs(page) == [11, 9, 7, 5, 3]  # Ann's: the odd seqs
    assert page["next_before"] == 3


async def test_embedded_commits_in_order_so_a_gap_is_read_past_at_once(embedded: Deployment) -> None:
    dep = embedded
    room, (member, _) = await _room_with(dep, 12)
    await _take_out(dep, room, 6)
    page, took = await _timed_page(dep, member, room, limit=10)
    assert took < WAIT_S
    assert _seqs(page) == READ_PAST
