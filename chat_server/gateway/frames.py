"""Client frames parsed into typed values at the boundary; raw dicts never go further in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from chat_server import wire
from chat_server.gateway import frame_rules as rules
from chat_server.gateway.frame_rules import Echo, Incoming
from chat_server.private_talk import frames as talk_frames
from chat_server.questions import frames as question_frames
from chat_server.social import frames as social_frames
from rooms.commands import Command
from rooms.errors import BadFrame, UnknownType


@dataclass(frozen=True, slots=True)
class Join:
    room: str
    since: int | None


@dataclass(frozen=True, slots=True)
class Leave:
    room: str


@dataclass(frozen=True, slots=True)
class Send:
    room: str
    body: str
    cid: str
    reply_to: str | None
    confirm_phi: bool = False


@dataclass(frozen=True, slots=True)
class Typing:
    room: str


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class Members:
    room: str
    after: str | None  # the previous page's `next`


@dataclass(frozen=True, slots=True)
class Moderate:
    room: str
    command: Command
    cid: str | None


@dataclass(frozen=True, slots=True)
class Duty:
    on: bool


ClientFrame = (
    Join | Leave | Send | Typing | Ping | Members | Moderate | Duty | question_frames.QuestionFrame
    | social_frames.SocialFrame | talk_frames.TalkFrame
)


def _str(raw: dict[str, Any], key: str, max_len: int) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise BadFrame(f"'{key}' must be a non-empty string")
    if len(value) > max_len:
        raise BadFrame(f"'{key}' is longer than {max_len} characters")
    return value


def cid_of(raw: dict[str, Any]) -> str | None:
    """The frame's cid, if it has a usable one, to echo in an error frame."""
    cid = raw.get("cid")
    return cid if isinstance(cid, str) and len(cid) <= rules.MAX_CID else None


def parse(raw: dict[str, Any], max_body_chars: int) -> ClientFrame:
    """Turn a decoded frame into a typed one; raise ``BadFrame`` or ``UnknownType``."""
    kind = raw.get("type")
    if kind == "ping":
        return Ping()
    if kind == "join":
        since = raw.get("since")
        if since is not None and (type(since) is not int or since < rules.MIN_SINCE):
            raise BadFrame("'since' must be a non-negative integer")
        return Join(_str(raw, "room", rules.MAX_ROOM), since)
    if kind == "leave":
        return Leave(_str(raw, "room", rules.MAX_ROOM))
    if kind == "send":
        body = raw.get("body")
        if not isinstance(body, str):
            raise BadFrame("'body' must be a string")
        if len(body) > max_body_chars * rules.BODY_FACTOR:
            raise BadFrame(f"'body' is longer than {max_body_chars} characters")
        reply_to = raw.get("reply_to")
        if reply_to is not None and not isinstance(reply_to, str):
            raise BadFrame("'reply_to' must be a message id or null")
        confirm_phi = raw.get("confirm_phi", False)
        if not isinstance(confirm_phi, bool):
            raise BadFrame("'confirm_phi' must be true or false")
        return Send(_str(raw, "room", rules.MAX_ROOM), body, _str(raw, "cid", rules.MAX_CID), reply_to, confirm_phi)
    if kind == "typing":
        return Typing(_str(raw, "room", rules.MAX_ROOM))
    if kind == "members":
        after = raw.get("after")
        if after is not None and (not isinstance(after, str) or not after or len(after) > rules.MAX_AFTER):
            raise BadFrame("'after' must be the 'next' of the previous page, or absent")
        return Members(_str(raw, "room", rules.MAX_ROOM), after)
    if kind == "moderate":
        room = _str(raw, "room", rules.MAX_ROOM)
        cid = raw.get("cid")
        if cid is not None and (not isinstance(cid, str) or len(cid) > rules.MAX_CID):
            raise BadFrame(f"'cid' must be a string of at most {rules.MAX_CID} characters")
        return Moderate(room, Command.parse(raw), cid)
    if kind == "duty":
        on = raw.get("on")
        if not isinstance(on, bool):
            raise BadFrame("'on' must be true or false")
        return Duty(on)
    if not isinstance(kind, str):  # before the set lookup: a list or a map is not hashable
        raise BadFrame("a frame needs a string 'type'")
    if kind in question_frames.KINDS:
        return question_frames.parse(kind, raw, max_body_chars)
    if kind in social_frames.KINDS:
        return social_frames.parse(kind, raw)
    if kind in talk_frames.KINDS:
        return talk_frames.parse(kind, raw)
    raise UnknownType(f"unknown frame type {kind[:32]!r}")


# Every client frame as a msgspec struct, decoded and checked in one C call. A struct admits
# only the well-formed frame (frame_rules.Incoming); a frame none admits, malformed or merely
# unusual (an extra key, a ``join`` with a ``cid``), takes wire.decode and parse, so every
# refusal keeps its code and message; a frame one admits, parse would have read to the same
# value (tests/test_unit_fast_frames.py).
class _SendIn(Incoming, tag="send"):
    room: rules.Room
    body: str
    cid: rules.Cid
    reply_to: str | None = None
    confirm_phi: bool = False

    def typed(self, max_body_chars: int) -> tuple[Send, Echo] | None:
        if len(self.body) > max_body_chars * rules.BODY_FACTOR:
            return None  # refused by parse, with its message
        frame = Send(self.room, self.body, self.cid, self.reply_to, self.confirm_phi)
        return frame, {"room": self.room, "cid": self.cid}


class _TypingIn(Incoming, tag="typing"):
    room: rules.Room

    def typed(self, max_body_chars: int) -> tuple[Typing, Echo] | None:
        return Typing(self.room), {"room": self.room}


class _JoinIn(Incoming, tag="join"):
    room: rules.Room
    since: rules.Since = None

    def typed(self, max_body_chars: int) -> tuple[Join, Echo] | None:
        return Join(self.room, self.since), {"room": self.room}


class _LeaveIn(Incoming, tag="leave"):
    room: rules.Room

    def typed(self, max_body_chars: int) -> tuple[Leave, Echo] | None:
        return Leave(self.room), {"room": self.room}


class _PingIn(Incoming, tag="ping"):
    def typed(self, max_body_chars: int) -> tuple[Ping, Echo] | None:
        return Ping(), {}


class _MembersIn(Incoming, tag="members"):
    room: rules.Room
    after: rules.After = None

    def typed(self, max_body_chars: int) -> tuple[Members, Echo] | None:
        return Members(self.room, self.after), {"room": self.room}


class _ModerateIn(Incoming, tag="moderate"):
    # The command's own fields in the types Command.parse accepts; its rules (the action's
    # name, ids, the reason, which fields go with which action) are its, checked in typed.
    room: rules.Room
    action: str
    cid: rules.OptionalCid = None
    user: str | None = None
    message: str | None = None
    duration_s: int | None = None
    reason: str | None = ""
    platform: bool = False

    def typed(self, max_body_chars: int) -> tuple[Moderate, Echo] | None:
        try:
            command = Command.parse({
                "action": self.action, "user": self.user, "message": self.message,
                "duration_s": self.duration_s, "reason": self.reason, "platform": self.platform,
            })
        except BadFrame:
            return None  # refused by parse, with its message
        return Moderate(self.room, command, self.cid), {"room": self.room, "cid": self.cid}


class _DutyIn(Incoming, tag="duty"):
    on: bool

    def typed(self, max_body_chars: int) -> tuple[Duty, Echo] | None:
        return Duty(self.on), {}


_In = (
    _SendIn | _TypingIn | _JoinIn | _LeaveIn | _PingIn | _MembersIn | _ModerateIn | _DutyIn
    | question_frames.AskIn | question_frames.VoteIn | question_frames.ActIn | social_frames.ReactIn
    | talk_frames.TalkAskIn | talk_frames.TalkCancelIn | talk_frames.TalkAcceptIn
)
_FROM_MSGPACK = msgspec.msgpack.Decoder(_In)
_FROM_JSON = msgspec.json.Decoder(_In)


def read_fast(data: bytes | str, protocol: str, max_body_chars: int) -> tuple[ClientFrame, Echo] | None:
    """The frame and the map an error frame echoes from, if ``data`` is a well-formed client
    frame; None for anything else (then: ``parse(wire.decode(data))``, which refuses it with
    its reason or, for an unusual but valid frame, reads it). Never raises for the client's
    bytes."""
    try:
        if protocol == wire.MSGPACK:
            # A fixmap (at most 15 pairs) keeps wire.decode's 256-entry limit even for a map
            # that repeats a key; msgpack connections must send binary frames.
            if type(data) is not bytes or not data or data[0] >> 4 != 0x8:
                return None
            frame = _FROM_MSGPACK.decode(data)
        else:
            # msgspec refuses a lone surrogate and a non-finite number, as decode does not
            # (it refuses the first with its own message, accepts the second in a key we do
            # not know): both go the long way.
            frame = _FROM_JSON.decode(data)
    except (msgspec.DecodeError, RecursionError):
        # DecodeError includes ValidationError. RecursionError: a deep value before the
        # ``type`` key (msgspec skips it while looking for the tag; wire.decode's limits
        # refuse it).
        return None
    return frame.typed(max_body_chars)
