"""The client frames' short way (``frames.read_fast``, msgspec structs for every kind) against
the long way (``wire.decode`` then ``frames.parse``): whatever the short way admits, the long
way reads to the same frame and the same echoed ``room`` and ``cid``; whatever it does not, it
leaves to the long way, whose refusals (codes, messages) tests/test_bad_input.py pins. Every
field rule of chat_server/gateway/frame_rules.py is crossed at its limit, both ways."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat_server import wire
from chat_server.gateway import frame_rules as rules
from chat_server.gateway import frames
from chat_server.gateway.frames import ClientFrame
from rooms.commands import MAX_REASON
from rooms.errors import BadFrame, RoomError
from rooms.moderation import Action
from rooms.questions import QuestionAction

MAX_BODY = 40  # small, so generated bodies cross BODY_FACTOR times the limit

# Every field of every client frame (docs/protocol.md §3).
FIELDS: dict[str, tuple[str, ...]] = {
    "send": ("room", "body", "cid", "reply_to", "confirm_phi"),
    "typing": ("room",),
    "join": ("room", "since"),
    "leave": ("room",),
    "ping": (),
    "members": ("room", "after"),
    "moderate": ("room", "action", "cid", "user", "message", "duration_s", "reason", "platform"),
    "duty": ("on",),
    "ask": ("event", "topic", "body", "cid", "anonymous", "confirm_phi"),
    "vote": ("question", "up", "cid"),
    "question_action": ("question", "action", "answer", "reason", "into", "cid"),
    "react": ("room", "message", "reaction", "on", "cid"),
    "talk_request": ("room", "cid"),
    "talk_cancel": ("id", "cid"),
    "talk_accept": ("id", "cid"),
}
# Every length limit, at it and one past it (in code points: an emoji is one).
_LIMITS = (rules.MAX_ROOM, rules.MAX_CID, rules.MAX_AFTER, rules.MAX_MESSAGE, rules.MAX_REACTION,
           rules.MAX_VENUE, rules.MAX_QUESTION, MAX_REASON, rules.MAX_QUESTION_REASON, rules.MAX_ANSWER,
           MAX_BODY * rules.BODY_FACTOR)
_AT_LIMITS = [c * n for n in _LIMITS for c in ("a", "\U0001f600")] + ["b" * (n + 1) for n in _LIMITS]

_text = st.text(st.characters(codec="utf-8"), max_size=3) | st.sampled_from(
    ["", *_AT_LIMITS, "\x00", "\ud800", "a\udc80b"])
_scalar = (
    _text | st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
)
_value = st.recursive(_scalar, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(_text, inner, max_size=3), max_leaves=12)


@st.composite
def _frames(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from([*FIELDS, "nonsense"]))
    frame: dict[str, Any] = {"type": kind} if draw(st.integers(0, 9)) else {"type": draw(_value)}
    for key in FIELDS.get(kind, ("room",)):
        optional = (key in _OPTIONAL and (kind, key) != ("react", "message")) or (
            key == "cid" and kind not in ("send", "ask"))
        # Required fields mostly present, optional ones now and then; mostly well-formed.
        if draw(st.integers(0, 7)) >= (5 if optional else 1):
            frame[key] = draw(_good(kind, key) if draw(st.integers(0, 5)) else _value)
    if not draw(st.integers(0, 4)):
        frame[draw(st.sampled_from(["cid", "extra", "since", "room", "id", "on"]))] = draw(_value)
    return frame


_OPTIONAL = frozenset({"since", "reply_to", "confirm_phi", "after", "user", "message", "duration_s", "reason",
                       "platform", "event", "topic", "anonymous", "answer", "into"})
_FLAGS = ("confirm_phi", "on", "up", "anonymous", "platform")
_ACTIONS = {
    "moderate": [*(a.value for a in Action), "approve", "Lock"],
    "question_action": [*(a.value for a in QuestionAction), "lock", "Pin"],
}


def _good(kind: str, key: str) -> st.SearchStrategy[Any]:
    """Mostly well-formed values, now and then one at or just past a limit, or null."""
    return st.integers(0, 9).flatmap(
        lambda n: st.none() if n == 0 else st.sampled_from(_AT_LIMITS) if n == 1 else _well_formed(kind, key))


def _well_formed(kind: str, key: str) -> st.SearchStrategy[Any]:
    if key in _FLAGS:
        return st.booleans()
    if key in ("since", "duration_s"):
        return (st.integers(-2, 3) | st.integers(599, 601)
                | st.integers(2**63 - 2, 2**64 + 1) | st.sampled_from([7_776_000, 7_776_001]))
    if key == "action":
        return st.sampled_from(_ACTIONS[kind])
    if key in ("reply_to", "message") and kind != "react":
        return st.just("f" * 32) | st.just("f" * 33)
    if key == "user":
        return st.just("u" + "0" * 16) | st.just("u" + "0" * 17)
    if key == "id":
        return st.just("t" + "0" * 16) | st.just("t" + "0" * 15) | st.just("t" + "A" * 16)
    if key == "reason" and kind == "moderate":
        return st.sampled_from(["", " ", "spam", "a\x00", "r" * MAX_REASON, "r" * (MAX_REASON + 1)])
    return st.text(min_size=1, max_size=3)


def _long_way(data: bytes | str, protocol: str) -> tuple[ClientFrame | None, dict[str, Any]]:
    raw: dict[str, Any] = {}
    try:
        raw = wire.decode(data, protocol)
        return frames.parse(raw, MAX_BODY), raw
    except RoomError:
        return None, raw


def _agree(data: bytes | str, protocol: str) -> bool:
    """Whether the short way took ``data``; fails the test if it disagrees with the long way."""
    short = frames.read_fast(data, protocol, MAX_BODY)
    if short is None:
        return False
    frame, echo = short
    long_frame, raw = _long_way(data, protocol)
    assert frame == long_frame, (data, frame, long_frame)
    # What endpoint._error_frame echoes from it.
    assert frames.cid_of(echo) == frames.cid_of(raw)
    room = raw.get("room")
    assert echo.get("room") == (room if isinstance(room, str) and len(room) <= 64 else None)
    return True


@settings(max_examples=1000, deadline=None)
@given(_frames())
def test_the_short_way_reads_what_the_long_way_reads(frame: dict[str, Any]) -> None:
    try:
        packed = msgpack.packb(frame, use_bin_type=True)
    except (UnicodeEncodeError, OverflowError):
        pass  # a lone surrogate or an integer msgpack cannot carry: JSON only
    else:
        _agree(packed, wire.MSGPACK)
    _agree(json.dumps(frame), wire.JSON)
    _agree(json.dumps(frame).encode(), wire.JSON)


@pytest.mark.parametrize("data", [
    b'\x83\xa4type\xa4send\xa4room\xa1r\xa4type\xa6typing',  # the type repeated, changed
    b'\x82\xa4type\xa4ping\xc4\x01x\x01',  # a binary key
    b'\x81\xa4type\xa4ping\x00',  # trailing bytes
    b'\x82\xa4type\xa5leave\xa4room\xa3\xed\xa0\x80',  # a surrogate encoded in UTF-8
    b'\x82\xa4type\xa5leave\xa4room\xc4\x01r',  # the room as binary
    b'\xde\x00\x02\xa4type\xa4ping\xa4type\xa4ping',  # a map16: past the fixmap check
    "\x81\xa4type\xa4ping",  # msgpack in a text frame
    b"\x91" * 5000,  # the decode bombs of tests/test_bad_input.py
    b"\x81\xa1a" * 5000,
    b"\x82\xa1a" + b"\x81\xa1a" * 5000 + b"\xa4type\xa4ping",
])
def test_msgpack_oddities_agree(data: bytes | str) -> None:
    assert not _agree(data, wire.MSGPACK)


@pytest.mark.parametrize("text", [
    '{"type":"send","room":"r","body":"\\ud800","cid":"c"}',  # a lone surrogate, each place
    '{"type":"send","room":"r","body":"b","cid":"\\udfff"}',
    '{"type":"ping","\\ud83d":1}',
    '{"type":"leave","room":"a\\udc80b"}',
    '{"type":"ping","n":NaN}',  # the long way accepts these in a key it does not know
    '{"type":"ping","n":1e400}',
    '{"type":"join","room":"r","since":1.0}',
    '{"type":"join","room":"r","since":true}',
    '{"type":"send","room":"r","body":"b","cid":"c","type":"typing"}',
    '\ufeff{"type":"ping"}',
    '{"type":"ping"} x',
    '[{"type":"ping"}]',
    "[" * 60000,  # the decode bombs of tests/test_bad_input.py
    '{"a":' * 12000,
    '{"a":' + "[" * 12000 + "]" * 12000 + ',"type":"ping"}',
])
def test_json_oddities_agree(text: str) -> None:
    assert not _agree(text, wire.JSON)
    assert not _agree(text.encode("utf-8", "surrogatepass"), wire.JSON)


@pytest.mark.parametrize("frame", [
    {"type": "send", "room": "r", "body": "b", "cid": "c", "x": [[[[[[[[1]]]]]]]]},  # 9 levels
    {"type": "send", "room": "r", "body": "b", "cid": "c", "x": list(range(300))},  # > 256
    {"type": "join", "room": "r", "since": -1},
    {"type": "join", "room": "r", "cid": "c"},  # a cid the long way echoes
    {"type": "typing", "room": ""},
    {"type": "leave", "room": "r" * 65},
    {"type": "ask", "event": "e", "topic": "t", "body": "b", "cid": "c"},  # both venues
    {"type": "ask", "event": None, "body": "b", "cid": "c"},  # neither
    {"type": "moderate", "room": "r", "action": "mute", "user": "u" + "0" * 16},  # no reason
    {"type": "moderate", "room": "r", "action": "lock", "platform": True},  # ban and unban only
    {"type": "moderate", "room": "r", "action": "pin", "message": "f" * 32, "user": "u" + "0" * 16},
    {"type": "moderate", "room": "r", "action": "lock", "duration_s": 5},
    {"type": "moderate", "room": "r", "action": "lock", "reason": "a\x00b"},
    {"type": "moderate", "room": "r", "action": "lock", "platform": None},
    {"type": "send", "room": "r", "body": "b", "cid": "c", "confirm_phi": None},
    {"type": "vote", "question": "q", "cid": "c"},  # no 'up'
    {"type": "question_action", "question": "q", "action": "Pin"},
    {"type": "react", "room": "r", "message": "m", "reaction": "heart", "on": 1},
    {"type": "talk_cancel", "id": "T5C0FFEE1234ABCD0"},
    {"type": "talk_request", "room": "r", "id": "t" + "0" * 16},  # a key of another kind
    {"type": "duty", "on": True, "room": "r"},  # a room the long way echoes
])
def test_frames_the_long_way_refuses_or_echoes_from_agree(frame: dict[str, Any]) -> None:
    assert not _agree(msgpack.packb(frame), wire.MSGPACK)
    assert not _agree(json.dumps(frame), wire.JSON)


TALK = "t5c0ffee1234abcd0"
USER = "u0b0c684d9ea816dc"
MESSAGE = "2e97810d8a70484885e8562b9015331c"
# At least one honest frame of every kind, as docs/protocol.md shows them.
HONEST: list[dict[str, Any]] = [
    {"type": "send", "room": "breast-cancer", "body": "Yes, gloves help.", "cid": "k3f9a2-0018",
     "reply_to": MESSAGE},
    {"type": "send", "room": "r", "body": "b" * rules.BODY_FACTOR * MAX_BODY, "cid": "c", "confirm_phi": True},
    {"type": "typing", "room": "r"}, {"type": "join", "room": "r", "since": 7},
    {"type": "join", "room": "r"}, {"type": "leave", "room": "r"}, {"type": "ping"},
    {"type": "members", "room": "r"}, {"type": "members", "room": "r", "after": "u1"},
    {"type": "moderate", "room": "r", "action": "mute", "user": USER, "duration_s": 600,
     "reason": "spam", "cid": "m-1"},
    {"type": "moderate", "room": "r", "action": "remove", "message": MESSAGE, "reason": "off topic"},
    {"type": "moderate", "room": "r", "action": "ban", "user": USER, "reason": "abuse", "platform": True},
    {"type": "moderate", "room": "r", "action": "slow_mode", "duration_s": 0},
    {"type": "duty", "on": True},
    {"type": "ask", "event": "e1", "body": "When?", "cid": "q-1", "anonymous": True},
    {"type": "ask", "topic": "t1", "body": "How?", "cid": "q-2", "confirm_phi": False},
    {"type": "vote", "question": "q1", "up": True, "cid": "v-1"}, {"type": "vote", "question": "q1", "up": False},
    {"type": "question_action", "question": "q1", "action": "answer", "answer": "Tuesdays", "cid": "a-1"},
    {"type": "question_action", "question": "q1", "action": "dismiss", "reason": "asked before"},
    {"type": "question_action", "question": "q1", "action": "merge", "into": "q2"},
    {"type": "react", "room": "r", "message": MESSAGE, "reaction": "heart", "on": True, "cid": "x-1"},
    {"type": "talk_request", "room": "r", "cid": "t-1"}, {"type": "talk_cancel", "id": TALK},
    {"type": "talk_accept", "id": TALK, "cid": ""},
]


def test_honest_frames_of_every_kind_take_the_short_way() -> None:
    assert {frame["type"] for frame in HONEST} == set(FIELDS)
    for frame in HONEST:
        assert _agree(msgpack.packb(frame), wire.MSGPACK), frame
        assert _agree(json.dumps(frame), wire.JSON), frame
        assert _agree(json.dumps(frame, ensure_ascii=False).encode(), wire.JSON), frame


# Each rule of frame_rules (and moderate's reason, which is Command's): the frame's field at
# the limit takes the short way; one past it does not, and the long way refuses it.
_RULES: list[tuple[dict[str, Any], str, Any, Any]] = [
    *[({"type": kind, "room": "r", **extra}, "room", "r" * rules.MAX_ROOM, "r" * (rules.MAX_ROOM + 1))
      for kind, extra in [("send", {"body": "b", "cid": "c"}), ("typing", {}), ("join", {}), ("leave", {}),
                          ("members", {}), ("moderate", {"action": "lock"}), ("talk_request", {}),
                          ("react", {"message": "m", "reaction": "heart", "on": True})]],
    ({"type": "send", "room": "r", "body": "b"}, "cid", "c" * rules.MAX_CID, "c" * (rules.MAX_CID + 1)),
    ({"type": "send", "room": "r", "body": "b"}, "cid", "c", ""),
    ({"type": "ask", "topic": "t", "body": "b"}, "cid", "c" * rules.MAX_CID, ""),
    *[({"type": kind, **extra}, "cid", "", "c" * (rules.MAX_CID + 1))
      for kind, extra in [("moderate", {"room": "r", "action": "lock"}), ("vote", {"question": "q", "up": True}),
                          ("question_action", {"question": "q", "action": "pin"}), ("talk_cancel", {"id": TALK}),
                          ("react", {"room": "r", "message": "m", "reaction": "heart", "on": True})]],
    ({"type": "send", "room": "r", "cid": "c"}, "body",
     "b" * rules.BODY_FACTOR * MAX_BODY, "b" * (rules.BODY_FACTOR * MAX_BODY + 1)),
    ({"type": "ask", "topic": "t", "cid": "c"}, "body",
     "b" * rules.BODY_FACTOR * MAX_BODY, "b" * (rules.BODY_FACTOR * MAX_BODY + 1)),
    ({"type": "join", "room": "r"}, "since", rules.MIN_SINCE, rules.MIN_SINCE - 1),
    ({"type": "members", "room": "r"}, "after", "a" * rules.MAX_AFTER, "a" * (rules.MAX_AFTER + 1)),
    ({"type": "members", "room": "r"}, "after", "a", ""),
    ({"type": "react", "room": "r", "reaction": "heart", "on": True}, "message",
     "m" * rules.MAX_MESSAGE, "m" * (rules.MAX_MESSAGE + 1)),
    ({"type": "react", "room": "r", "message": "m", "on": True}, "reaction",
     "h" * rules.MAX_REACTION, "h" * (rules.MAX_REACTION + 1)),
    ({"type": "ask", "body": "b", "cid": "c"}, "event", "e" * rules.MAX_VENUE, "e" * (rules.MAX_VENUE + 1)),
    ({"type": "ask", "body": "b", "cid": "c"}, "topic", "t" * rules.MAX_VENUE, ""),
    ({"type": "vote", "up": True}, "question", "q" * rules.MAX_QUESTION, "q" * (rules.MAX_QUESTION + 1)),
    ({"type": "question_action", "action": "pin"}, "question", "q" * rules.MAX_QUESTION, ""),
    ({"type": "question_action", "question": "q", "action": "answer"}, "answer",
     "a" * rules.MAX_ANSWER, "a" * (rules.MAX_ANSWER + 1)),
    ({"type": "question_action", "question": "q", "action": "dismiss"}, "reason",
     "r" * rules.MAX_QUESTION_REASON, "r" * (rules.MAX_QUESTION_REASON + 1)),
    ({"type": "question_action", "question": "q", "action": "merge"}, "into",
     "q" * rules.MAX_QUESTION, "q" * (rules.MAX_QUESTION + 1)),
    ({"type": "moderate", "room": "r", "action": "kick", "user": USER}, "reason",
     "r" * MAX_REASON, "r" * (MAX_REASON + 1)),
    ({"type": "talk_accept"}, "id", TALK, TALK + "0"),
]


@pytest.mark.parametrize(("frame", "key", "at", "past"), _RULES)
def test_every_rule_holds_both_ways_at_its_limit(frame: dict[str, Any], key: str, at: Any, past: Any) -> None:
    for value, admitted in ((at, True), (past, False)):
        sent = {**frame, key: value}
        for data, protocol in ((msgpack.packb(sent), wire.MSGPACK), (json.dumps(sent), wire.JSON)):
            assert _agree(data, protocol) is admitted, (sent, protocol)
            if not admitted:
                with pytest.raises(BadFrame):
                    frames.parse(wire.decode(data, protocol), MAX_BODY)
