"""The ``conversation`` frame of a new message carries the message's room ``seq`` (protocol
1.2, docs/protocol.md §4.28), in both modes with real gateways: the client needs it to tell
the messages it counted from those a later ``unread`` frame's read mark already covers (that
frame answers a read mark sent up to a second earlier, so it can arrive after a newer
message's frame). The HTTP counts say what they took in (protocol 1.3): the read mark each was
counted after and, per conversation, the newest seq counted, so a client can tell an answer
counted before a frame it has heard of since."""

from __future__ import annotations

from typing import Any

from support.client import Client
from support.cluster import Deployment, Member
from support.conversations import (
    LIVE_S,
    allow,
    community_pair,
    listed,
    requested,
    start,
    wait_history,
    wait_listed,
)
from support.moderation import api, close_all, connect, new_cid


async def test_a_message_frame_carries_the_seq_of_the_message(deployment: Deployment) -> None:
    dep = deployment
    last = len(dep.gateways) - 1
    _, a, b = await community_pair(dep)
    await allow(dep, b, "communities")
    cb = await connect(dep, b, last)  # b's device elsewhere, in no room: told by its own channel
    ca: Client | None = None
    try:
        r = await start(dep, a, b)
        assert r.status_code == 201, r.text
        conv = r.json()
        room = conv["room"]
        ca = await connect(dep, a, 0, room)
        first = await ca.post(room, "may I write to you?", new_cid())
        assert first["type"] == "ack", first
        await cb.wait_frame("conversation", LIVE_S, event="request")
        r = await api(dep, "POST", f"/api/conversations/{conv['id']}/accept", b.token, gateway=last)
        assert r.status_code == 200 and r.json()["state"] == "open", r.text
        await ca.wait_frame("conversation", LIVE_S, event="accepted")

        acks = [await ca.post(room, body, new_cid()) for body in ("thank you", "mornings are hard")]
        for ack in acks:
            assert ack["type"] == "ack", ack
            told = await cb.wait_frame("conversation", LIVE_S, event="message", message=ack["id"])
            assert told["room"] == room and told["from"]["id"] == a.id
            assert told["seq"] == ack["seq"], (told, ack)
        assert [ack["seq"] for ack in acks] == [first["seq"] + 1, first["seq"] + 2]
    finally:
        await close_all(ca, cb)


async def _unread(dep: Deployment, m: Member) -> dict[str, Any]:
    r = await api(dep, "GET", "/api/me/unread", m.token)
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


async def _read(dep: Deployment, m: Member, room: str, seq: int | None = None) -> int:
    r = await api(dep, "POST", f"/api/rooms/{room}/read", m.token, json={} if seq is None else {"seq": seq})
    assert r.status_code == 200, r.text
    kept: int = r.json()["seq"]
    return kept


async def test_unread_answers_say_what_they_counted(deployment: Deployment) -> None:
    dep = deployment
    org, a, b, conv = await requested(dep)
    ca: Client | None = None
    try:
        room = conv["room"]
        ca = await connect(dep, a, 0, room, org.lounge)
        hello = await ca.post(org.lounge, "hello everyone", new_cid())
        first = await ca.post(room, "may I write to you?", new_cid())
        assert first["type"] == "ack" and hello["type"] == "ack", (first, hello)
        await wait_listed(dep, b, conv["id"])
        r = await api(dep, "POST", f"/api/conversations/{conv['id']}/accept", b.token)
        assert r.status_code == 200, r.text
        acks = [await ca.post(room, body, new_cid()) for body in ("thank you", "mornings are hard")]
        await wait_history(dep, b, room, 3)  # stored (with Redis, a writer commits after the ack)
        await wait_history(dep, b, org.lounge, 1)
        newest = acks[-1]["seq"]

        answer = await _unread(dep, b)
        assert answer["conversations"][room] == 3
        assert answer["counted_to"][room] == newest
        assert room not in answer["read_marks"]  # never read: counted after 0
        assert answer["rooms"][org.lounge] == 1 and org.lounge not in answer["read_marks"]  # a mark of 0

        # Read up to the first: the others are counted after that mark.
        assert await _read(dep, b, room, first["seq"]) == first["seq"]
        assert await _read(dep, b, org.lounge) == hello["seq"]
        answer = await _unread(dep, b)
        assert answer["conversations"][room] == 2
        assert (answer["read_marks"][room], answer["counted_to"][room]) == (first["seq"], newest)
        assert answer["read_marks"][org.lounge] == hello["seq"] and org.lounge not in answer["rooms"]
        [mine] = [c for c in await listed(dep, b) if c["room"] == room]
        assert (mine["unread"], mine["read_mark"], mine["counted_to"]) == (2, first["seq"], newest)

        # Read to the end: nothing counted, counted_to is the mark.
        assert await _read(dep, b, room) == newest
        answer = await _unread(dep, b)
        assert room not in answer["conversations"]
        assert answer["read_marks"][room] == answer["counted_to"][room] == newest
        [mine] = [c for c in await listed(dep, b) if c["room"] == room]
        assert (mine["unread"], mine["read_mark"], mine["counted_to"]) == (0, newest, newest)
        # a's own messages are never counted for a: its count takes in nothing past its mark.
        answer = await _unread(dep, a)
        assert room not in answer["conversations"] and answer["counted_to"][room] == 0
    finally:
        await close_all(ca)


async def test_an_unread_frame_says_what_is_still_new_after_its_mark(deployment: Deployment) -> None:
    """Protocol 1.4: a read mark set on one device below the newest message reaches the
    member's other pages with what is still new after it (`remaining`, up to `counted_to`),
    which a page may know of only from an HTTP count; `count` stays 0 for 1.3 clients."""
    dep = deployment
    org, a, b, conv = await requested(dep)
    ca: Client | None = None
    cb: Client | None = None
    try:
        room = conv["room"]
        ca = await connect(dep, a, 0, room, org.lounge)
        first = await ca.post(room, "may I write to you?", new_cid())
        assert first["type"] == "ack", first
        await wait_listed(dep, b, conv["id"])
        r = await api(dep, "POST", f"/api/conversations/{conv['id']}/accept", b.token)
        assert r.status_code == 200, r.text
        acks = [await ca.post(room, body, new_cid()) for body in ("thank you", "mornings are hard")]
        hellos = [await ca.post(org.lounge, body, new_cid()) for body in ("hello everyone", "tea at four")]
        await wait_history(dep, b, room, 3)  # stored (with Redis, a writer commits after the ack)
        await wait_history(dep, b, org.lounge, 2)
        cb = await connect(dep, b, len(dep.gateways) - 1)  # b's page elsewhere, in no room

        await _read(dep, b, room, first["seq"])  # b's phone, which had only the first
        told = await cb.wait_frame("unread", LIVE_S, room=room)
        assert (told["seq"], told["count"]) == (first["seq"], 0)
        assert (told["remaining"], told["counted_to"]) == (2, acks[-1]["seq"])
        await _read(dep, b, org.lounge, hellos[0]["seq"])
        told = await cb.wait_frame("unread", LIVE_S, room=org.lounge)
        assert (told["seq"], told["count"]) == (hellos[0]["seq"], 0)
        assert (told["remaining"], told["counted_to"]) == (1, hellos[1]["seq"])

        await _read(dep, b, room)  # to the end
        told = await cb.wait_frame("unread", LIVE_S, room=room, seq=acks[-1]["seq"])
        assert (told["remaining"], told["counted_to"]) == (0, acks[-1]["seq"])
    finally:
        await close_all(ca, cb)
