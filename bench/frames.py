"""CPU per server frame encoded: chat_server/protocol's typed frames and their one encoder,
beside the hand-written maps they replaced (issue 14), the two alternated, medians of 3 rounds.

"before" is the old code, kept here only to measure against: a dict literal packed by msgpack,
and the message prefix packed pair by pair. CPU is time.process_time of this process, in
nanoseconds per frame (it moves much less than wall time on a shared machine). Each pair is
checked to give the same bytes first. Prints a table; never fails on a number.

    python -m bench.frames [--frames 200000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import msgpack

from chat_server.protocol.base import encode, encode_for, pack
from chat_server.protocol.message import finish_message, message_prefix
from chat_server.protocol.moderation import Removed
from chat_server.protocol.rooms import Ack, Error, Presence, Typing
from chat_server.wire import MSGPACK, Outgoing, is_encodable

AUTHOR = {"id": "u" + "1" * 16, "handle": "alice", "role": "member"}
BODY = "a message of ordinary length, about as long as most are in a room like this one " * 2
ROOM, MID = "lung-cancer", "f" * 32


def _old_prefix(room: str, message_id: str, author: dict[str, Any], body: str, ts_ms: int) -> bytes:
    frame = {"type": "message", "room": room, "id": message_id, "author": author, "body": body,
             "reply_to": None, "thread_root": None, "ts": ts_ms}
    packer = msgpack.Packer(use_bin_type=True)
    head = packer.pack_map_header(len(frame) + 1)
    pairs = b"".join(packer.pack(k) + packer.pack(v) for k, v in frame.items())
    seq: bytes = packer.pack("seq")
    return bytes(head) + pairs + seq


def _packed(frame: Any) -> bytes:
    out: bytes = msgpack.packb(frame, use_bin_type=True)
    return out


def _old_error(error: dict[str, Any], fields: dict[str, Any]) -> bytes:
    # The endpoint's old error map: only encodable strings echoed, then the error's fields.
    error = {k: v for k, v in error.items() if not isinstance(v, str) or is_encodable(v)}
    error.update(fields)
    return _packed(error)


def _new_error(code: str, detail: str, cid: str, room: str, fields: dict[str, Any]) -> Error:
    # The endpoint's error frame now (endpoint._error_frame), its checks included.
    return Error(code, detail if is_encodable(detail) else "", cid if is_encodable(cid) else None,
                 room if is_encodable(room) else None, fields)


PAIRS: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = [
    ("message (prefix + seq)",
     lambda: _old_prefix(ROOM, MID, AUTHOR, BODY, 1_733_000_000_000) + _packed(12345),
     lambda: finish_message(message_prefix(ROOM, MID, AUTHOR, BODY, None, 1_733_000_000_000), 12345)),
    ("ack",
     lambda: _packed({"type": "ack", "cid": "c-123", "id": MID, "seq": 12345, "room": ROOM}),
     lambda: encode_for(MSGPACK, Ack("c-123", MID, 12345, ROOM))),
    ("typing",
     lambda: _packed({"type": "typing", "room": ROOM, "user": AUTHOR}),
     lambda: pack(Typing(ROOM, AUTHOR))),
    ("presence",
     lambda: _packed({"type": "presence", "room": ROOM, "joined": [AUTHOR], "left": [], "count": 12}),
     lambda: pack(Presence(ROOM, [AUTHOR], [], 12))),
    ("error",
     lambda: _old_error({"type": "error", "code": "rate_limited", "detail": "slow down", "cid": "c-1",
                         "room": ROOM}, {"retry_after_ms": 400}),
     lambda: encode_for(MSGPACK, _new_error("rate_limited", "slow down", "c-1", ROOM, {"retry_after_ms": 400}))),
    ("removed (Outgoing)",
     lambda: Outgoing(_packed({"type": "removed", "room": ROOM, "id": MID})),
     lambda: encode(Removed(ROOM, MID))),
]


def _cpu_ns(fn: Callable[[], Any], n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n * 1e9


def _bytes(value: Any) -> bytes:
    return value.msgpack if isinstance(value, Outgoing) else bytes(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200_000)
    args = parser.parse_args()
    print(f"{'frame':24} {'before ns':>10} {'after ns':>10} {'after/before':>12}")
    for name, before, after in PAIRS:
        assert _bytes(before()) == _bytes(after()), name
        b, a = [], []
        for _ in range(3):
            b.append(_cpu_ns(before, args.frames))
            a.append(_cpu_ns(after, args.frames))
        mb, ma = statistics.median(b), statistics.median(a)
        print(f"{name:24} {mb:10.0f} {ma:10.0f} {ma / mb:12.2f}")


if __name__ == "__main__":
    main()
