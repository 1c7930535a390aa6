"""Where msgspec writes server frames (a frame's JSON text, the message frame's prefix, every
frame's msgpack bytes), it writes exactly the text and bytes json.dumps and msgpack.packb
wrote before it."""

from __future__ import annotations

import json
from typing import Any

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from chat_server.protocol.base import encode_for, frame_types, pack
from chat_server.protocol.message import finish_message, message_prefix
from chat_server.wire import JSON, Outgoing

_text = st.text() | st.sampled_from(["\x00\x1f\x7f\"\\/\u2028\u2029\ufeff\U0010ffff", "é" * 40])
_scalar = (
    _text | st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.floats()  # NaN and infinities too: json.dumps writes them, and that text is kept
)
_value = st.recursive(_scalar, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(_text, inner, max_size=4), max_leaves=20)


def _before(packed: bytes) -> str:
    return json.dumps(msgpack.unpackb(packed, raw=False), ensure_ascii=False, separators=(",", ":"))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_text, _value, max_size=6))
def test_a_frame_s_json_text_is_the_one_json_dumps_wrote(frame: dict[str, Any]) -> None:
    packed = msgpack.packb(frame, use_bin_type=True)
    assert Outgoing(packed).json == _before(packed)


def test_floats_and_deep_frames_keep_json_dumps_text() -> None:
    for frame in [{"x": 1e16}, {"x": 1e-7}, {"x": [float("nan"), float("inf")]},
                  {"x": [[[[[["deep"]]]]]]}, {"type": "message", "ts": 1795355318670, "x": 0.5}]:
        packed = msgpack.packb(frame, use_bin_type=True)
        assert Outgoing(packed).json == _before(packed)


_author = st.fixed_dictionaries({"id": _text, "handle": _text, "role": _text})
_int = st.integers(-(2**63), 2**64 - 1)
_maybe = st.none() | _text


@settings(max_examples=300, deadline=None)
@given(_text, _text, _author, _maybe, _maybe, _int, _maybe, st.integers(0, 2**64 - 1))
def test_the_message_prefix_is_msgpack_s_bytes(
    room: str, message_id: str, author: dict[str, Any], body: str | None, reply_to: str | None,
    ts_ms: int, thread_root: str | None, seq: int,
) -> None:
    try:
        whole = msgpack.packb({
            "type": "message", "room": room, "id": message_id, "author": author, "body": body,
            "reply_to": reply_to, "thread_root": thread_root, "ts": ts_ms, "seq": seq,
        }, use_bin_type=True)
    except UnicodeEncodeError:
        return  # a lone surrogate: neither encoder takes it
    prefix = message_prefix(room, message_id, author, body, reply_to, ts_ms, thread_root)
    assert finish_message(prefix, seq) == whole


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_text, _value, max_size=6))
def test_a_frame_s_msgpack_bytes_are_the_ones_msgpack_packb_wrote(frame: dict[str, Any]) -> None:
    try:
        before = msgpack.packb(frame, use_bin_type=True)
    except UnicodeEncodeError:  # a lone surrogate: refused by both, as msgpack refused it
        for encode in (lambda: pack(frame), lambda: encode_for("kindred.v1.msgpack", frame)):
            try:
                encode()
            except UnicodeEncodeError:
                continue
            raise AssertionError("a lone surrogate was packed") from None
        return
    assert pack(frame) == before
    assert encode_for("kindred.v1.msgpack", frame) == before


def test_what_msgspec_refuses_msgpack_packs_as_before() -> None:
    from enum import StrEnum

    class Kind(StrEnum):
        A = "a"

    class Handle(str):
        pass

    frame = {"type": "x", "kind": Kind.A, "handle": Handle("h"), "n": True, "big": 2**64 - 1}
    assert pack(frame) == msgpack.packb(frame, use_bin_type=True)


def test_every_frame_type_packs_to_msgpack_s_bytes() -> None:
    """A `joined` frame with its present sample, and every other frame type with each field
    filled by a value of its declared kind."""
    import dataclasses

    view = {"id": "u1", "handle": "h\u00e9", "role": "member", "n": 2, "x": None}
    samples: dict[str, Any] = {  # the first kind named in the field's type wins
        "list": [view, view], "mapping": view, "dict": view, "bool": True, "float": 0.5,
        "int": 70000, "str": "s\u00e9"}
    for name, cls in frame_types().items():
        values = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            kind = str(f.type)
            pick = next((v for k, v in samples.items() if k in kind.lower()), None)
            values[f.name] = pick
        frame = cls(**values)
        assert pack(frame) == msgpack.packb(frame.wire(), use_bin_type=True), name
        # msgspec would pack a datetime, set, UUID or Decimal that msgpack.packb and the JSON
        # path refuse: a frame for a JSON connection is the same frame, not an error.
        assert encode_for(JSON, frame) == Outgoing(pack(frame)).json, name
