"""The ``conversation`` frame of a new message carries the message's room ``seq`` (protocol
1.2, docs/protocol.md §4.28), in both modes with real gateways: the client needs it to tell
the messages it counted from those a later ``unread`` frame's read mark already covers (that
frame answers a read mark sent up to a second earlier, so it can arrive after a newer
message's frame)."""

from __future__ import annotations

from support.client import Client
from support.cluster import Deployment
from support.conversations import LIVE_S, allow, community_pair, start
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
