"""Votes arriving together share one read of their question (chat_server/questions/vote_facts.py),
embedded and on three gateways. What was read is kept two seconds, so these votes come within
that time of each other: every vote counted once, and a question answered or dismissed just
after a vote refuses the next one exactly as a fresh read would (the member who may not see a
dismissed question is told there is no such question; the count does not move).
"""

from __future__ import annotations

import asyncio

import pytest

from support.cluster import Deployment, Member
from support.moderation import Teams, api, close_all, connect, new_cid
from support.questions import (
    act_http,
    ask_http,
    frame_answer,
    go_live,
    latest,
    ok,
    schedule,
    sign_up,
)

LIVE_BOUND_S = 5.0
VOTERS = 24


async def warm(dep: Deployment, voters: list[Member], qid: str) -> None:
    """A vote withdrawn and cast again on every gateway, so each has read the question under
    two seconds before the votes that follow (each of which goes to one of them)."""
    for g, v in enumerate(voters[:len(dep.gateways)]):
        for method in ("DELETE", "PUT"):
            ok(await api(dep, method, f"/api/questions/{qid}/vote", v.token, gateway=g))


@pytest.fixture(scope="module")
def teams() -> Teams:
    return Teams()


async def test_votes_at_once_each_counted_and_a_closed_question_refuses_at_once(
    deployment: Deployment, teams: Teams,
) -> None:
    dep = deployment
    org, host = teams.of(dep)
    asker = dep.register()
    voters = [dep.register(gateway=i % len(dep.gateways)) for i in range(VOTERS)]
    w = await schedule(dep, host, org.lounge)
    await sign_up(dep, w, [asker, *voters])
    await go_live(dep, host, w)
    clients = await asyncio.gather(*(connect(dep, v, i % len(dep.gateways), w.room) for i, v in enumerate(voters)))
    try:
        first = await ask_http(dep, asker, w, "Does exercise help with fatigue?", "together-1")
        second = await ask_http(dep, asker, w, "Is it normal to feel low after treatment ends?", "together-2")
        for q in (first, second):
            await act_http(dep, host, q["id"], "approve")

        # Every voter at once on both questions: each vote answered once, the counts exact.
        def vote(c: object, qid: str) -> asyncio.Future[dict[str, object]]:
            return asyncio.ensure_future(frame_answer(
                c, {"type": "vote", "question": qid, "up": True, "cid": new_cid("v")}, ("voted", "error")))  # type: ignore[arg-type]

        answers = await asyncio.gather(*(vote(c, q["id"]) for c in clients for q in (first, second)))
        assert [a["type"] for a in answers] == ["voted"] * (2 * VOTERS), answers
        assert sorted(a["votes"] for a in answers if a["question"] == first["id"]) == list(range(1, VOTERS + 1))
        for c in clients[:3]:
            await c.wait_until(lambda fs, c=c: latest(c).get(first["id"], {}).get("votes") == VOTERS
                               and latest(c).get(second["id"], {}).get("votes") == VOTERS,
                               LIVE_BOUND_S, "every vote's count")

        # Dismissed right after: the next votes (within the two seconds) are refused as before,
        # and the count stays.
        await warm(dep, voters, first["id"])
        await act_http(dep, host, first["id"], "dismiss", reason="Answered in the talk.")
        member = await api(dep, "DELETE", f"/api/questions/{first['id']}/vote", voters[0].token, gateway=1)
        assert member.status_code == 404 and member.json()["error"] == "no_such_question", member.text
        by_host = await api(dep, "PUT", f"/api/questions/{first['id']}/vote", host.token)
        assert by_host.status_code == 409 and by_host.json()["reason"] == "not_open", by_host.text
        on_socket = await frame_answer(clients[1], {"type": "vote", "question": first["id"], "up": False,
                                                    "cid": new_cid("v")}, ("voted", "error"))
        assert on_socket["type"] == "error" and on_socket["code"] == "no_such_question", on_socket

        # Answered right after: public still, so refused as not open; the count stays.
        await warm(dep, voters[len(dep.gateways):], second["id"])
        await act_http(dep, host, second["id"], "answer", answer="Yes, many people do; tell your team.")
        late = await frame_answer(clients[2], {"type": "vote", "question": second["id"], "up": False,
                                               "cid": new_cid("v")}, ("voted", "error"))
        assert late["type"] == "error" and late["code"] == "vote_refused" and late["reason"] == "not_open", late
        listed = ok(await api(dep, "GET", f"/api/events/{w.id}/questions", host.token,
                              params={"status": "answered"}))
        assert [(q["id"], q["votes"]) for q in listed["questions"]] == [(second["id"], VOTERS)]
        dismissed = ok(await api(dep, "GET", f"/api/events/{w.id}/questions", host.token,
                                 params={"status": "dismissed"}))
        assert [(q["id"], q["votes"]) for q in dismissed["questions"]] == [(first["id"], VOTERS)]
    finally:
        await close_all(*clients)
