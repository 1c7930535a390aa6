"""CPU of the wire's hot steps, msgpack + json (before) against msgspec (after), alternated,
medians of 5 rounds with their range (issue 18: "decoding and validating client frames with
a kept, compiled library").

- Client frames: the endpoint's work from the frame's bytes to a typed frame. Before:
  ``wire.decode`` (msgpack.unpackb or json.loads, the depth walk, in JSON the lone-surrogate
  walk) then ``frames.parse``'s field checks. After: ``frames.read_fast`` (msgspec straight
  into a struct), and for a frame it does not take (a refusal), the same long way after it.
- Server frames: a ``message`` frame's JSON text (``Outgoing.json``: before, msgpack.unpackb
  then json.dumps) and its msgpack prefix (``message_prefix``: before, msgpack.packb).

"before" is the old code, kept here only to measure against. Each pair is checked to give the
same result first. CPU is time.process_time of this process, in nanoseconds per call (it
moves much less than wall time on a shared machine). Prints a table; never fails on a number.

    python -m bench.wire_codec [--calls 100000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import msgpack

from chat_server import wire
from chat_server.gateway import frames
from chat_server.protocol.base import pack
from chat_server.protocol.message import finish_message, message_prefix
from chat_server.protocol.rooms import Presence
from chat_server.wire import JSON, MSGPACK, Outgoing

MAX_BODY = 4000  # KINDRED_MAX_BODY_CHARS' default
AUTHOR = {"id": "u" + "1" * 16, "handle": "alice", "role": "member"}
BODY = "a message of ordinary length, about as long as most are in a room like this one " * 2
ROOM, MID, TS = "lung-cancer", "f" * 32, 1_733_000_000_000
SEND = {"type": "send", "room": ROOM, "body": BODY, "cid": "k3f9a2-0017"}
SEND_REPLY = {**SEND, "reply_to": MID}
TYPING = {"type": "typing", "room": ROOM}
REACT = {"type": "react", "room": ROOM, "message": MID, "reaction": "heart", "on": True, "cid": "c-9"}


def _long_way(data: bytes | str, protocol: str) -> Any:
    return frames.parse(wire.decode(data, protocol), MAX_BODY)


def _endpoint(data: bytes | str, protocol: str) -> Any:
    # endpoint._read's sequence now.
    hot = frames.read_fast(data, protocol, MAX_BODY)
    if hot is not None:
        return hot[0]
    return frames.parse(wire.decode(data, protocol), MAX_BODY)


def _old_json(packed: bytes) -> str:
    return json.dumps(msgpack.unpackb(packed, raw=False), ensure_ascii=False, separators=(",", ":"))


def _old_prefix(room: str, message_id: str, author: dict[str, Any], body: str, ts_ms: int) -> bytes:
    packed: bytes = msgpack.packb({
        "type": "message", "room": room, "id": message_id, "author": author, "body": body,
        "reply_to": None, "thread_root": None, "ts": ts_ms,
    }, use_bin_type=True)
    seq: bytes = msgpack.packb("seq")
    return bytes((0x89,)) + packed[1:] + seq


MESSAGE = finish_message(message_prefix(ROOM, MID, AUTHOR, BODY, None, TS), 12345)
PRESENCE = pack(Presence(ROOM, [AUTHOR] * 3, [AUTHOR], 12))


def _client(frame: dict[str, Any], protocol: str) -> tuple[Callable[[], Any], Callable[[], Any]]:
    data: bytes | str = msgpack.packb(frame) if protocol == MSGPACK else json.dumps(frame)
    return (lambda: _long_way(data, protocol)), (lambda: _endpoint(data, protocol))


PAIRS: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = [
    ("send, msgpack", *_client(SEND, MSGPACK)),
    ("send, JSON", *_client(SEND, JSON)),
    ("send + reply_to, msgpack", *_client(SEND_REPLY, MSGPACK)),
    ("send + reply_to, JSON", *_client(SEND_REPLY, JSON)),
    ("typing, msgpack", *_client(TYPING, MSGPACK)),
    ("typing, JSON", *_client(TYPING, JSON)),
    ("react, msgpack", *_client(REACT, MSGPACK)),
    ("react, JSON", *_client(REACT, JSON)),
    ("message: JSON text", lambda: _old_json(Outgoing(MESSAGE).msgpack),
     lambda: Outgoing(MESSAGE).json),
    ("presence: JSON text", lambda: _old_json(Outgoing(PRESENCE).msgpack),
     lambda: Outgoing(PRESENCE).json),
    ("message: prefix", lambda: _old_prefix(ROOM, MID, AUTHOR, BODY, TS),
     lambda: message_prefix(ROOM, MID, AUTHOR, BODY, None, TS)),
]


def _cpu_ns(fn: Callable[[], Any], n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"{'step':26} {'before ns [range]':>20} {'after ns [range]':>20} {'after/before':>12}")
    for name, before, after in PAIRS:
        assert before() == after(), name
        b, a = [], []
        for _ in range(args.rounds):
            b.append(_cpu_ns(before, args.calls))
            a.append(_cpu_ns(after, args.calls))
        mb, ma = statistics.median(b), statistics.median(a)
        print(f"{name:26} {mb:7.0f} [{min(b):.0f}-{max(b):.0f}]".ljust(48)
              + f"{ma:7.0f} [{min(a):.0f}-{max(a):.0f}]".ljust(22) + f"{ma / mb:6.2f}")


if __name__ == "__main__":
    main()
