"""A private talk with the navigator on duty, end to end (docs/social.md, protocol §3.10-3.12,
§4.25-4.27), embedded (one process, SQLite) and with Redis (three gateways, PostgreSQL).

Done means: a member on gateway A asks for a navigator; two navigators on duty on gateways B
and C see the request within 1 s; the first to accept gets the conversation, the second is
told it is taken; if nobody accepts within the wait, the member gets the resources. Every
test works in an organization of its own, so places and queues are the test's alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from support.cluster import Deployment, shared_servers
from support.moderation import (
    Org,
    api,
    audit,
    close_all,
    connect,
    frames_of,
    fresh_org,
    make_staff_many,
    now_ms,
    set_duty_ok,
    view,
)
from support.procs import TIMEOUT_SCALE, Postgres, RedisServer
from support.talks import (
    TALK_ENV,
    accept,
    ask,
    ask_ok,
    cancel,
    last_queue,
    wait_queue,
    wait_talk,
)

WAIT_S = float(TALK_ENV["KINDRED_PRIVATE_TALK_WAIT_S"])
EXPIRE_S = float(TALK_ENV["KINDRED_PRIVATE_TALK_EXPIRE_S"])


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One `kindred serve` (SQLite, the queue in the database) with a short wait and lapse."""
    dep = Deployment.start(tmp_path_factory.mktemp("talk-embedded"), count=1, extra_env=TALK_ENV)
    yield dep
    dep.stop()


@pytest.fixture(scope="module")
def redis_cluster(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, postgres: Postgres
) -> Iterator[Deployment]:
    """Three gateways sharing redis-server and PostgreSQL, with a short wait and lapse."""
    env = {**shared_servers(redis_server, postgres), **TALK_ENV}
    dep = Deployment.start(tmp_path_factory.mktemp("talk-cluster"), count=3, extra_env=env)
    yield dep
    dep.stop()


async def _org_with_navigators(dep: Deployment, count: int) -> tuple[Org, list]:  # type: ignore[type-arg]
    org = await asyncio.to_thread(fresh_org, dep)
    navs = await make_staff_many(dep, *((org.key, "navigator", ()) for _ in range(count)))
    return org, navs


def _actions(entries: list[dict], talk_room: str) -> list[str]:  # type: ignore[type-arg]
    return [e["action"] for e in reversed(entries) if e["room"] == talk_room and str(e["action"]).startswith("talk_")]


async def test_two_navigators_see_the_request_within_a_second_and_exactly_one_takes_it(
    deployment: Deployment,
) -> None:
    dep = deployment
    org, (nav_b, nav_c) = await _org_with_navigators(dep, 2)
    room = org.lounge
    member = dep.register(org=org.key)
    m = await connect(dep, member, 0, room)  # gateway A
    b = await connect(dep, nav_b, 1)  # gateway B
    c = await connect(dep, nav_c, 2)  # gateway C
    try:
        started = now_ms()
        for n in (b, c):
            start = len(n.frames)
            await set_duty_ok(n, True)
            await wait_queue(n, start, lambda ids: ids == [], what="the (empty) queue on going on duty")

        starts = [len(b.frames), len(c.frames)]
        sent = asyncio.get_running_loop().time()
        request = asyncio.create_task(ask_ok(m, room))
        # Both see it within one second of the request being sent: a wait bounded by it.
        seen = await asyncio.gather(*(
            wait_queue(n, s, lambda ids: len(ids) == 1, timeout_s=1.0, what="the request within 1 s")
            for n, s in ((b, starts[0]), (c, starts[1]))
        ))
        assert asyncio.get_running_loop().time() - sent <= 1.0 * TIMEOUT_SCALE
        talk = await request
        assert talk["room"] == room and talk["place"] == 1 and talk["resources_shown"] is False, talk
        for frame in seen:
            (entry,) = frame["requests"]
            assert entry["id"] == talk["id"] and entry["room"] == room and entry["place"] == 1, entry
            # The member as anyone in the room sees them, nothing more.
            assert entry["member"] == view(member), entry
        assert not frames_of(m, "talk_queue")  # members never see the queue

        # Both accept at the same moment: exactly one gets the conversation.
        answers = await asyncio.gather(accept(b, talk["id"]), accept(c, talk["id"]))
        won = [(n, a, who) for (n, a), who in zip(zip((b, c), answers, strict=True), (nav_b, nav_c), strict=True)
               if a["type"] == "talk_accepted"]
        lost = [(n, a, who) for (n, a), who in zip(zip((b, c), answers, strict=True), (nav_b, nav_c), strict=True)
                if a["type"] == "error"]
        assert len(won) == 1 and len(lost) == 1, answers
        (_, accepted, winner), (loser_conn, refused, loser) = won[0], lost[0]
        assert refused["code"] == "talk_taken" and refused["id"] == talk["id"], refused
        assert refused["by"] == view(winner, "navigator"), refused
        assert accepted["id"] == talk["id"] and accepted["member"] == view(member), accepted
        assert accepted["conversation"] and accepted["conversation_room"], accepted

        # The member learns who is there, and where to talk.
        told = await wait_talk(m, talk["id"], state="accepted")
        assert told["navigator"] == view(winner, "navigator"), told
        assert told["conversation_room"] == accepted["conversation_room"], told
        assert told["conversation"] == accepted["conversation"], told
        # Both queues empty again.
        for n in (b, c):
            await n.wait_until(lambda _, n=n: last_queue(n) == [], 5, "the queue emptied")

        # Both of them may open the conversation; the navigator who lost may not.
        winner_conn = b if winner is nav_b else c
        await m.join(accepted["conversation_room"])
        await winner_conn.join(accepted["conversation_room"])
        start = len(loser_conn.frames)
        await loser_conn.send({"type": "join", "room": accepted["conversation_room"]})
        refused_join = await loser_conn.wait_frame("error", start=start, room=accepted["conversation_room"])
        assert refused_join["code"] == "no_such_room", refused_join
        # A private conversation has no navigators of its own: nobody asks from one.
        from_conversation = await ask(m, accepted["conversation_room"])
        assert from_conversation["code"] == "no_such_room", from_conversation

        # Every step is on record, when it happened (the winner's entry is written once the
        # conversation is open, so it may come after the loser's; its time is the taking's).
        entries = await audit(dep, nav_b.token, room)
        assert sorted(_actions(entries, room)) == ["talk_accepted", "talk_requested", "talk_taken"], entries
        by_action = {e["action"]: e for e in entries if e["room"] == room}
        assert by_action["talk_requested"]["at"] <= by_action["talk_accepted"]["at"] <= by_action["talk_taken"]["at"]
        assert by_action["talk_requested"]["actor"] == view(member)
        assert by_action["talk_accepted"]["actor"] == view(winner, "navigator")
        assert by_action["talk_accepted"]["user"] == view(member)
        assert by_action["talk_taken"]["actor"] == view(loser, "navigator")
        assert all(e["at"] >= started - 5000 for e in by_action.values())
    finally:
        await close_all(m, b, c)


async def test_nobody_accepts_within_the_wait_so_the_member_gets_the_resources(deployment: Deployment) -> None:
    dep = deployment
    org, (nav,) = await _org_with_navigators(dep, 1)
    room = org.rooms[1]
    member = dep.register(org=org.key)
    m = await connect(dep, member, 0, room)
    n = await connect(dep, nav, len(dep.gateways) - 1)
    try:
        await set_duty_ok(n, True)
        talk = await ask_ok(m, room)
        # Nobody takes it: within the wait (and a tick of the clock, and a margin) the card.
        card = await m.wait_frame("resources", timeout_s=WAIT_S + 4, talk=talk["id"])
        assert card["room"] == room and card["text"] and card["items"], card
        assert all(i["name"] and i["contact"] for i in card["items"])
        assert card["alerted"] is True  # a navigator of the room is on duty: the truth
        assert frames_of(n, "resources") == []
        # Still waiting, with the card; navigators see it has been shown.
        shown = await wait_talk(m, talk["id"], resources_shown=True, state="waiting")
        assert shown["place"] == 1 and shown["resources"]["items"] == card["items"], shown
        queued = await n.wait_until(lambda frames: next(
            (f["requests"][0] for f in frames if f.get("type") == "talk_queue" and f["requests"]
             and f["requests"][0]["resources_shown"]), None), 5, "the queue saying the card was shown")
        assert queued["id"] == talk["id"] and queued["place"] == 1, queued
        mine = await api(dep, "GET", "/api/talks", member.token)
        assert mine.status_code == 200 and mine.json()["mine"]["id"] == talk["id"], mine.text
        assert mine.json()["mine"]["resources"]["items"] == card["items"], mine.text
        assert mine.json()["queue"] == [] and mine.json()["wait_s"] == WAIT_S

        # Withdrawn: on every connection of the member, and out of the queue.
        other_tab = await connect(dep, member, 1)
        done = await cancel(m, talk["id"])
        assert done["type"] == "talk" and done["state"] == "cancelled", done
        await wait_talk(other_tab, talk["id"], state="cancelled")
        await wait_queue(n, 0, lambda ids: ids == [], what="the withdrawn request gone")
        await other_tab.close()

        # A request nobody takes at all lapses after a while, and the member is told.
        lapse = await ask_ok(m, room)
        await wait_talk(m, lapse["id"], timeout_s=EXPIRE_S + 4, state="expired")
        entries = await audit(dep, nav.token, room)
        assert _actions(entries, room) == [
            "talk_requested", "talk_resources", "talk_cancelled",
            "talk_requested", "talk_resources", "talk_expired",
        ], entries
        assert all(e["actor"] == view(member) for e in entries if str(e["action"]).startswith("talk_"))
        # Shown once per request however many gateways watch the clock.
        assert [f["talk"] for f in frames_of(m, "resources")] == [talk["id"], lapse["id"]]
    finally:
        await close_all(m, n)


async def test_places_move_up_live_and_a_navigator_coming_on_duty_gets_the_queue(deployment: Deployment) -> None:
    dep = deployment
    org, (nav,) = await _org_with_navigators(dep, 1)
    first, second = dep.register(org=org.key), dep.register(org=org.key)
    m1 = await connect(dep, first, 0, org.rooms[0])
    m2 = await connect(dep, second, 1, org.rooms[2])  # another room of the same desk
    n = await connect(dep, nav, 2)  # connected, not on duty yet
    try:
        t1 = await ask_ok(m1, org.rooms[0])
        t2 = await ask_ok(m2, org.rooms[2])
        assert (t1["place"], t2["place"]) == (1, 2), (t1, t2)
        start = len(n.frames)
        await set_duty_ok(n, True)
        got = await wait_queue(n, start, lambda ids: ids == [t1["id"], t2["id"]], what="the queue on duty")
        assert [r["place"] for r in got["requests"]] == [1, 2]
        assert not frames_of(n, "talk_queue")[:0]

        start = len(m2.frames)
        await cancel(m1, t1["id"])
        moved = await wait_talk(m2, t2["id"], start=start, place=1)
        assert moved["state"] == "waiting", moved

        # Reconnecting: the member is shown their request, the navigator (back on duty) the queue.
        await m2.close()
        m2 = await connect(dep, second, 0)
        await wait_talk(m2, t2["id"], state="waiting", place=1)
        await n.close()
        n = await connect(dep, nav, 1)
        await set_duty_ok(n, True)
        await wait_queue(n, 0, lambda ids: ids == [t2["id"]])
        # Off duty: no more queue frames for this connection.
        await set_duty_ok(n, False)
        start = len(n.frames)
        t3 = await ask_ok(m1, org.rooms[0])
        await wait_talk(m1, t3["id"], place=2)  # a barrier: the queue has been read since
        await wait_talk(m2, t2["id"], place=1)
        assert [f for f in n.frames[start:] if f.get("type") == "talk_queue"] == []
    finally:
        await close_all(m1, m2, n)


async def test_refusals_are_clear_and_change_nothing(deployment: Deployment) -> None:
    dep = deployment
    org, (nav,) = await _org_with_navigators(dep, 1)
    other_org, (other_nav,) = await _org_with_navigators(dep, 1)
    room = org.lounge
    member, stranger = dep.register(org=org.key), dep.register(org=org.key)
    m = await connect(dep, member, 0, room)
    s = await connect(dep, stranger, 1)
    n = await connect(dep, nav, 0, room)
    o = await connect(dep, other_nav, len(dep.gateways) - 1)
    try:
        # Not joined on this connection; another organization's room; not a room at all.
        refused = await ask(s, room)
        assert refused["type"] == "error" and refused["code"] == "not_joined", refused
        for bad_room in (other_org.lounge, "no-such-room", "NOT A SLUG"):
            refused = await ask(o, bad_room)
            assert refused["code"] in ("not_joined", "no_such_room"), refused
        r = await api(dep, "POST", "/api/talks", other_nav.token, json={"room": org.lounge})
        assert r.status_code == 404 and r.json()["error"] == "no_such_room", r.text
        # Staff of the room answer requests there; they do not make them.
        refused = await ask(n, room)
        assert refused["code"] == "staff_of_room", refused

        talk = await ask_ok(m, room)
        again = await ask(m, room)
        assert again["code"] == "talk_pending" and again["id"] == talk["id"], again
        r = await api(dep, "POST", "/api/talks", member.token, json={"room": org.rooms[1]})
        assert r.status_code == 409 and r.json()["error"] == "talk_pending", r.text

        # Members never take requests; navigators of another organization cannot see them.
        refused = await accept(s, talk["id"])
        assert refused["code"] == "forbidden" and refused["reason"] == "not_staff", refused
        refused = await accept(o, talk["id"])
        assert refused["code"] == "forbidden" and refused["reason"] == "not_staff", refused
        r = await api(dep, "POST", f"/api/talks/{talk['id']}/accept", member.token)
        assert r.status_code == 403 and r.json()["reason"] == "not_staff", r.text
        # Only the member withdraws their own request; ids are checked.
        refused = await cancel(s, talk["id"])
        assert refused["code"] == "no_such_talk", refused
        for frame in ({"type": "talk_accept", "id": "nope"}, {"type": "talk_cancel"},
                      {"type": "talk_request"}, {"type": "talk_request", "room": 7}):
            start = len(s.frames)
            await s.send(frame)
            error = await s.wait_frame("error", start=start)
            assert error["code"] == "bad_frame", (frame, error)
        r = await api(dep, "POST", "/api/talks/nope/accept", nav.token)
        assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
        r = await api(dep, "POST", "/api/talks", member.token, json={"room": room, "note": "x"})
        assert r.status_code == 400, r.text

        # Nothing changed: the one request waits, first in line, on record once.
        state = await api(dep, "GET", "/api/talks", nav.token)
        assert [q["id"] for q in state.json()["queue"]] == [talk["id"]], state.text
        assert state.json()["mine"] is None
        assert _actions(await audit(dep, nav.token, room), room) == ["talk_requested"]

        # Withdrawn over HTTP; then accepting it is a clear refusal, and so is withdrawing again.
        r = await api(dep, "DELETE", f"/api/talks/{talk['id']}", member.token)
        assert r.status_code == 200 and r.json()["state"] == "cancelled", r.text
        refused = await accept(n, talk["id"])
        assert refused["code"] == "no_such_talk" and "withdrew" in refused["detail"], refused
        refused = await cancel(m, talk["id"])
        assert refused["code"] == "no_such_talk", refused
        r = await api(dep, "POST", "/api/talks/t0123456789abcdef/accept", nav.token)
        assert r.status_code == 404 and r.json()["error"] == "no_such_talk", r.text
        assert _actions(await audit(dep, nav.token, room), room) == ["talk_requested", "talk_cancelled"]

        # Over HTTP end to end: asked, seen by the navigator, taken.
        r = await api(dep, "POST", "/api/talks", member.token, json={"room": room})
        assert r.status_code == 201 and r.json()["state"] == "waiting", r.text
        talk_id = r.json()["id"]
        r = await api(dep, "POST", f"/api/talks/{talk_id}/accept", nav.token, gateway=1)
        assert r.status_code == 200, r.text
        assert r.json()["member"] == view(member) and r.json()["conversation_room"], r.text
        r = await api(dep, "POST", f"/api/talks/{talk_id}/accept", nav.token)
        assert r.status_code == 200, r.text  # the same navigator again: the same answer
        r = await api(dep, "POST", f"/api/talks/{talk_id}/accept", other_nav.token)
        assert r.status_code == 403, r.text
    finally:
        await close_all(m, s, n, o)
