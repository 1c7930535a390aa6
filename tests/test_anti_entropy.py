"""Issue 13, point 6 and issue 18: the anti-entropy check's ERROR "seq counter was behind
(Redis lost data?)" must mean that Redis lost data. Under normal two-gateway traffic it must
never appear (it did: the counter was compared with what the gateway delivered after reading
it; and a deployment on another database number of the same redis-server was heard on the
room channels, which are global to the server); when the counter really goes backwards it
still fires and repairs it."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import pytest
import redis as redis_sync

from support.client import Client
from support.cluster import Deployment, shared_servers
from support.procs import Postgres, RedisServer

ROOM = "survivorship"
FALSE_ALARM = "seq counter was behind"


@pytest.fixture(scope="module")
def busy_pair(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, postgres: Postgres
) -> Iterator[Deployment]:
    """Two gateways on real Redis and PostgreSQL, checking their rooms every 20 ms (so the
    check runs often while frames stream in)."""
    env = {**shared_servers(redis_server, postgres), "KINDRED_SUBSCRIPTION_CHECK_S": "0.02"}
    dep = Deployment.start(tmp_path_factory.mktemp("anti-entropy"), count=2, extra_env=env)
    yield dep
    dep.stop()


async def test_no_data_loss_error_under_normal_traffic(busy_pair: Deployment) -> None:
    dep = busy_pair
    reader_m, writer_m = dep.register(gateway=0), dep.register(gateway=1)
    reader = await Client.connect(dep.gateways[0].ws_url, reader_m.token)
    writer = await Client.connect(dep.gateways[1].ws_url, writer_m.token)
    try:
        head = (await reader.join(ROOM))["seq"]
        await writer.join(ROOM)
        # Bursts from the other gateway: frames reach gateway 0 over pub/sub while its check
        # is reading the counter, for ~250 checks.
        total = 0
        for burst in range(25):
            cids = [f"ae-{burst}-{i}-{secrets.token_hex(3)}" for i in range(120)]
            for cid in cids:
                await writer.send({"type": "send", "room": ROOM, "body": f"note {cid}", "cid": cid})
            total += len(cids)
            await writer.wait_until(
                lambda frames, n=total: sum(f.get("type") == "ack" for f in frames) >= n, 30,
                f"{total} acks",
            )
            await asyncio.sleep(0.1)  # a quiet moment between bursts (part of the traffic)
        seqs = await reader.wait_until(
            lambda frames: (s := [f["seq"] for f in frames if f.get("type") == "message"])
            and len(s) >= total and s,
            30, f"{total} messages on gateway 0",
        )
        assert seqs == list(range(head + 1, head + total + 1)), "every message, once, in order"
        assert not [e for e in writer.frames if e.get("type") == "error"]
    finally:
        await reader.close()
        await writer.close()
    for gw in dep.gateways:
        log = gw.log_tail(2000)
        assert FALSE_ALARM not in log, log[-3000:]
        assert "Traceback" not in log, log[-3000:]


async def test_a_deployment_on_another_redis_database_is_not_heard(
    busy_pair: Deployment, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A second deployment on database 1 of the same redis-server (a staging copy, a second
    tenant), with the same room slugs: its messages must never reach our members, and its
    seqs (ahead of ours in a room we have barely used) must not look like our counter going
    back. Pub/sub channels are not per database, so the channel names must say which."""
    dep = busy_pair
    room = "caregivers"  # nothing posted here by this module before: our counter is low
    other_url = redis_server.url.rsplit("/", 1)[0] + "/1"
    redis_sync.Redis.from_url(other_url).flushdb()
    other = Deployment.start(tmp_path_factory.mktemp("other-tenant"), count=1,
                             extra_env={"KINDRED_REDIS_URL": other_url, "KINDRED_SUBSCRIPTION_CHECK_S": "0.02"})
    ours_r, ours_w = dep.register(gateway=0), dep.register(gateway=1)
    reader = await Client.connect(dep.gateways[0].ws_url, ours_r.token)
    writer = await Client.connect(dep.gateways[1].ws_url, ours_w.token)
    stranger = await Client.connect(other.gateways[0].ws_url, other.register(gateway=0).token)
    try:
        for c in (reader, writer, stranger):
            await c.join(room)
        for i in range(30):
            await stranger.post(room, f"from the other tenant {i}", cid=f"other-{i}-{secrets.token_hex(3)}")
        for i in range(3):
            await writer.post(room, f"from us {i}", cid=f"ours-{i}-{secrets.token_hex(3)}")
        bodies = await reader.wait_until(
            lambda frames: (b := [f["body"] for f in frames if f.get("type") == "message"])
            and any(x == "from us 2" for x in b) and b,
            10, "our three messages on gateway 0",
        )
        await asyncio.sleep(0.5)  # ~25 checks of both gateways while the rooms are quiet
        assert [b for b in reader.messages(room) if "other tenant" in b["body"]] == [], bodies
        assert [f["body"] for f in reader.messages(room)] == [f"from us {i}" for i in range(3)]
        assert not [f for f in stranger.messages(room) if f["body"].startswith("from us")]
    finally:
        for c in (reader, writer, stranger):
            await c.close()
        other.stop()
    for gw in dep.gateways:
        log = gw.log_tail(2000)
        assert FALSE_ALARM not in log, log[-3000:]


async def test_a_counter_that_really_went_back_is_reported_and_repaired(
    busy_pair: Deployment, redis_server: RedisServer
) -> None:
    dep = busy_pair
    room = "nutrition"
    m = dep.register(gateway=0)
    c = await Client.connect(dep.gateways[0].ws_url, m.token)
    try:
        await c.join(room)
        for i in range(5):
            await c.post(room, f"before the loss {i}", cid=f"loss-{i}-{secrets.token_hex(3)}")
        delivered = max(f["seq"] for f in c.messages(room))
        # Redis "loses" the room's counter (as after a restart without its append-only file).
        redis_sync.Redis.from_url(redis_server.url).set(f"kindred:seq:{room}", 1)

        def reported() -> bool:
            return FALSE_ALARM in dep.gateways[0].log_tail(2000)

        deadline = asyncio.get_running_loop().time() + 5
        while not reported():  # the check runs every 20 ms; 5 s is generous
            assert asyncio.get_running_loop().time() < deadline, "no ERROR for a real loss"
            await asyncio.sleep(0.05)
        after = await c.post(room, "after the loss", cid=f"after-{secrets.token_hex(3)}")
        assert after["type"] == "ack" and after["seq"] > delivered, (after, delivered)
    finally:
        await c.close()
