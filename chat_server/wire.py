"""Bytes on the wire: the two subprotocols, decoding with explicit limits, encoding once.

The frames themselves, typed, and their one encoder are in chat_server/protocol; this
module holds what is below them: decoding client frames, and an encoded frame's forms.

``kindred.v1.msgpack`` (binary frames) is the default; ``kindred.v1.json`` (text frames) is for
people and tools that want to read along. Every server frame is encoded once as msgpack; JSON
is derived from those bytes at most once per frame, and only when a JSON client needs it.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

import msgpack
import msgspec

from rooms.errors import BadFrame

MSGPACK = "kindred.v1.msgpack"
JSON = "kindred.v1.json"
SUBPROTOCOLS = (MSGPACK, JSON)

# A frame is at most 64 KiB, so no honest frame needs more than this; the limits stop a small
# frame from declaring a huge array or map (a "decode bomb") and allocating for it.
_MAX_CONTAINER = 256
_MAX_DEPTH = 8


def decode(data: bytes | str, protocol: str) -> dict[str, Any]:
    """Decode one client frame into a dict; raise ``BadFrame`` for anything else."""
    try:
        if protocol == MSGPACK:
            if isinstance(data, str):
                raise BadFrame("this connection speaks msgpack: send binary frames")
            value = msgpack.unpackb(
                data,
                raw=False,
                strict_map_key=True,
                max_str_len=len(data),
                max_bin_len=0,
                max_ext_len=0,
                max_array_len=_MAX_CONTAINER,
                max_map_len=_MAX_CONTAINER,
                use_list=True,
            )
        else:
            text = data.decode("utf-8") if isinstance(data, bytes) else data
            value = json.loads(text)
    except BadFrame:
        raise
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError, msgpack.UnpackException) as exc:
        raise BadFrame(f"could not decode the frame ({type(exc).__name__})") from None
    if not isinstance(value, dict):
        raise BadFrame("a frame is a map with a 'type' field")
    # The structs of gateway/frames.read_fast take every well-formed frame, so what reaches
    # these walks is malformed or unusual (nested values, unknown keys): rare, and here only
    # to be refused with the right reason or read as before.
    if _depth(value) > _MAX_DEPTH:
        raise BadFrame("frame nested too deeply")
    if protocol != MSGPACK and not is_encodable(value):
        # JSON's \ud800 escapes decode to lone surrogates, which no UTF-8 encoder (msgpack,
        # the database, an error frame echoing the field) accepts: refused here, once, for
        # every string of every frame. msgpack's own decoder never yields them.
        raise BadFrame("the frame holds text that is not valid Unicode (a lone surrogate)")
    return value


def is_encodable(value: Any) -> bool:
    """Whether every string in ``value`` (keys included) can be encoded as UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(is_encodable(k) and is_encodable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(is_encodable(v) for v in value)
    return True


def _depth(value: Any, level: int = 1) -> int:
    if level > _MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level)
    return level


def pack(frame: dict[str, Any]) -> bytes:
    """msgpack bytes of a map. Server frames are packed by chat_server/protocol (their one
    encoder); this is for the control channel's maps and the protocol itself."""
    packed: bytes = msgpack.packb(frame, use_bin_type=True)
    return packed


class Outgoing:
    """One server frame, encoded once as msgpack; its JSON form derived once, on demand; and
    each form framed for the WebSocket once, on demand (server frames are not masked, so the
    wire bytes are the same for every recipient)."""

    __slots__ = ("__dict__", "_framed_json", "_framed_msgpack", "msgpack")

    def __init__(self, packed: bytes) -> None:
        self.msgpack = packed
        self._framed_msgpack: bytes | None = None
        self._framed_json: bytes | None = None

    @cached_property
    def json(self) -> str:
        try:
            # msgspec, 5x faster, writes the same text as json.dumps below for every value of
            # _Plain (tests/test_unit_msgspec_codec.py); a frame with anything else (a float,
            # whose exponent it writes differently; deeper nesting) takes json.dumps.
            return _TO_JSON.encode(_PLAIN.decode(self.msgpack)).decode()
        except msgspec.DecodeError:  # ValidationError included
            pass
        value = msgpack.unpackb(self.msgpack, raw=False)
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    def for_protocol(self, protocol: str) -> bytes | str:
        return self.msgpack if protocol == MSGPACK else self.json

    def framed_for(self, protocol: str) -> bytes:
        """The complete WebSocket frame (binary for msgpack, text for JSON), built once."""
        if protocol == MSGPACK:
            if self._framed_msgpack is None:
                self._framed_msgpack = ws_frame(self.msgpack)
            return self._framed_msgpack
        if self._framed_json is None:
            self._framed_json = ws_frame(self.json)
        return self._framed_json


    @cached_property
    def author_id(self) -> str | None:
        """The author of a ``message`` frame (None for other frames); decoded once, and only
        when a connection in the room has blocked someone."""
        value = msgpack.unpackb(self.msgpack, raw=False)
        if isinstance(value, dict) and value.get("type") == "message":
            author = value.get("author")
            if isinstance(author, dict):
                return str(author.get("id"))
        return None


# A server frame's values, floats excepted, in up to five levels of maps and lists (the frame
# itself counted; a `joined` frame needs three); anything else takes json.dumps.
_Scalar = str | int | bool | None
_Plain1 = _Scalar | list[_Scalar] | dict[str, _Scalar]
_Plain2 = _Scalar | list[_Plain1] | dict[str, _Plain1]
_Plain3 = _Scalar | list[_Plain2] | dict[str, _Plain2]
_Plain4 = _Scalar | list[_Plain3] | dict[str, _Plain3]
_PLAIN = msgspec.msgpack.Decoder(dict[str, _Plain4])
_TO_JSON = msgspec.json.Encoder()


def ws_frame(data: bytes | str) -> bytes:
    """An unmasked, unfragmented server frame: binary for bytes, text for str (RFC 6455)."""
    if isinstance(data, str):
        first, payload = 0x81, data.encode()
    else:
        first, payload = 0x82, data
    n = len(payload)
    if n < 126:
        return bytes((first, n)) + payload
    if n < 65536:
        return bytes((first, 126)) + n.to_bytes(2, "big") + payload
    return bytes((first, 127)) + n.to_bytes(8, "big") + payload
