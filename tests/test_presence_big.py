"""Presence in a big room (protocol §3.8, §4.1, §4.4, §5.4): ``joined.present`` is capped at
``KINDRED_PRESENCE_LIST_MAX`` with a ``count``, presence frames past the cap carry the count
only, and the whole list is paged with ``members``. Pure state, both stores, and end to end
in both modes (two gateways on Redis)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from redis.asyncio import Redis

from presence.memory import MemoryPresence
from presence.redis_store import RedisPresence
from presence.state import RoomPresence
from presence.store import PresenceStore
from support.client import Client
from support.cluster import Deployment, deployment_in_mode
from support.procs import RedisServer

LIST_MAX = 3


def _user(i: int) -> dict[str, str]:
    return {"id": f"u{i:03d}", "handle": f"h{i}", "role": "member"}


def test_listing_is_capped_and_holds_the_joiner() -> None:
    room = RoomPresence()
    for i in range(10):
        room.enter("gw", _user(i), until=100)
    listing = room.listing("u007", 3)
    assert len(listing) == 3 and listing[0] == _user(7) and room.count() == 10
    assert room.listing("nobody", 3) == [_user(0), _user(1), _user(2)]


def test_pages_cover_everyone_once_in_id_order() -> None:
    room = RoomPresence()
    for i in (5, 1, 9, 3, 7):
        room.enter("gw", _user(i), until=100)
    first, after = room.page(None, 2)
    assert [u["id"] for u in first] == ["u001", "u003"] and after == "u003"
    second, after = room.page(after, 2)
    assert [u["id"] for u in second] == ["u005", "u007"]
    last, after = room.page(after, 2)
    assert [u["id"] for u in last] == ["u009"] and after is None


async def _check_store(store: PresenceStore, room: str) -> None:
    for i in range(25):
        new, present, count = await store.enter_listing(room, _user(i), now=100, limit=LIST_MAX)
        assert new is True and count == i + 1
        assert len(present) == min(i + 1, LIST_MAX) and _user(i) in present
    assert await store.count(room) == 25
    seen: list[str] = []
    after: str | None = None
    for _ in range(100):
        views, after = await store.page(room, after, 4)
        seen.extend(v["id"] for v in views)
        if after is None:
            break
    assert set(seen) == {f"u{i:03d}" for i in range(25)}
    assert await store.page("room-nobody-joined", None, 4) == ([], None)


async def test_memory_store_caps_counts_and_pages() -> None:
    await _check_store(MemoryPresence("gw", ttl_s=10), "room-m")


@pytest.mark.redis
async def test_redis_store_caps_counts_and_pages(redis_server: RedisServer) -> None:
    redis = Redis.from_url(redis_server.url)
    try:
        await redis.delete(*[f"kindred:p:room-r:{k}" for k in "zni"])
        await _check_store(RedisPresence(redis, "gw-one", ttl_s=10), "room-r")
        # A cursor that is not one of ours is an empty last page, not an error.
        assert await RedisPresence(redis, "gw-one", 10).page("room-r", "x1", 4) == ([], None)
    finally:
        await redis.aclose()


@pytest.fixture(scope="module", params=["embedded", "redis"])
def dep(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    env = {"KINDRED_PRESENCE_LIST_MAX": str(LIST_MAX), "KINDRED_PRESENCE_BATCH_S": "0.05"}
    yield from deployment_in_mode(request, tmp_path_factory, "bigroom", env)


async def _all_members(client: Client, room: str) -> tuple[set[str], int]:
    """Page through ``members`` until ``next`` is null; the ids seen and the last count."""
    ids: set[str] = set()
    after: str | None = None
    count = -1
    for _ in range(50):
        start = len(client.frames)
        frame: dict[str, Any] = {"type": "members", "room": room}
        if after is not None:
            frame["after"] = after
        await client.send(frame)
        page = await client.wait_frame("members", start=start, room=room)
        assert len(page["members"]) <= 2 * LIST_MAX
        assert all(set(v) == {"id", "handle", "role"} for v in page["members"])  # views only
        ids.update(v["id"] for v in page["members"])
        count, after = page["count"], page["next"]
        if after is None:
            return ids, count
    raise AssertionError("members never reached its last page")


async def test_a_big_room_sends_counts_and_pages_its_list(dep: Deployment) -> None:
    name, phrase, (room, other, _) = dep.new_org()
    members = [dep.register((name, phrase)) for _ in range(LIST_MAX + 3)]
    clients = [await Client.connect(dep.gateways[i % len(dep.gateways)].ws_url, m.token)
               for i, m in enumerate(members)]
    try:
        first = clients[0]
        for i, c in enumerate(clients):
            joined = await c.join(room)
            assert joined["count"] >= i + 1  # others may still be present from a race: never fewer
            assert len(joined["present"]) <= LIST_MAX
            assert members[i].id in {p["id"] for p in joined["present"]}
        everyone = {m.id for m in members}
        # The first member hears every change: lists while the room is small, the count only past it.
        last: dict[str, Any] = await first.wait_frame("presence", room=room, count=len(members))
        assert last["partial"] is True and last["joined"] == [] and last["left"] == []
        small = [f for f in first.frames if f.get("type") == "presence" and f.get("room") == room
                 and f["count"] <= LIST_MAX]
        assert small and all("partial" not in f and f["joined"] for f in small)
        ids, count = await _all_members(clients[-1], room)
        assert ids == everyone and count == len(members)
        # Someone leaves: the count drops, still without names; the pages follow.
        mark = len(first.frames)
        await clients[-1].send({"type": "leave", "room": room})
        await first.wait_frame("presence", start=mark, room=room, count=len(members) - 1)
        ids, count = await _all_members(first, room)
        assert ids == everyone - {members[-1].id} and count == len(members) - 1
        # Asking about a room not joined, or with a cursor that is not a string: refused.
        mark = len(first.frames)
        await first.send({"type": "members", "room": other, "cid": "m1"})
        error = await first.wait_frame("error", start=mark, cid="m1")
        assert error["code"] == "not_joined"
        await first.send({"type": "members", "room": room, "after": 5, "cid": "m2"})
        error = await first.wait_frame("error", start=mark, cid="m2")
        assert error["code"] == "bad_frame"
        await first.post(room, "still fine", "c-after")  # the connection stays healthy
    finally:
        for c in clients:
            await c.close()
