"""The socket frames of private talks, parsed at the boundary:
``talk_request {room, cid?}``, ``talk_cancel {id, cid?}``, ``talk_accept {id, cid?}``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rooms.errors import BadFrame
from rooms.ids import is_talk_id

KINDS = frozenset({"talk_request", "talk_cancel", "talk_accept"})


@dataclass(frozen=True, slots=True)
class TalkAsk:
    room: str
    cid: str | None


@dataclass(frozen=True, slots=True)
class TalkCancel:
    id: str
    cid: str | None


@dataclass(frozen=True, slots=True)
class TalkAccept:
    id: str
    cid: str | None


TalkFrame = TalkAsk | TalkCancel | TalkAccept


def parse(kind: str, raw: dict[str, Any]) -> TalkFrame:
    cid = raw.get("cid")
    if cid is not None and (not isinstance(cid, str) or len(cid) > 64):
        raise BadFrame("'cid' must be a string of at most 64 characters")
    if kind == "talk_request":
        room = raw.get("room")
        if not isinstance(room, str) or not room or len(room) > 64:
            raise BadFrame("'room' must be a room's slug")
        return TalkAsk(room, cid)
    talk_id = raw.get("id")
    if not is_talk_id(talk_id):
        raise BadFrame("'id' must be a request's id (t and 16 hex digits)")
    assert isinstance(talk_id, str)
    return TalkCancel(talk_id, cid) if kind == "talk_cancel" else TalkAccept(talk_id, cid)
