"""Friends end to end (docs/social.md), in both modes (embedded on SQLite; three gateways on
Redis and PostgreSQL): a request and an acceptance reach the other member live on whatever
gateway they are; a pending request is one notification, however often it is made; asking
oneself; a block ends a friendship and refuses requests both ways with a neutral answer;
1,000 requests in a minute are refused past the limit and change nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from support.client import Client
from support.cluster import Deployment, Member
from support.http import TLS
from support.moderation import api, close_all, connect
from support.procs import TIMEOUT_SCALE

LIVE_BOUND_S = 2.0 * TIMEOUT_SCALE


def last(dep: Deployment) -> int:
    return len(dep.gateways) - 1


async def settle(*clients: Client) -> None:
    """Every frame already sent to these clients has arrived (a ping each, answered in order)."""
    for c in clients:
        start = len(c.frames)
        await c.send({"type": "ping"})
        await c.wait_frame("pong", LIVE_BOUND_S, start=start)


def notes(c: Client, kind: str) -> list[dict[str, Any]]:
    return [f for f in c.frames if f.get("type") == "notification" and f.get("kind") == kind]


async def friends_of(dep: Deployment, m: Member, gateway: int = 0) -> dict[str, list[str]]:
    r = await api(dep, "GET", "/api/friends", m.token, gateway=gateway)
    assert r.status_code == 200, r.text
    return {k: [p["handle"] for p in v] for k, v in r.json().items()}


async def befriend(dep: Deployment, a: Member, b: Member, gateway: int = 0) -> httpx.Response:
    return await api(dep, "PUT", f"/api/friends/{b.id}", a.token, gateway=gateway)


async def unfriend(dep: Deployment, a: Member, b: Member, gateway: int = 0) -> httpx.Response:
    return await api(dep, "DELETE", f"/api/friends/{b.id}", a.token, gateway=gateway)


async def listed(dep: Deployment, m: Member, kind: str) -> list[dict[str, Any]]:
    r = await api(dep, "GET", "/api/notifications", m.token)
    return [n for n in r.json()["notifications"] if n["kind"] == kind]


async def test_request_and_acceptance_reach_the_other_live_on_any_gateway(deployment: Deployment) -> None:
    dep = deployment
    ann, ben = dep.register(), dep.register(gateway=last(dep))
    ann_phone = await connect(dep, ann, last(dep))
    ben_phone, ben_laptop = await connect(dep, ben, last(dep)), await connect(dep, ben, 0)
    try:
        r = await befriend(dep, ann, ben)  # over HTTP on gateway 0
        assert r.status_code == 200 and r.json() == {"user": {"id": ben.id, "handle": ben.handle, "role": "member"},
                                                     "friend": "requested"}
        for c in (ben_phone, ben_laptop):
            told = await c.wait_frame("notification", LIVE_BOUND_S, kind="friend_request")
            assert told["text"] == f"{ann.handle} would like to be your friend." and told["unread"] >= 1
        assert await friends_of(dep, ann) == {"friends": [], "incoming": [], "outgoing": [ben.handle]}
        assert await friends_of(dep, ben, last(dep)) == {"friends": [], "incoming": [ann.handle], "outgoing": []}

        # Ben accepts on the last gateway: Ann hears it there; Ben's request is handled on both devices.
        r = await befriend(dep, ben, ann, gateway=last(dep))
        assert r.status_code == 200 and r.json()["friend"] == "friends"
        accepted = await ann_phone.wait_frame("notification", LIVE_BOUND_S, kind="friend_accepted")
        assert accepted["text"] == f"{ben.handle} accepted your friend request. You are friends now."
        request_id = notes(ben_phone, "friend_request")[0]["id"]
        for c in (ben_phone, ben_laptop):
            read = await c.wait_frame("notifications_read", LIVE_BOUND_S)
            assert read["ids"] == [request_id]
        assert await friends_of(dep, ann) == {"friends": [ben.handle], "incoming": [], "outgoing": []}
        assert await friends_of(dep, ben) == {"friends": [ann.handle], "incoming": [], "outgoing": []}
        profile = (await api(dep, "GET", f"/api/people/{ben.id}", ann.token)).json()
        assert profile["friend"] == "friends" and profile["self"] is False
        # Unfriending is quiet: nobody is told, both lists empty.
        assert (await unfriend(dep, ben, ann)).json()["friend"] == "none"
        await settle(ann_phone, ben_phone)
        assert len(notes(ann_phone, "friend_accepted")) == 1 and len(notes(ben_phone, "friend_request")) == 1
        assert await friends_of(dep, ann) == {"friends": [], "incoming": [], "outgoing": []}
    finally:
        await close_all(ann_phone, ben_phone, ben_laptop)


async def test_a_pending_request_is_one_notification(deployment: Deployment) -> None:
    dep = deployment
    ann, ben = dep.register(), dep.register()
    ben_c = await connect(dep, ben, last(dep))
    try:
        for i in range(3):  # asking again while it waits: the same request
            r = await befriend(dep, ann, ben, gateway=i)
            assert r.json()["friend"] == "requested"
        await ben_c.wait_frame("notification", LIVE_BOUND_S, kind="friend_request")
        await settle(ben_c)
        assert len(notes(ben_c, "friend_request")) == 1
        first = await listed(dep, ben, "friend_request")
        assert len(first) == 1 and first[0]["read"] is False

        # Cancelled: handled (read) on Ben's side; asked again: the same notification, unread again.
        assert (await unfriend(dep, ann, ben)).json()["friend"] == "none"
        await ben_c.wait_frame("notifications_read", LIVE_BOUND_S, ids=[first[0]["id"]])
        assert [n["read"] for n in await listed(dep, ben, "friend_request")] == [True]
        assert await friends_of(dep, ben) == {"friends": [], "incoming": [], "outgoing": []}
        start = len(ben_c.frames)
        assert (await befriend(dep, ann, ben)).json()["friend"] == "requested"
        again = await ben_c.wait_frame("notification", LIVE_BOUND_S, start=start, kind="friend_request")
        assert again["id"] == first[0]["id"]
        now = await listed(dep, ben, "friend_request")
        assert [(n["id"], n["read"]) for n in now] == [(first[0]["id"], False)]

        # Declined: handled; Ann's outgoing request is gone; declining again changes nothing.
        assert (await unfriend(dep, ben, ann, gateway=last(dep))).json()["friend"] == "none"
        assert [n["read"] for n in await listed(dep, ben, "friend_request")] == [True]
        assert await friends_of(dep, ann) == {"friends": [], "incoming": [], "outgoing": []}
        assert (await unfriend(dep, ben, ann)).status_code == 200
        assert len(await listed(dep, ben, "friend_request")) == 1
    finally:
        await close_all(ben_c)


async def test_befriending_oneself_and_other_bad_input(deployment: Deployment) -> None:
    dep = deployment
    ann = dep.register()
    bad = [
        ("PUT", f"/api/friends/{ann.id}", 400, "yourself"),
        ("DELETE", f"/api/friends/{ann.id}", 400, "yourself"),
        ("PUT", f"/api/following/{ann.id}", 400, "yourself"),
        ("PUT", "/api/friends/not-an-id", 404, "no_such_member"),
        ("PUT", "/api/friends/u0000000000000000", 404, "no_such_member"),
        ("GET", "/api/people/u0000000000000000", 404, "no_such_member"),
    ]
    for method, path, status, code in bad:
        r = await api(dep, method, path, ann.token)
        assert (r.status_code, r.json()["error"]) == (status, code), (method, path, r.text)
    assert "yourself" in (await api(dep, "PUT", f"/api/friends/{ann.id}", ann.token)).json()["detail"]
    r = await api(dep, "PUT", f"/api/friends/{ann.id}", None)
    assert r.status_code == 401
    assert await friends_of(dep, ann) == {"friends": [], "incoming": [], "outgoing": []}
    me = (await api(dep, "GET", f"/api/people/{ann.id}", ann.token)).json()
    assert me["self"] is True and me["user"]["handle"] == ann.handle
    r = await api(dep, "PUT", "/api/people/settings", ann.token, json={"followable": "maybe"})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")


async def test_a_block_ends_the_friendship_and_refuses_requests_both_ways(deployment: Deployment) -> None:
    dep = deployment
    ann, ben, cat = dep.register(), dep.register(), dep.register()
    await befriend(dep, ann, ben)
    await befriend(dep, ben, ann)
    for a, b in ((ann, ben), (ben, ann)):
        assert (await api(dep, "PUT", f"/api/following/{b.id}", a.token)).status_code == 200
    assert (await friends_of(dep, ann))["friends"] == [ben.handle]

    assert (await api(dep, "PUT", f"/api/blocks/{ann.id}", ben.token)).status_code == 204  # Ben blocks Ann
    for m in (ann, ben):
        assert await friends_of(dep, m) == {"friends": [], "incoming": [], "outgoing": []}
        following = (await api(dep, "GET", "/api/following", m.token)).json()
        assert following == {"following": [], "followers": []}

    # Cat turned requests and following off: Ann is told exactly what she is told about Ben.
    r = await api(dep, "PUT", "/api/people/settings", cat.token, json={"friend_requests": False, "followable": False})
    assert r.json() == {"friend_requests": False, "followable": False}
    to_ben, to_cat = await befriend(dep, ann, ben), await befriend(dep, ann, cat)
    assert to_ben.status_code == to_cat.status_code == 403
    assert to_ben.json() == to_cat.json() == {"error": "not_accepted", "detail": "this member is not taking friend requests"}
    follow_ben = await api(dep, "PUT", f"/api/following/{ben.id}", ann.token)
    follow_cat = await api(dep, "PUT", f"/api/following/{cat.id}", ann.token)
    assert follow_ben.status_code == follow_cat.status_code == 403
    assert follow_ben.json() == follow_cat.json()
    seen_ben = (await api(dep, "GET", f"/api/people/{ben.id}", ann.token)).json()
    seen_cat = (await api(dep, "GET", f"/api/people/{cat.id}", ann.token)).json()
    for view in (seen_ben, seen_cat):
        view.pop("user")
    assert seen_ben == seen_cat
    assert seen_ben["can_befriend"] is False and seen_ben["can_follow"] is False

    # The other way: Ben, who blocked, is told to unblock first (only he learns of his block).
    r = await befriend(dep, ben, ann)
    assert (r.status_code, r.json()["error"]) == (409, "you_blocked")
    assert (await api(dep, "GET", f"/api/people/{ann.id}", ben.token)).json()["you_blocked"] is True
    for m in (ann, ben):
        assert await friends_of(dep, m) == {"friends": [], "incoming": [], "outgoing": []}

    # A block also ends a pending request, and its notification is handled.
    dan = dep.register()
    await befriend(dep, dan, ann)
    assert [n["read"] for n in await listed(dep, ann, "friend_request")] == [False]
    assert (await api(dep, "PUT", f"/api/blocks/{dan.id}", ann.token)).status_code == 204
    assert await friends_of(dep, dan) == {"friends": [], "incoming": [], "outgoing": []}
    assert [n["read"] for n in await listed(dep, ann, "friend_request")] == [True]

    # Unblocked: asking works again (the friendship is not restored by itself).
    assert (await api(dep, "DELETE", f"/api/blocks/{ann.id}", ben.token)).status_code == 204
    assert (await befriend(dep, ann, ben)).json()["friend"] == "requested"


async def test_a_thousand_requests_in_a_minute_are_refused_past_the_limit(deployment: Deployment) -> None:
    """The limit (KINDRED_FRIEND_REQUEST_RATE, 20 per 10 minutes) holds across every gateway;
    a refused request says when to try again and changes nothing."""
    dep = deployment
    n = len(dep.gateways)
    ann = dep.register()
    targets = [dep.register(gateway=i % n) for i in range(25)]
    clients = [httpx.AsyncClient(verify=TLS, base_url=gw.http_url, timeout=30,
                                 headers={"Authorization": f"Bearer {ann.token}"}) for gw in dep.gateways]
    try:
        answers: list[httpx.Response] = []
        for i, t in enumerate(targets):  # one new request each, across the gateways
            answers.append(await clients[i % n].put(f"/api/friends/{t.id}"))
        assert [a.status_code for a in answers] == [200] * 20 + [429] * 5
        refused = answers[-1]
        assert refused.json()["error"] == "rate_limited" and refused.json()["retry_after_s"] > 0
        assert int(refused.headers["Retry-After"]) > 0
        assert "friend requests" in refused.json()["detail"]

        # 975 more at once to the members not asked yet: every one refused.
        sem = asyncio.Semaphore(16)

        async def one(i: int) -> int:
            async with sem:
                r = await clients[i % n].put(f"/api/friends/{targets[20 + i % 5].id}")
                return r.status_code

        codes = await asyncio.gather(*(one(i) for i in range(975)))
        assert set(codes) == {429}
    finally:
        for c in clients:
            await c.aclose()
    # Nothing changed by the refused ones: 20 requests out, one notification each, none for the rest.
    assert sorted((await friends_of(dep, ann))["outgoing"]) == sorted(t.handle for t in targets[:20])
    for t in targets[:20:6]:
        assert len(await listed(dep, t, "friend_request")) == 1
    for t in targets[20:]:
        assert await friends_of(dep, t) == {"friends": [], "incoming": [], "outgoing": []}
        assert await listed(dep, t, "friend_request") == []
    # Accepting is never limited: a target asks Ann, and she accepts.
    await befriend(dep, targets[24], ann)
    r = await befriend(dep, ann, targets[24])
    assert r.status_code == 200 and r.json()["friend"] == "friends"


async def test_a_member_who_muted_friend_requests_is_not_told(deployment: Deployment) -> None:
    dep = deployment
    ann, ben = dep.register(), dep.register()
    r = await api(dep, "PUT", "/api/notifications/settings", ben.token, json={"muted": ["friend_request"]})
    assert r.status_code == 200
    ben_c = await connect(dep, ben, last(dep))
    try:
        for _ in range(2):  # asked, cancelled, asked again: never told, the request still there
            assert (await befriend(dep, ann, ben)).json()["friend"] == "requested"
            assert (await unfriend(dep, ann, ben)).json()["friend"] == "none"
        assert (await befriend(dep, ann, ben)).json()["friend"] == "requested"
        await settle(ben_c)
        assert notes(ben_c, "friend_request") == []
        assert await listed(dep, ben, "friend_request") == []
        assert await friends_of(dep, ben) == {"friends": [], "incoming": [ann.handle], "outgoing": []}
    finally:
        await close_all(ben_c)
