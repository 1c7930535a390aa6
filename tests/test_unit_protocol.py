"""chat_server/protocol: each frame type's map is the documented shape, encoded once by the one
encoder (msgpack; JSON the same map), and control events round-trip through their one codec."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

import msgpack
import pytest

from chat_server.protocol import control
from chat_server.protocol.base import ServerFrame, encode, encode_for
from chat_server.protocol.message import Message, finish_message
from chat_server.protocol.moderation import Alert, Banned, Moderated, Resources
from chat_server.protocol.rooms import Ack, Error, Gap, Pong, Presence
from chat_server.protocol.social import Conversation, Notification
from chat_server.wire import JSON, MSGPACK

AUTHOR = {"id": "u" + "1" * 16, "handle": "ann", "role": "member"}

SHAPES: list[tuple[ServerFrame, dict[str, object]]] = [
    (Pong(), {"type": "pong"}),
    (Gap("lounge", 3, 9), {"type": "gap", "room": "lounge", "from": 3, "to": 9}),
    (Ack("c1", "f" * 32, 4, "lounge"), {"type": "ack", "cid": "c1", "id": "f" * 32, "seq": 4, "room": "lounge"}),
    (Ack("c1", "f" * 32, 4, "lounge", True),
     {"type": "ack", "cid": "c1", "id": "f" * 32, "seq": 4, "room": "lounge", "duplicate": True}),
    (Presence("lounge", [], [], 900, True),
     {"type": "presence", "room": "lounge", "joined": [], "left": [], "count": 900, "partial": True}),
    (Presence("lounge", [AUTHOR], []), {"type": "presence", "room": "lounge", "joined": [AUTHOR], "left": []}),
    (Error("rate_limited", "slow down", None, "lounge", {"retry_after_ms": 300}),
     {"type": "error", "code": "rate_limited", "detail": "slow down", "room": "lounge", "retry_after_ms": 300}),
    (Moderated({"action": "kick", "target": "u1"}, "c2"),
     {"type": "moderated", "action": "kick", "target": "u1", "cid": "c2"}),
    (Banned("*", None, "spam"), {"type": "banned", "room": "*", "until": None, "reason": "spam"}),
    (Alert("lounge", "crisis", 7, question="q1", venue={"topic": "t1"}),
     {"type": "alert", "room": "lounge", "kind": "crisis", "item": 7, "question": "q1", "topic": "t1"}),
    (Resources("lounge", False, {"title": "Help"}, talk="t1"),
     {"type": "resources", "room": "lounge", "talk": "t1", "alerted": False, "title": "Help"}),
    (Conversation("message", "a" * 16, "dm-" + "a" * 16, "m1", AUTHOR),
     {"type": "conversation", "event": "message", "id": "a" * 16, "room": "dm-" + "a" * 16,
      "message": "m1", "from": AUTHOR}),
    (Notification({"id": 3, "kind": "mention"}), {"type": "notification", "id": 3, "kind": "mention"}),
]


@pytest.mark.parametrize(("frame", "shape"), SHAPES, ids=lambda v: type(v).__name__)
def test_each_frame_has_its_shape_in_both_formats(frame: ServerFrame, shape: dict[str, object]) -> None:
    assert frame.wire() == shape
    assert msgpack.unpackb(encode_for(MSGPACK, frame), raw=False) == shape
    assert json.loads(encode_for(JSON, frame)) == shape
    out = encode(frame)
    assert msgpack.unpackb(out.msgpack, raw=False) == shape and json.loads(out.json) == shape


def test_the_message_prefix_and_the_frame_agree() -> None:
    frame = Message("lounge", "f" * 32, AUTHOR, "hi", None, None, 1234, 77)
    assert msgpack.unpackb(finish_message(frame.prefix(), 77), raw=False) == frame.wire()
    assert list(frame.wire()) == ["type", "room", "id", "author", "body", "reply_to", "thread_root", "ts", "seq"]


def test_a_frame_type_derived_from_another_keeps_its_own_type() -> None:
    @dataclass(frozen=True, slots=True)
    class First(ServerFrame):
        TYPE: ClassVar[str] = "first"
        n: int

    @dataclass(frozen=True, slots=True)
    class Second(First):
        TYPE: ClassVar[str] = "second"

    assert First(1).wire() == {"type": "first", "n": 1}
    assert Second(2).wire() == {"type": "second", "n": 2}


EVENTS: list[control.ControlEvent] = [
    control.CloseSession("d" * 64),
    control.ConversationChanged("dm-" + "a" * 16),
    control.ConversationChanged(None),
    control.SessionChanged("ev-1", {"type": "event_state", "event": "e1"}, ["u1"]),
    control.SessionChanged("ev-1", None, ["u1", "u2"], {"kind": "place_free", "event": "e1", "text": "in"}, ["u2"]),
    control.SessionChanged("ev-1", {"type": "event_state", "event": "e1"}, ["u1"], session="e1"),
    control.QuestionChanged("lounge", "q1", 3, {"type": "question"}, {"type": "question", "reason": "r"},
                            False, ["u1"], to=["u1"], notify={"kind": "answered"}),
    control.QuestionChanged("lounge", "q1", 4, {"type": "question"}, {"type": "question"}, True, [],
                            votes_only=True),
    control.TalkQueueChanged(),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_every_control_event_round_trips(event: control.ControlEvent) -> None:
    assert control.decode(control.encode(event)) == event


def test_a_session_change_from_an_older_gateway_names_no_session() -> None:
    """``session`` is additive: a message without it (an older gateway's) still decodes."""
    old = msgpack.packb({"op": "event", "frame": None, "to": ["u1"], "room": "ev-1"})
    assert control.decode(old) == control.SessionChanged("ev-1", None, ["u1"])


def test_an_unknown_control_event_is_none_and_a_malformed_one_raises() -> None:
    assert control.decode(msgpack.packb({"op": "someday"})) is None
    with pytest.raises(ValueError):
        control.decode(msgpack.packb([1, 2]))
    with pytest.raises(KeyError):
        control.decode(msgpack.packb({"op": "question", "room": "r", "q": "q1", "version": 1}))
