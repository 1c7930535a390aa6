"""Private conversations end to end (docs/social.md, "Private messages"), in both modes, with
real gateways, Redis and PostgreSQL: a request is held until accepted and then delivered
whole; declining ends it; a member who does not take messages from you is a clear refusal
that leaves the recipient nothing to see; blocks both ways; history, search and joins refuse
everyone but the participants with the answer for a room that does not exist."""

from __future__ import annotations

import asyncio
import secrets

from support.client import Client
from support.cluster import ORG_B, Deployment
from support.conversations import (
    LIVE_S,
    allow,
    community_pair,
    dm_notes,
    listed,
    requested,
    settle,
    start,
    take_part,
    wait_history,
    wait_listed,
)
from support.moderation import api, close_all, connect, fresh_org, make_staff, new_cid


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
        # The request's notification is handled, on every device of b.
        read = await cb.wait_frame("notifications_read", LIVE_S)
        assert read["ids"] == [note["id"]] and read["unread"] == 0
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


async def test_declining_ends_it(deployment: Deployment) -> None:
    dep = deployment
    last = len(dep.gateways) - 1
    _, a, b, conv = await requested(dep)
    room = conv["room"]
    ca = await connect(dep, a, 0, room)
    cb = await connect(dep, b, last)
    try:
        await ca.post(room, "hello, may I write to you?", new_cid())
        await cb.wait_frame("conversation", LIVE_S, event="request")
        # A request holds 5 messages; the sixth waits for an answer.
        for i in range(4):
            assert (await ca.post(room, f"and one more thing ({i})", new_cid()))["type"] == "ack"
        cid = new_cid()
        await ca.send({"type": "send", "room": room, "body": "still there?", "cid": cid})
        held = await ca.wait_frame("error", LIVE_S, cid=cid)
        assert held["code"] == "request_pending" and "5 messages" in held["detail"]
        r = await api(dep, "POST", f"/api/conversations/{conv['id']}/decline", b.token, gateway=last)
        assert r.status_code == 200 and r.json()["state"] == "declined", r.text
        told = await ca.wait_frame("conversation", LIVE_S, event="declined")
        assert told["id"] == conv["id"]
        # The requester can write no more, on any gateway; the recipient no longer sees it.
        cid = new_cid()
        await ca.send({"type": "send", "room": room, "body": "please?", "cid": cid})
        error = await ca.wait_frame("error", LIVE_S, cid=cid)
        assert error["code"] == "conversation_closed"
        assert await listed(dep, b, last) == []
        assert [c["state"] for c in await listed(dep, a)] == ["declined"]
        await cb.send({"type": "join", "room": room})
        assert (await cb.wait_frame("error", LIVE_S))["code"] == "no_such_room"
        # Asking again is refused; the one who declined may still start one of their own.
        again = await start(dep, a, b)
        assert again.status_code == 403 and again.json()["error"] == "dm_refused"
        await allow(dep, a, "communities")
        theirs = await start(dep, b, a, gateway=last)
        assert theirs.status_code == 201 and theirs.json()["id"] != conv["id"]
    finally:
        await close_all(ca, cb)


async def test_refused_leaves_the_recipient_nothing(deployment: Deployment) -> None:
    dep = deployment
    _, a, b = await community_pair(dep)
    cb = await connect(dep, b, len(dep.gateways) - 1)
    try:
        for setting in ("nobody", "staff", "friends"):  # a community member is refused by each
            await allow(dep, b, setting)
            r = await start(dep, a, b)
            assert r.status_code == 403, r.text
            assert r.json() == {"error": "dm_refused",
                                "detail": "this member does not take private messages from you"}
        await settle(cb)
        assert not [f for f in cb.frames if f.get("type") in ("notification", "conversation")]
        assert await listed(dep, b) == [] and await listed(dep, a) == []
        assert (await api(dep, "GET", "/api/notifications", b.token)).json()["notifications"] == []
    finally:
        await close_all(cb)


async def test_a_block_closes_an_open_conversation_both_ways(deployment: Deployment) -> None:
    dep = deployment
    last = len(dep.gateways) - 1
    _, a, b, conv = await requested(dep)
    room = conv["room"]
    ca = await connect(dep, a, 0, room)
    await ca.post(room, "first", new_cid())
    await wait_listed(dep, b, conv["id"])
    assert (await api(dep, "POST", f"/api/conversations/{conv['id']}/accept", b.token)).status_code == 200
    cb = await connect(dep, b, last, room)
    try:
        ack = await cb.post(room, "glad to talk", new_cid())
        assert ack["type"] == "ack"
        r = await api(dep, "PUT", f"/api/blocks/{a.id}", b.token, gateway=last)
        assert r.status_code == 204
        for c, who in ((ca, "blocked"), (cb, "blocker")):  # both ways, on every gateway at once
            cid = new_cid()
            await c.send({"type": "send", "room": room, "body": f"from the {who}", "cid": cid})
            error = await c.wait_frame("error", LIVE_S, cid=cid)
            assert error["code"] == "conversation_closed", (who, error)
        assert [c["blocked"] for c in await listed(dep, b)] == [True]
        # Unblocked: it opens again.
        assert (await api(dep, "DELETE", f"/api/blocks/{a.id}", b.token)).status_code == 204
        ack = await ca.post(room, "thank you", new_cid())
        assert ack["type"] == "ack", ack
    finally:
        await close_all(ca, cb)


async def test_outsiders_meet_a_room_that_does_not_exist(deployment: Deployment) -> None:
    """Everyone but the participants gets, for a conversation's room, exactly the answers a
    room that does not exist gets: joins, history, threads, search, read marks, reports,
    reactions; a navigator and an admin too (nobody moderates a conversation)."""
    dep = deployment
    org, a, b, conv = await requested(dep)
    outsider = dep.register(org=org.key)
    room, nowhere = conv["room"], "dm-" + secrets.token_hex(8)
    ca = await connect(dep, a, 0, room)
    co = await connect(dep, outsider, len(dep.gateways) - 1)
    try:
        first = await ca.post(room, "private words about my scan", new_cid())
        await wait_listed(dep, b, conv["id"])
        assert (await api(dep, "POST", f"/api/conversations/{conv['id']}/accept", b.token)).status_code == 200
        await wait_history(dep, a, room, 1)

        async def answers(slug: str) -> list[object]:
            got: list[object] = []
            for method, path, kwargs in [
                ("GET", f"/api/rooms/{slug}/messages", {}),
                ("GET", "/api/search", {"params": {"q": "scan", "room": slug}}),
                ("POST", f"/api/rooms/{slug}/read", {"json": {}}),
                ("POST", f"/api/rooms/{slug}/reactions", {"json": {"message": first["id"], "reaction": "hug", "on": True}}),
                ("GET", f"/api/communities/{slug}", {}),
                ("GET", f"/api/rooms/{slug}/moderation", {}),
            ]:
                r = await api(dep, method, path, outsider.token, **kwargs)
                got.append((r.status_code, r.json()))
            before = len(co.frames)
            await co.send({"type": "join", "room": slug})
            error = await co.wait_frame("error", LIVE_S, start=before)
            got.append((error["code"], error["detail"].replace(slug, "ROOM")))
            return got

        assert await answers(room) == await answers(nowhere)
        assert (await api(dep, "GET", f"/api/messages/{first['id']}/thread", outsider.token)).status_code == 404
        r = await api(dep, "POST", f"/api/messages/{first['id']}/report", outsider.token, json={"reason": "x"})
        assert r.status_code == 404
        found = (await api(dep, "GET", "/api/search", outsider.token, params={"q": "scan"})).json()
        assert [m for m in found["results"] if m["room"] == room] == []
        assert (await api(dep, "GET", f"/api/conversations/{conv['id']}", outsider.token)).status_code == 404
        # The participants read it; search finds it for them.
        mine = (await api(dep, "GET", "/api/search", b.token, params={"q": "scan"})).json()["results"]
        assert [m["id"] for m in mine if m["room"] == room] == [first["id"]]
    finally:
        await close_all(ca, co)


async def test_groups_are_for_staff(embedded: Deployment) -> None:
    dep = embedded
    org = fresh_org(dep)
    navigator = make_staff(dep, org.key)
    people = [dep.register(org=org.key) for _ in range(3)]
    member = people[0]
    r = await start(dep, member, people[1], people[2])
    assert r.status_code == 400 and "only staff start groups" in r.json()["detail"]
    r = await start(dep, navigator, *people)
    assert r.status_code == 201, r.text
    group = r.json()
    assert group["group"] is True and group["state"] == "open" and len(group["with"]) == 3
    assert (await start(dep, navigator, *people)).json()["id"] != group["id"]  # groups are not reused
    clients = [await connect(dep, p, 0, group["room"]) for p in people]
    try:
        await clients[1].post(group["room"], "hello everyone", new_cid())
        for c in (clients[0], clients[2]):
            await c.wait_until(lambda fs, c=c: c.messages(group["room"]), LIVE_S, "the group's message")
    finally:
        await close_all(*clients)
    stranger = dep.register(org=ORG_B)
    r = await start(dep, navigator, people[1], stranger)  # not staff of the stranger's rooms
    assert r.status_code == 403 and r.json()["error"] == "dm_refused"


async def test_bad_input(embedded: Deployment) -> None:
    dep = embedded
    m, other = dep.register(), dep.register()
    for body, words in [
        ({}, "with"),
        ({"with": []}, "with"),
        ({"with": [m.id]}, "yourself"),
        ({"with": [other.id, other.id]}, "twice"),
        ({"with": "everyone"}, "with"),
        ({"with": [other.id], "extra": 1}, "extra"),
        ({"with": ["x" * 40]}, "with"),
    ]:
        r = await api(dep, "POST", "/api/conversations", m.token, json=body)
        assert r.status_code == 400 and r.json()["error"] == "invalid_request", (body, r.text)
        assert words in r.json()["detail"], (body, r.text)
    r = await api(dep, "POST", "/api/conversations", m.token, json={"with": ["u" + "0" * 16]})
    assert r.status_code == 404 and r.json()["error"] == "no_such_member"
    r = await api(dep, "PUT", "/api/me/dm", m.token, json={"allow": "everyone"})
    assert r.status_code == 400 and "nobody, staff, friends, communities" in r.json()["detail"]
    assert (await api(dep, "GET", "/api/me/dm", m.token)).json() == {
        "allow": "friends", "choices": ["nobody", "staff", "friends", "communities"]}
    for path in ("/api/conversations/nope", "/api/conversations/" + "0" * 16):
        assert (await api(dep, "GET", path, m.token)).status_code == 404
        assert (await api(dep, "POST", path + "/accept", m.token)).status_code == 404
    assert (await api(dep, "GET", "/api/conversations", None)).status_code == 401
    assert await listed(dep, m) == [] and await listed(dep, other) == []


async def test_requests_to_strangers_are_limited_across_gateways(deployment: Deployment) -> None:
    """KINDRED_CONVERSATION_REQUEST_RATE (10 an hour) new requests per member, counted across
    every gateway; the eleventh is `429 rate_limited` and leaves nothing behind, while asking
    someone already asked is the same conversation and costs nothing."""
    dep = deployment
    n = len(dep.gateways)
    org = fresh_org(dep)
    asker = dep.register(org=org.key)
    others = [dep.register(org=org.key, gateway=i % n) for i in range(11)]
    for m in [asker, *others]:
        await take_part(dep, m, org.lounge)
    for m in others:
        await allow(dep, m, "communities")
    answers = [await start(dep, asker, m, gateway=i % n) for i, m in enumerate(others)]
    assert [a.status_code for a in answers] == [201] * 10 + [429], [a.text for a in answers]
    assert all(a.json()["state"] == "request" for a in answers[:10])
    refused = answers[-1].json()
    assert refused["error"] == "rate_limited" and refused["retry_after_s"] > 0
    assert int(answers[-1].headers["Retry-After"]) > 0
    # Nothing recorded for the refused one, on either side.
    assert len(await listed(dep, asker)) == 10
    assert others[10].id not in {w["id"] for c in await listed(dep, asker) for w in c["with"]}
    assert await listed(dep, others[10], gateway=n - 1) == []
    # The same pair again is the conversation it already has, not a new request.
    again = await start(dep, asker, others[0], gateway=n - 1)
    assert again.status_code == 200 and again.json()["id"] == answers[0].json()["id"]
