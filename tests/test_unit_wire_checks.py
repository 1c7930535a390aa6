"""``wire.decode``'s checks on a decoded frame: the nesting limit and, for JSON, text that
cannot be encoded. Every frame that reaches decode takes both full walks (the flat-frame
shortcut, ``_flat``/``_flat_json``, is gone: well-formed frames are read by the msgspec
structs of ``frames.read_fast`` and never get here). These tests hold decode's answers
(accepted, or which error) equal to an independent reference for frames at and around the
limit, deep values hidden behind flat ones, and strings in keys and values; and the whole read
as the endpoint runs it (``read_fast``, else ``decode``) to the same answers.
"""

from __future__ import annotations

import json
import random
from typing import Any

import msgpack
import pytest

from chat_server import wire
from chat_server.gateway import frames
from rooms.errors import BadFrame

TOO_DEEP = "frame nested too deeply"
SURROGATE = "the frame holds text that is not valid Unicode (a lone surrogate)"


def nest(levels: int) -> Any:
    """A value whose depth (as the limit counts it: a scalar is 1) is ``levels``."""
    value: Any = 1
    for _ in range(levels - 1):
        value = [value]
    return value


def reference(frame: dict[str, Any], check_text: bool) -> str | None:
    """What the full walks say, written independently of wire.py: the error, or None."""

    def depth(value: Any) -> int:
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if not children:
            return 1
        return 1 + max(depth(v) for v in children)

    def strings(value: Any) -> list[str]:
        if isinstance(value, str):
            return [value]
        if isinstance(value, dict):
            return [s for k, v in value.items() for s in strings(k) + strings(v)]
        if isinstance(value, list):
            return [s for v in value for s in strings(v)]
        return []

    if depth(frame) > 8:
        return TOO_DEEP
    if check_text and any("\ud800" <= ch <= "\udfff" for s in strings(frame) for ch in s):
        return SURROGATE
    return None


def outcome(data: bytes | str, protocol: str) -> str | None:
    try:
        wire.decode(data, protocol)
    except BadFrame as exc:
        return exc.detail
    return None


def endpoint_outcome(data: bytes | str, protocol: str) -> str | None:
    """The decode checks' answer on the endpoint's way: the structs first, decode if they
    leave the frame (a frame they take has passed both checks)."""
    if frames.read_fast(data, protocol, 4000) is not None:
        return None
    return outcome(data, protocol)


def json_text(frame: dict[str, Any]) -> str:
    # ensure_ascii: a lone surrogate travels as a \\ud800 escape, as a client would send it.
    return json.dumps(frame)


@pytest.mark.parametrize("protocol", [wire.MSGPACK, wire.JSON])
def test_the_limit_counts_deep_values_behind_flat_ones(protocol: str) -> None:
    def encoded(frame: dict[str, Any]) -> bytes | str:
        return msgpack.packb(frame) if protocol == wire.MSGPACK else json_text(frame)

    # The frame is level 1, so a value of depth 7 is exactly at the limit, 8 one past it;
    # the deep value comes last, after flat ones, and inside a list inside a map.
    at_limit = {"type": "ping", "room": "r", "n": 3, "x": {"a": "b", "c": [2, nest(5)]}}
    past_it = {"type": "ping", "room": "r", "n": 3, "x": {"a": "b", "c": [2, nest(6)]}}
    assert outcome(encoded(at_limit), protocol) is None
    assert outcome(encoded(past_it), protocol) == TOO_DEEP
    assert outcome(encoded({"type": "ping", "x": nest(7)}), protocol) is None
    assert outcome(encoded({"type": "ping", "x": nest(8)}), protocol) == TOO_DEEP
    # Empty containers count as a level of their own.
    assert outcome(encoded({"type": "ping", "x": [[[[[[[]]]]]]]}), protocol) is None
    assert outcome(encoded({"type": "ping", "x": [[[[[[[[]]]]]]]]}), protocol) == TOO_DEEP


def test_json_text_that_cannot_be_encoded_is_refused_wherever_it_is() -> None:
    for frame in (
        {"type": "send", "room": "r", "body": "ok \ud800", "cid": "c"},  # a flat value
        {"type": "send", "room": "r", "cid": "c", "body": "caf\u00e9 \udfff"},  # not ASCII
        {"type": "send", "room": "r", "\udc00": "x"},  # a key
        {"type": "send", "room": "r", "x": ["fine", {"k": "\ud83d"}]},  # nested
    ):
        assert outcome(json_text(frame), wire.JSON) == SURROGATE, frame
    # Text that is not ASCII but valid passes, keys included.
    good = {"type": "send", "room": "r", "body": "caf\u00e9 \U0001f49c", "n\u00e9": "\u00fc"}
    assert outcome(json_text(good), wire.JSON) is None
    # Too deep and a lone surrogate: the depth is named, as before the fast path.
    both = {"type": "send", "body": "\ud800", "x": nest(8)}
    assert outcome(json_text(both), wire.JSON) == TOO_DEEP


def random_text(rng: random.Random) -> str:
    """Mostly valid text (ASCII or not), now and then a lone surrogate."""
    if rng.random() < 0.04:
        return rng.choice(["lone \ud800", "\udfff", "x\udc00y"])
    return rng.choice(["plain", "", "caf\u00e9", "\U0001f49c", "type"])


def random_value(rng: random.Random, budget: int) -> Any:
    choice = rng.random()
    if budget <= 0 or choice < 0.5:
        return rng.choice([1, -7, 2.5, True, False, None, random_text(rng)])
    if choice < 0.8:
        return [random_value(rng, budget - 1) for _ in range(rng.randrange(4))]
    return {random_text(rng) + str(i): random_value(rng, budget - 1) for i in range(rng.randrange(4))}


def test_decode_and_the_endpoints_read_agree_with_the_reference() -> None:
    rng = random.Random(18)
    for _ in range(3000):
        # A frame of a kind with a struct, its own fields flat and well-formed or not, and
        # now and then keys of no kind, with values of any depth and text.
        frame: dict[str, Any] = {"type": rng.choice(["ping", "leave", "send"])}
        if frame["type"] != "ping":
            frame["room"] = random_text(rng)
        if frame["type"] == "send":
            frame.update(body=random_text(rng), cid="c")
        for i in range(rng.choice([0, 0, 1, 3, 5])):
            frame[random_text(rng) + str(i)] = random_value(rng, rng.randrange(11))
        text = json_text(frame)
        assert outcome(text, wire.JSON) == reference(frame, True), frame
        assert endpoint_outcome(text, wire.JSON) == reference(frame, True), frame
        try:
            data = msgpack.packb(frame)
        except UnicodeEncodeError:
            continue  # msgpack cannot carry a lone surrogate
        assert outcome(data, wire.MSGPACK) == reference(frame, False), frame
        assert endpoint_outcome(data, wire.MSGPACK) == reference(frame, False), frame


@pytest.mark.parametrize("protocol", [wire.MSGPACK, wire.JSON])
def test_a_flat_frame_no_struct_takes_is_walked_in_full(protocol: str) -> None:
    # Unknown keys send a flat frame the long way; decode reads it as before (no shortcut to
    # skip: a flat frame of scalars passes both walks), and refuses the same frame with a
    # lone surrogate in JSON.
    flat = {"type": "ping", "n": 1, "f": 2.5, "b": True, "z": None, "s": "caf\u00e9"}
    data = msgpack.packb(flat) if protocol == wire.MSGPACK else json_text(flat)
    assert frames.read_fast(data, protocol, 4000) is None
    assert wire.decode(data, protocol) == flat
    if protocol == wire.JSON:
        assert outcome(json_text({**flat, "s": "\ud800"}), protocol) == SURROGATE
