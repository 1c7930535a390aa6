"""Red team: what friends, following, profiles and notifications let one member learn about
another (docs/social.md), in both modes (embedded on SQLite; three gateways on Redis and
PostgreSQL).

A member who was blocked is told, byte for byte, what a member who turned requests and
following off tells everyone; a follow that slipped past a block or a closed door by a race
(written straight into the database here) never shows, on either side; "rooms in common"
never names a room the viewer may not read (another organization's local room, a room they
are banned from, a room where the other's only words were removed); a mention never reaches
someone banned from the room; and no answer carries an email address."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from test_redteam_social_races import db_id, sql

from support.cluster import ORG_A, ORG_B, Deployment, Member
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

NATIONAL = "breast-cancer"
LIVE_BOUND_S = 2.0 * TIMEOUT_SCALE


def no_address(*answers: httpx.Response | dict[str, Any] | list[Any], members: list[Member]) -> None:
    """No answer or frame carries an email address (of anyone) or an IP address."""
    for a in answers:
        text = a.text if isinstance(a, httpx.Response) else repr(a)
        assert "example.org" not in text and "127.0.0.1" not in text, text
        for m in members:
            assert m.email not in text


async def say(dep: Deployment, m: Member, room: str, body: str, gateway: int = 0) -> dict[str, Any]:
    c = await connect(dep, m, gateway, room)
    try:
        sent = await c.post(room, body, new_cid())
        await wait_ids_stored(dep, m.token, room, sent["id"])
        return sent
    finally:
        await close_all(c)


async def test_a_follow_that_slipped_past_a_block_or_a_closed_door_never_shows(deployment: Deployment) -> None:
    """A race can leave a follow row beside a block or a "do not follow me" (the docs say such
    a row counts for nothing). Written here straight into the database: the member followed
    does not see it among their followers nor "follows you" on the profile, and the follower
    does not see it either."""
    dep = deployment
    ann, ben, cat = dep.register(), dep.register(), dep.register()
    assert (await api(dep, "PUT", f"/api/blocks/{ann.id}", ben.token)).status_code == 204  # Ben blocks Ann
    r = await api(dep, "PUT", "/api/people/settings", cat.token, json={"followable": False})
    assert r.status_code == 200
    for followed in (ben, cat):
        await sql(dep, "INSERT INTO follows (follower_id, followed_id, created_ms) VALUES (?, ?, ?)",
                  await db_id(dep, ann), await db_id(dep, followed), int(time.time() * 1000))
    for followed in (ben, cat):
        mine = (await api(dep, "GET", "/api/following", followed.token)).json()
        assert mine == {"following": [], "followers": []}, (followed.handle, mine)
        seen = (await api(dep, "GET", f"/api/people/{ann.id}", followed.token)).json()
        assert seen["follows_you"] is False, seen
        theirs = (await api(dep, "GET", f"/api/people/{followed.id}", ann.token)).json()
        assert theirs["following"] is False, theirs
    assert (await api(dep, "GET", "/api/following", ann.token)).json() == {"following": [], "followers": []}
    assert (await api(dep, "GET", "/api/feed", ann.token)).json() == {"entries": [], "next": None}


async def test_a_blocked_member_is_told_byte_for_byte_what_a_closed_member_says(deployment: Deployment) -> None:
    """Vic was blocked by Ben; Cat turned friend requests and following off. Every answer Vic
    gets about Ben (asking, following, cancelling, stopping, the profile) is the answer she
    gets about Cat, byte for byte once the names are swapped; an id nobody has and a malformed
    one answer the same; and nothing she reads names an address."""
    dep = deployment
    last = len(dep.gateways) - 1
    vic, ben, cat = dep.register(), dep.register(gateway=last), dep.register()
    for m in (vic, ben, cat):  # all three write in the same national room
        await say(dep, m, NATIONAL, f"hello from {m.handle}")
    assert (await api(dep, "PUT", f"/api/following/{vic.id}", ben.token)).status_code == 200
    assert (await api(dep, "PUT", f"/api/following/{ben.id}", vic.token)).status_code == 200
    assert (await api(dep, "PUT", f"/api/blocks/{vic.id}", ben.token, gateway=last)).status_code == 204
    r = await api(dep, "PUT", "/api/people/settings", cat.token, json={"friend_requests": False, "followable": False})
    assert r.status_code == 200

    def swapped(r: httpx.Response) -> tuple[int, bytes, str]:
        body = r.content.replace(ben.id.encode(), cat.id.encode()).replace(ben.handle.encode(), cat.handle.encode())
        return r.status_code, body, r.headers.get("content-type", "")

    seen = []
    for method, path in (("PUT", "/api/friends/{}"), ("PUT", "/api/following/{}"), ("GET", "/api/people/{}"),
                         ("DELETE", "/api/friends/{}"), ("DELETE", "/api/following/{}"),
                         ("PUT", "/api/friends/{}"), ("GET", "/api/people/{}")):
        for gateway in range(len(dep.gateways)):
            about_ben = await api(dep, method, path.format(ben.id), vic.token, gateway=gateway)
            about_cat = await api(dep, method, path.format(cat.id), vic.token, gateway=gateway)
            assert swapped(about_ben) == swapped(about_cat), (method, path, about_ben.text, about_cat.text)
            seen += [about_ben, about_cat]
    profile = (await api(dep, "GET", f"/api/people/{ben.id}", vic.token)).json()
    assert profile["rooms_in_common"] == [{"slug": NATIONAL, "name": profile["rooms_in_common"][0]["name"]}]
    assert profile["can_befriend"] is False and profile["can_follow"] is False and profile["follows_you"] is False
    # Nothing stayed of Vic's asking: Ben and Cat have no request and no notification.
    for m in (ben, cat):
        assert (await api(dep, "GET", "/api/friends", m.token)).json() == {"friends": [], "incoming": [], "outgoing": []}
        assert (await api(dep, "GET", "/api/notifications", m.token)).json()["notifications"] == []
    mine = await api(dep, "GET", "/api/friends", vic.token)
    assert mine.json() == {"friends": [], "incoming": [], "outgoing": []}
    following = await api(dep, "GET", "/api/following", vic.token)
    assert following.json() == {"following": [], "followers": []}

    # An id nobody has and a malformed one: the same 404, on every route.
    for method, path in (("PUT", "/api/friends/{}"), ("DELETE", "/api/friends/{}"), ("PUT", "/api/following/{}"),
                         ("DELETE", "/api/following/{}"), ("GET", "/api/people/{}")):
        nobody = await api(dep, method, path.format("u" + "0" * 16), vic.token)
        garbled = await api(dep, method, path.format("not-a-member"), vic.token)
        assert (nobody.status_code, nobody.content) == (garbled.status_code, garbled.content) and nobody.status_code == 404
        seen += [nobody, garbled]
    no_address(*seen, mine, following, members=[vic, ben, cat])


async def test_rooms_in_common_names_only_rooms_the_viewer_may_read(deployment: Deployment) -> None:
    """Tom writes in a national room, his organization's lounge, its support group (where his
    only message is removed) and its caregivers' circle (from which Amy is banned). Amy, of
    the same organization, wrote in all four: she sees the national room and the lounge.
    Bea, of the other organization, sees only the national room, and Tom sees only that of hers."""
    dep = deployment
    org = default_org(ORG_A)
    lounge, group, circle = org.rooms
    nav = make_staff(dep, ORG_A)
    tom, amy, bea = dep.register(), dep.register(), dep.register(org=ORG_B)
    for room in (NATIONAL, lounge, group, circle):
        await say(dep, amy, room, "amy was here")
    for room in (NATIONAL, lounge, circle):
        await say(dep, tom, room, "tom was here")
    removed = await say(dep, tom, group, "tom's words a navigator removed")
    await say(dep, bea, NATIONAL, "bea was here")
    await say(dep, bea, default_org(ORG_B).lounge, "bea at home")
    n = await connect(dep, nav, 0, group, circle)
    try:
        await moderate_ok(n, group, "remove", message=removed["id"], reason="off topic")
        await moderate_ok(n, circle, "ban", user=amy.id, reason="a test ban")
    finally:
        await close_all(n)

    async def common(viewer: Member, other: Member) -> list[str]:
        r = await api(dep, "GET", f"/api/people/{other.id}", viewer.token, gateway=len(dep.gateways) - 1)
        assert r.status_code == 200, r.text
        no_address(r, members=[viewer, other])
        return [c["slug"] for c in r.json()["rooms_in_common"]]

    assert sorted(await common(amy, tom)) == sorted([NATIONAL, lounge])
    assert await common(bea, tom) == [NATIONAL]
    assert await common(tom, bea) == [NATIONAL]
    # Tom may read the caregivers' circle; Amy's words there are what anyone there reads.
    assert sorted(await common(tom, amy)) == sorted([NATIONAL, lounge, circle])


async def test_a_mention_never_reaches_a_member_banned_from_the_room(deployment: Deployment) -> None:
    """Mentions are resolved against members who can read the room: one banned from it cannot
    (the feed and "rooms in common" leave such rooms out too), so "@them" there is neither
    stored nor sent; a member who may read it is told, once per device."""
    dep = deployment
    last = len(dep.gateways) - 1
    lounge = default_org(ORG_A).lounge
    nav = make_staff(dep, ORG_A)
    ann, banned, reader = dep.register(), dep.register(), dep.register()
    n = await connect(dep, nav, 0, lounge)
    try:
        await moderate_ok(n, lounge, "ban", user=banned.id, reason="a test ban")
    finally:
        await close_all(n)
    cb, cr = await connect(dep, banned, last), await connect(dep, reader, last)
    ca = await connect(dep, ann, 0, lounge)
    try:
        await ca.post(lounge, f"thinking of you @{banned.handle} and @{reader.handle}", new_cid())
        await cr.wait_frame("notification", LIVE_BOUND_S, kind="mention")
        await asyncio.sleep(LIVE_BOUND_S / 2)  # a frame for the banned member would be here by now
        assert [f for f in cb.frames if f.get("type") == "notification"] == []
        assert len([f for f in cr.frames if f.get("type") == "notification"]) == 1
    finally:
        await close_all(ca, cb, cr)
    assert (await api(dep, "GET", "/api/notifications", banned.token)).json()["notifications"] == []
