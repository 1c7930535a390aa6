"""The socket frame of reactions, parsed at the boundary:
``react {room, message, reaction, on, cid?}``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from chat_server.gateway import frame_rules as rules
from chat_server.gateway.frame_rules import Echo, Incoming, OptionalCid
from rooms.errors import BadFrame

KINDS = frozenset({"react"})


@dataclass(frozen=True, slots=True)
class React:
    room: str
    message: str
    reaction: str  # checked against the set by the service (unknown_reaction)
    on: bool
    cid: str | None


SocialFrame = React


def _text(raw: dict[str, Any], key: str, max_len: int) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise BadFrame(f"'{key}' must be a non-empty string")
    if len(value) > max_len:
        raise BadFrame(f"'{key}' is longer than {max_len} characters")
    return value


def parse(kind: str, raw: dict[str, Any]) -> SocialFrame:
    cid = raw.get("cid")
    if cid is not None and (not isinstance(cid, str) or len(cid) > rules.MAX_CID):
        raise BadFrame(f"'cid' must be a string of at most {rules.MAX_CID} characters")
    on = raw.get("on")
    if not isinstance(on, bool):
        raise BadFrame("'on' must be true or false")
    return React(_text(raw, "room", rules.MAX_ROOM), _text(raw, "message", rules.MAX_MESSAGE),
                 _text(raw, "reaction", rules.MAX_REACTION), on, cid)


class ReactIn(Incoming, tag="react"):
    """``react`` as a msgspec struct (gateway/frames.read_fast): what parse reads the same."""

    room: rules.Room
    message: Annotated[str, msgspec.Meta(min_length=1, max_length=rules.MAX_MESSAGE)]
    reaction: Annotated[str, msgspec.Meta(min_length=1, max_length=rules.MAX_REACTION)]
    on: bool
    cid: OptionalCid = None

    def typed(self, max_body_chars: int) -> tuple[React, Echo] | None:
        return React(self.room, self.message, self.reaction, self.on, self.cid), {"room": self.room, "cid": self.cid}
