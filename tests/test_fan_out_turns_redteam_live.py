"""Red team of the fan-out in turns (chat_server/gateway/fanout.py) on real servers, whose
deployments send at most 3 sockets a turn (tests/support/cluster.py): see
test_fan_out_turns_redteam.py for the in-process scenarios."""

from __future__ import annotations

import asyncio
from typing import Any

from support.client import Client
from support.cluster import Deployment
from support.moderation import close_all, connect, fresh_org, new_cid, ws


async def test_every_member_posting_while_members_drop_and_join(deployment: Deployment) -> None:
    """Every member of a room bigger than the turn (3 in the tests' deployments) posts at
    once, so each one's own message arrives while its send awaits the ack (held for it, in
    one write with it) and in whichever slice it falls; meanwhile one member drops and
    resumes with ``since`` and another joins with ``since`` 0. Each gets every message once,
    in order, no gap; each sender every ack. Embedded and Redis mode (three gateways)."""
    dep, posters, each = deployment, 8, 6
    org = fresh_org(dep)
    room = org.lounge
    members = [dep.register(org=org.key) for _ in range(posters + 2)]
    clients = [await connect(dep, m, 0, room) for m in members[:posters + 1]]
    dropper = clients[posters]
    late: list[Client] = []  # to close, in whichever order they came
    named: dict[str, Client] = {}
    acks: list[dict[str, Any]] = []

    async def post_all(c: Client, who: int) -> None:
        for i in range(each):
            ack = await c.post(room, f"turns {who}-{i}", cid=new_cid())
            assert ack["type"] == "ack", ack
            acks.append(ack)

    async def drop_and_resume() -> int:
        await dropper.wait_until(lambda _f: len(dropper.messages(room)) >= 10 or None, 10, "10 messages")
        since = max(f["seq"] for f in dropper.messages(room))
        await dropper.close()
        back = await Client.connect(ws(dep, 1), members[posters].token)
        late.append(back)
        named["resumed"] = back
        await back.join(room, since=since)
        return since

    async def join_midway() -> None:
        await clients[0].wait_until(lambda _f: len(clients[0].messages(room)) >= 20 or None, 10, "20")
        c = await Client.connect(ws(dep, 2), members[posters + 1].token)
        late.append(c)
        named["joiner"] = c
        await c.join(room, since=0)

    try:
        *_, since, _ = await asyncio.gather(*(post_all(c, k) for k, c in enumerate(clients[:posters])),
                                            drop_and_resume(), join_midway())
        total = posters * each
        by_seq = sorted(a["seq"] for a in acks)
        assert len(set(by_seq)) == total
        # By name: which of the two connected first is the race's, not the test's.
        resumed, joiner = named["resumed"], named["joiner"]
        for c, want in [*((c, by_seq) for c in clients[:posters]), (joiner, by_seq),
                        (resumed, [s for s in by_seq if s > since])]:
            await c.wait_until(lambda _f, c=c, w=want: len(c.messages(room)) >= len(w) or None, 15,
                               f"{len(want)} messages")
            assert [f["seq"] for f in c.messages(room)] == want  # once each, in order
            assert not [f for f in c.frames if f.get("type") == "gap"]
        for k, c in enumerate(clients[:posters]):  # its own, as everyone else's, and every ack
            own = [f for f in c.messages(room) if f["body"].startswith(f"turns {k}-")]
            assert len(own) == each
    finally:
        await close_all(*clients, *late)
