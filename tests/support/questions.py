"""Helpers for the questions tests: a live webinar with its audience, asking and acting."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from support.client import Client
from support.cluster import Deployment, Member
from support.moderation import api


def webinar_body(room: str, hours_from_now: float = 1, **over: Any) -> dict[str, Any]:
    start = datetime.now(UTC) + timedelta(hours=hours_from_now)
    body = {
        "room": room, "kind": "webinar", "title": "Nutrition during chemotherapy",
        "description": "An oncologist answers.", "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=1)).isoformat(), "tz": "UTC", "capacity": None,
        "audience_mode": "hosts_only",
    }
    body.update(over)
    return body


def ok(r: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    found: dict[str, Any] = r.json()
    return found


@dataclass
class Webinar:
    id: str
    room: str


async def schedule(dep: Deployment, host: Member, room: str, **over: Any) -> Webinar:
    made = ok(await api(dep, "POST", "/api/events", host.token, json=webinar_body(room, **over)), 201)
    return Webinar(made["id"], made["live_room"])


async def go_live(dep: Deployment, host: Member, w: Webinar) -> None:
    for state in ("lobby", "live"):
        ok(await api(dep, "POST", f"/api/events/{w.id}/state", host.token, json={"state": state}))


async def sign_up(dep: Deployment, w: Webinar, members: list[Member]) -> None:
    async def one(i: int, m: Member) -> None:
        ok(await api(dep, "PUT", f"/api/events/{w.id}/signup", m.token, gateway=i % len(dep.gateways)))

    await asyncio.gather(*(one(i, m) for i, m in enumerate(members)))


async def ask_http(dep: Deployment, m: Member, w: Webinar, body: str, cid: str, anonymous: bool = False,
                   gateway: int = 0) -> dict[str, Any]:
    return ok(await api(dep, "POST", f"/api/events/{w.id}/questions", m.token, gateway=gateway,
                        json={"body": body, "cid": cid, "anonymous": anonymous}), 201)


async def act_http(dep: Deployment, m: Member, qid: str, action: str, gateway: int = 0, **fields: Any) -> dict[str, Any]:
    return ok(await api(dep, "POST", f"/api/questions/{qid}/action", m.token, gateway=gateway,
                        json={"action": action, **fields}))


async def ask_ws(c: Client, event: str, body: str, cid: str, **extra: Any) -> dict[str, Any]:
    start = len(c.frames)
    await c.send({"type": "ask", "event": event, "body": body, "cid": cid, **extra})

    def answer(frames: list[dict[str, Any]]) -> dict[str, Any] | None:
        for f in frames[start:]:
            if f.get("cid") == cid and f.get("type") in ("ack", "error"):
                return f
        return None

    found: dict[str, Any] = await c.wait_until(answer, what=f"answer to ask {cid}")
    return found


async def frame_answer(c: Client, frame: dict[str, Any], types: tuple[str, ...]) -> dict[str, Any]:
    start = len(c.frames)
    await c.send(frame)
    cid = frame["cid"]

    def answer(frames: list[dict[str, Any]]) -> dict[str, Any] | None:
        for f in frames[start:]:
            if f.get("cid") == cid and f.get("type") in types:
                return f
        return None

    found: dict[str, Any] = await c.wait_until(answer, what=f"answer to {frame['type']} {cid}")
    return found


def question_frames(c: Client, qid: str | None = None) -> list[dict[str, Any]]:
    return [f for f in c.frames if f.get("type") == "question" and (qid is None or f.get("id") == qid)]


def latest(c: Client) -> dict[str, dict[str, Any]]:
    """Each question as this client last knows it (the highest version it was sent)."""
    out: dict[str, dict[str, Any]] = {}
    for f in question_frames(c):
        if f["id"] not in out or f["version"] >= out[f["id"]]["version"]:
            out[f["id"]] = f
    return out
