"""Anonymous questions (canary): no frame and no HTTP answer that reaches anyone but the author
carries the author's id or handle, hosts included; a host may reveal the author, and that act
is in the audit log with who did it. Also Ask the Expert over a test-compressed window: asked
and voted while open, answered after, each asker told exactly once, the archive searchable.
Embedded (SQLite) and on three gateways (Redis, PostgreSQL).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from support.cluster import Deployment
from support.moderation import Teams, api, close_all, connect, make_staff, new_cid
from support.procs import TIMEOUT_SCALE
from support.questions import (
    act_http,
    ask_http,
    ask_ws,
    frame_answer,
    go_live,
    ok,
    schedule,
    sign_up,
)

LIVE_BOUND_S = 2.0
WINDOW_S = 4.0


@pytest.fixture(scope="module")
def teams() -> Teams:
    return Teams()


async def test_anonymous_author_never_reaches_others(deployment: Deployment, teams: Teams) -> None:
    dep = deployment
    org, host = teams.of(dep)
    shy = dep.register(handle="canarywrenxq")
    others = [dep.register(gateway=i % len(dep.gateways)) for i in range(2)]
    w = await schedule(dep, host, org.lounge)
    await sign_up(dep, w, [shy, *others])
    await go_live(dep, host, w)
    shy_c = await connect(dep, shy, 0, w.room)
    host_c = await connect(dep, host, len(dep.gateways) - 1, w.room)
    other_cs = [await connect(dep, m, i, w.room) for i, m in enumerate(others)]
    seen_http: list[Any] = []

    async def read(token: str, path: str, **params: Any) -> dict[str, Any]:
        found = ok(await api(dep, "GET", path, token, params=params or None))
        seen_http.append(found)
        return found

    try:
        ack = await ask_ws(shy_c, w.id, "Is it normal to feel angry at everyone?", "anon-1", anonymous=True)
        qid = ack["question"]["id"]
        assert ack["question"]["author"] == {"anonymous": True, "handle": "a member", "mine": True}
        advance = await ask_http(dep, shy, w, "Can I ask for a different nurse?", "anon-2", anonymous=True)
        for action_on, action, fields in ((qid, "approve", {}), (advance["id"], "approve", {}), (qid, "pin", {}),
                                          (advance["id"], "dismiss", {"reason": "Asked already."}),
                                          (qid, "answer", {"answer": "Yes, and it helps to say so."})):
            seen_http.append(await act_http(dep, host, action_on, action, **fields))
        vote = await frame_answer(other_cs[0], {"type": "vote", "question": qid, "up": True, "cid": new_cid()},
                                  ("voted", "error"))
        assert vote["type"] == "error" and vote["reason"] == "not_open"  # answered: closed to votes
        await other_cs[1].wait_frame("question", LIVE_BOUND_S, id=qid, status="answered")
        await host_c.wait_frame("question", LIVE_BOUND_S, id=advance["id"], status="dismissed")
        for token in (host.token, *(m.token for m in others)):
            for status in ("pending", "open", "answered", "dismissed"):
                await read(token, f"/api/events/{w.id}/questions", status=status)
            await read(token, f"/api/events/{w.id}/questions", order="recent")
        for state in ("ended", "archived"):
            ok(await api(dep, "POST", f"/api/events/{w.id}/state", host.token, json={"state": state}))
        archive = await read(others[0].token, f"/api/events/{w.id}/archive")
        assert [q["id"] for q in archive["questions"]] == [qid]

        # The canary: neither the id nor the handle in anything the others were sent (but the
        # room's presence list, which says who is in the room, not who asked what).
        presence = ("joined", "presence")
        for where, payload in [*(("frame", f) for c in [host_c, *other_cs] for f in c.frames
                                 if f.get("type") not in presence),
                               *(("http", h) for h in seen_http)]:
            text = json.dumps(payload)
            assert shy.id not in text and shy.handle not in text, (where, payload)
        assert any(f.get("id") == qid for f in other_cs[0].frames)  # they did get the question

        # A host reveals who asked: told, and audited with who revealed it.
        revealed = ok(await api(dep, "POST", f"/api/questions/{qid}/reveal", host.token))
        assert revealed["author"]["handle"] == shy.handle
        refused = await api(dep, "POST", f"/api/questions/{qid}/reveal", others[0].token)
        assert refused.status_code == 403, refused.text
        audit = ok(await api(dep, "GET", "/api/moderation/audit", host.token, params={"room": org.lounge}))
        entry = next(e for e in audit["entries"] if e["action"] == "question_reveal")
        assert entry["actor"]["handle"] == host.handle and qid in entry["detail"]
        # The other actions' entries do not name the anonymous author (looking is not revealing).
        assert all(e["user"] is None for e in audit["entries"]
                   if e["action"].startswith("question_") and e["action"] != "question_reveal" and qid in e["detail"])
    finally:
        await close_all(shy_c, host_c, *other_cs)


async def test_ask_the_expert_window(deployment: Deployment, teams: Teams) -> None:
    dep = deployment
    org, navigator = teams.of(dep)
    expert = await asyncio.to_thread(make_staff, dep, ("Riverside Cancer Center", "riverside lantern maple 11"), "expert")
    askers = [dep.register(gateway=i % len(dep.gateways)) for i in range(3)]
    now = datetime.now(UTC)
    body = {"room": org.lounge, "title": "Sleep during radiotherapy", "description": "Our sleep nurse answers.",
            "opens_at": (now - timedelta(seconds=1)).isoformat(),
            "closes_at": (now + timedelta(seconds=WINDOW_S * TIMEOUT_SCALE)).isoformat(), "experts": [expert.id]}
    # Bad input first: a member opening one; closing before it opens; an expert who is a member.
    r = await api(dep, "POST", "/api/ask-the-expert", askers[0].token, json=body)
    assert r.status_code == 403 and r.json()["error"] == "forbidden", r.text
    r = await api(dep, "POST", "/api/ask-the-expert", navigator.token, json={**body, "closes_at": body["opens_at"]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_topic", r.text
    r = await api(dep, "POST", "/api/ask-the-expert", navigator.token, json={**body, "experts": [askers[0].id]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_topic", r.text
    topic = ok(await api(dep, "POST", "/api/ask-the-expert", navigator.token, json=body), 201)
    assert topic["state"] == "open" and topic["experts"] == [{"id": expert.id, "handle": expert.handle, "role": "expert"}]
    tid = topic["id"]

    clients = [await connect(dep, m, i, org.lounge) for i, m in enumerate(askers)]
    try:
        # Asked over the socket (anonymous) and over HTTP; voted while open.
        await clients[0].send({"type": "ask", "topic": tid, "body": "Why do I wake at 4 every night?",
                               "cid": "t-0", "anonymous": True})
        a0 = await clients[0].wait_frame("ack", cid="t-0")
        q0 = a0["question"]["id"]
        q1 = ok(await api(dep, "POST", f"/api/ask-the-expert/{tid}/questions", askers[1].token, gateway=1,
                          json={"body": "Do sleeping pills interact with treatment?", "cid": "t-1"}), 201)["id"]
        q2 = ok(await api(dep, "POST", f"/api/ask-the-expert/{tid}/questions", askers[2].token,
                          json={"body": "Is napping in the day a bad idea?", "cid": "t-2"}), 201)["id"]
        await clients[2].wait_frame("question", LIVE_BOUND_S, id=q0, status="open")
        ok(await api(dep, "PUT", f"/api/questions/{q0}/vote", askers[1].token))
        ok(await api(dep, "PUT", f"/api/questions/{q0}/vote", askers[2].token, gateway=1))
        early = await api(dep, "POST", f"/api/questions/{q0}/action", expert.token, json={"action": "answer", "answer": "Soon."})
        assert early.status_code == 409 and early.json()["error"] == "invalid_action", early.text

        # The window closes (a bounded wait for it): asking is refused from then on. The state
        # is polled, not probed by asking, so the asking limit never answers first.
        deadline = asyncio.get_running_loop().time() + (WINDOW_S + 3) * TIMEOUT_SCALE
        while ok(await api(dep, "GET", f"/api/ask-the-expert/{tid}", askers[0].token))["state"] != "closed":
            assert asyncio.get_running_loop().time() < deadline, "the topic never closed"
            await asyncio.sleep(0.2)
        r = await api(dep, "POST", f"/api/ask-the-expert/{tid}/questions", askers[1].token,
                      json={"body": "One more?", "cid": new_cid()})
        assert r.status_code == 409 and r.json()["error"] == "questions_closed", r.text

        # The expert answers each; a correction does not tell the asker twice.
        for i, qid in enumerate((q0, q1, q2)):
            ok(await api(dep, "POST", f"/api/questions/{qid}/action", expert.token, gateway=i % len(dep.gateways),
                         json={"action": "answer", "answer": f"Answer {i}: keep a regular wind-down routine."}))
        ok(await api(dep, "POST", f"/api/questions/{q1}/action", expert.token,
                     json={"action": "answer", "answer": "Answer 1: ask your pharmacist; keep a routine."}))
        for c, qid, m in zip(clients, (q0, q1, q2), askers, strict=True):
            await c.wait_frame("notification", LIVE_BOUND_S, question=qid)
            told = ok(await api(dep, "GET", "/api/notifications", m.token))["notifications"]
            assert [n["kind"] for n in told] == ["answered"] and told[0]["event"] == tid
        for c in clients:
            assert len([f for f in c.frames if f.get("type") == "notification"]) == 1

        # The archive: answered questions with their answers, the topic found by a word of an answer.
        answered = ok(await api(dep, "GET", f"/api/ask-the-expert/{tid}/questions", askers[0].token,
                                params={"status": "answered"}))
        assert {q["id"] for q in answered["questions"]} == {q0, q1, q2}
        assert answered["questions"][0]["id"] == q0  # most votes first
        assert all(q["answer"]["by"]["handle"] == expert.handle for q in answered["questions"])
        found = ok(await api(dep, "GET", "/api/ask-the-expert", askers[2].token, params={"room": org.lounge, "q": "pharmacist"}))
        assert [t["id"] for t in found["topics"]] == [tid] and found["topics"][0]["questions"]["answered"] == 3
        missing = ok(await api(dep, "GET", "/api/ask-the-expert", askers[2].token, params={"room": org.lounge, "q": "zebra-xyz"}))
        assert tid not in [t["id"] for t in missing["topics"]]
        outsider = dep.register(org=("Hillcrest Oncology", "hillcrest willow stone 22"))
        assert (await api(dep, "GET", f"/api/ask-the-expert/{tid}", outsider.token)).status_code == 404
    finally:
        await close_all(*clients)
