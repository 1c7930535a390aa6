"""The hot frames' short way (``frames.read_hot``, msgspec) against the long way
(``wire.decode`` then ``frames.parse``): whatever the short way admits, the long way reads to
the same frame and the same echoed ``room`` and ``cid``; whatever it does not, it leaves to
the long way, whose refusals (codes, messages) tests/test_bad_input.py pins."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat_server import wire
from chat_server.gateway import frames
from chat_server.gateway.frames import ClientFrame
from rooms.errors import RoomError

MAX_BODY = 40  # small, so generated bodies cross twice the limit

HOT_FIELDS: dict[str, tuple[str, ...]] = {
    "send": ("room", "body", "cid", "reply_to", "confirm_phi"),
    "typing": ("room",),
    "join": ("room", "since"),
    "leave": ("room",),
    "ping": (),
}

_text = st.text(st.characters(codec="utf-8"), max_size=3) | st.sampled_from(
    ["", "a" * 64, "a" * 65, "\U0001f600" * 64, "\U0001f600" * 65, "b" * 80, "b" * 81, "\x00", "\ud800", "a\udc80b"])
_scalar = (
    _text | st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
)
_value = st.recursive(_scalar, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(_text, inner, max_size=3), max_leaves=12)


@st.composite
def _frames(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from([*HOT_FIELDS, "members", "nonsense"]))
    frame: dict[str, Any] = {"type": kind} if draw(st.integers(0, 9)) else {"type": draw(_value)}
    for key in HOT_FIELDS.get(kind, ("room",)):
        if draw(st.integers(0, 5)):  # mostly present, mostly well-formed
            frame[key] = draw(_good(key) if draw(st.integers(0, 3)) else _value)
    if not draw(st.integers(0, 4)):
        frame[draw(st.sampled_from(["cid", "extra", "since", "room"]))] = draw(_value)
    return frame


def _good(key: str) -> st.SearchStrategy[Any]:
    if key == "reply_to":
        return st.none() | st.just("f" * 32)
    if key == "confirm_phi":
        return st.booleans()
    if key == "since":
        return st.none() | st.integers(-2, 3) | st.integers(2**63 - 2, 2**64 + 1)
    return st.text(min_size=1, max_size=90)


def _long_way(data: bytes | str, protocol: str) -> tuple[ClientFrame | None, dict[str, Any]]:
    raw: dict[str, Any] = {}
    try:
        raw = wire.decode(data, protocol)
        return frames.parse(raw, MAX_BODY), raw
    except RoomError:
        return None, raw


def _agree(data: bytes | str, protocol: str) -> bool:
    """Whether the short way took ``data``; fails the test if it disagrees with the long way."""
    short = frames.read_hot(data, protocol, MAX_BODY)
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


@settings(max_examples=1500, deadline=None)
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
])
def test_frames_the_long_way_refuses_or_echoes_from_agree(frame: dict[str, Any]) -> None:
    assert not _agree(msgpack.packb(frame), wire.MSGPACK)
    assert not _agree(json.dumps(frame), wire.JSON)


def test_honest_hot_frames_take_the_short_way() -> None:
    honest: list[dict[str, Any]] = [
        {"type": "send", "room": "breast-cancer", "body": "Yes, gloves help.", "cid": "k3f9a2-0018",
         "reply_to": "2e97810d8a70484885e8562b9015331c"},
        {"type": "send", "room": "r", "body": "b" * 2 * MAX_BODY, "cid": "c", "confirm_phi": True},
        {"type": "typing", "room": "r"}, {"type": "join", "room": "r", "since": 7},
        {"type": "join", "room": "r"}, {"type": "leave", "room": "r"}, {"type": "ping"},
    ]
    for frame in honest:
        assert _agree(msgpack.packb(frame), wire.MSGPACK), frame
        assert _agree(json.dumps(frame), wire.JSON), frame
    # One too long for the short way: the long way refuses it, with its message.
    long = {"type": "send", "room": "r", "body": "b" * (2 * MAX_BODY + 1), "cid": "c"}
    assert not _agree(msgpack.packb(long), wire.MSGPACK)
