"""A room's fan-out in turns of the loop (chat_server/gateway/fanout.py) on real servers: the
tests' deployments send at most ``KINDRED_FAN_OUT_TURN`` (3, tests/support/cluster.py) sockets
a turn, so a room of nine members on one gateway, or of three gateways' worth, goes out in
slices. Every member gets every message once and in order while several members post at
once, and a navigator's removal reaches every member after the message it removes.
Embedded and Redis mode (three gateways)."""

from __future__ import annotations

import asyncio

from support.client import Client
from support.cluster import Deployment
from support.moderation import close_all, connect, fresh_org, make_staff, moderate_ok, new_cid

MEMBERS = 9
SENDERS = 3
EACH = 12


async def test_every_member_gets_every_message_once_in_order_and_removals_after_them(
    deployment: Deployment,
) -> None:
    dep = deployment
    org = fresh_org(dep)
    room = org.lounge
    nav = make_staff(dep, org.key)
    members = [dep.register(org=org.key) for _ in range(MEMBERS)]
    clients: list[Client] = []
    try:
        # All on the first gateway (its fan-out is 9 + 1 sockets: four turns), and in Redis
        # mode the senders also on the others.
        for m in members:
            clients.append(await connect(dep, m, 0, room))
        n = await connect(dep, nav, 0, room)
        clients.append(n)
        senders = [await connect(dep, members[i], i + 1, room) for i in range(SENDERS)]
        clients.extend(senders)

        async def post_all(s: Client, who: int) -> list[dict[str, object]]:
            acks = []
            for i in range(EACH):
                ack = await s.post(room, f"note {who}-{i}", cid=new_cid())
                assert ack["type"] == "ack", ack
                acks.append(ack)
            return acks

        acks = [a for batch in await asyncio.gather(*(post_all(s, k) for k, s in enumerate(senders)))
                for a in batch]
        ids = {a["id"] for a in acks}
        total = SENDERS * EACH
        for c in clients[:MEMBERS + 1]:
            await c.wait_until(lambda _f, c=c: len(c.messages(room)) >= total or None, 10,
                               f"{total} messages")
        for c in clients[:MEMBERS + 1]:
            got = c.messages(room)
            assert len(got) == total, len(got)  # once each
            assert {f["id"] for f in got} == ids
            seqs = [f["seq"] for f in got]
            assert seqs == sorted(seqs), seqs  # in order

        # A removal right behind a fresh message: after it, on every socket.
        last = await senders[0].post(room, "one more", cid=new_cid())
        await moderate_ok(n, room, "remove", message=last["id"], reason="Testing the order.")
        for c in clients[:MEMBERS + 1]:
            await c.wait_frame("removed", timeout_s=5, room=room, id=last["id"])
            kinds = [f.get("type") for f in c.frames
                     if f.get("id") == last["id"] and f.get("type") in ("message", "removed")]
            assert kinds == ["message", "removed"], kinds
    finally:
        await close_all(*clients)
