"""The vote storm both storm test modules run: an audience on several gateways votes at random
on 50 questions; afterwards every client shows, for every question, exactly the count the votes
recorded, and so does the database. Kept apart so the scaled run and the full minute are two
test modules, which the suite's workers can take in parallel.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from support.client import Client
from support.cluster import Deployment, Member
from support.deployment_sql import sql
from support.moderation import Teams, api, close_all, ws
from support.questions import act_http, ask_http, go_live, latest, ok, schedule, sign_up

QUESTIONS = 50
SETTLE_S = 5.0


@pytest.fixture(scope="module")
def teams() -> Teams:
    return Teams()


async def vote_rows(dep: Deployment, ids: list[str]) -> dict[str, int]:
    """The vote rows per question, counted in the database itself."""
    rows = await sql(dep, "SELECT q.public_id, COUNT(v.user_id) FROM questions q LEFT JOIN question_votes v "
                          f"ON v.question_id = q.id WHERE q.public_id IN ({', '.join('?' * len(ids))}) "
                          "GROUP BY q.public_id", *ids)
    return {r[0]: int(r[1]) for r in rows}


async def register_many(dep: Deployment, n: int) -> list[Member]:
    made: list[Member] = []
    for start in range(0, n, 20):
        batch = await asyncio.gather(*(
            asyncio.to_thread(dep.register, gateway=i % len(dep.gateways)) for i in range(start, min(n, start + 20))
        ))
        made.extend(batch)
    return made


async def storm(dep: Deployment, teams: Teams, members_n: int, seconds: float) -> None:
    org, host = teams.of(dep)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    members = await register_many(dep, members_n)
    print(f"\nregistered in {loop.time() - t0:.1f} s")
    w = await schedule(dep, host, org.lounge)
    await sign_up(dep, w, members)
    await go_live(dep, host, w)
    print(f"signed up at {loop.time() - t0:.1f} s")
    clients: list[Client] = []
    host_c: Client | None = None
    try:
        for i in range(0, members_n, 25):
            clients.extend(await asyncio.gather(*(
                Client.connect(ws(dep, j), m.token) for j, m in enumerate(members[i:i + 25], start=i)
            )))
        print(f"connected at {loop.time() - t0:.1f} s")
        host_c = await Client.connect(ws(dep, 0), host.token)
        await host_c.join(w.room, timeout_s=30)
        for i in range(0, members_n, 50):
            await asyncio.gather(*(c.join(w.room, timeout_s=30) for c in clients[i:i + 50]))
        print(f"joined at {loop.time() - t0:.1f} s")

        # 50 questions by 50 members, approved by the host.
        authors = {}
        for i in range(QUESTIONS):
            q = await ask_http(dep, members[i], w, f"Question {i}: how do I manage fatigue?", f"s-{i}",
                               gateway=i % len(dep.gateways))
            await act_http(dep, host, q["id"], "approve", gateway=i % len(dep.gateways))
            authors[q["id"]] = i
        ids = list(authors)
        print(f"asked at {loop.time() - t0:.1f} s")

        # Each member votes at random (cast or withdraw) until the time is up, waiting for
        # each answer, so each member knows exactly which votes it holds.
        holds: list[set[str]] = [set() for _ in members]
        refused: list[dict[str, Any]] = []
        stop_at = loop.time() + seconds
        pending_ids: list[str] = []

        async def voter(i: int) -> None:
            rng = random.Random(i)
            c = clients[i]
            n = 0
            while loop.time() < stop_at:
                qid = rng.choice(ids)
                if authors[qid] == i:
                    continue
                up = qid not in holds[i]
                cid = f"v{i}-{n}"
                n += 1
                start = len(c.frames)
                await c.send({"type": "vote", "question": qid, "up": up, "cid": cid})
                answer = await c.wait_until(
                    lambda fs, s=start, k=cid: next((f for f in fs[s:] if f.get("cid") == k), None),
                    30, f"vote {cid}")
                if answer["type"] == "voted":
                    (holds[i].add if up else holds[i].discard)(qid)
                else:
                    refused.append(answer)
                await asyncio.sleep(rng.uniform(0.5, 2.5))

        async def asker() -> None:
            # A question awaiting review, asked mid-storm: only its author and the host see it.
            await asyncio.sleep(seconds / 2)
            q = await ask_http(dep, members[-1], w, "Is it normal to feel this tired?", "mid-storm",
                               gateway=len(dep.gateways) - 1)
            pending_ids.append(q["id"])

        await asyncio.gather(asker(), *(voter(i) for i in range(members_n)))
        assert refused == [], refused[:3]
        print(f"voted at {loop.time() - t0:.1f} s")

        expected = {qid: sum(qid in h for h in holds) for qid in ids}
        assert sum(expected.values()) > 0
        listed = ok(await api(dep, "GET", f"/api/events/{w.id}/questions", host.token,
                              params={"status": "open", "limit": 200}))
        assert {q["id"]: q["votes"] for q in listed["questions"]} == expected
        assert await vote_rows(dep, ids) == expected

        # Every client ends on exactly those counts (the last frames arrive within the
        # coalescing interval; a bounded wait, not a sleep).
        def settled(c: Client) -> bool:
            seen = latest(c)
            return all(qid in seen and seen[qid]["votes"] == n for qid, n in expected.items())

        everyone = [host_c, *clients]
        waits = await asyncio.gather(
            *(c.wait_until(lambda _fs, c=c: settled(c), SETTLE_S, "final counts") for c in everyone),
            return_exceptions=True,
        )
        wrong = [i for i, r in enumerate(waits) if isinstance(r, BaseException)]
        assert wrong == [], f"{len(wrong)} clients off, e.g. {wrong[:3]}"

        # The pending question reached its author and the host, and nobody else.
        (pending,) = pending_ids
        await host_c.wait_frame("question", 2, id=pending)
        await clients[-1].wait_frame("question", 2, id=pending)
        saw = [i for i, c in enumerate(clients[:-1]) if any(f.get("id") == pending for f in c.frames)]
        assert saw == []
        frames = sum(len([f for f in c.frames if f.get("type") == "question"]) for c in clients)
        votes = sum(1 for c in clients for f in c.frames if f.get("type") == "voted")
        print(f"\n{members_n} members, {votes} votes in {seconds} s: "
              f"{frames / members_n:.1f} question frames per member")
    finally:
        await close_all(host_c, *clients)
