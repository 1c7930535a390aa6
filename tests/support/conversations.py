"""Helpers for the private conversations' end-to-end tests (docs/social.md)."""

from __future__ import annotations

import asyncio
from typing import Any

from support.client import Client
from support.cluster import Deployment, Member
from support.moderation import Org, api, fresh_org
from support.procs import TIMEOUT_SCALE

LIVE_S = 5.0 * TIMEOUT_SCALE


async def settle(*clients: Client) -> None:
    """Every frame already sent to these clients has arrived: a ping each, answered in order."""
    for c in clients:
        start = len(c.frames)
        await c.send({"type": "ping"})
        await c.wait_frame("pong", LIVE_S, start=start)


async def take_part(dep: Deployment, m: Member, room: str) -> None:
    """``m`` opened ``room`` (a read mark): it is one of the rooms ``m`` takes part in."""
    r = await api(dep, "POST", f"/api/rooms/{room}/read", m.token, json={"seq": 0})
    assert r.status_code == 200, r.text


async def start(dep: Deployment, m: Member, *others: Member, gateway: int = 0) -> Any:
    return await api(dep, "POST", "/api/conversations", m.token, gateway=gateway,
                     json={"with": [o.id for o in others]})


async def allow(dep: Deployment, m: Member, value: str) -> None:
    r = await api(dep, "PUT", "/api/me/dm", m.token, json={"allow": value})
    assert r.status_code == 200 and r.json()["allow"] == value, r.text


async def listed(dep: Deployment, m: Member, gateway: int = 0) -> list[dict[str, Any]]:
    r = await api(dep, "GET", "/api/conversations", m.token, gateway=gateway)
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["conversations"]
    return found


def dm_notes(c: Client) -> list[dict[str, Any]]:
    return [f for f in c.frames if f.get("type") == "notification" and f.get("kind") == "dm_request"]


async def wait_listed(dep: Deployment, m: Member, conversation_id: str) -> None:
    """Until ``conversation_id`` is listed for ``m``. A request reaches its recipient once its
    first message is recorded as such, which the gateway does after the message is stored
    (conversations/activity.py): accepting before that is a 404, as for any request not made."""
    deadline = asyncio.get_running_loop().time() + LIVE_S
    while conversation_id not in [c["id"] for c in await listed(dep, m)]:
        assert asyncio.get_running_loop().time() < deadline, f"{conversation_id} never listed for {m.id}"
        await asyncio.sleep(0.05)


async def community_pair(dep: Deployment) -> tuple[Org, Member, Member]:
    """Two members of a fresh organization who both take part in its lounge."""
    org = fresh_org(dep)
    a, b = dep.register(org=org.key), dep.register(org=org.key)
    await take_part(dep, a, org.lounge)
    await take_part(dep, b, org.lounge)
    return org, a, b


async def requested(dep: Deployment) -> tuple[Org, Member, Member, dict[str, Any]]:
    """A community pair (``community_pair``), b taking messages from its communities, and a's
    new request to b (201): ``(org, a, b, conversation)``."""
    org, a, b = await community_pair(dep)
    await allow(dep, b, "communities")
    r = await start(dep, a, b)
    assert r.status_code == 201, r.text
    conv: dict[str, Any] = r.json()
    return org, a, b, conv


async def wait_history(dep: Deployment, m: Member, room: str, count: int) -> list[dict[str, Any]]:
    """The room's history as ``m`` reads it, once it holds ``count`` messages (writers lag)."""
    deadline = asyncio.get_running_loop().time() + LIVE_S * 3
    while True:
        r = await api(dep, "GET", f"/api/rooms/{room}/messages", m.token)
        assert r.status_code == 200, r.text
        messages: list[dict[str, Any]] = r.json()["messages"]
        if len(messages) >= count:
            return messages
        assert asyncio.get_running_loop().time() < deadline, messages
        await asyncio.sleep(0.05)
