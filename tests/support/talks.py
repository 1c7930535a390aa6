"""Helpers for the private-talk tests (written from docs/protocol.md §3.10-3.12, §4.25-4.27):
asking for a navigator, taking a request, and reading the queue and places out of frames."""

from __future__ import annotations

from typing import Any

from support.client import Client
from support.moderation import new_cid

# Short enough for the tests to see it pass, long enough for a request to be taken first.
TALK_ENV = {"KINDRED_PRIVATE_TALK_WAIT_S": "2", "KINDRED_PRIVATE_TALK_EXPIRE_S": "8"}


async def answer(c: Client, frame: dict[str, Any], types: tuple[str, ...], timeout_s: float = 5.0) -> dict[str, Any]:
    """Send ``frame`` with a fresh cid; the first answer with that cid of ``types`` or ``error``."""
    cid = new_cid("talk")
    await c.send({**frame, "cid": cid})

    def find(frames: list[dict[str, Any]]) -> dict[str, Any] | None:
        return next((f for f in frames if f.get("cid") == cid and f.get("type") in (*types, "error")), None)

    found: dict[str, Any] = await c.wait_until(find, timeout_s, f"answer to {frame['type']}")
    return found


async def ask(c: Client, room: str) -> dict[str, Any]:
    return await answer(c, {"type": "talk_request", "room": room}, ("talk",))


async def ask_ok(c: Client, room: str) -> dict[str, Any]:
    talk = await ask(c, room)
    assert talk["type"] == "talk" and talk["state"] == "waiting", talk
    return talk


async def cancel(c: Client, talk_id: str) -> dict[str, Any]:
    return await answer(c, {"type": "talk_cancel", "id": talk_id}, ("talk",))


async def accept(c: Client, talk_id: str, timeout_s: float = 10.0) -> dict[str, Any]:
    return await answer(c, {"type": "talk_accept", "id": talk_id}, ("talk_accepted",), timeout_s)


def queue_ids(frame: dict[str, Any]) -> list[str]:
    return [r["id"] for r in frame.get("requests", [])]


async def wait_queue(c: Client, start: int, pred: Any, timeout_s: float = 5.0, what: str = "queue") -> dict[str, Any]:
    """The first ``talk_queue`` frame at index >= ``start`` for which ``pred(ids)`` holds."""

    def find(frames: list[dict[str, Any]]) -> dict[str, Any] | None:
        return next((f for f in frames[start:] if f.get("type") == "talk_queue" and pred(queue_ids(f))), None)

    found: dict[str, Any] = await c.wait_until(find, timeout_s, what)
    return found


def last_queue(c: Client) -> list[str] | None:
    frames = [f for f in c.frames if f.get("type") == "talk_queue"]
    return queue_ids(frames[-1]) if frames else None


async def wait_talk(c: Client, talk_id: str, start: int = 0, timeout_s: float = 5.0, **match: Any) -> dict[str, Any]:
    """The first ``talk`` frame about ``talk_id`` (at index >= ``start``) whose fields match."""
    return await c.wait_frame("talk", timeout_s, start, id=talk_id, **match)
