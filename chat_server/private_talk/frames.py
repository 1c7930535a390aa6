"""The socket frames of private talks, parsed at the boundary:
``talk_request {room, cid?}``, ``talk_cancel {id, cid?}``, ``talk_accept {id, cid?}``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chat_server.gateway import frame_rules as rules
from chat_server.gateway.frame_rules import Echo, Incoming, OptionalCid
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
    if cid is not None and (not isinstance(cid, str) or len(cid) > rules.MAX_CID):
        raise BadFrame(f"'cid' must be a string of at most {rules.MAX_CID} characters")
    if kind == "talk_request":
        room = raw.get("room")
        if not isinstance(room, str) or not room or len(room) > rules.MAX_ROOM:
            raise BadFrame("'room' must be a room's slug")
        return TalkAsk(room, cid)
    talk_id = raw.get("id")
    if not is_talk_id(talk_id):
        raise BadFrame("'id' must be a request's id (t and 16 hex digits)")
    assert isinstance(talk_id, str)
    return TalkCancel(talk_id, cid) if kind == "talk_cancel" else TalkAccept(talk_id, cid)


# The same frames as msgspec structs (gateway/frames.read_fast), admitting only what parse
# above reads to the same value.
class TalkAskIn(Incoming, tag="talk_request"):
    room: rules.Room
    cid: OptionalCid = None

    def typed(self, max_body_chars: int) -> tuple[TalkAsk, Echo] | None:
        return TalkAsk(self.room, self.cid), {"room": self.room, "cid": self.cid}


class TalkCancelIn(Incoming, tag="talk_cancel"):
    id: str
    cid: OptionalCid = None

    def typed(self, max_body_chars: int) -> tuple[TalkCancel, Echo] | None:
        if not is_talk_id(self.id):
            return None
        return TalkCancel(self.id, self.cid), {"cid": self.cid}


class TalkAcceptIn(Incoming, tag="talk_accept"):
    id: str
    cid: OptionalCid = None

    def typed(self, max_body_chars: int) -> tuple[TalkAccept, Echo] | None:
        if not is_talk_id(self.id):
            return None
        return TalkAccept(self.id, self.cid), {"cid": self.cid}
