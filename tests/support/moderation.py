"""Helpers for the moderation and safety end-to-end tests (written from docs/protocol.md).

Staff are made with the real CLI (``kindred user role`` / ``kindred user assign``) BEFORE they
connect: a connection keeps the role it had at its handshake. Every room a test acts on with
slow mode or lock is a fresh organization's local room, so tests sharing a module-scoped
deployment never disturb each other. What the storage holds is read from the storage itself
(SQLite / PostgreSQL rows, Redis stream entries), not through the server.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
from redis.asyncio import Redis

from support.client import Client
from support.cluster import ORG_A, Deployment, Member
from support.deployment_sql import sql
from support.http import TLS
from support.procs import TIMEOUT_SCALE

LOG_STREAM = "kindred:log:{room}"
COMMITS_STREAM = "kindred:commits"


# --- organizations and people ---------------------------------------------------------------


@dataclass(frozen=True)
class Org:
    name: str
    phrase: str
    rooms: list[str]  # lounge, support group, caregivers circle

    @property
    def key(self) -> tuple[str, str]:
        """What ``Deployment.register(org=...)`` takes."""
        return (self.name, self.phrase)

    @property
    def lounge(self) -> str:
        return self.rooms[0]


def default_org(org: tuple[str, str]) -> Org:
    """ORG_A or ORG_B (made by every Deployment) with its local room slugs."""
    slug = "-".join(org[0].lower().split())
    return Org(org[0], org[1], [f"{slug}-{s}" for s in ("lounge", "support-group", "caregivers-circle")])


class Teams:
    """Per deployment, each of the two standard organizations (ORG_A, ORG_B) with one
    navigator, and one admin, made once and shared by a module's tests.

    Every CLI call starts a Python process (about a second), so a navigator per test would
    cost more than the tests themselves. Tests that share a team act on fresh members and
    leave the shared rooms' state (slow mode, lock, pin) alone; tests that change room state
    use ``fresh_org``. Keep one ``Teams`` per module (a module-scoped fixture).
    """

    def __init__(self) -> None:
        self._made: dict[tuple[int, str], tuple[Org, Member]] = {}

    def of(self, dep: Deployment, org: tuple[str, str] = ORG_A) -> tuple[Org, Member]:
        key = (id(dep), org[0])
        if key not in self._made:
            self._made[key] = (default_org(org), make_staff(dep, org))
        return self._made[key]

    def admin(self, dep: Deployment) -> Member:
        """A platform admin (of ORG_A), who moderates every room and sees the whole audit."""
        key = (id(dep), "admin")
        if key not in self._made:
            self._made[key] = (default_org(ORG_A), make_staff(dep, ORG_A, "admin"))
        return self._made[key][1]


def fresh_org(dep: Deployment) -> Org:
    """A new organization whose local rooms no other test has touched."""
    name, phrase, rooms = dep.new_org()
    return Org(name, phrase, rooms)


def make_staff(
    dep: Deployment, org: tuple[str, str], role: str = "navigator", assign: tuple[str, ...] = ()
) -> Member:
    """Register a member, give them ``role`` and assign them to national rooms (slugs or '*').

    Call before the staff member connects: the role is read at the handshake.
    """
    m = dep.register(org=org)
    dep.cli("user", "role", m.handle, role)
    for slug in assign:
        dep.cli("user", "assign", m.handle, slug)
    return m


async def make_staff_many(
    dep: Deployment, *specs: tuple[tuple[str, str], str, tuple[str, ...]]
) -> list[Member]:
    """``make_staff`` for several (org, role, assignments) at once: each CLI call starts a
    Python process, so they run side by side."""
    made = await asyncio.gather(*(asyncio.to_thread(make_staff, dep, *spec) for spec in specs))
    return list(made)


def view(m: Member, role: str = "member") -> dict[str, str]:
    """The public member view other members see (§2)."""
    return {"id": m.id, "handle": m.handle, "role": role}


def now_ms() -> int:
    return int(time.time() * 1000)


def ws(dep: Deployment, i: int) -> str:
    return dep.gateways[i % len(dep.gateways)].ws_url


async def connect(dep: Deployment, m: Member, gateway: int = 0, *rooms: str) -> Client:
    c = await Client.connect(ws(dep, gateway), m.token)
    for room in rooms:
        await c.join(room)
    return c


async def close_all(*clients: Client | None) -> None:
    for c in clients:
        if c is not None:
            await c.close()


# --- frames --------------------------------------------------------------------------------


def new_cid(prefix: str = "c") -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


async def answer_to(c: Client, cid: str, types: tuple[str, ...], timeout_s: float = 5.0) -> dict[str, Any]:
    """The first frame with this ``cid`` whose type is one of ``types`` or ``error``."""

    def find(frames: list[dict[str, Any]]) -> dict[str, Any] | None:
        for f in frames:
            if f.get("cid") == cid and (f.get("type") in types or f.get("type") == "error"):
                return f
        return None

    found: dict[str, Any] = await c.wait_until(find, timeout_s, f"answer to cid {cid}")
    return found


async def moderate(c: Client, room: str, action: str, timeout_s: float = 5.0, **fields: Any) -> dict[str, Any]:
    """Send a ``moderate`` frame (with a fresh cid) and return its ``moderated`` or ``error``."""
    return await moderate_fields(c, room, {"action": action, **fields}, timeout_s)


async def moderate_fields(
    c: Client, room: str, fields: dict[str, Any], timeout_s: float = 5.0
) -> dict[str, Any]:
    """Like ``moderate`` with the fields as given (an action may be missing or mistyped)."""
    cid = new_cid("mod")
    await c.send({"type": "moderate", "room": room, "cid": cid, **fields})
    return await answer_to(c, cid, ("moderated",), timeout_s)


async def moderate_ok(c: Client, room: str, action: str, **fields: Any) -> dict[str, Any]:
    done = await moderate(c, room, action, **fields)
    assert done["type"] == "moderated", done
    assert done["room"] == room and done["action"] == action, done
    return done


async def set_duty(c: Client, on: bool) -> dict[str, Any]:
    """Send ``duty`` and return the ``duty`` answer or the ``error`` (frames are answered in order)."""
    start = len(c.frames)
    await c.send({"type": "duty", "on": on})

    def find(frames: list[dict[str, Any]]) -> dict[str, Any] | None:
        return next((f for f in frames[start:] if f.get("type") in ("duty", "error")), None)

    found: dict[str, Any] = await c.wait_until(find, 5, "duty answer")
    return found


async def set_duty_ok(c: Client, on: bool) -> None:
    answer = await set_duty(c, on)
    assert answer.get("type") == "duty" and answer.get("on") is on, answer


async def ping(c: Client) -> None:
    """The connection is healthy: a ping is answered."""
    start = len(c.frames)
    await c.send({"type": "ping"})
    await c.wait_frame("pong", start=start)


def frames_of(c: Client, type_: str, **match: Any) -> list[dict[str, Any]]:
    return [f for f in c.frames if f.get("type") == type_ and all(f.get(k) == v for k, v in match.items())]


async def wait_all(*waits: Any) -> list[Any]:
    """Run bounded waits concurrently, so one deadline covers all of them from the same start."""
    return list(await asyncio.gather(*waits))


# --- HTTP ----------------------------------------------------------------------------------


async def api(
    dep: Deployment,
    method: str,
    path: str,
    token: str | None,
    gateway: int = 0,
    json: Any = None,
    params: dict[str, Any] | None = None,
) -> httpx.Response:
    base = dep.gateways[gateway % len(dep.gateways)].http_url
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(verify=TLS, base_url=base, timeout=30) as http:
        return await http.request(method, path, json=json, params=params, headers=headers)


FORBIDDEN_REASONS = ("not_staff", "outranked", "no_target", "bad_target")


def forbidden_reason(r: httpx.Response) -> str:
    """The reason of an HTTP 403. The spec says it carries "the same reasons as the moderate
    frame" without naming a field: a ``reason`` field, or else the code named in ``detail``."""
    body = r.json()
    assert body.get("error") == "forbidden", (r.status_code, body)
    if "reason" in body:
        return str(body["reason"])
    named = [code for code in FORBIDDEN_REASONS if code in str(body.get("detail", ""))]
    return named[0] if len(named) == 1 else str(body.get("detail"))


async def wait_stored(dep: Deployment, token: str, room: str, seq: int, timeout_s: float = 15) -> None:
    """Wait until the history API shows a message with ``seq`` or later (Redis writers lag)."""
    deadline = asyncio.get_running_loop().time() + timeout_s * TIMEOUT_SCALE
    while True:
        r = await api(dep, "GET", f"/api/rooms/{room}/messages", token, params={"limit": 1})
        assert r.status_code == 200, r.text
        newest = r.json()["messages"]
        if newest and newest[0]["seq"] >= seq:
            return
        assert asyncio.get_running_loop().time() < deadline, f"seq {seq} not stored: {newest}"
        await asyncio.sleep(0.05)


async def wait_ids_stored(dep: Deployment, token: str, room: str, *ids: str, timeout_s: float = 15) -> None:
    """Wait until the caller's history page of ``room`` shows every message in ``ids``."""
    deadline = asyncio.get_running_loop().time() + timeout_s * TIMEOUT_SCALE
    while True:
        shown = {m["id"] for m in await history(dep, token, room)}
        if shown >= set(ids):
            return
        assert asyncio.get_running_loop().time() < deadline, f"{set(ids) - shown} not stored"
        await asyncio.sleep(0.05)


async def history(dep: Deployment, token: str, room: str, gateway: int = 0) -> list[dict[str, Any]]:
    r = await api(dep, "GET", f"/api/rooms/{room}/messages", token, gateway, params={"limit": 200})
    assert r.status_code == 200, r.text
    messages: list[dict[str, Any]] = r.json()["messages"]
    return messages


async def audit(dep: Deployment, token: str, room: str | None = None) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"limit": 200}
    if room is not None:
        params["room"] = room
    r = await api(dep, "GET", "/api/moderation/audit", token, params=params)
    assert r.status_code == 200, r.text
    entries: list[dict[str, Any]] = r.json()["entries"]
    return entries


async def audit_ids(dep: Deployment, token: str, room: str) -> set[Any]:
    """The ids of ``room``'s audit entries now, for ``added_to_audit`` to compare against."""
    return {e["id"] for e in await audit(dep, token, room)}


async def added_to_audit(
    dep: Deployment, token: str, room: str, before: set[Any]
) -> list[dict[str, Any]]:
    """The entries of ``room``'s audit that were not there when ``before`` was read.

    A test that must add none compares ids, not times: the module's previous test may have
    audited an action in the same shared room a moment before this one started (seen with
    xdist's ``--dist load``), so a window of ``at`` since the test's start finds it."""
    return [e for e in await audit(dep, token, room) if e["id"] not in before]


def audited(entries: list[dict[str, Any]], action: str, **match: Any) -> dict[str, Any]:
    """The newest audit entry for ``action`` whose fields equal ``match``; fails if none."""
    for e in entries:
        if e.get("action") == action and all(e.get(k) == v for k, v in match.items()):
            return e
    raise AssertionError(f"no audit entry {action} {match} in {entries}")


def check_audit_entry(
    e: dict[str, Any], actor: Member, actor_role: str, room: str | None, since_ms: int
) -> None:
    """who / when / where of an audit entry (§9): the actor's view, a fresh ``at``, the room."""
    assert e["actor"] == view(actor, actor_role), e
    assert since_ms - 5000 <= e["at"] <= now_ms() + 5000, e
    if room is not None:
        assert e["room"] == room, e
    assert isinstance(e["id"], int | str), e


# --- storage, read directly ----------------------------------------------------------------


async def stored_body(dep: Deployment, message_id: str) -> tuple[bool, str | None]:
    """(the row exists, its body) read from the database itself."""
    found = await sql(dep, "SELECT body FROM messages WHERE id = ?", message_id)
    return (bool(found), found[0][0] if found else None)


async def wait_row(dep: Deployment, message_id: str, timeout_s: float = 15) -> str | None:
    """Wait until the message's row exists; return its body."""
    deadline = asyncio.get_running_loop().time() + timeout_s * TIMEOUT_SCALE
    while True:
        exists, body = await stored_body(dep, message_id)
        if exists:
            return body
        assert asyncio.get_running_loop().time() < deadline, f"row {message_id} never stored"
        await asyncio.sleep(0.05)


async def stream_hits(dep: Deployment, room: str, needle: bytes) -> dict[str, list[str]]:
    """The ids of the entries of the room's log stream and of the commits stream that contain
    ``needle`` (anywhere in their fields)."""
    redis = Redis.from_url(dep.env["KINDRED_REDIS_URL"])
    hits: dict[str, list[str]] = {}
    try:
        for key in (LOG_STREAM.format(room=room), COMMITS_STREAM):
            found = []
            for entry_id, fields in await redis.xrange(key) or []:
                raw = b"".join(
                    (k if isinstance(k, bytes) else str(k).encode())
                    + (v if isinstance(v, bytes) else str(v).encode())
                    for k, v in (fields or {}).items()
                )
                if needle in raw:
                    found.append(entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id))
            hits[key] = found
    finally:
        await redis.aclose()
    return hits
