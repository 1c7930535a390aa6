"""Red team for votes' shared reads (chat_server/questions/vote_facts.py, Questions.vote):
votes racing a host's action on other gateways, one member casting and withdrawing from two
gateways at once, a member of another organization after the read was warmed, anonymous
authors in count frames, the two-second keep expiring, pending questions, and bad input.
Embedded and on three Redis gateways; every count is checked exactly against the database
(GET /api/events/{id}/questions).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from support.cluster import ORG_B, Deployment, Member
from support.moderation import Teams, api, close_all, connect, new_cid, ping
from support.questions import (
    Webinar,
    act_http,
    ask_http,
    frame_answer,
    go_live,
    ok,
    question_frames,
    schedule,
    sign_up,
)

LIVE_BOUND_S = 5.0
ANON = {"anonymous": True, "handle": "a member"}


@pytest.fixture(scope="module")
def teams() -> Teams:
    return Teams()


def gw(dep: Deployment, i: int) -> int:
    return i % len(dep.gateways)


async def setup(dep: Deployment, teams: Teams, n_voters: int) -> tuple[Member, Member, list[Member], Webinar]:
    org, host = teams.of(dep)
    asker = dep.register()
    voters = [dep.register(gateway=gw(dep, i)) for i in range(n_voters)]
    w = await schedule(dep, host, org.lounge)
    await sign_up(dep, w, [asker, *voters])
    await go_live(dep, host, w)
    return host, asker, voters, w


async def vote_http(dep: Deployment, m: Member, qid: str, up: bool, gateway: int) -> httpx.Response:
    return await api(dep, "PUT" if up else "DELETE", f"/api/questions/{qid}/vote", m.token, gateway=gateway)


async def listed(dep: Deployment, host: Member, w: Webinar, status: str) -> dict[str, int]:
    found = ok(await api(dep, "GET", f"/api/events/{w.id}/questions", host.token, params={"status": status}))
    return {q["id"]: q["votes"] for q in found["questions"]}


async def warm(dep: Deployment, voters: list[Member], qid: str) -> None:
    """A vote cast and withdrawn on every gateway: each has kept the open question's read."""
    for g, v in enumerate(voters[:len(dep.gateways)]):
        ok(await vote_http(dep, v, qid, True, g))
        ok(await vote_http(dep, v, qid, False, g))


def error_of(r: httpx.Response) -> tuple[int, str, str | None]:
    body = r.json()
    return r.status_code, body.get("error"), body.get("reason")


@pytest.mark.parametrize("action", ["dismiss", "answer", "merge"])
async def test_votes_racing_a_hosts_action_are_counted_exactly(
    deployment: Deployment, teams: Teams, action: str,
) -> None:
    dep = deployment
    host, asker, voters, w = await setup(dep, teams, 15)
    other_asker = dep.register()
    await sign_up(dep, w, [other_asker])
    q = await ask_http(dep, asker, w, "Can I eat grapefruit while on this drug?", new_cid("rq"))
    target = await ask_http(dep, other_asker, w, "Is grapefruit safe with my medicine?", new_cid("rt"))
    for item in (q, target):
        await act_http(dep, host, item["id"], "approve")
    qid = q["id"]
    # Two voters already vote for the merge target (one of them votes for both).
    for v in voters[:2]:
        ok(await vote_http(dep, v, target["id"], True, 0))
    await warm(dep, voters[2:], qid)

    fields: dict[str, Any] = {"dismiss": {"reason": "Covered."}, "answer": {"answer": "Ask your pharmacist."},
                              "merge": {"into": target["id"]}}[action]

    async def host_acts() -> None:
        await asyncio.sleep(0.02)  # lands among the votes, on another gateway
        await act_http(dep, host, qid, action, gateway=gw(dep, 1), **fields)

    racing = voters[1:11]
    responses = await asyncio.gather(
        *(vote_http(dep, v, qid, True, gw(dep, i)) for i, v in enumerate(racing)), host_acts())
    results = responses[:-1]
    assert isinstance(results[0], httpx.Response)
    refused_as = (404, "no_such_question", None) if action != "answer" else (409, "vote_refused", "not_open")
    accepted = [v for v, r in zip(racing, results, strict=True) if isinstance(r, httpx.Response) and r.status_code == 200]
    for r in results:
        assert isinstance(r, httpx.Response)
        assert r.status_code == 200 or error_of(r) == refused_as, r.text
    counts = sorted(r.json()["votes"] for r in results if isinstance(r, httpx.Response) and r.status_code == 200)
    assert counts == list(range(1, len(accepted) + 1)), counts

    # The action is committed: every vote from now on refused, on every gateway, cast or withdrawn.
    after = await asyncio.gather(*(vote_http(dep, v, qid, i % 2 == 0, gw(dep, i))
                                   for i, v in enumerate(voters)))
    for v, r in zip(voters, after, strict=True):
        assert error_of(r) == refused_as, (v.handle, r.text)
    by_host = await vote_http(dep, host, qid, True, gw(dep, 2))
    assert error_of(by_host) == (409, "vote_refused", "not_open"), by_host.text

    status = {"dismiss": "dismissed", "answer": "answered", "merge": "dismissed"}[action]
    assert (await listed(dep, host, w, status))[qid] == len(accepted)
    if action == "merge":
        expected = {voters[0].id, voters[1].id} | {v.id for v in accepted}
        assert (await listed(dep, host, w, "open"))[target["id"]] == len(expected)


async def test_one_member_casting_and_withdrawing_from_every_gateway_at_once(
    deployment: Deployment, teams: Teams,
) -> None:
    dep = deployment
    host, asker, voters, w = await setup(dep, teams, 2)
    q = await ask_http(dep, asker, w, "How long does the fatigue last?", new_cid("rw"))
    await act_http(dep, host, q["id"], "approve")
    qid = q["id"]
    steady, member = voters
    ok(await vote_http(dep, steady, qid, True, 0))
    net = 0
    for rnd in range(8):
        ops = [(i % 2 == 0) if rnd % 2 == 0 else (i % 2 == 1) for i in range(6)]
        rs = await asyncio.gather(*(vote_http(dep, member, qid, up, gw(dep, i)) for i, up in enumerate(ops)))
        for up, r in zip(ops, rs, strict=True):
            if r.status_code == 200:
                net += 1 if up else -1
                assert r.json()["voted"] is up
            else:
                assert error_of(r) == (409, "vote_refused", "already_voted" if up else "not_voted"), r.text
        assert net in (0, 1), net
        found = ok(await api(dep, "GET", f"/api/events/{w.id}/questions", member.token, params={"status": "open"}))
        mine = next(x for x in found["questions"] if x["id"] == qid)
        assert mine["voted"] is (net == 1)
        assert mine["votes"] == 1 + net, (rnd, mine, net)


async def test_member_of_another_org_never_votes_nor_sees_a_warmed_question(
    deployment: Deployment, teams: Teams,
) -> None:
    dep = deployment
    host, asker, voters, w = await setup(dep, teams, 6)
    stranger = dep.register(org=ORG_B)
    q = await ask_http(dep, asker, w, "Which foods help with nausea?", new_cid("rx"))
    await act_http(dep, host, q["id"], "approve")
    qid = q["id"]
    watcher = await connect(dep, voters[0], gw(dep, 1), w.room)
    outsiders = [await connect(dep, stranger, g) for g in range(len(dep.gateways))]
    try:
        await warm(dep, voters, qid)
        # Alongside votes that share the same read, and after it was kept, on every gateway.
        mixed = await asyncio.gather(
            *(vote_http(dep, v, qid, True, gw(dep, i)) for i, v in enumerate(voters)),
            *(vote_http(dep, stranger, qid, up, g) for g in range(len(dep.gateways)) for up in (True, False)))
        assert [r.status_code for r in mixed[:len(voters)]] == [200] * len(voters), [r.text for r in mixed]
        for r in mixed[len(voters):]:
            assert error_of(r) == (404, "no_such_question", None), r.text
        for c in outsiders:
            a = await frame_answer(c, {"type": "vote", "question": qid, "up": True, "cid": new_cid("v")},
                                   ("voted", "error"))
            assert a["type"] == "error" and a["code"] == "no_such_question", a
        await watcher.wait_until(lambda fs: any(f.get("votes") == len(voters) for f in question_frames(watcher, qid)),
                                 LIVE_BOUND_S, "the last count")
        for c in outsiders:
            await ping(c)
            assert question_frames(c, qid) == [], question_frames(c, qid)
            assert qid not in json.dumps(c.frames), c.frames
        assert (await listed(dep, host, w, "open"))[qid] == len(voters)
    finally:
        await close_all(watcher, *outsiders)


async def test_anonymous_author_stays_anonymous_in_count_frames(deployment: Deployment, teams: Teams) -> None:
    dep = deployment
    host, asker, voters, w = await setup(dep, teams, 6)
    q = await ask_http(dep, asker, w, "Is it normal to feel angry all the time?", new_cid("ra"), anonymous=True)
    await act_http(dep, host, q["id"], "approve")
    qid = q["id"]
    clients = [await connect(dep, m, gw(dep, i), w.room) for i, m in enumerate([host, voters[0], voters[1]])]
    try:
        answers = await asyncio.gather(*(vote_http(dep, v, qid, True, gw(dep, i)) for i, v in enumerate(voters)))
        assert [r.status_code for r in answers] == [200] * len(voters), [r.text for r in answers]
        own = await vote_http(dep, asker, qid, True, gw(dep, 1))
        assert error_of(own) == (409, "vote_refused", "own_question"), own.text
        for c in clients:
            await c.wait_until(lambda fs, c=c: any(f.get("votes") == len(voters) for f in question_frames(c, qid)),
                               LIVE_BOUND_S, "the last count")
            counted = [f for f in question_frames(c, qid) if f.get("votes", 0) > 0]
            assert len(counted) >= 1
            for f in counted:
                assert f["author"] == ANON, f
                assert asker.id not in json.dumps(f) and asker.handle not in json.dumps(f), f
        assert (await listed(dep, host, w, "open"))[qid] == len(voters)
    finally:
        await close_all(*clients)


async def test_votes_after_the_keep_expires_still_refused_and_counted(deployment: Deployment, teams: Teams) -> None:
    dep = deployment
    host, asker, voters, w = await setup(dep, teams, 5)
    q = await ask_http(dep, asker, w, "Can I travel between cycles?", new_cid("re"))
    await act_http(dep, host, q["id"], "approve")
    qid = q["id"]
    await warm(dep, voters, qid)
    await asyncio.sleep(2.3)  # the kept read has expired (TTL_S = 2.0); nothing asserted from waiting
    rs = await asyncio.gather(*(vote_http(dep, v, qid, True, gw(dep, i)) for i, v in enumerate(voters[:3])))
    assert sorted(r.json()["votes"] for r in rs) == [1, 2, 3], [r.text for r in rs]
    await act_http(dep, host, qid, "dismiss", gateway=gw(dep, 2))
    late = await asyncio.gather(*(vote_http(dep, v, qid, False, gw(dep, i)) for i, v in enumerate(voters)))
    assert [error_of(r) for r in late] == [(404, "no_such_question", None)] * len(voters), [r.text for r in late]
    assert (await listed(dep, host, w, "dismissed"))[qid] == 3


async def test_pending_question_never_votable_by_a_member_until_approved(
    deployment: Deployment, teams: Teams,
) -> None:
    dep = deployment
    host, asker, voters, w = await setup(dep, teams, 9)
    q = await ask_http(dep, asker, w, "Should I tell my employer?", new_cid("rp"))
    qid = q["id"]
    assert q["status"] == "pending", q
    # Read on every gateway by the host (refused, not open) and by members: never kept.
    for g in range(len(dep.gateways)):
        r = await vote_http(dep, host, qid, True, g)
        assert error_of(r) == (409, "vote_refused", "not_open"), r.text
        r = await vote_http(dep, voters[0], qid, True, g)
        assert error_of(r) == (404, "no_such_question", None), r.text
        r = await vote_http(dep, asker, qid, True, g)
        assert error_of(r) == (409, "vote_refused", "own_question"), r.text

    async def approve() -> None:
        await asyncio.sleep(0.02)
        await act_http(dep, host, qid, "approve", gateway=gw(dep, 1))

    racing = voters[:6]
    got = await asyncio.gather(*(vote_http(dep, v, qid, True, gw(dep, i)) for i, v in enumerate(racing)), approve())
    results = [r for r in got if isinstance(r, httpx.Response)]
    accepted = [r for r in results if r.status_code == 200]
    for r in results:
        assert r.status_code == 200 or error_of(r) == (404, "no_such_question", None), r.text
    # Approved: at once votable on every gateway, never a stale "pending".
    rest = await asyncio.gather(*(vote_http(dep, v, qid, True, gw(dep, i)) for i, v in enumerate(voters[6:])))
    assert [r.status_code for r in rest] == [200] * len(rest), [r.text for r in rest]
    assert (await listed(dep, host, w, "open"))[qid] == len(accepted) + len(rest)

    # A second pending question dismissed while pending: a member is never told it exists.
    p = await ask_http(dep, asker, w, "Is there a support group for partners?", new_cid("rp2"))
    await act_http(dep, host, p["id"], "dismiss")
    for g in range(len(dep.gateways)):
        r = await vote_http(dep, voters[1], p["id"], True, g)
        assert error_of(r) == (404, "no_such_question", None), r.text


BAD_IDS = ["x", "0" * 31, "z" * 32, "Z" * 33, "é" * 32, "a" * 80, "%20" * 32, "-" * 32]


async def test_bad_question_ids_over_http_give_no_such_question(deployment: Deployment, teams: Teams) -> None:
    dep = deployment
    host, asker, voters, w = await setup(dep, teams, 2)
    q = await ask_http(dep, asker, w, "Does radiotherapy make you tired?", new_cid("rb"))
    await act_http(dep, host, q["id"], "approve")
    qid = q["id"]
    for i, bad in enumerate([*BAD_IDS, qid.upper(), qid[:31] + "%00"]):
        for up in (True, False):
            r = await vote_http(dep, voters[0], bad, up, gw(dep, i))
            assert error_of(r) == (404, "no_such_question", None), (bad, r.status_code, r.text)
    # A venue id (not a question's) is no such question either.
    r = await vote_http(dep, voters[0], w.id, True, 0)
    assert error_of(r) == (404, "no_such_question", None), r.text
    good = await vote_http(dep, voters[0], qid, True, gw(dep, 2))
    assert good.status_code == 200 and good.json()["votes"] == 1, good.text


async def test_bad_vote_frames_give_clear_errors_and_the_socket_stays(deployment: Deployment, teams: Teams) -> None:
    dep = deployment
    host, asker, voters, w = await setup(dep, teams, 2)
    q = await ask_http(dep, asker, w, "Does chemotherapy change taste?", new_cid("rf"))
    await act_http(dep, host, q["id"], "approve")
    qid = q["id"]
    c = await connect(dep, voters[1], gw(dep, 1), w.room)
    try:
        bad_frames: list[tuple[dict[str, Any], str]] = [
            ({"type": "vote", "question": 12345, "up": True}, "bad_frame"),
            ({"type": "vote", "up": True}, "bad_frame"),
            ({"type": "vote", "question": "", "up": True}, "bad_frame"),
            ({"type": "vote", "question": qid, "up": "yes"}, "bad_frame"),
            ({"type": "vote", "question": [qid], "up": True}, "bad_frame"),
            ({"type": "vote", "question": {"id": qid}, "up": True}, "bad_frame"),
            ({"type": "vote", "question": "z" * 32, "up": True}, "no_such_question"),
            ({"type": "vote", "question": qid[:31] + "\u0000", "up": True}, "no_such_question"),
            ({"type": "vote", "question": "q" * 5000, "up": True}, "bad_frame"),
        ]
        for frame, code in bad_frames:
            cid = new_cid("b")
            start = len(c.frames)
            await c.send({**frame, "cid": cid})

            def answer(fs: list[dict[str, Any]], start: int = start, cid: str = cid) -> dict[str, Any] | None:
                for f in fs[start:]:
                    if f.get("type") in ("voted", "error") and f.get("cid") in (cid, None):
                        return f
                return None

            got = await c.wait_until(answer, LIVE_BOUND_S, f"answer to {frame}")
            assert got["type"] == "error" and got["code"] == code, (frame, got)
        await ping(c)  # still connected and answering
        good = await frame_answer(c, {"type": "vote", "question": qid, "up": True, "cid": new_cid("g")},
                                  ("voted", "error"))
        assert good["type"] == "voted" and good["votes"] == 1, good
    finally:
        await close_all(c)
    assert (await listed(dep, host, w, "open"))[qid] == 1
