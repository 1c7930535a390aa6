"""Questions to experts end to end (docs/protocol.md §11), embedded (SQLite) and on three
gateways (Redis, PostgreSQL): asking over HTTP and the socket (a retried cid posted once), the
moderation queue (pending seen only by its author and the hosts), votes, pin, merge, dismiss
with a reason, answers and the asker's notification, lists, and the archive.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from support.client import Client
from support.cluster import Deployment
from support.http import TLS
from support.moderation import Teams, api, close_all, connect, make_staff, new_cid
from support.questions import (
    act_http,
    ask_http,
    ask_ws,
    frame_answer,
    go_live,
    latest,
    ok,
    question_frames,
    schedule,
    sign_up,
)

LIVE_BOUND_S = 2.0


@pytest.fixture(scope="module")
def teams() -> Teams:
    return Teams()


async def test_queue_votes_actions_and_archive(deployment: Deployment, teams: Teams) -> None:
    dep = deployment
    org, host = teams.of(dep)
    asker, voter, third = (dep.register(gateway=i % len(dep.gateways)) for i in range(3))
    w = await schedule(dep, host, org.lounge)
    await sign_up(dep, w, [asker, voter, third])

    # In advance (scheduled): asked over HTTP, pending for review in a webinar.
    early = await ask_http(dep, asker, w, "Is ginger tea safe during chemo?", "early-1")
    assert early["status"] == "pending" and early["author"] == {
        "anonymous": False, "id": asker.id, "handle": asker.handle, "role": "member", "mine": True}
    listed = ok(await api(dep, "GET", f"/api/events/{w.id}/questions", voter.token, gateway=1))
    assert listed["questions"] == [] and listed["moderated"] is True
    queue = ok(await api(dep, "GET", f"/api/events/{w.id}/questions", host.token, params={"status": "pending"}))
    assert [q["id"] for q in queue["questions"]] == [early["id"]]

    await go_live(dep, host, w)
    host_c = await connect(dep, host, 0, w.room)
    asker_c = await connect(dep, asker, 1, w.room)
    voter_c = await connect(dep, voter, 2, w.room)
    third_c = await connect(dep, third, 0, w.room)
    try:
        # Live, over the socket, anonymous: the ack carries the question; a retry is the same one.
        ack = await ask_ws(asker_c, w.id, "Can I eat grapefruit with my pills?", "live-1", anonymous=True)
        assert ack["type"] == "ack" and ack["question"]["status"] == "pending", ack
        qid = ack["question"]["id"]
        again = await ask_ws(asker_c, w.id, "Can I eat grapefruit with my pills?", "live-1", anonymous=True)
        assert again["duplicate"] is True and again["question"]["id"] == qid
        pending = await host_c.wait_frame("question", LIVE_BOUND_S, id=qid)
        assert pending["status"] == "pending" and pending["author"] == {"anonymous": True, "handle": "a member"}
        await asker_c.wait_frame("question", LIVE_BOUND_S, id=qid)

        # A member may not approve; the host does (over the socket): everyone sees it open.
        refused = await frame_answer(voter_c, {"type": "question_action", "question": qid, "action": "approve",
                                               "cid": new_cid()}, ("question_done", "error"))
        assert refused["type"] == "error" and refused["code"] in ("no_such_question", "forbidden"), refused
        done = await frame_answer(host_c, {"type": "question_action", "question": qid, "action": "approve",
                                           "cid": new_cid()}, ("question_done", "error"))
        assert done["type"] == "question_done" and done["question"]["status"] == "open", done
        await voter_c.wait_frame("question", LIVE_BOUND_S, id=qid, status="open")
        await act_http(dep, host, early["id"], "approve", gateway=1)

        # Votes: one per member, not one's own, withdrawn and cast again.
        voted = await frame_answer(voter_c, {"type": "vote", "question": qid, "up": True, "cid": new_cid()},
                                   ("voted", "error"))
        assert voted["type"] == "voted" and voted["votes"] == 1, voted
        twice = await frame_answer(voter_c, {"type": "vote", "question": qid, "up": True, "cid": new_cid()},
                                   ("voted", "error"))
        assert twice["code"] == "vote_refused" and twice["reason"] == "already_voted", twice
        own = await api(dep, "PUT", f"/api/questions/{qid}/vote", asker.token)
        assert own.status_code == 409 and own.json()["reason"] == "own_question", own.text
        ok(await api(dep, "PUT", f"/api/questions/{qid}/vote", third.token, gateway=2))
        ok(await api(dep, "DELETE", f"/api/questions/{qid}/vote", third.token))
        ok(await api(dep, "PUT", f"/api/questions/{qid}/vote", third.token, gateway=1))
        await host_c.wait_until(lambda fs: latest(host_c).get(qid, {}).get("votes") == 2, LIVE_BOUND_S, "2 votes")

        # A duplicate merged into it: its votes move (not the target author's own).
        dup = await ask_http(dep, third, w, "Grapefruit and medicines?", "dup-1", gateway=1)
        await act_http(dep, host, dup["id"], "approve")
        ok(await api(dep, "PUT", f"/api/questions/{dup['id']}/vote", voter.token))  # already votes for qid
        ok(await api(dep, "PUT", f"/api/questions/{dup['id']}/vote", asker.token))  # qid's own author
        merged = await act_http(dep, host, dup["id"], "merge", into=qid)
        assert merged["status"] == "dismissed" and merged["merged_into"] == qid
        target = await voter_c.wait_frame("question", LIVE_BOUND_S, id=qid, votes=2, version=latest(voter_c)[qid]["version"])
        assert target["votes"] == 2
        voted_dismissed = await api(dep, "PUT", f"/api/questions/{dup['id']}/vote", host.token)
        assert voted_dismissed.status_code == 409 and voted_dismissed.json()["reason"] == "not_open"

        # Pin: one at a time; pinning the early one unpins the live one.
        await act_http(dep, host, qid, "pin")
        await voter_c.wait_frame("question", LIVE_BOUND_S, id=qid, pinned=True)
        await act_http(dep, host, early["id"], "pin", gateway=2)
        await voter_c.wait_frame("question", LIVE_BOUND_S, id=qid, pinned=False)

        # Dismiss with a reason: the author sees it, the others do not.
        off = await ask_http(dep, voter, w, "What about the parking?", "off-1")
        dismissed = await act_http(dep, host, off["id"], "dismiss", reason="Please ask the front desk.")
        assert dismissed["reason"] == "Please ask the front desk."
        mine = ok(await api(dep, "GET", f"/api/events/{w.id}/questions", voter.token, params={"status": "dismissed"}))
        assert [(q["id"], q["reason"]) for q in mine["questions"]] == [(off["id"], "Please ask the front desk.")]
        others = ok(await api(dep, "GET", f"/api/events/{w.id}/questions", third.token, params={"status": "dismissed"}))
        assert off["id"] not in [q["id"] for q in others["questions"]]
        assert all(f.get("id") != off["id"] for f in third_c.frames)  # pending, then dismissed: never public

        # The answer: the asker is told once (live and in the list), even when it is corrected.
        answered = await act_http(dep, host, qid, "answer", answer="Avoid grapefruit: it changes how some drugs work.")
        assert answered["status"] == "answered" and answered["answer"]["by"] == {"handle": host.handle, "role": "navigator"}
        note = await asker_c.wait_frame("notification", LIVE_BOUND_S, question=qid)
        assert note["kind"] == "answered" and note["event"] == w.id
        corrected = await act_http(dep, host, qid, "answer", answer="Avoid grapefruit and Seville oranges.")
        assert corrected["answer"]["body"] == "Avoid grapefruit and Seville oranges."
        assert corrected["answer"]["at"] >= answered["answer"]["at"] and corrected["version"] > answered["version"]
        # The reply and the live frame are the one stored change: the same answer, to the
        # millisecond, at the same version, on every gateway.
        frame = await voter_c.wait_frame("question", LIVE_BOUND_S, id=qid, version=corrected["version"])
        assert frame["answer"] == corrected["answer"] and frame["status"] == "answered", (frame, corrected)
        told = ok(await api(dep, "GET", "/api/notifications", asker.token))["notifications"]
        assert [n["kind"] for n in told if n["kind"] == "answered"] == ["answered"]
        assert len(question_frames(asker_c, qid)) >= 1 and len(frames_named(asker_c, "notification", qid)) == 1

        # Lists: by votes (pinned first) or recent; paged.
        by_votes = ok(await api(dep, "GET", f"/api/events/{w.id}/questions", voter.token, params={"order": "votes"}))
        assert [q["id"] for q in by_votes["questions"]] == [early["id"], qid]
        recent = ok(await api(dep, "GET", f"/api/events/{w.id}/questions", voter.token,
                              params={"order": "recent", "limit": 1}))
        assert [q["id"] for q in recent["questions"]] == [qid] and recent["next_offset"] == 1
        assert recent["questions"][0]["voted"] is True

        # Every action is audited.
        audit = ok(await api(dep, "GET", "/api/moderation/audit", host.token, params={"room": org.lounge}))
        actions = {e["action"] for e in audit["entries"]}
        assert {"question_approve", "question_merge", "question_pin", "question_dismiss", "question_answer"} <= actions

        # Ended: no more questions; the archive holds the answered one with its answer.
        for state in ("ended", "archived"):
            ok(await api(dep, "POST", f"/api/events/{w.id}/state", host.token, json={"state": state}))
        late = await api(dep, "POST", f"/api/events/{w.id}/questions", voter.token, json={"body": "Late?", "cid": "late-1"})
        assert late.status_code == 409 and late.json()["error"] == "questions_closed", late.text
        archive = ok(await api(dep, "GET", f"/api/events/{w.id}/archive", third.token, gateway=2))
        assert [(q["id"], q["answer"]["body"]) for q in archive["questions"]] == [
            (qid, "Avoid grapefruit and Seville oranges.")]
        assert archive["questions"][0]["author"]["handle"] == "a member"
    finally:
        await close_all(host_c, asker_c, voter_c, third_c)


def frames_named(c: Client, type_: str, qid: str) -> list[dict[str, Any]]:
    return [f for f in c.frames if f.get("type") == type_ and f.get("question") == qid]


async def test_bad_input_changes_nothing(deployment: Deployment, teams: Teams) -> None:
    dep = deployment
    org, host = teams.of(dep)
    member = dep.register()
    w = await schedule(dep, host, org.lounge)
    q = await ask_http(dep, member, w, "Should I exercise during treatment?", "b-1")

    async def refused(method: str, path: str, token: str, status: int, code: str, **kw: object) -> None:
        r = await api(dep, method, path, token, **kw)  # type: ignore[arg-type]
        assert r.status_code == status and r.json()["error"] == code, r.text
        assert r.json()["detail"]

    # A member approving; a host of another organization acting (cannot even see it).
    await refused("POST", f"/api/questions/{q['id']}/action", member.token, 403, "forbidden", json={"action": "approve"})
    other_org_nav = await asyncio.to_thread(make_staff, dep, ("Hillcrest Oncology", "hillcrest willow stone 22"))
    await refused("POST", f"/api/questions/{q['id']}/action", other_org_nav.token, 404, "no_such_question",
                  json={"action": "answer", "answer": "Yes."})
    await refused("POST", f"/api/events/{w.id}/questions", other_org_nav.token, 404, "not_found",
                  json={"body": "Hello?", "cid": "x-1"})
    # Voting for a pending question (not visible to others), bad actions, bad bodies.
    voter = dep.register()
    await refused("PUT", f"/api/questions/{q['id']}/vote", voter.token, 404, "no_such_question")
    await refused("POST", f"/api/questions/{q['id']}/action", host.token, 400, "invalid_request", json={"action": "explode"})
    await refused("POST", f"/api/questions/{q['id']}/action", host.token, 409, "invalid_action", json={"action": "merge", "into": q["id"]})
    await refused("POST", f"/api/events/{w.id}/questions", member.token, 400, "invalid_body", json={"body": "   ", "cid": "b-2"})
    await refused("POST", f"/api/events/{w.id}/questions", member.token, 400, "invalid_body", json={"body": "x" * 5000, "cid": "b-3"})
    await refused("POST", f"/api/events/{w.id}/questions", member.token, 400, "invalid_request", json={"body": "ok?", "cid": "bad cid!"})
    await refused("POST", f"/api/events/{w.id}/questions", member.token, 409, "confirm_phi",
                  json={"body": "Call me on 555 123 4567 please", "cid": "b-4"})
    # A question matching the crisis list is posted, and its author is shown where help is.
    crisis = await ask_http(dep, member, w, "I want to end my life, is that normal during chemo?", "b-crisis")
    assert crisis["status"] == "pending" and crisis["resources"], crisis
    await refused("POST", "/api/events/0123456789abcdef/questions", member.token, 404, "not_found", json={"body": "?", "cid": "b-5"})
    # Nothing of that was stored.
    mine = ok(await api(dep, "GET", f"/api/events/{w.id}/questions", member.token))
    assert sorted(x["id"] for x in mine["questions"]) == sorted([q["id"], crisis["id"]])
    # A cancelled session takes no questions.
    ok(await api(dep, "POST", f"/api/events/{w.id}/cancel", host.token, json={"reason": "Away."}))
    await refused("POST", f"/api/events/{w.id}/questions", member.token, 409, "questions_closed", json={"body": "Still on?", "cid": "b-6"})

    # The socket answers bad frames clearly and stays open.
    c = await connect(dep, member, 0)
    try:
        for frame in ({"type": "ask", "body": "no venue", "cid": "s-1"},
                      {"type": "vote", "question": q["id"], "up": "yes", "cid": "s-2"},
                      {"type": "question_action", "question": q["id"], "action": "approve", "cid": "s-3"}):
            answer = await frame_answer(c, frame, ("error",))
            assert answer["code"] in ("bad_frame", "forbidden") and answer["detail"], answer
        await c.send({"type": "ping"})
        await c.wait_frame("pong")
    finally:
        await close_all(c)


async def test_asking_is_rate_limited(deployment: Deployment, teams: Teams) -> None:
    """A flood from one member is refused: 10,000 ``ask`` frames on a socket get 10 questions
    stored, then refusals, then the socket closed (1008); a burst over HTTP spread over every
    gateway by another member is held to the same 10 (the counter is shared)."""
    dep = deployment
    org, host = teams.of(dep)
    flooder, other = dep.register(), dep.register()
    w = await schedule(dep, host, org.lounge)

    c = await connect(dep, flooder, 0)
    try:
        for i in range(10_000):
            try:
                await c.send({"type": "ask", "event": w.id, "body": f"Question number {i}?", "cid": f"f-{i}"})
            except Exception:
                break  # the server closed the socket: the rest of the flood goes nowhere
        assert await c.wait_closed(30) == 1008
    finally:
        await close_all(c)
    acks = [f for f in c.frames if f.get("type") == "ack"]
    refused = [f for f in c.frames if f.get("type") == "error"]
    assert len(acks) == 10 and refused and {f["code"] for f in refused} == {"rate_limited"}, c.frames[-3:]
    later = await api(dep, "POST", f"/api/events/{w.id}/questions", flooder.token, gateway=len(dep.gateways) - 1,
                      json={"body": "And one more?", "cid": "f-later"})
    assert later.status_code == 429 and later.json()["error"] == "rate_limited", later.text

    headers = {"Authorization": f"Bearer {other.token}"}
    # A connection per request: no keep-alive connection closed by the server under our feet.
    fresh = httpx.Limits(max_keepalive_connections=0)
    clients = [httpx.AsyncClient(verify=TLS, base_url=g.http_url, headers=headers, timeout=60, limits=fresh)
               for g in dep.gateways]
    statuses: list[int] = []
    try:
        for start in range(0, 500, 50):
            answers = await asyncio.gather(*(
                clients[i % len(clients)].post(f"/api/events/{w.id}/questions",
                                               json={"body": f"Burst {i}?", "cid": f"b-{i}"})
                for i in range(start, start + 50)
            ))
            statuses.extend(r.status_code for r in answers)
    finally:
        for http in clients:
            await http.aclose()
    assert statuses.count(201) == 10 and statuses.count(429) == 490, sorted(set(statuses))
    for m in (flooder, other):
        mine = ok(await api(dep, "GET", f"/api/events/{w.id}/questions", m.token, params={"limit": 200}))
        assert len(mine["questions"]) == 10
