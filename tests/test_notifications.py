"""Notifications end to end (docs/social.md), in both modes: a mention reaches every open
connection of the member exactly once, wherever they are connected; replies; the unread count
is right after reconnecting; marking read on one device clears it on the other; unread
messages per room; muting a kind; bad input. Real gateways, real Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from support.client import Client
from support.cluster import ORG_A, ORG_B, Deployment
from support.moderation import (
    Teams,
    api,
    close_all,
    connect,
    default_org,
    make_staff,
    moderate_ok,
    new_cid,
)
from support.procs import TIMEOUT_SCALE

LIVE_BOUND_S = 2.0 * TIMEOUT_SCALE
NATIONAL = "breast-cancer"


def notes(c: Client, kind: str | None = None) -> list[dict]:
    return [f for f in c.frames if f.get("type") == "notification" and (kind is None or f["kind"] == kind)]


async def settle(*clients: Client) -> None:
    """Every frame already sent to these clients has arrived: a ping each, answered in order."""
    for c in clients:
        start = len(c.frames)
        await c.send({"type": "ping"})
        await c.wait_frame("pong", LIVE_BOUND_S, start=start)


async def test_mention_reaches_every_connection_once(deployment: Deployment) -> None:
    dep = deployment
    last = len(dep.gateways) - 1
    author, target = dep.register(), dep.register()
    room = default_org(ORG_A).lounge
    writer = await connect(dep, author, 0, room)
    phone = await connect(dep, target, last)  # two devices, on two gateways, in no room
    laptop = await connect(dep, target, 0)
    try:
        canary = "canary-9f3e2 my scan results"
        await writer.post(room, f"@{target.handle} thinking of you. {canary}", new_cid())
        for c in (phone, laptop):
            frame = await c.wait_frame("notification", LIVE_BOUND_S, kind="mention")
            assert frame["room"] == room and author.handle in frame["text"]
            assert canary not in str(frame) and frame["unread"] >= 1
        await settle(phone, laptop)
        assert len(notes(phone, "mention")) == 1 and len(notes(laptop, "mention")) == 1
        # Reconnecting: the count and the list say the same.
        await phone.close()
        unread = (await api(dep, "GET", "/api/me/unread", target.token, gateway=last)).json()
        assert unread["notifications"] == 1
        listed = (await api(dep, "GET", "/api/notifications", target.token)).json()
        assert [n["kind"] for n in listed["notifications"]] == ["mention"] and listed["unread"] == 1
        phone = await connect(dep, target, last)
        # Mark read on the laptop (over HTTP on gateway 0): the phone hears it.
        nid = listed["notifications"][0]["id"]
        r = await api(dep, "POST", "/api/notifications/read", target.token, json={"ids": [nid]})
        assert r.status_code == 200 and r.json() == {"read": [nid], "unread": 0}
        for c in (phone, laptop):
            cleared = await c.wait_frame("notifications_read", LIVE_BOUND_S)
            assert cleared["ids"] == [nid] and cleared["unread"] == 0
        again = (await api(dep, "GET", "/api/notifications", target.token, gateway=last)).json()
        assert again["unread"] == 0 and again["notifications"][0]["read"] is True
        assert canary not in (dep.gateways[0].log_path.read_text() + dep.gateways[last].log_path.read_text())
    finally:
        await close_all(writer, phone, laptop)


async def test_reply_and_mentions_only_of_those_who_see_the_room(deployment: Deployment) -> None:
    dep = deployment
    a, b = dep.register(), dep.register()
    outsider = dep.register(org=ORG_B)  # cannot see ORG_A's local room
    room = default_org(ORG_A).lounge
    ca = await connect(dep, a, 0, room)
    cb = await connect(dep, b, len(dep.gateways) - 1, room)
    co = await connect(dep, outsider, 0)
    try:
        first = await cb.post(room, "Has anyone tried cold caps?", new_cid())
        # Mentioning oneself, an outsider and a handle nobody has tells nobody but b (a reply).
        await ca.post(room, f"@{a.handle} @{outsider.handle} @nobody-here yes, it helped", new_cid(),
                      reply_to=first["id"])
        reply = await cb.wait_frame("notification", LIVE_BOUND_S, kind="reply")
        assert reply["room"] == room and a.handle in reply["text"]
        await settle(ca, cb, co)
        assert notes(ca) == [] and notes(co) == [] and len(notes(cb)) == 1
        told = (await api(dep, "GET", "/api/notifications", outsider.token)).json()
        assert told["notifications"] == []
    finally:
        await close_all(ca, cb, co)


async def test_muted_kind_is_not_stored_nor_sent(deployment: Deployment) -> None:
    dep = deployment
    a, b = dep.register(), dep.register()
    room = default_org(ORG_A).lounge
    r = await api(dep, "PUT", "/api/notifications/settings", b.token, json={"muted": ["mention"]})
    assert r.status_code == 200 and r.json()["muted"] == ["mention"]
    ca = await connect(dep, a, 0, room)
    cb = await connect(dep, b, 0)
    try:
        await ca.post(room, f"hello @{b.handle}", new_cid())
        await settle(ca)
        await asyncio.sleep(0)  # the post's notifications are done before the sender's pong
        await settle(cb)
        assert notes(cb) == []
        assert (await api(dep, "GET", "/api/notifications", b.token)).json()["notifications"] == []
    finally:
        await close_all(ca, cb)


async def test_unread_per_room_and_read_mark(deployment: Deployment) -> None:
    dep = deployment
    org = dep.new_org()
    a, b = dep.register(org=org[:2]), dep.register(org=org[:2])
    room = org[2][1]
    ca = await connect(dep, a, 0, room)
    device2 = await connect(dep, b, len(dep.gateways) - 1)
    try:
        for i in range(3):
            await ca.post(room, f"news {i}", new_cid())

        async def counted() -> dict:
            return (await api(dep, "GET", "/api/me/unread", b.token)).json()["rooms"]

        deadline = asyncio.get_running_loop().time() + 5 * TIMEOUT_SCALE
        while (await counted()).get(room) != 3:  # in Redis mode the writer commits shortly after
            assert asyncio.get_running_loop().time() < deadline, await counted()
            await asyncio.sleep(0.1)
        assert room not in (await api(dep, "GET", "/api/me/unread", a.token)).json()["rooms"]
        r = await api(dep, "POST", f"/api/rooms/{room}/read", b.token, json={})
        assert r.status_code == 200 and r.json()["seq"] >= 3
        frame = await device2.wait_frame("unread", LIVE_BOUND_S, room=room)
        assert frame["count"] == 0
        assert room not in await counted()
        # A read mark never moves back.
        r = await api(dep, "POST", f"/api/rooms/{room}/read", b.token, json={"seq": 1})
        assert r.json()["seq"] >= 3
    finally:
        await close_all(ca, device2)


async def test_no_unread_count_for_a_room_one_is_banned_from(deployment: Deployment) -> None:
    """A room one cannot enter shows no new messages: the count would be a door that does
    not open (and news of a room one was removed from)."""
    dep = deployment
    org = dep.new_org()
    a, b = dep.register(org=org[:2]), dep.register(org=org[:2])
    n = make_staff(dep, org[:2])
    room = org[2][1]
    ca = await connect(dep, a, 0, room)
    cn = await connect(dep, n, len(dep.gateways) - 1, room)
    try:
        for i in range(2):
            await ca.post(room, f"news {i}", new_cid())

        async def counted() -> dict:
            return (await api(dep, "GET", "/api/me/unread", b.token)).json()["rooms"]

        deadline = asyncio.get_running_loop().time() + 5 * TIMEOUT_SCALE
        while (await counted()).get(room) != 2:  # in Redis mode the writer commits shortly after
            assert asyncio.get_running_loop().time() < deadline, await counted()
            await asyncio.sleep(0.1)
        await moderate_ok(cn, room, "ban", user=b.id, reason="a test ban")
        assert room not in await counted()
    finally:
        await close_all(ca, cn)


async def test_bad_input(embedded: Deployment) -> None:
    dep = embedded
    m, other = dep.register(), dep.register(org=ORG_B)
    cases = [
        ("PUT", "/api/notifications/settings", {"muted": ["spam"]}),
        ("PUT", "/api/notifications/settings", {"digest": "hourly"}),
        ("POST", "/api/notifications/read", {}),
        ("POST", "/api/notifications/read", {"ids": [1], "all": True}),
        ("POST", "/api/notifications/read", {"ids": "all"}),
        ("POST", f"/api/rooms/{default_org(ORG_B).lounge}/read", {}),
        ("POST", "/api/rooms/no-such-room/read", {"seq": -1}),
    ]
    for method, path, body in cases:
        r = await api(dep, method, path, m.token, json=body)
        assert r.status_code in (400, 404, 422), (path, body, r.text)
        assert "error" in r.json()
    assert (await api(dep, "GET", "/api/notifications/settings", m.token)).json()["muted"] == []
    # Marking someone else's notification read changes nothing.
    r = await api(dep, "POST", "/api/notifications/read", m.token, json={"ids": [1, 2, 3]})
    assert r.status_code == 200 and r.json()["read"] == []
    assert (await api(dep, "GET", "/api/me/unread", other.token)).status_code == 200
    assert (await api(dep, "GET", "/api/me/unread", None)).status_code == 401


@pytest.mark.parametrize("kind", ["mention"])
async def test_mention_in_national_room(embedded: Deployment, kind: str) -> None:
    dep = embedded
    a, b = dep.register(), dep.register(org=ORG_B)  # two organizations, one national room
    ca = await connect(dep, a, 0, NATIONAL)
    cb = await connect(dep, b, 0)
    try:
        await ca.post(NATIONAL, f"welcome @{b.handle.upper()}!", new_cid())
        frame = await cb.wait_frame("notification", LIVE_BOUND_S, kind=kind)
        assert frame["room"] == NATIONAL
    finally:
        await close_all(ca, cb)


@pytest.fixture(scope="module")
def teams() -> Teams:
    return Teams()


async def test_mention_in_a_session_room_reaches_only_those_who_may_enter(
    deployment: Deployment, teams: Teams,
) -> None:
    """A session's live room is open to its hosts, staff and members signed up with a place:
    a mention there must not reach a member of the organization the room would turn away."""
    dep = deployment
    org, host = teams.of(dep)
    signed, outsider = dep.register(), dep.register()
    start = datetime.now(UTC) + timedelta(hours=1)
    r = await api(dep, "POST", "/api/events", host.token, json={
        "room": org.lounge, "kind": "drop_in", "title": "Tuesday drop-in", "description": "",
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat(),
        "tz": "UTC", "capacity": None})
    assert r.status_code == 201, r.text
    event, room = r.json()["id"], r.json()["live_room"]
    assert (await api(dep, "PUT", f"/api/events/{event}/signup", signed.token)).json()["my_signup"] == "in"
    r = await api(dep, "POST", f"/api/events/{event}/state", host.token, json={"state": "lobby"})
    assert r.status_code == 200, r.text
    host_c = await connect(dep, host, 0, room)
    signed_c = await connect(dep, signed, len(dep.gateways) - 1)
    outsider_c = await connect(dep, outsider, 0)
    try:
        ack = await host_c.post(room, f"Welcome @{signed.handle} and @{outsider.handle}", new_cid())
        assert ack["type"] == "ack", ack
        frame = await signed_c.wait_frame("notification", LIVE_BOUND_S, kind="mention")
        assert frame["room"] == room
        # The outsider's own channel carried nothing: a ping answered after the mention was
        # delivered to the signed-up member, and the stored list is empty.
        await settle(outsider_c)
        assert notes(outsider_c, "mention") == []
        listed = (await api(dep, "GET", "/api/notifications", outsider.token)).json()
        assert listed["notifications"] == [] and listed["unread"] == 0
    finally:
        await close_all(host_c, signed_c, outsider_c)


async def test_a_muted_kind_sends_no_live_frame_either(deployment: Deployment, teams: Teams) -> None:
    """Sessions store their notifications in their own transactions and tell members over the
    control channel: a member who muted ``lobby_open`` still hears the session's state, but
    gets no notification frame (and no row)."""
    dep = deployment
    org, host = teams.of(dep)
    muted, plain = dep.register(), dep.register()
    r = await api(dep, "PUT", "/api/notifications/settings", muted.token, json={"muted": ["lobby_open"]})
    assert r.status_code == 200, r.text
    start = datetime.now(UTC) + timedelta(hours=1)
    r = await api(dep, "POST", "/api/events", host.token, json={
        "room": org.lounge, "kind": "drop_in", "title": "Thursday drop-in", "description": "",
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat(),
        "tz": "UTC", "capacity": None})
    assert r.status_code == 201, r.text
    event = r.json()["id"]
    for m in (muted, plain):
        assert (await api(dep, "PUT", f"/api/events/{event}/signup", m.token)).json()["my_signup"] == "in"
    muted_c = await connect(dep, muted, len(dep.gateways) - 1)
    plain_c = await connect(dep, plain, 0)
    try:
        r = await api(dep, "POST", f"/api/events/{event}/state", host.token, json={"state": "lobby"})
        assert r.status_code == 200, r.text
        await plain_c.wait_frame("notification", LIVE_BOUND_S, kind="lobby_open")
        await muted_c.wait_frame("event_state", LIVE_BOUND_S, event=event, state="lobby")
        await settle(muted_c)
        assert notes(muted_c) == []
        assert (await api(dep, "GET", "/api/notifications", muted.token)).json()["notifications"] == []
    finally:
        await close_all(muted_c, plain_c)
