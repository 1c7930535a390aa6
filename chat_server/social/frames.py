"""The socket frame of reactions, parsed at the boundary:
``react {room, message, reaction, on, cid?}``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
    if cid is not None and (not isinstance(cid, str) or len(cid) > 64):
        raise BadFrame("'cid' must be a string of at most 64 characters")
    on = raw.get("on")
    if not isinstance(on, bool):
        raise BadFrame("'on' must be true or false")
    return React(_text(raw, "room", 64), _text(raw, "message", 32), _text(raw, "reaction", 32), on, cid)
