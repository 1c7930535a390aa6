"""Private conversations end to end (docs/social.md, "Private messages"), in both modes, with
real gateways, Redis and PostgreSQL: a request is held until accepted and then delivered
whole; declining ends it; a member who does not take messages from you is a clear refusal
that leaves the recipient nothing to see; blocks both ways; history, search and joins refuse
everyone but the participants with the answer for a room that does not exist."""

from __future__ import annotations

import asyncio
import secrets

from support.client import Client
from support.cluster import Deployment
from support.conversations import (
    LIVE_S,
    allow,
    community_pair,
    dm_notes,
    listed,
    settle,
    start,
    wait_history,
)
from support.moderation import api, close_all, connect, new_cid


async def test_a_request_is_held_until_accepted(deployment: Deployment) -> None:
    dep = deployment
    last = len(dep.gateways) - 1
    _, a, b = await community_pair(dep)
    await allow(dep, b, "communities")
    cb = await connect(dep, b, last)  # b's device, in no room
    ca: Client | None = None
    try:
        r = await start(dep, a, b)
        assert r.status_code == 201, r.text
        conv = r.json()
        room = conv["room"]
        assert conv["state"] == "request" and conv["requested_by"] == a.id
        assert conv["with"] == [{"id": b.id, "handle": b.handle, "role": "member"}]
        # Nothing written yet: b knows nothing of it.
        assert await listed(dep, b, last) == []
        assert (await api(dep, "GET", f"/api/conversations/{conv['id']}", b.token)).status_code == 404
        # The same pair again: the same conversation.
        again = await start(dep, a, b, gateway=last)
        assert again.status_code == 200 and again.json()["id"] == conv["id"]

        ca = await connect(dep, a, 0, room)
        bodies = [f"first words {secrets.token_hex(3)}", "second, held", "third, held"]
        for body in bodies:
            ack = await ca.post(room, body, new_cid())
            assert ack["type"] == "ack", ack
        note = await cb.wait_frame("notification", LIVE_S, kind="dm_request")
        assert a.handle in note["text"] and bodies[0] not in str(note)
        request = await cb.wait_frame("conversation", LIVE_S, event="request")
        assert request["id"] == conv["id"]
        # b sees the request and its first message, and nothing else of it.
        mine = await listed(dep, b, last)
        assert [(c["id"], c["state"], c["requested_by"]) for c in mine] == [(conv["id"], "request", a.id)]
        one = (await api(dep, "GET", f"/api/conversations/{conv['id']}", b.token, gateway=last)).json()
        deadline = asyncio.get_running_loop().time() + LIVE_S
        while one["request"] is None:  # Redis mode: the first message may still be on its way
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
            one = (await api(dep, "GET", f"/api/conversations/{conv['id']}", b.token)).json()
        assert one["request"]["body"] == bodies[0] and one["request"]["author"]["id"] == a.id
        refused = await cb.send({"type": "join", "room": room})
        del refused
        error = await cb.wait_frame("error", LIVE_S)
        assert error["code"] == "request_pending"
        assert (await api(dep, "GET", f"/api/rooms/{room}/messages", b.token)).status_code == 404
        found = (await api(dep, "GET", "/api/search", b.token, params={"q": "held"})).json()["results"]
        assert [m for m in found if m["room"] == room] == []
        await settle(cb)
        assert len(dm_notes(cb)) == 1
        assert not [f for f in cb.frames if f.get("type") == "message"]

        # Accepted: everything the request held is b's to read, and new messages arrive live.
        r = await api(dep, "POST", f"/api/conversations/{conv['id']}/accept", b.token, gateway=last)
        assert r.status_code == 200 and r.json()["state"] == "open", r.text
        await ca.wait_frame("conversation", LIVE_S, event="accepted")
        joined = await cb.join(room, since=0)
        assert joined["type"] == "joined"
        await cb.wait_until(lambda fs: len(cb.messages(room)) >= 3, LIVE_S, "the held messages")
        assert [m["body"] for m in cb.messages(room)] == bodies
        await ca.post(room, "now you can read me", new_cid())
        await cb.wait_until(lambda fs: len(cb.messages(room)) >= 4, LIVE_S, "a live message")
        history = await wait_history(dep, b, room, 4)
        assert [m["body"] for m in reversed(history)] == [*bodies, "now you can read me"]
        # Answered once: a second answer is refused and changes nothing.
        r = await api(dep, "POST", f"/api/conversations/{conv['id']}/decline", b.token)
        assert r.status_code == 409 and r.json()["error"] == "invalid_action"
    finally:
        await close_all(ca, cb)
