"""Red team: notifications of friends and of replies (docs/social.md), in both modes
(embedded on SQLite; three gateways on Redis and PostgreSQL).

An acceptance reaches each device of the member who asked exactly once, and marking it read
on one device clears it on the other, while nobody else can mark it read; asking, cancelling
and asking again is bounded by the rate limit and stays one notification, never a stream;
and a reply never reaches a member banned from the room."""

from __future__ import annotations

import asyncio
from typing import Any

from support.client import Client
from support.cluster import ORG_A, Deployment
from support.moderation import (
    api,
    close_all,
    connect,
    default_org,
    make_staff,
    moderate_ok,
    new_cid,
    wait_ids_stored,
)
from support.procs import TIMEOUT_SCALE

LIVE_BOUND_S = 2.0 * TIMEOUT_SCALE


def frames(c: Client, type_: str, **match: Any) -> list[dict[str, Any]]:
    return [f for f in c.frames if f.get("type") == type_ and all(f.get(k) == v for k, v in match.items())]


async def settle(*clients: Client) -> None:
    for c in clients:
        start = len(c.frames)
        await c.send({"type": "ping"})
        await c.wait_frame("pong", LIVE_BOUND_S, start=start)


async def test_an_acceptance_reaches_each_device_once_and_is_read_everywhere_by_its_owner_only(
    deployment: Deployment,
) -> None:
    dep = deployment
    last = len(dep.gateways) - 1
    ann, ben = dep.register(), dep.register(gateway=last)
    phone, laptop = await connect(dep, ann, last), await connect(dep, ann, 0)
    ben_c = await connect(dep, ben, 1 % len(dep.gateways))
    try:
        assert (await api(dep, "PUT", f"/api/friends/{ben.id}", ann.token)).status_code == 200
        # Ben accepts from every gateway at once: one friendship, one acceptance.
        answers = await asyncio.gather(*(api(dep, "PUT", f"/api/friends/{ann.id}", ben.token, gateway=g)
                                         for g in range(len(dep.gateways)) for _ in range(2)))
        assert {r.json()["friend"] for r in answers} == {"friends"}
        for c in (phone, laptop):
            await c.wait_frame("notification", LIVE_BOUND_S, kind="friend_accepted")
        await asyncio.sleep(LIVE_BOUND_S / 2)
        await settle(phone, laptop, ben_c)
        for c in (phone, laptop):
            assert len(frames(c, "notification", kind="friend_accepted")) == 1, c.frames
        assert len(frames(ben_c, "notification")) == 1  # the request, and nothing else
        listed = (await api(dep, "GET", "/api/notifications", ann.token)).json()
        accepted = [n for n in listed["notifications"] if n["kind"] == "friend_accepted"]
        assert len(accepted) == 1 and accepted[0]["read"] is False
        nid = accepted[0]["id"]

        # Ben cannot mark Ann's notification read, even with its id.
        r = await api(dep, "POST", "/api/notifications/read", ben.token, gateway=last, json={"ids": [nid]})
        assert r.status_code == 200 and nid not in r.json().get("read", [])
        await settle(phone, laptop)
        assert frames(phone, "notifications_read") == frames(laptop, "notifications_read") == []
        # Ann reads it on her laptop: her phone hears it, on the other gateway.
        r = await api(dep, "POST", "/api/notifications/read", ann.token, json={"ids": [nid]})
        assert r.status_code == 200 and r.json()["read"] == [nid]
        for c in (phone, laptop):
            cleared = await c.wait_frame("notifications_read", LIVE_BOUND_S)
            assert cleared["ids"] == [nid] and cleared["unread"] == 0
        assert (await api(dep, "GET", "/api/me/unread", ann.token, gateway=last)).json()["notifications"] == 0
    finally:
        await close_all(phone, laptop, ben_c)


async def test_asking_cancelling_and_asking_again_is_one_notification_and_bounded(deployment: Deployment) -> None:
    """A pending request is one notification, not a stream: 30 rounds of asking and
    cancelling bring the same notification back at most 20 times (the limit), and Ben never
    has more than one."""
    dep = deployment
    n = len(dep.gateways)
    ann, ben = dep.register(), dep.register(gateway=n - 1)
    ben_c = await connect(dep, ben, n - 1)
    try:
        codes = []
        for i in range(30):
            r = await api(dep, "PUT", f"/api/friends/{ben.id}", ann.token, gateway=i % n)
            codes.append(r.status_code)
            assert (await api(dep, "DELETE", f"/api/friends/{ben.id}", ann.token, gateway=(i + 1) % n)).status_code == 200
        assert codes == [200] * 20 + [429] * 10, codes
        await settle(ben_c)
        told = frames(ben_c, "notification", kind="friend_request")
        assert 1 <= len(told) <= 20 and len({f["id"] for f in told}) == 1, told
        listed = [x for x in (await api(dep, "GET", "/api/notifications", ben.token)).json()["notifications"]
                  if x["kind"] == "friend_request"]
        assert len(listed) == 1 and listed[0]["read"] is True  # cancelled: handled
        assert (await api(dep, "GET", "/api/friends", ben.token)).json() == {"friends": [], "incoming": [], "outgoing": []}
    finally:
        await close_all(ben_c)


async def test_a_reply_never_reaches_a_member_banned_from_the_room(deployment: Deployment) -> None:
    """Bea wrote in the lounge, then was banned from it: a reply to her message there is not
    for her (she cannot read it), while a reply to a member who may read it is."""
    dep = deployment
    last = len(dep.gateways) - 1
    lounge = default_org(ORG_A).lounge
    nav = make_staff(dep, ORG_A)
    ann, bea, cal = dep.register(), dep.register(), dep.register()
    said = {}
    for m in (bea, cal):
        c = await connect(dep, m, 0, lounge)
        try:
            said[m.id] = await c.post(lounge, f"a message from {m.handle}", new_cid())
        finally:
            await close_all(c)
    await wait_ids_stored(dep, ann.token, lounge, *(s["id"] for s in said.values()))
    n = await connect(dep, nav, 0, lounge)
    try:
        await moderate_ok(n, lounge, "ban", user=bea.id, reason="a test ban")
    finally:
        await close_all(n)
    cb, cc = await connect(dep, bea, last), await connect(dep, cal, last)
    ca = await connect(dep, ann, 0, lounge)
    try:
        await ca.post(lounge, "replying to bea", new_cid(), reply_to=said[bea.id]["id"])
        await ca.post(lounge, "replying to cal", new_cid(), reply_to=said[cal.id]["id"])
        await cc.wait_frame("notification", LIVE_BOUND_S, kind="reply")
        await asyncio.sleep(LIVE_BOUND_S / 2)
        await settle(cb)
        assert frames(cb, "notification") == []
    finally:
        await close_all(ca, cb, cc)
    assert (await api(dep, "GET", "/api/notifications", bea.token)).json()["notifications"] == []


async def test_nothing_from_a_member_one_blocked_reaches_one(deployment: Deployment) -> None:
    """Bea blocked Ann. Ann mentions her, replies to her and reacts to her message, from
    another gateway: Bea's devices hear nothing and nothing is stored for her; Cal, mentioned
    in the same message, is told."""
    dep = deployment
    last = len(dep.gateways) - 1
    lounge = default_org(ORG_A).lounge
    ann, bea, cal = dep.register(), dep.register(gateway=last), dep.register()
    cb = await connect(dep, bea, last, lounge)
    try:
        mine = await cb.post(lounge, "a message of bea's", new_cid())
    finally:
        await close_all(cb)
    await wait_ids_stored(dep, bea.token, lounge, mine["id"])
    assert (await api(dep, "PUT", f"/api/blocks/{ann.id}", bea.token, gateway=last)).status_code == 204
    phone, laptop, cc = await connect(dep, bea, last), await connect(dep, bea, 0), await connect(dep, cal, last)
    ca = await connect(dep, ann, 0, lounge)
    try:
        await ca.post(lounge, f"@{bea.handle} @{cal.handle} hello", new_cid(), reply_to=mine["id"])
        r = await api(dep, "POST", f"/api/rooms/{lounge}/reactions", ann.token,
                      json={"message": mine["id"], "reaction": "hug", "on": True})
        assert r.status_code == 200, r.text
        await cc.wait_frame("notification", LIVE_BOUND_S, kind="mention")
        await asyncio.sleep(LIVE_BOUND_S / 2)
        await settle(phone, laptop)
        assert frames(phone, "notification") == frames(laptop, "notification") == []
    finally:
        await close_all(ca, phone, laptop, cc)
    assert (await api(dep, "GET", "/api/notifications", bea.token)).json()["notifications"] == []
    assert (await api(dep, "GET", "/api/me/unread", bea.token)).json()["notifications"] == 0


async def test_a_block_that_ends_a_pending_request_clears_it_on_every_device(deployment: Deployment) -> None:
    """Ann asked Ben; Ben blocks her from his laptop. The request's notification is handled
    (read), and both of Ben's devices hear it at once, as when he declines: his badge does not
    keep counting a request from someone he blocked."""
    dep = deployment
    last = len(dep.gateways) - 1
    ann, ben = dep.register(), dep.register(gateway=last)
    phone, laptop = await connect(dep, ben, last), await connect(dep, ben, 0)
    ann_c = await connect(dep, ann, 0)
    try:
        assert (await api(dep, "PUT", f"/api/friends/{ben.id}", ann.token)).status_code == 200
        told = await phone.wait_frame("notification", LIVE_BOUND_S, kind="friend_request")
        await laptop.wait_frame("notification", LIVE_BOUND_S, kind="friend_request")
        assert (await api(dep, "PUT", f"/api/blocks/{ann.id}", ben.token)).status_code == 204
        for c in (phone, laptop):
            cleared = await c.wait_frame("notifications_read", LIVE_BOUND_S)
            assert cleared["ids"] == [told["id"]] and cleared["unread"] == 0
        await settle(ann_c)
        assert frames(ann_c, "notifications_read") == []  # Ann is told nothing
        listed = (await api(dep, "GET", "/api/notifications", ben.token, gateway=last)).json()
        assert listed["unread"] == 0 and [n["read"] for n in listed["notifications"]] == [True]
    finally:
        await close_all(phone, laptop, ann_c)
