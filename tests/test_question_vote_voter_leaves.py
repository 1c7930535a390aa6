"""Voters who send a vote and are gone at once (their connection dropped before any answer):
every vote that was counted is told to the room, in both modes. The vote is written and told
as one (``Questions._cast`` under a shield), so the members who stay see the stored count, not
one short until somebody votes again.
"""

from __future__ import annotations

import asyncio

import pytest

from support.cluster import Deployment
from support.moderation import Teams, close_all, connect, new_cid
from support.questions import act_http, ask_http, go_live, latest, schedule, sign_up
from support.vote_storm import vote_rows

VOTERS = 16
SEEN_BOUND_S = 10.0


@pytest.fixture(scope="module")
def teams() -> Teams:
    return Teams()


async def test_votes_of_voters_who_leave_at_once_are_told_to_the_room(deployment: Deployment, teams: Teams) -> None:
    dep = deployment
    org, host = teams.of(dep)
    asker, watcher = dep.register(), dep.register()
    voters = [dep.register(gateway=i % len(dep.gateways)) for i in range(VOTERS)]
    w = await schedule(dep, host, org.lounge)
    await sign_up(dep, w, [asker, watcher, *voters])
    await go_live(dep, host, w)
    watching = await connect(dep, watcher, 0, w.room)
    clients = await asyncio.gather(*(connect(dep, v, i % len(dep.gateways), w.room) for i, v in enumerate(voters)))
    try:
        q = await ask_http(dep, asker, w, "Is it safe to garden during chemo?", new_cid("leave"))
        await act_http(dep, host, q["id"], "approve")
        await watching.wait_until(lambda fs: q["id"] in latest(watching), SEEN_BOUND_S, "the approved question")

        async def vote_and_go(c: object) -> None:
            await c.send({"type": "vote", "question": q["id"], "up": True, "cid": new_cid("v")})  # type: ignore[attr-defined]
            c.ws.transport.abort()  # type: ignore[attr-defined]  # gone before any answer

        await asyncio.gather(*(vote_and_go(c) for c in clients))

        # However many were counted (a vote may arrive after its socket was seen closed), the
        # watcher is told the stored count.
        async def told_the_stored_count() -> bool:
            stored = (await vote_rows(dep, [q["id"]]))[q["id"]]
            return stored > 0 and latest(watching).get(q["id"], {}).get("votes") == stored

        deadline = asyncio.get_running_loop().time() + SEEN_BOUND_S
        while not await told_the_stored_count():
            assert asyncio.get_running_loop().time() < deadline, (
                f"stored {await vote_rows(dep, [q['id']])}, watcher told {latest(watching).get(q['id'], {}).get('votes')}")
            await asyncio.sleep(0.1)
    finally:
        await close_all(watching, *clients)
