"""The moderation and safety HTTP API (docs/protocol.md §9 "Moderation and safety"), end to end
on three gateways sharing Redis and PostgreSQL: the HTTP form of `moderate`, the room's
moderation state, the audit log, and members' block lists (live and in history).
"""

from __future__ import annotations

import secrets

import pytest

from support.client import Client
from support.cluster import ORG_B, Deployment
from support.moderation import (
    Teams,
    added_to_audit,
    api,
    audit_ids,
    check_audit_entry,
    close_all,
    connect,
    default_org,
    forbidden_reason,
    frames_of,
    history,
    moderate_ok,
    new_cid,
    now_ms,
    view,
    wait_all,
    wait_ids_stored,
)


@pytest.fixture(scope="module")
def teams() -> Teams:
    """ORG_A with a navigator, per deployment: its lounge for the HTTP moderation test, its
    support group for blocks."""
    return Teams()


async def test_http_moderation_does_what_the_frame_does(redis_cluster: Deployment, teams: Teams) -> None:
    dep = redis_cluster
    org, nav = teams.of(dep)
    other = default_org(ORG_B)
    room = org.lounge
    member, peer = dep.register(org=org.key), dep.register(org=org.key)
    m0 = await connect(dep, member, 0, room)
    m1 = await connect(dep, member, 1, room)
    try:
        path = f"/api/rooms/{room}/moderation"
        known = await audit_ids(dep, nav.token, room)  # the room is shared: compare ids, not times
        started = now_ms()
        reason = "Please keep product offers out of the room."
        r = await api(
            dep, "POST", path, nav.token, gateway=2,
            json={"action": "mute", "user": member.id, "reason": reason, "duration_s": 600},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        done = r.json()
        assert done["action"] == "mute" and done["user"] == member.id and done["room"] == room, done
        assert abs(done["until"] - (started + 600_000)) <= 5000, done
        muted = await wait_all(*(c.wait_frame("muted", timeout_s=1, room=room) for c in (m0, m1)))
        assert all(f["until"] == done["until"] and f["reason"] == reason for f in muted), muted
        for c in (m0, m1):
            refused = await c.post(room, "a special offer", cid=new_cid())
            assert refused["type"] == "error" and refused["code"] == "muted", refused

        # The room's moderation state, for its staff only.
        state = await api(dep, "GET", path, nav.token, gateway=1)
        assert state.status_code == 200, state.text
        body = state.json()
        assert body["state"]["slow_mode_s"] == 0 and body["state"]["locked"] is False, body
        assert {"pinned", "on_duty"} <= set(body["state"]), body
        mine = [x for x in body["restrictions"] if x["user"] == view(member)]
        assert len(mine) == 1, body
        assert mine[0]["kind"] == "mute" and mine[0]["until"] == done["until"] and mine[0]["reason"] == reason
        assert mine[0]["by"] == view(nav, "navigator") and abs(mine[0]["at"] - started) <= 5000, mine

        for method, json in (("GET", None), ("POST", {"action": "unmute", "user": member.id})):
            denied = await api(dep, method, path, peer.token, json=json)
            assert denied.status_code == 403 and forbidden_reason(denied) == "not_staff", denied.text
            hidden = await api(dep, method, f"/api/rooms/{other.lounge}/moderation", nav.token, json=json)
            assert hidden.status_code == 404, hidden.text  # a room the caller cannot see

        bad_requests = [
            {"action": "mute", "user": member.id, "reason": "x", "cid": "m-1"},  # cid is the frame's
            {"action": "mute", "user": member.id, "reason": "x", "type": "moderate"},
            {"action": "shout", "user": member.id, "reason": "x"},
            {"action": "mute", "user": member.id, "reason": "x", "duration_s": -1},
            {"action": "mute", "user": member.id},
        ]
        for bad in bad_requests:
            r = await api(dep, "POST", path, nav.token, json=bad)
            assert r.status_code == 400 and r.json()["error"] == "invalid_request", (bad, r.text)
        r = await api(dep, "POST", path, nav.token, json={"action": "mute", "user": "u" + "0" * 16, "reason": "x"})
        assert r.status_code == 404 and r.json()["error"] == "no_such_member", r.text
        r = await api(dep, "POST", path, nav.token, json={"action": "remove", "message": secrets.token_hex(16), "reason": "x"})
        assert r.status_code == 404 and r.json()["error"] == "no_such_message", r.text

        r = await api(dep, "POST", path, nav.token, json={"action": "unmute", "user": member.id})
        assert r.status_code == 200, r.text
        await wait_all(*(c.wait_frame("unmuted", timeout_s=1, room=room) for c in (m0, m1)))
        assert (await m1.post(room, "back, sorry", cid=new_cid()))["type"] == "ack"
        after = (await api(dep, "GET", path, nav.token)).json()
        assert [x for x in after["restrictions"] if x["user"]["id"] == member.id] == [], after

        entries = await added_to_audit(dep, nav.token, room, known)
        assert [e["action"] for e in entries] == ["unmute", "mute"], entries
        check_audit_entry(entries[1], nav, "navigator", room, started)
        assert entries[1]["user"] == view(member) and entries[1]["reason"] == reason
        assert entries[1]["duration_s"] == 600
    finally:
        await close_all(m0, m1)


async def test_the_audit_log_records_who_whom_what_why_when(redis_cluster: Deployment, teams: Teams) -> None:
    dep = redis_cluster
    org, nav = teams.of(dep, ORG_B)  # its lounge's state changes: no other test uses it here
    room = org.lounge
    nav_other = teams.of(dep)[1]  # another organization's navigator
    member = dep.register(org=org.key)
    n = await connect(dep, nav, 0, room)
    m = await connect(dep, member, 1, room)
    try:
        known = await audit_ids(dep, nav.token, room)
        started = now_ms()
        ack = await m.post(room, "something to pin and remove", cid=new_cid())
        await moderate_ok(n, room, "mute", user=member.id, reason="one", duration_s=60)
        await moderate_ok(n, room, "unmute", user=member.id, reason="two")
        await moderate_ok(n, room, "slow_mode", duration_s=5)
        await moderate_ok(n, room, "lock")
        await moderate_ok(n, room, "unlock")
        await moderate_ok(n, room, "pin", message=ack["id"])
        await moderate_ok(n, room, "remove", message=ack["id"], reason="three")
        await moderate_ok(n, room, "kick", user=member.id, reason="four", duration_s=30)
        await moderate_ok(n, room, "unban", user=member.id, reason="five")
        expected = [  # newest first: (action, user, message, reason, duration_s)
            ("unban", view(member), None, "five", None),
            ("kick", view(member), None, "four", 30),
            ("remove", None, ack["id"], "three", None),
            ("pin", None, ack["id"], None, None),
            ("unlock", None, None, None, None),
            ("lock", None, None, None, None),
            ("slow_mode", None, None, None, 5),
            ("unmute", view(member), None, "two", None),
            ("mute", view(member), None, "one", 60),
        ]
        entries = await added_to_audit(dep, nav.token, room, known)
        assert len(entries) == len(expected), entries
        for e, (action, user, message, reason, duration) in zip(entries, expected, strict=True):
            check_audit_entry(e, nav, "navigator", room, started)
            assert e["action"] == action, (e, action)
            if user is not None:
                assert e["user"] == user, e
            if message is not None:
                assert e["message"] == message, e
            if reason is not None:
                assert e["reason"] == reason, e
            if duration is not None:
                assert e["duration_s"] == duration, e
            assert "something to pin and remove" not in str(e), e  # the audit keeps no bodies
        ids = [e["id"] for e in entries]
        assert len(set(ids)) == len(ids)

        # Paging back with `before` gives the same entries, newest first, without repeats.
        paged: list[object] = []
        before = None
        while len(paged) < len(entries):
            params: dict[str, object] = {"room": room, "limit": 4}
            if before is not None:
                params["before"] = before
            r = await api(dep, "GET", "/api/moderation/audit", nav.token, gateway=2, params=params)
            assert r.status_code == 200, r.text
            page = r.json()
            assert 0 < len(page["entries"]) <= 4, page
            paged += [e["id"] for e in page["entries"]]
            before = page["next_before"]
            if before is None:
                break
        assert paged[: len(ids)] == ids

        # Not for members; another organization's staff see none of it.
        r = await api(dep, "GET", "/api/moderation/audit", member.token, params={"room": room})
        assert r.status_code == 403, r.text
        r = await api(dep, "GET", "/api/moderation/audit", nav_other.token)
        assert r.status_code == 200 and all(e["room"] != room for e in r.json()["entries"]), r.text
        r = await api(dep, "DELETE", "/api/moderation/audit", nav.token)
        assert r.status_code in (404, 405), r.text  # append-only
        assert len(await added_to_audit(dep, nav.token, room, known)) == len(expected)
    finally:
        await close_all(n, m)


async def test_blocks_hide_a_members_messages_from_the_blocker_only(redis_cluster: Deployment, teams: Teams) -> None:
    dep = redis_cluster
    org, nav = teams.of(dep)
    room = org.rooms[1]
    blocker, blocked, other = (dep.register(org=org.key) for _ in range(3))
    b0 = await connect(dep, blocker, 0, room)
    b1 = await connect(dep, blocker, 1, room)
    x = await connect(dep, blocked, 2, room)
    o = await connect(dep, other, 1, room)
    resumed: Client | None = None
    try:
        before_block = await x.post(room, "a message from before the block", cid=new_cid())
        root = await o.post(room, "how is everyone today?", cid=new_cid())
        await wait_all(b0.wait_frame("message", id=root["id"]), b1.wait_frame("message", id=root["id"]))

        r = await api(dep, "PUT", f"/api/blocks/{blocked.id}", blocker.token, gateway=2)
        assert r.status_code == 204, r.text
        r = await api(dep, "GET", "/api/blocks", blocker.token, gateway=1)
        assert r.status_code == 200 and r.json() == {"blocked": [view(blocked)]}, r.text

        word = "quibbleflux" + "".join(secrets.choice("bcdfghjklmnpqrstvwz") for _ in range(6))
        hidden = await x.post(room, f"{word} you should all listen to me", cid=new_cid(), reply_to=root["id"])
        assert hidden["type"] == "ack", hidden
        seen = await o.post(room, "the next message", cid=new_cid())
        # Others still get it; the blocker's connections skip it (no gap for it, either).
        await o.wait_frame("message", id=hidden["id"])
        await x.wait_frame("message", id=seen["id"])
        await wait_all(b0.wait_frame("message", id=seen["id"]), b1.wait_frame("message", id=seen["id"]))
        for c in (b0, b1):
            assert hidden["id"] not in [f["id"] for f in c.messages(room)], c.messages(room)
            assert frames_of(c, "gap") == []

        # History, threads and search leave the blocked member out for the blocker only.
        await wait_ids_stored(dep, other.token, room, before_block["id"], root["id"], hidden["id"], seen["id"])
        mine = [m["id"] for m in await history(dep, blocker.token, room)]
        theirs = [m["id"] for m in await history(dep, other.token, room)]
        assert hidden["id"] not in mine and before_block["id"] not in mine and seen["id"] in mine, mine
        assert hidden["id"] in theirs and before_block["id"] in theirs
        t = await api(dep, "GET", f"/api/messages/{root['id']}/thread", blocker.token)
        assert [m["id"] for m in t.json()["messages"]] == [root["id"]], t.text
        t = await api(dep, "GET", f"/api/messages/{root['id']}/thread", other.token)
        assert [m["id"] for m in t.json()["messages"]] == [root["id"], hidden["id"]], t.text
        s = await api(dep, "GET", "/api/search", blocker.token, params={"q": word})
        assert s.status_code == 200 and s.json()["results"] == [], s.text
        s = await api(dep, "GET", "/api/search", other.token, params={"q": word})
        assert [m["id"] for m in s.json()["results"]] == [hidden["id"]], s.text

        # A resume skips it too.
        resumed = await connect(dep, blocker, 2)
        await resumed.join(room, since=before_block["seq"] - 1)
        await resumed.wait_frame("message", id=seen["id"])
        got = [f["id"] for f in resumed.messages(room)]
        assert got == [root["id"], seen["id"]], got
        assert frames_of(resumed, "gap") == []

        # Staff cannot be blocked.
        r = await api(dep, "PUT", f"/api/blocks/{nav.id}", blocker.token)
        assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text

        # Unblocked: delivered again.
        r = await api(dep, "DELETE", f"/api/blocks/{blocked.id}", blocker.token, gateway=1)
        assert r.status_code == 204, r.text
        assert (await api(dep, "GET", "/api/blocks", blocker.token)).json() == {"blocked": []}
        back = await x.post(room, "hello again", cid=new_cid())
        await wait_all(b0.wait_frame("message", id=back["id"]), b1.wait_frame("message", id=back["id"]))
    finally:
        await close_all(b0, b1, x, o, resumed)
