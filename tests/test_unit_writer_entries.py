"""The Redis writer's reading of a commits-stream entry (``parse_entry``, ``parse_batch``).

A row takes five values from the entry's ``message`` frame (decoded by msgspec into a struct)
and the room, seq, author and cid from the entry's own fields. A well-formed entry must give
the row the frame describes, whatever its body; anything else must be set aside as malformed,
never raise out of the batch nor stop the rows around it."""

from __future__ import annotations

import random
import uuid

import msgpack
import pytest

from chat_server.protocol.message import message_frame
from chat_server.transcripts.redis_writer import parse_batch, parse_entry
from persistence.transcripts import NewMessage

VIEW = {"id": "a1b2c3d4e5f60718", "handle": "Someone", "role": "member"}
BODIES = ["hello", "", "x" * 4000, "Ünïcode ✓ 🌷 中文", "line\nbreak\ttab", "\u200b", "nul\x00inside"]


def entry(room: str, seq: int, body: str, reply_to: str | None = None,
          thread_root: str | None = None, frame: bytes | None = None) -> dict[bytes, bytes]:
    """Fields as the post script appends them (``r``, ``s``, ``a``, ``c``, ``f``)."""
    message_id = uuid.uuid4().hex
    packed = frame if frame is not None else message_frame(
        room, message_id, seq, VIEW, body, reply_to, 1_700_000_000_000 + seq, thread_root)
    return {b"r": room.encode(), b"s": str(seq).encode(), b"a": b"42", b"c": b"cid-" + str(seq).encode(),
            b"f": packed}


def reference(fields: dict[bytes, bytes]) -> NewMessage:
    """The row read the long way: the whole frame unpacked into a dict."""
    frame = msgpack.unpackb(fields[b"f"], raw=False)
    return NewMessage(frame["id"], fields[b"r"].decode(), int(fields[b"s"]), int(fields[b"a"]),
                      fields[b"c"].decode(), frame["body"], frame["reply_to"], frame["ts"],
                      frame["thread_root"])


def test_a_well_formed_entry_gives_the_row_its_frame_describes() -> None:
    rng = random.Random(7)
    for seq in range(1, 400):
        reply = uuid.uuid4().hex if rng.random() < 0.3 else None
        root = (uuid.uuid4().hex if rng.random() < 0.5 else reply) if reply else None
        fields = entry(f"room-{seq % 7}", seq, rng.choice(BODIES), reply, root)
        row = parse_entry(fields)
        assert row == reference(fields)
        assert row.seq == seq and row.author_id == 42 and row.reply_to == reply and row.thread_root == root


def _frame(**changes: object) -> bytes:
    frame = msgpack.unpackb(message_frame("room-1", uuid.uuid4().hex, 5, VIEW, "hi", None, 1, None))
    frame.update(changes)
    for key in [k for k, v in changes.items() if v is KeyError]:
        del frame[key]
    return bytes(msgpack.packb(frame))


MALFORMED = {
    "no frame": {b"r": b"room-1", b"s": b"1", b"a": b"42", b"c": b"c"},
    "no room": {b"s": b"1", b"a": b"42", b"c": b"c", b"f": _frame()},
    "seq not a number": {**entry("room-1", 1, "x"), b"s": b"one"},
    "author not a number": {**entry("room-1", 1, "x"), b"a": b""},
    "room not UTF-8": {**entry("room-1", 1, "x"), b"r": b"\xff\xfe"},
    "frame not msgpack": entry("room-1", 1, "x", frame=b"\xc1\xc1"),
    "frame truncated": entry("room-1", 1, "x", frame=_frame()[:-3]),
    "frame not a map": entry("room-1", 1, "x", frame=bytes(msgpack.packb([1, 2, 3]))),
    "frame without an id": entry("room-1", 1, "x", frame=_frame(id=KeyError)),
    "frame without a body": entry("room-1", 1, "x", frame=_frame(body=KeyError)),
    "frame without ts": entry("room-1", 1, "x", frame=_frame(ts=KeyError)),
    "a removed body (None)": entry("room-1", 1, "x", frame=_frame(body=None)),
    "id not a string": entry("room-1", 1, "x", frame=_frame(id=12)),
    "ts a string": entry("room-1", 1, "x", frame=_frame(ts="soon")),
    "reply_to a number": entry("room-1", 1, "x", frame=_frame(reply_to=3)),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_entry_is_set_aside_and_the_rest_of_its_batch_kept(name: str) -> None:
    good_before, good_after = entry("room-1", 1, "before"), entry("room-1", 3, "after")
    entries = [(b"1-0", good_before), (b"2-0", MALFORMED[name]), (b"3-0", good_after)]
    batch = parse_batch(entries)
    assert [row.body for row in batch.rows] == ["before", "after"]
    assert batch.ids == [b"1-0", b"3-0"]
    assert batch.malformed == [(b"2-0", MALFORMED[name])]
