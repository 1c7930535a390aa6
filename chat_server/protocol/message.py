"""The ``message`` frame: the hot one, so it has its own encoder that never builds it twice.

The seq is given by the broker at the moment the message is appended to the room's log
(inside Redis, atomically), so the frame cannot be finished before then: ``prefix`` packs
every key but the last value, and ``finish`` appends the packed seq. msgpack maps are a
header then key/value pairs, so the two together are exactly the bytes of the whole map.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import msgpack
import msgspec

from chat_server.protocol.base import ServerFrame

# The prefix is packed as one map of its 8 pairs (one C call), and its header changed to
# announce 9: a fixmap's header is 0x80 | size, and 9 pairs still fit one.
_PAIRS = 8
_HEADER = bytes((0x80 | (_PAIRS + 1),))
_SEQ_KEY: bytes = msgpack.packb("seq")
# msgspec packs this map to the same bytes as msgpack.packb(use_bin_type=True), 3x faster
# (tests/test_unit_msgspec_codec.py holds them equal).
_PACK = msgspec.msgpack.Encoder().encode


@dataclass(frozen=True, slots=True)
class Message(ServerFrame):
    TYPE: ClassVar[str] = "message"
    room: str
    id: str
    author: dict[str, Any]
    body: str | None  # None once removed
    reply_to: str | None
    thread_root: str | None
    ts: int  # ms
    seq: int = 0  # the prefix leaves it out; see finish

    def prefix(self) -> bytes:
        """The frame without its seq value (to which ``finish_message`` appends it)."""
        return message_prefix(self.room, self.id, self.author, self.body, self.reply_to, self.ts,
                              self.thread_root)


def message_prefix(
    room: str, message_id: str, author: dict[str, Any], body: str | None, reply_to: str | None,
    ts_ms: int, thread_root: str | None = None,
) -> bytes:
    """A ``message`` frame without its ``seq`` value: the broker appends the packed seq.
    ``Message``'s encoder; the send path calls it with the fields, to build no object on
    the way (one per message sent, and one per message read back from the database)."""
    packed = _PACK({
        "type": "message", "room": room, "id": message_id, "author": author, "body": body,
        "reply_to": reply_to, "thread_root": thread_root, "ts": ts_ms,
    })
    return _HEADER + packed[1:] + _SEQ_KEY


def message_frame(
    room: str, message_id: str, seq: int, author: dict[str, Any], body: str | None,
    reply_to: str | None, ts_ms: int, thread_root: str | None,
) -> bytes:
    """A whole ``message`` frame (for messages read back from the database)."""
    return finish_message(message_prefix(room, message_id, author, body, reply_to, ts_ms, thread_root), seq)


def finish_message(prefix: bytes, seq: int) -> bytes:
    packed: bytes = msgpack.packb(seq)
    return prefix + packed
