"""Transcripts through the HTTP API, on SQLite (embedded) and PostgreSQL (Redis mode)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from redis.asyncio import Redis

from support.client import Client
from support.cluster import ORG_A, ORG_B, Deployment
from support.http import TLS
from support.procs import TIMEOUT_SCALE, Postgres, RedisServer


def _org_of(room: str) -> tuple[str, str]:
    n = room.split("-")[2]
    return (f"Test Org {n}", f"test phrase {n}")


async def _get(dep: Deployment, token: str, path: str, gateway: int = 0, **params: Any) -> httpx.Response:
    async with httpx.AsyncClient(verify=TLS, base_url=dep.gateways[gateway].http_url, timeout=30) as http:
        return await http.get(path, params=params, headers={"Authorization": f"Bearer {token}"})


async def _wait_stored(dep: Deployment, token: str, room: str, seq: int, timeout_s: float = 15) -> None:
    """Wait until the room's newest stored message has ``seq`` (the writer may lag in Redis mode)."""
    deadline = asyncio.get_running_loop().time() + timeout_s * TIMEOUT_SCALE
    while True:
        r = await _get(dep, token, f"/api/rooms/{room}/messages", limit=1)
        assert r.status_code == 200, r.text
        newest = r.json()["messages"]
        if newest and newest[0]["seq"] >= seq:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"seq {seq} not stored within {timeout_s}s: {newest}")
        await asyncio.sleep(0.05)


async def test_pages_never_skip_or_repeat_while_messages_arrive(deployment: Deployment) -> None:
    _, _, (room, _, _) = deployment.new_org()
    member = deployment.register(org=_org_of(room))
    c = await Client.connect(deployment.gateways[0].ws_url, member.token)
    try:
        await c.join(room)
        for i in range(25):
            await c.post(room, f"page message {i}", cid=f"p{i}")
        await _wait_stored(deployment, member.token, room, 25)
        first = (await _get(deployment, member.token, f"/api/rooms/{room}/messages", limit=10)).json()
        assert [m["seq"] for m in first["messages"]] == list(range(25, 15, -1))
        assert first["next_before"] == 16
        for i in range(5):  # new messages arrive between pages
            await c.post(room, f"late {i}", cid=f"late{i}")
        seen = [m["seq"] for m in first["messages"]]
        before = first["next_before"]
        while before is not None:
            page = (await _get(deployment, member.token, f"/api/rooms/{room}/messages",
                               before=before, limit=10)).json()
            seen.extend(m["seq"] for m in page["messages"])
            before = page["next_before"]
        assert seen == list(range(25, 0, -1))
        m = first["messages"][0]
        assert m["body"] == "page message 24" and m["removed"] is False
        assert set(m["author"]) == {"id", "handle", "role"} and m["author"]["id"] == member.id
        # The late five reach the database a writer's gather later (Redis mode): wait for
        # the last, so what is checked next is the cap on `limit`, not the writer's timing.
        await _wait_stored(deployment, member.token, room, 30)
        capped = await _get(deployment, member.token, f"/api/rooms/{room}/messages", limit=100000)
        assert capped.status_code == 200 and len(capped.json()["messages"]) == 30
        bad = await _get(deployment, member.token, f"/api/rooms/{room}/messages", before="x")
        assert bad.status_code == 400
    finally:
        await c.close()


async def test_threads(deployment: Deployment) -> None:
    _, _, (room, _, _) = deployment.new_org()
    org = _org_of(room)
    alice, bob = deployment.register(org=org), deployment.register(org=org)
    a = await Client.connect(deployment.gateways[0].ws_url, alice.token)
    b = await Client.connect(deployment.gateways[-1].ws_url, bob.token)
    try:
        await a.join(room)
        await b.join(room)
        root = await a.post(room, "Has anyone tried cold caps?", cid="root")
        other = await a.post(room, "A different topic", cid="other")
        r1 = await b.post(room, "Yes, they helped me", cid="r1", reply_to=root["id"])
        r2 = await a.post(room, "Thank you!", cid="r2", reply_to=r1["id"])  # reply to a reply
        r3 = await b.post(room, "Another reply", cid="r3", reply_to=root["id"])
        live = await b.wait_frame("message", id=r1["id"])
        assert live["reply_to"] == root["id"]
        await _wait_stored(deployment, alice.token, room, r3["seq"])
        for named in (root["id"], r2["id"]):  # any message of the thread names it
            thread = (await _get(deployment, bob.token, f"/api/messages/{named}/thread")).json()
            assert thread["root"] == root["id"]
            assert [m["id"] for m in thread["messages"]] == [root["id"], r1["id"], r2["id"], r3["id"]]
            assert [m["thread_root"] for m in thread["messages"][1:]] == [root["id"]] * 3
        alone = (await _get(deployment, bob.token, f"/api/messages/{other['id']}/thread")).json()
        assert [m["id"] for m in alone["messages"]] == [other["id"]]
        missing = await _get(deployment, bob.token, f"/api/messages/{'0' * 32}/thread")
        assert missing.status_code == 404
        # A reply must answer a message of the same room.
        unknown = await a.post(room, "to nothing", cid="bad1", reply_to="0" * 32)
        assert unknown["type"] == "error" and unknown["code"] == "bad_frame"
        await a.join("caregivers")
        elsewhere = await a.post("caregivers", "cross-room", cid="bad2", reply_to=root["id"])
        assert elsewhere["type"] == "error" and elsewhere["code"] == "bad_frame"
    finally:
        await a.close()
        await b.close()


async def test_search_and_organization_isolation(deployment: Deployment) -> None:
    a_member = deployment.register(org=ORG_A)
    b_member = deployment.register(org=ORG_B)
    local_a = "riverside-cancer-center-lounge"
    national = "lung-cancer"
    c = await Client.connect(deployment.gateways[0].ws_url, a_member.token)
    try:
        await c.join(local_a)
        await c.join(national)
        word = f"zebrafish{a_member.id[-6:]}"
        secret = await c.post(local_a, f"the {word} trial in our local group", cid="s1")
        public = await c.post(national, f"a {word} question for everyone", cid="s2")
        await c.post(national, f"{word} {word} again and {word}", cid="s3")
        await _wait_stored(deployment, a_member.token, local_a, secret["seq"])
        await _wait_stored(deployment, a_member.token, national, public["seq"] + 1)

        mine = (await _get(deployment, a_member.token, "/api/search", q=word)).json()["results"]
        assert {m["room"] for m in mine} == {local_a, national} and len(mine) == 3
        only = (await _get(deployment, a_member.token, "/api/search", q=word, room=national)).json()
        assert len(only["results"]) == 2 and only["next_offset"] is None
        paged = (await _get(deployment, a_member.token, "/api/search", q=word, limit=2)).json()
        assert len(paged["results"]) == 2 and paged["next_offset"] == 2

        theirs = (await _get(deployment, b_member.token, "/api/search", q=word)).json()["results"]
        assert [m["room"] for m in theirs] == [national, national]  # never org A's local room
        for path in (f"/api/rooms/{local_a}/messages", f"/api/messages/{secret['id']}/thread"):
            assert (await _get(deployment, b_member.token, path)).status_code == 404
        refused = await _get(deployment, b_member.token, "/api/search", q=word, room=local_a)
        assert refused.status_code == 404
        # Member input is never query syntax.
        odd = await _get(deployment, a_member.token, "/api/search", q='"unbalanced OR NEAR( * -')
        assert odd.status_code == 200
    finally:
        await c.close()


async def test_search_finds_other_forms_of_a_word(deployment: Deployment) -> None:
    """Stemming: "nervousness" finds "nervous" and the other way round, on both engines."""
    member = deployment.register(org=ORG_A)
    room = "riverside-cancer-center-support-group"
    tag = "q" + "".join(chr(ord("a") + int(ch, 16)) for ch in member.id[-8:])  # letters only
    c = await Client.connect(deployment.gateways[0].ws_url, member.token)
    try:
        await c.join(room)
        await c.post(room, f"I feel so nervous before every scan {tag}", cid="st1")
        await c.post(room, f"The nervousness comes back at night {tag}", cid="st2")
        await c.post(room, f"Worried about the results {tag}", cid="st3")
        last = await c.post(room, f"Still worrying today {tag}", cid="st4")
        await _wait_stored(deployment, member.token, room, last["seq"])

        async def found(q: str) -> set[str]:
            results = (await _get(deployment, member.token, "/api/search", q=f"{q} {tag}")).json()["results"]
            return {m["body"].split()[1] for m in results}

        assert await found("nervousness") == {"feel", "nervousness"}
        assert await found("nervous") == {"feel", "nervousness"}
        assert await found("worrying") == {"about", "worrying"}
        assert await found("worried") == {"about", "worrying"}
    finally:
        await c.close()


async def test_embedded_restart_keeps_seq_and_resumes_from_the_database(embedded: Deployment) -> None:
    _, _, (room, _, _) = embedded.new_org()
    member = embedded.register(org=_org_of(room))
    c = await Client.connect(embedded.gateways[0].ws_url, member.token)
    acked = []
    try:
        await c.join(room)
        for i in range(12):
            acked.append((await c.post(room, f"before restart {i}", cid=f"r{i}"))["id"])
    finally:
        await c.close()
    assert embedded.gateways[0].terminate() == 0
    embedded.gateways[0].restart()
    c = await Client.connect(embedded.gateways[0].ws_url, member.token)
    try:
        joined = await c.join(room, since=0)
        assert joined["seq"] == 12
        await c.wait_until(lambda f: len(c.messages(room)) >= 12, 5, "replay from the database")
        assert [m["id"] for m in c.messages(room)] == acked
        assert [m["seq"] for m in c.messages(room)] == list(range(1, 13))
        retried = await c.post(room, "before restart 3", cid="r3")
        assert retried.get("duplicate") is True and retried["id"] == acked[3]
        after = await c.post(room, "after restart", cid="after")
        assert after["seq"] == 13
    finally:
        await c.close()


async def test_a_log_that_lost_its_data_continues_after_the_transcript(
    redis_cluster: Deployment, redis_server: RedisServer
) -> None:
    """Redis without its data (no appendonly, or a new server) must not hand out seqs the
    database already holds: they would collide with stored rows and be dropped."""
    _, _, (room, _, _) = redis_cluster.new_org()
    member = redis_cluster.register(org=_org_of(room))
    c = await Client.connect(redis_cluster.gateways[0].ws_url, member.token)
    try:
        await c.join(room)
        for i in range(5):
            await c.post(room, f"kept {i}", cid=f"k{i}")
        await _wait_stored(redis_cluster, member.token, room, 5)
    finally:
        await c.close()
    redis = Redis.from_url(redis_server.url)
    try:
        await redis.delete(f"kindred:seq:{room}", f"kindred:log:{room}")
    finally:
        await redis.aclose()
    c = await Client.connect(redis_cluster.gateways[1].ws_url, member.token)
    try:
        deadline = asyncio.get_running_loop().time() + 10 * TIMEOUT_SCALE
        while True:  # the last member's leave releases the room on its gateway asynchronously
            joined = await c.join(room, since=0)
            if joined["seq"] == 5:
                break
            assert asyncio.get_running_loop().time() < deadline, joined
            await c.send({"type": "leave", "room": room})
            await c.wait_frame("left", start=len(c.frames) - 1, room=room)
        ack = await c.post(room, "after the loss", cid="after")
        assert ack["seq"] == 6
        await _wait_stored(redis_cluster, member.token, room, 6)
        page = (await _get(redis_cluster, member.token, f"/api/rooms/{room}/messages")).json()
        assert [m["body"] for m in page["messages"]][:2] == ["after the loss", "kept 4"]
    finally:
        await c.close()


async def test_a_row_the_database_refuses_becomes_a_gap_not_a_stall(embedded: Deployment) -> None:
    """Embedded mode: a message the database refuses for good (here: its author's row is gone,
    a foreign-key violation) is not acknowledged; its seq becomes a gap for everyone and the
    room goes on."""
    _, _, (room, _, _) = embedded.new_org()
    org = _org_of(room)
    doomed, other = embedded.register(org=org), embedded.register(org=org)
    d = await Client.connect(embedded.gateways[0].ws_url, doomed.token)
    o = await Client.connect(embedded.gateways[0].ws_url, other.token)
    try:
        await d.join(room)
        joined = await o.join(room)
        head = joined["seq"]
        db = sqlite3.connect(Path(embedded.env["KINDRED_DATA_DIR"]) / "kindred.db")
        try:
            user_id = db.execute("SELECT id FROM users WHERE public_id = ?", (doomed.id,)).fetchone()[0]
            db.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
            db.execute("DELETE FROM users WHERE id = ?", (user_id,))
            db.commit()
        finally:
            db.close()
        refused = await d.post(room, "this cannot be stored", cid="doomed")
        assert refused["type"] == "error" and refused["code"] == "unavailable"
        ack = await o.post(room, "the room goes on", cid="after")
        assert ack["seq"] == head + 2
        gap = await o.wait_frame("gap", room=room)
        assert (gap["from"], gap["to"]) == (head + 1, head + 1)
        await o.wait_frame("message", id=ack["id"])
        pong_at = len(o.frames)
        await o.send({"type": "ping"})
        await o.wait_frame("pong", start=pong_at)
    finally:
        await d.close()
        await o.close()


async def test_a_long_resume_is_capped_with_a_gap(tmp_path: Path) -> None:
    """At most KINDRED_MAX_RESUME messages are replayed: the oldest part is a gap (to be read
    through the history API), the newest part arrives in order."""
    dep = Deployment.start(tmp_path, count=1, extra_env={"KINDRED_MAX_RESUME": "10"})
    try:
        _, _, (room, _, _) = dep.new_org()
        member = dep.register(org=_org_of(room))
        c = await Client.connect(dep.gateways[0].ws_url, member.token)
        try:
            await c.join(room)
            for i in range(30):
                await c.post(room, f"m{i}", cid=f"m{i}")
        finally:
            await c.close()
        c = await Client.connect(dep.gateways[0].ws_url, member.token)
        try:
            joined = await c.join(room, since=0)
            assert joined["seq"] == 30
            await c.wait_until(lambda f: len(c.messages(room)) == 10, 5, "the newest ten")
            gap = next(f for f in c.frames if f.get("type") == "gap")
            assert (gap["from"], gap["to"]) == (1, 20)
            assert [m["seq"] for m in c.messages(room)] == list(range(21, 31))
            assert c.frames.index(gap) < c.frames.index(c.messages(room)[0])
        finally:
            await c.close()
    finally:
        dep.stop()


async def test_a_counter_that_goes_backwards_under_live_members_is_repaired(
    redis_cluster: Deployment, redis_server: RedisServer
) -> None:
    _, _, (room, _, _) = redis_cluster.new_org()
    member = redis_cluster.register(org=_org_of(room))
    c = await Client.connect(redis_cluster.gateways[0].ws_url, member.token)
    redis = Redis.from_url(redis_server.url)
    try:
        await c.join(room)
        for i in range(3):
            await c.post(room, f"before {i}", cid=f"b{i}")
        await redis.delete(f"kindred:seq:{room}", f"kindred:log:{room}")
        deadline = asyncio.get_running_loop().time() + 5 * TIMEOUT_SCALE
        while int(await redis.get(f"kindred:seq:{room}") or 0) < 3:
            assert asyncio.get_running_loop().time() < deadline, "counter not repaired"
            await asyncio.sleep(0.05)
        ack = await c.post(room, "after repair", cid="after")
        assert ack["seq"] == 4
        await c.wait_frame("message", id=ack["id"])
    finally:
        await redis.aclose()
        await c.close()


async def test_purge_deletes_what_is_past_retention(
    redis_cluster: Deployment, redis_server: RedisServer, postgres: Postgres
) -> None:
    _, _, (room, _, _) = redis_cluster.new_org()
    member = redis_cluster.register(org=_org_of(room))
    c = await Client.connect(redis_cluster.gateways[0].ws_url, member.token)
    try:
        await c.join(room)
        for i in range(4):
            await c.post(room, f"message {i}", cid=f"m{i}")
        await _wait_stored(redis_cluster, member.token, room, 4)
    finally:
        await c.close()
    old_ms = int((time.time() - 40 * 86400) * 1000)
    db = await asyncpg.connect(postgres.dsn)
    try:
        await db.execute("UPDATE messages SET created_ms = $1 WHERE room = $2 AND seq <= 3", old_ms, room)
    finally:
        await db.close()
    assert "30 days" in redis_cluster.cli("community", "retention", room, "30")
    out = redis_cluster.cli("purge")
    assert f"{room}: 3 messages older than 30 days deleted" in out
    page = (await _get(redis_cluster, member.token, f"/api/rooms/{room}/messages")).json()
    assert [m["seq"] for m in page["messages"]] == [4]
    redis = Redis.from_url(redis_server.url)
    try:
        remaining = await redis.xrange(f"kindred:log:{room}")
        assert [int(entry_id.split(b"-")[0]) for entry_id, _ in remaining] == [4]
    finally:
        await redis.aclose()
    redis_cluster.cli("community", "retention", room, "none")
