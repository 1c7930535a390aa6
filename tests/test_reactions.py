"""Reactions end to end (docs/social.md), in both modes: members on several gateways react
at once and every client, and the database, converge to the same counts; toggling twice
leaves none; reactions show in history, threads and search, and go with a removed message;
the author gets one coalesced notification; bad input changes nothing."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from support.client import Client
from support.cluster import ORG_A, ORG_B, Deployment
from support.deployment_sql import is_redis
from support.moderation import (
    Teams,
    api,
    close_all,
    connect,
    default_org,
    moderate_ok,
    new_cid,
    wait_ids_stored,
)
from support.procs import TIMEOUT_SCALE

LIVE_BOUND_S = 2.0 * TIMEOUT_SCALE


@pytest.fixture(scope="module")
def teams() -> Teams:
    return Teams()


async def stored_reactions(dep: Deployment, message_id: str) -> dict[str, int]:
    """Counts per reaction, read from the database itself."""
    sql = "SELECT reaction, count(*) FROM reactions WHERE message_id = {} GROUP BY reaction"
    if is_redis(dep):
        conn = await asyncpg.connect(dep.env["KINDRED_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://"))
        try:
            rows = await conn.fetch(sql.format("$1"), message_id)
        finally:
            await conn.close()
        return {r[0]: r[1] for r in rows}
    db = sqlite3.connect(Path(dep.env["KINDRED_DATA_DIR"]) / "kindred.db")
    try:
        return {r[0]: r[1] for r in db.execute(sql.format("?"), (message_id,)).fetchall()}
    finally:
        db.close()


def latest(c: Client, message_id: str) -> dict[str, Any] | None:
    """What a client shows: the reactions frame with the highest version."""
    seen = [f for f in c.frames if f.get("type") in ("reactions", "reacted") and f.get("message") == message_id]
    return max(seen, key=lambda f: f["version"]) if seen else None


def counts(frame: dict[str, Any] | None) -> dict[str, int]:
    return {} if frame is None else {k: v["count"] for k, v in frame["reactions"].items()}


async def react(c: Client, room: str, message: str, reaction: str, on: bool) -> dict[str, Any]:
    cid = new_cid()
    start = len(c.frames)
    await c.send({"type": "react", "room": room, "message": message, "reaction": reaction, "on": on, "cid": cid})

    def answer(frames: list[dict[str, Any]]) -> dict[str, Any] | None:
        return next((f for f in frames[start:] if f.get("cid") == cid), None)

    found: dict[str, Any] = await c.wait_until(answer, LIVE_BOUND_S, f"answer to {cid}")
    return found


async def test_reactions_converge_across_gateways(deployment: Deployment) -> None:
    dep = deployment
    n = len(dep.gateways)
    org = dep.new_org()
    room = org[2][0]
    author = dep.register(org=org[:2])
    people = [dep.register(org=org[:2], gateway=i % n) for i in range(6)]
    ca = await connect(dep, author, 0, room)
    clients = [await connect(dep, p, i % n, room) for i, p in enumerate(people)]
    try:
        posted = await ca.post(room, "Finished my last round of chemo today.", new_cid())
        mid = posted["id"]
        names = ["heart", "hug", "strength", "thanks", "same_here", "heart"]
        # Everyone at once, on every gateway; the last two also take theirs back.
        results = await asyncio.gather(*(react(c, room, mid, r, True) for c, r in zip(clients, names, strict=True)))
        assert all(r["type"] == "reacted" for r in results), results
        undone = await asyncio.gather(*(react(c, room, mid, r, False) for c, r in zip(clients[4:], names[4:], strict=True)))
        assert all(r["type"] == "reacted" for r in undone)
        want = {"heart": 1, "hug": 1, "strength": 1, "thanks": 1}
        everyone = [ca, *clients]

        async def converged() -> bool:
            return all(counts(latest(c, mid)) == want for c in everyone)

        deadline = asyncio.get_running_loop().time() + LIVE_BOUND_S
        while not await converged():
            assert asyncio.get_running_loop().time() < deadline, [counts(latest(c, mid)) for c in everyone]
            await asyncio.sleep(0.05)
        assert await stored_reactions(dep, mid) == want
        frame = latest(ca, mid)
        assert frame is not None and frame["reactions"]["heart"]["by"] == [people[0].handle]
        # Toggling twice leaves none; toggling "on" twice counts once.
        await react(clients[0], room, mid, "heart", True)
        assert counts(latest(clients[0], mid))["heart"] == 1
        await react(clients[0], room, mid, "heart", False)
        assert "heart" not in counts(latest(clients[0], mid))
        assert "heart" not in await stored_reactions(dep, mid)
        # The author was told once, coalesced: one notification for the message.
        await wait_ids_stored(dep, author.token, room, mid)
        told = (await api(dep, "GET", "/api/notifications", author.token)).json()["notifications"]
        assert [t["kind"] for t in told] == ["reaction"] and told[0]["message"] == mid
        # Shown in history, the thread and search (read from the database).
        page = (await api(dep, "GET", f"/api/rooms/{room}/messages", author.token)).json()["messages"]
        shown = next(m for m in page if m["id"] == mid)
        assert {k: v["count"] for k, v in shown["reactions"].items()} == {"hug": 1, "strength": 1, "thanks": 1}
        thread = (await api(dep, "GET", f"/api/messages/{mid}/thread", author.token)).json()["messages"]
        assert thread[0]["reactions"] == shown["reactions"]
        found = (await api(dep, "GET", "/api/search", author.token, params={"q": "chemo", "room": room})).json()
        assert next(m for m in found["results"] if m["id"] == mid)["reactions"] == shown["reactions"]
    finally:
        await close_all(ca, *clients)


async def test_http_reactions_and_bad_input(deployment: Deployment) -> None:
    dep = deployment
    room = default_org(ORG_A).lounge
    author, member, outsider = dep.register(), dep.register(), dep.register(org=ORG_B)
    ca = await connect(dep, author, 0, room)
    co = await connect(dep, outsider, 0)
    try:
        mid = (await ca.post(room, "Does anyone else get tired in the afternoon?", new_cid()))["id"]
        r = await api(dep, "POST", f"/api/rooms/{room}/reactions", member.token,
                      json={"message": mid, "reaction": "same_here", "on": True})
        assert r.status_code == 200, r.text
        assert r.json()["reactions"]["same_here"] == {"count": 1, "by": [member.handle]}
        seen = await ca.wait_frame("reactions", LIVE_BOUND_S, message=mid)
        assert counts(seen) == {"same_here": 1}
        bad = [
            (member, room, {"message": mid, "reaction": "angry", "on": True}, 400, "unknown_reaction"),
            (member, room, {"message": "f" * 32, "reaction": "heart", "on": True}, 404, "no_such_message"),
            (member, room, {"message": "nope", "reaction": "heart", "on": True}, 400, "invalid_request"),
            (member, room, {"message": mid, "reaction": "heart"}, 400, "invalid_request"),
            (outsider, room, {"message": mid, "reaction": "heart", "on": True}, 404, "not_found"),
            (member, default_org(ORG_B).lounge, {"message": mid, "reaction": "heart", "on": True}, 404, "not_found"),
        ]
        for who, where, body, status, code in bad:
            r = await api(dep, "POST", f"/api/rooms/{where}/reactions", who.token, json=body)
            assert (r.status_code, r.json()["error"]) == (status, code), (body, r.text)
        # Over the socket: unknown reaction, a room not joined, a malformed frame.
        start = len(co.frames)
        await co.send({"type": "react", "room": room, "message": mid, "reaction": "heart", "on": True, "cid": "x1"})
        assert (await co.wait_frame("error", LIVE_BOUND_S, start=start, cid="x1"))["code"] == "not_joined"
        await ca.send({"type": "react", "room": room, "message": mid, "reaction": "angry", "on": True, "cid": "x2"})
        assert (await ca.wait_frame("error", LIVE_BOUND_S, cid="x2"))["code"] == "unknown_reaction"
        await ca.send({"type": "react", "room": room, "message": mid, "reaction": "heart", "on": "yes", "cid": "x3"})
        assert (await ca.wait_frame("error", LIVE_BOUND_S, cid="x3"))["code"] == "bad_frame"
        assert await stored_reactions(dep, mid) == {"same_here": 1}  # nothing changed
        assert (await react(ca, room, mid, "thanks", True))["type"] == "reacted"  # still healthy
        listed = (await api(dep, "GET", "/api/reactions", member.token)).json()["reactions"]
        assert [r["name"] for r in listed] == ["heart", "hug", "strength", "thanks", "same_here"]
    finally:
        await close_all(ca, co)


async def test_removed_message_takes_its_reactions(deployment: Deployment, teams: Teams) -> None:
    dep = deployment
    org, navigator = teams.of(dep)
    room = org.lounge
    author, member = dep.register(), dep.register()
    ca = await connect(dep, author, 0, room)
    cm = await connect(dep, member, len(dep.gateways) - 1, room)
    cn = await connect(dep, navigator, 0, room)
    try:
        mid = (await ca.post(room, "something to be removed", new_cid()))["id"]
        assert (await react(cm, room, mid, "hug", True))["type"] == "reacted"
        await moderate_ok(cn, room, "remove", message=mid, reason="off topic")
        deadline = asyncio.get_running_loop().time() + 5 * TIMEOUT_SCALE
        while await stored_reactions(dep, mid):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        again = await react(cm, room, mid, "hug", True)
        assert again["type"] == "error" and again["code"] == "no_such_message"
        assert await stored_reactions(dep, mid) == {}
    finally:
        await close_all(ca, cm, cn)
