"""Red team: friends and following under races across gateways (docs/social.md), in both
modes (embedded on SQLite; three gateways on Redis and PostgreSQL).

Two members asking each other at the same moment must end as one friendship with no request
left waiting in anyone's notifications; an acceptance racing a cancellation leaves both sides
agreeing; a burst of new requests over every gateway at once stops at the limit; a follow
racing "do not follow me" never leaves the member with a follower they cannot get rid of.
What is checked is read back from the database itself as well as the API."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from support.cluster import Deployment, Member
from support.deployment_sql import sql
from support.moderation import api, close_all, connect
from support.procs import TIMEOUT_SCALE

LIVE_BOUND_S = 2.0 * TIMEOUT_SCALE


async def db_id(dep: Deployment, m: Member) -> int:
    return int((await sql(dep, "SELECT id FROM users WHERE public_id = ?", m.id))[0][0])


async def notes(dep: Deployment, m: Member, kind: str) -> list[dict[str, Any]]:
    r = await api(dep, "GET", "/api/notifications", m.token, params={"limit": 100})
    assert r.status_code == 200, r.text
    return [n for n in r.json()["notifications"] if n["kind"] == kind]


async def friends_of(dep: Deployment, m: Member, gateway: int = 0) -> dict[str, list[str]]:
    r = await api(dep, "GET", "/api/friends", m.token, gateway=gateway)
    assert r.status_code == 200, r.text
    return {k: sorted(p["id"] for p in v) for k, v in r.json().items()}


async def test_both_asking_at_once_is_one_friendship_and_no_request_left_waiting(deployment: Deployment) -> None:
    """Ann (gateway 0) and Ben (the last gateway) press "Add friend" at the same moment: one
    friendship, and neither is left with an unread "would like to be your friend" about a
    member who is already their friend (a stale request the page would offer to accept)."""
    dep = deployment
    last = len(dep.gateways) - 1
    pairs = [(dep.register(), dep.register(gateway=last)) for _ in range(12)]

    async def both(a: Member, b: Member) -> tuple[httpx.Response, httpx.Response]:
        ra, rb = await asyncio.gather(
            api(dep, "PUT", f"/api/friends/{b.id}", a.token, gateway=0),
            api(dep, "PUT", f"/api/friends/{a.id}", b.token, gateway=last))
        return ra, rb

    answers = await asyncio.gather(*(both(a, b) for a, b in pairs))
    for (a, b), (ra, rb) in zip(pairs, answers, strict=True):
        assert ra.status_code == rb.status_code == 200, (ra.text, rb.text)
        # One asked, the other accepted ("requested", or already "friends" when the answer
        # was read after the acceptance).
        states = sorted([ra.json()["friend"], rb.json()["friend"]])
        assert states in (["friends", "requested"], ["friends", "friends"]), states
        assert await friends_of(dep, a) == {"friends": [b.id], "incoming": [], "outgoing": []}
        assert await friends_of(dep, b, last) == {"friends": [a.id], "incoming": [], "outgoing": []}
        low, high = sorted([await db_id(dep, a), await db_id(dep, b)])
        rows = await sql(dep, "SELECT since_ms FROM friendships WHERE low_id = ? AND high_id = ?", low, high)
        assert len(rows) == 1 and rows[0][0] is not None, rows
    # The notification writes follow the answers: give them the live bound to land.
    await asyncio.sleep(LIVE_BOUND_S)
    for a, b in pairs:
        for m in (a, b):
            requests = await notes(dep, m, "friend_request")
            assert len(requests) <= 1, requests
            assert all(n["read"] for n in requests), (m.handle, requests)  # handled: they are friends
        accepted = await notes(dep, a, "friend_accepted") + await notes(dep, b, "friend_accepted")
        assert len(accepted) == 1, accepted  # the one who asked is told once


async def test_a_request_racing_a_block_leaves_nothing_from_the_blocked_member(deployment: Deployment) -> None:
    """Ann asks Ben while Ben blocks her: whichever lands first, Ben is never left with an
    unread request from the member he blocked, nor a row that lists her."""
    dep = deployment
    last = len(dep.gateways) - 1
    pairs = [(dep.register(), dep.register(gateway=last)) for _ in range(12)]

    async def race(a: Member, b: Member) -> None:
        ra, rb = await asyncio.gather(
            api(dep, "PUT", f"/api/friends/{b.id}", a.token, gateway=0),
            api(dep, "PUT", f"/api/blocks/{a.id}", b.token, gateway=last))
        assert ra.status_code in (200, 403), ra.text
        assert rb.status_code == 204, rb.text

    await asyncio.gather(*(race(a, b) for a, b in pairs))
    await asyncio.sleep(LIVE_BOUND_S)
    for a, b in pairs:
        assert await friends_of(dep, b, last) == {"friends": [], "incoming": [], "outgoing": []}
        assert await friends_of(dep, a) == {"friends": [], "incoming": [], "outgoing": []}
        unread = [n for n in await notes(dep, b, "friend_request") if not n["read"]]
        assert unread == [], (b.handle, unread)


async def test_accepting_while_the_request_is_cancelled_leaves_both_sides_agreeing(deployment: Deployment) -> None:
    dep = deployment
    last = len(dep.gateways) - 1
    pairs = [(dep.register(), dep.register(gateway=last)) for _ in range(10)]
    for a, b in pairs:
        assert (await api(dep, "PUT", f"/api/friends/{b.id}", a.token)).json()["friend"] == "requested"
    await asyncio.gather(*(asyncio.gather(
        api(dep, "DELETE", f"/api/friends/{b.id}", a.token, gateway=0),
        api(dep, "PUT", f"/api/friends/{a.id}", b.token, gateway=last)) for a, b in pairs))
    await asyncio.sleep(LIVE_BOUND_S)
    for a, b in pairs:
        fa, fb = await friends_of(dep, a), await friends_of(dep, b, last)
        # Each of the orders the two can take, and nothing else: the acceptance, then Ann's
        # DELETE ends the friendship (none); the acceptance alone (friends); the cancellation,
        # then Ben's PUT asks Ann in turn (PUT asks or accepts). Never half of one.
        empty = {"friends": [], "incoming": [], "outgoing": []}
        outcomes = {
            "none": (empty, empty, "none", "none"),
            "friends": ({**empty, "friends": [b.id]}, {**empty, "friends": [a.id]}, "friends", "friends"),
            "ben asked": ({**empty, "incoming": [b.id]}, {**empty, "outgoing": [a.id]}, "asked_me", "requested"),
        }
        pa = (await api(dep, "GET", f"/api/people/{b.id}", a.token)).json()["friend"]
        pb = (await api(dep, "GET", f"/api/people/{a.id}", b.token, gateway=last)).json()["friend"]
        assert (fa, fb, pa, pb) in outcomes.values(), (fa, fb, pa, pb)
        assert all(n["read"] for n in await notes(dep, b, "friend_request"))  # Ann's: handled either way
        unread_for_ann = [n for n in await notes(dep, a, "friend_request") if not n["read"]]
        assert len(unread_for_ann) == (1 if pa == "asked_me" else 0), unread_for_ann


async def test_a_burst_of_new_requests_over_every_gateway_stops_at_the_limit(deployment: Deployment) -> None:
    """40 requests to 40 members at once, spread over the gateways: exactly 20 stored (the
    limit is one counter, not one per gateway or per process)."""
    dep = deployment
    n = len(dep.gateways)
    ann = dep.register()
    targets = [dep.register(gateway=i % n) for i in range(40)]
    answers = await asyncio.gather(*(
        api(dep, "PUT", f"/api/friends/{t.id}", ann.token, gateway=i % n) for i, t in enumerate(targets)))
    codes = [r.status_code for r in answers]
    assert codes.count(200) == 20 and codes.count(429) == 20, codes
    asked = {t.id for t, r in zip(targets, answers, strict=True) if r.status_code == 200}
    assert set((await friends_of(dep, ann))["outgoing"]) == asked
    rows = await sql(dep, "SELECT count(*) FROM friendships WHERE requester_id = ?", await db_id(dep, ann))
    assert rows[0][0] == 20


async def test_a_follow_storm_racing_do_not_follow_me_leaves_no_follower(deployment: Deployment) -> None:
    """Ann follows and unfollows Ben over every gateway while Ben turns being followed off.
    Afterwards Ben has no follower on his own page, his profile of Ann does not say she
    follows him, and Ann's feed has nothing of his: what he chose holds, whatever raced it."""
    dep = deployment
    n = len(dep.gateways)

    async def storm(ann: Member, ben: Member) -> None:
        for i in range(30):
            method = "PUT" if i % 3 else "DELETE"
            r = await api(dep, method, f"/api/following/{ben.id}", ann.token, gateway=i % n)
            assert r.status_code in (200, 403), r.text

    async def close_door(ben: Member, after_s: float) -> None:
        await asyncio.sleep(after_s)
        r = await api(dep, "PUT", "/api/people/settings", ben.token, gateway=n - 1, json={"followable": False})
        assert r.status_code == 200, r.text

    for round_ in range(4):
        ann, ben = dep.register(), dep.register(gateway=n - 1)
        await asyncio.gather(*(storm(ann, ben) for _ in range(4)), close_door(ben, 0.05 * round_))
        listing = (await api(dep, "GET", "/api/following", ben.token)).json()
        assert listing["followers"] == [], listing
        assert (await api(dep, "GET", "/api/following", ann.token)).json()["following"] == []
        seen = (await api(dep, "GET", f"/api/people/{ann.id}", ben.token)).json()
        assert seen["follows_you"] is False, seen
        r = await api(dep, "PUT", f"/api/following/{ben.id}", ann.token)
        assert (r.status_code, r.json()["error"]) == (403, "not_accepted")


async def test_concurrent_requests_from_every_gateway_are_one_notification_per_device(deployment: Deployment) -> None:
    """Ann presses "Add friend" on three gateways at once, five times each: Ben's two devices
    (on two gateways) each hear exactly one request."""
    dep = deployment
    n = len(dep.gateways)
    ann, ben = dep.register(), dep.register(gateway=n - 1)
    phone, laptop = await connect(dep, ben, n - 1), await connect(dep, ben, 0)
    try:
        answers = await asyncio.gather(*(
            api(dep, "PUT", f"/api/friends/{ben.id}", ann.token, gateway=i % n) for i in range(15)))
        assert {r.status_code for r in answers} == {200}
        assert {r.json()["friend"] for r in answers} == {"requested"}
        for c in (phone, laptop):
            await c.wait_frame("notification", LIVE_BOUND_S, kind="friend_request")
        await asyncio.sleep(LIVE_BOUND_S)  # any second frame would have arrived by now
        for c in (phone, laptop):
            got = [f for f in c.frames if f.get("type") == "notification" and f.get("kind") == "friend_request"]
            assert len(got) == 1, got
        assert len(await notes(dep, ben, "friend_request")) == 1
        # Only one request counted against Ann's limit (asking again is not a new request).
        used = [r for r in answers if r.status_code == 429]
        assert used == []
    finally:
        await close_all(phone, laptop)
