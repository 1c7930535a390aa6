"""Helpers for the question fan-out's unit tests: a ``QuestionChanged`` as another gateway's
bytes decode to it, and the frames a connection has been written."""

from __future__ import annotations

import json
from typing import Any

import msgpack

from chat_server.gateway.connection import Connection
from chat_server.protocol import control
from chat_server.protocol.control import QuestionChanged


def count_change(room: str, qid: str, version: int, votes: int = 0, votes_only: bool = True,
                 **extra: Any) -> QuestionChanged:
    """A public change of question ``qid`` of ``room`` (a count alone by default)."""
    frame = {"type": "question", "event": room.removeprefix("event-"), "id": qid,
             "votes": votes, "version": version, **extra}
    event = control.decode(msgpack.packb({
        "op": "question", "room": room, "q": qid, "version": version, "frame": frame,
        "private": frame, "public": True, "see": [], "votes_only": votes_only,
    }))
    assert isinstance(event, QuestionChanged)
    return event


async def received(c: Connection) -> list[dict[str, Any]]:
    """The JSON frames queued for ``c`` since the last call, decoded."""
    if not c._outbox:
        return []
    batch = await c.next_frames()
    return [json.loads(b) for b in batch or []]
