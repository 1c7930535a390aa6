"""Live rooms end to end, in embedded mode (one process) and Redis mode (three gateways)."""

from __future__ import annotations

from support.client import JSON, Client
from support.cluster import Deployment


def _gw(dep: Deployment, i: int) -> str:
    return dep.gateways[i % len(dep.gateways)].ws_url


async def test_message_reaches_every_gateway_once_in_order(deployment: Deployment) -> None:
    _, _, (room, _, _) = deployment.new_org()
    members = [deployment.register(org=_org_of(deployment, room)) for _ in range(3)]
    clients = [await Client.connect(_gw(deployment, i), m.token) for i, m in enumerate(members)]
    try:
        for c in clients:
            await c.join(room)
        ids = {m.id for m in members}
        for c in clients:
            await c.wait_until(lambda f, c=c: c.present_ids(room) == ids, 5, "everyone present")
        sent = []
        for i in range(30):
            sender = clients[i % 3]
            ack = await sender.post(room, f"hello {i}", cid=f"c{i}")
            assert ack["type"] == "ack", ack
            sent.append(ack["seq"])
        assert sent == sorted(sent) and len(set(sent)) == 30
        for c in clients:
            await c.wait_until(lambda f, c=c: len(c.messages(room)) >= 30, 5, "30 messages")
        for c in clients:
            got = c.messages(room)
            assert [m["seq"] for m in got] == sent  # exactly once, in seq order
            assert [m["body"] for m in got] == [f"hello {i}" for i in range(30)]
            assert all(set(m["author"]) == {"id", "handle", "role"} for m in got)
    finally:
        for c in clients:
            await c.close()


def _org_of(dep: Deployment, room: str) -> tuple[str, str]:
    # new_org() names rooms "test-org-<n>-..." with key phrase "test phrase <n>".
    n = room.split("-")[2]
    return (f"Test Org {n}", f"test phrase {n}")


async def test_resume_replays_missed_messages_without_duplicates(deployment: Deployment) -> None:
    _, _, (room, _, _) = deployment.new_org()
    org = _org_of(deployment, room)
    alice, bob = deployment.register(org=org), deployment.register(org=org)
    a = await Client.connect(_gw(deployment, 0), alice.token)
    b = await Client.connect(_gw(deployment, 1), bob.token, protocol=JSON)
    try:
        await a.join(room)
        await b.join(room)
        for i in range(5):
            await a.post(room, f"before {i}", cid=f"b{i}")
        await b.wait_until(lambda f: len(b.messages(room)) == 5, 5, "5 messages")
        last = b.messages(room)[-1]["seq"]
        await b.close()
        for i in range(7):
            await a.post(room, f"during {i}", cid=f"d{i}")
        b2 = await Client.connect(_gw(deployment, 2), bob.token, protocol=JSON)
        joined = await b2.join(room, since=last)
        assert joined["seq"] == last + 7
        await b2.wait_until(lambda f: len(b2.messages(room)) >= 7, 5, "replay")
        await a.post(room, "after", cid="after")
        await b2.wait_until(lambda f: len(b2.messages(room)) >= 8, 5, "live after replay")
        seqs = [m["seq"] for m in b2.messages(room)]
        assert seqs == list(range(last + 1, last + 9))
        await b2.close()
    finally:
        await a.close()


async def test_retried_cid_is_posted_once(deployment: Deployment) -> None:
    room = "caregivers"
    m = deployment.register()
    c = await Client.connect(_gw(deployment, 0), m.token)
    try:
        joined = await c.join(room)
        first = await c.post(room, "only once", cid="same-cid")
        again = await c.post(room, "only once", cid="same-cid")
        assert first["type"] == again["type"] == "ack"
        assert (first["id"], first["seq"]) == (again["id"], again["seq"])
        assert again.get("duplicate") is True
        await c.post(room, "marker", cid="marker")
        await c.wait_until(lambda f: any(x["body"] == "marker" for x in c.messages(room)), 5, "marker")
        bodies = [x["body"] for x in c.messages(room) if x["seq"] > joined["seq"]]
        assert bodies.count("only once") == 1
    finally:
        await c.close()


async def test_presence_leave_is_seen_everywhere(deployment: Deployment) -> None:
    room = "newly-diagnosed"
    alice, bob = deployment.register(), deployment.register()
    a = await Client.connect(_gw(deployment, 0), alice.token)
    b = await Client.connect(_gw(deployment, 1), bob.token)
    try:
        await a.join(room)
        await b.join(room)
        await a.wait_until(lambda f: bob.id in a.present_ids(room), 5, "bob present")
        await b.send({"type": "typing", "room": room})
        typing = await a.wait_frame("typing", room=room)
        assert typing["user"]["id"] == bob.id and "email" not in typing["user"]
        await b.close()
        await a.wait_until(lambda f: bob.id not in a.present_ids(room), 5, "bob gone")
    finally:
        await a.close()
        await b.close()
