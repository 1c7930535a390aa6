"""Presence end to end, in both modes: changes batched per room, and a dropped connection's
member kept present for the linger so that a quick reconnect is no change at all."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from support.client import Client
from support.cluster import Deployment, deployment_in_mode
from support.procs import TIMEOUT_SCALE

LINGER_S = 3.0
BATCH_S = 0.25
ENV = {
    "KINDRED_PRESENCE_LINGER_S": str(LINGER_S),
    "KINDRED_PRESENCE_BATCH_S": str(BATCH_S),
    "KINDRED_PRESENCE_TTL_S": "8",
}


@pytest.fixture(scope="module", params=["embedded", "redis"])
def dep(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    yield from deployment_in_mode(request, tmp_path_factory, "presence", ENV)


def _url(dep: Deployment, i: int) -> str:
    return dep.gateways[i % len(dep.gateways)].ws_url


def _left_ids(frames: list[dict[str, Any]], room: str) -> list[str]:
    return [m["id"] for f in frames if f.get("type") == "presence" and f.get("room") == room
            for m in f["left"]]


def _presence_frames(frames: list[dict[str, Any]], room: str) -> list[dict[str, Any]]:
    return [f for f in frames if f.get("type") == "presence" and f.get("room") == room]


async def test_a_quick_reconnect_is_never_shown_as_leaving(dep: Deployment) -> None:
    """Bob's connection drops and he is back (on the other gateway, in Redis mode) well inside
    the linger: the watcher is never told he left, nor that he joined again."""
    name, phrase, (room, _, _) = dep.new_org()
    alice, bob = dep.register((name, phrase)), dep.register((name, phrase))
    a = await Client.connect(_url(dep, 0), alice.token)
    b = await Client.connect(_url(dep, 0), bob.token)
    b2: Client | None = None
    try:
        await a.join(room)
        await b.join(room)
        await a.wait_until(lambda f: bob.id in a.present_ids(room), 5, "bob present")
        mark = len(a.frames)
        await b.close()
        b2 = await Client.connect(_url(dep, 1), bob.token)
        await b2.join(room)
        # Absence can only be seen by waiting: past the linger (and a batch) from the drop.
        await asyncio.sleep((LINGER_S + BATCH_S + 1.0) * TIMEOUT_SCALE)
        changes = _presence_frames(a.frames[mark:], room)
        assert bob.id not in _left_ids(changes, room), changes
        assert bob.id in a.present_ids(room)
        assert not [f for f in changes if bob.id in {m["id"] for m in f["joined"]}], changes
    finally:
        for c in (a, b, b2):
            if c is not None:
                await c.close()


@contextlib.asynccontextmanager
async def _watched_pair(dep: Deployment) -> AsyncIterator[tuple[str, str, Client, Client]]:
    """(room, bob's id, alice's client, bob's client): both in a fresh local room, on
    different gateways in Redis mode, and alice already sees bob."""
    name, phrase, (room, _, _) = dep.new_org()
    alice, bob = dep.register((name, phrase)), dep.register((name, phrase))
    a = await Client.connect(_url(dep, 0), alice.token)
    b = await Client.connect(_url(dep, 1), bob.token)
    try:
        await a.join(room)
        await b.join(room)
        await a.wait_until(lambda f: bob.id in a.present_ids(room), 5, "bob present")
        yield room, bob.id, a, b
    finally:
        await a.close()
        await b.close()


async def test_a_member_who_does_not_come_back_is_shown_leaving_after_the_linger(dep: Deployment) -> None:
    async with _watched_pair(dep) as (room, bob_id, a, b):
        t0 = time.monotonic()
        await b.close()
        await a.wait_until(lambda f: bob_id not in a.present_ids(room), LINGER_S + 3, "bob gone")
        waited = time.monotonic() - t0
        assert waited >= LINGER_S * 0.9, f"shown leaving after {waited:.2f}s, inside the linger"
        assert _left_ids(a.frames, room).count(bob_id) == 1


async def test_leaving_on_purpose_is_announced_at_once(dep: Deployment) -> None:
    """A `leave` frame is a decision, not a dropped line: no linger."""
    async with _watched_pair(dep) as (room, bob_id, a, b):
        await b.send({"type": "leave", "room": room})
        # Bounded by the linger itself (not stretched by TIMEOUT_SCALE, or a slow machine's
        # bound would let a lingered departure pass): announced after it would be the defect.
        await a.wait_until(
            lambda f: bob_id not in a.present_ids(room), LINGER_S * 0.8 / TIMEOUT_SCALE, "bob gone at once"
        )


async def test_a_filling_room_is_announced_in_batches_and_ends_right(dep: Deployment) -> None:
    """Forty members join at once: the watcher gets far fewer presence frames than joins, and
    the set it builds from its snapshot plus those frames is exactly who is there."""
    name, phrase, (room, _, _) = dep.new_org()
    watcher = dep.register((name, phrase))
    members = [dep.register((name, phrase)) for _ in range(40)]
    w = await Client.connect(_url(dep, 0), watcher.token)
    clients: list[Client] = []
    try:
        await w.join(room)
        mark = len(w.frames)
        clients = list(await asyncio.gather(*(Client.connect(_url(dep, i), m.token) for i, m in enumerate(members))))
        await asyncio.gather(*(c.join(room, timeout_s=10) for c in clients))
        everyone = {watcher.id, *(m.id for m in members)}
        await w.wait_until(lambda f: w.present_ids(room) == everyone, 10, "everyone present")
        frames = _presence_frames(w.frames[mark:], room)
        announced = [m["id"] for f in frames for m in f["joined"]]
        # (The watcher's own arrival may land after the mark: it is not counted.)
        assert set(announced) - {watcher.id} == everyone - {watcher.id}, "each member announced"
        assert len(frames) <= len(members) // 2, f"{len(frames)} presence frames for {len(members)} joins"
        for c in clients[:10]:
            await c.close()
        gone = {m.id for m in members[:10]}
        await w.wait_until(lambda f: w.present_ids(room) == everyone - gone, LINGER_S + 5, "ten gone")
    finally:
        await w.close()
        for c in clients:
            await c.close()
