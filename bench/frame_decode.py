"""CPU per client frame, per kind: the gateway's read from a frame's bytes to the typed frame.

What endpoint._read does with each frame it receives: the struct read (``frames.read_fast``;
before issue 18's one-fast-path change, ``frames.read_hot``, which took five kinds), and for a
frame it leaves, ``wire.decode`` then ``frames.parse``. An honest frame of every kind over both
subprotocols, and a few refused ones (their error's way). The same file runs against the code
before a change and after it, so the two can be compared:

    python -m bench.frame_decode                       # after
    git stash; python -m bench.frame_decode; git stash pop   # before
    (or PYTHONPATH=<other tree> python bench/frame_decode.py)

CPU is time.process_time of this process (it moves much less than wall time on a shared
machine), microseconds per frame, the median of ``--rounds`` rounds of ``--calls`` calls with
their range. Prints a table; never fails on a number.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import msgpack

from chat_server import wire
from chat_server.gateway import frames
from rooms.errors import RoomError

MAX_BODY = 4000  # KINDRED_MAX_BODY_CHARS' default
ROOM, MID, USER, TALK = "lung-cancer", "f" * 32, "u" + "1" * 16, "t" + "2" * 16
BODY = "a message of ordinary length, about as long as most are in a room like this one " * 2

# One honest frame of every client kind (docs/protocol.md §3), as clients send them.
KINDS: list[tuple[str, dict[str, Any]]] = [
    ("send", {"type": "send", "room": ROOM, "body": BODY, "cid": "k3f9a2-0017"}),
    ("send + reply_to", {"type": "send", "room": ROOM, "body": BODY, "cid": "k3f9a2-0018", "reply_to": MID}),
    ("typing", {"type": "typing", "room": ROOM}),
    ("join", {"type": "join", "room": ROOM, "since": 1234}),
    ("leave", {"type": "leave", "room": ROOM}),
    ("ping", {"type": "ping"}),
    ("members", {"type": "members", "room": ROOM, "after": "u" + "3" * 16}),
    ("moderate", {"type": "moderate", "room": ROOM, "action": "mute", "user": USER, "duration_s": 600,
                  "reason": "spam", "cid": "m-1"}),
    ("duty", {"type": "duty", "on": True}),
    ("ask", {"type": "ask", "event": "e1", "body": "When does it start?", "cid": "q-1"}),
    ("vote", {"type": "vote", "question": "q1", "up": True, "cid": "v-1"}),
    ("question_action", {"type": "question_action", "question": "q1", "action": "pin", "cid": "a-1"}),
    ("react", {"type": "react", "room": ROOM, "message": MID, "reaction": "heart", "on": True, "cid": "c-9"}),
    ("talk_request", {"type": "talk_request", "room": ROOM, "cid": "t-1"}),
    ("talk_cancel", {"type": "talk_cancel", "id": TALK}),
    ("talk_accept", {"type": "talk_accept", "id": TALK, "cid": "t-2"}),
    # Refused: the struct leaves them, the long way names the reason.
    ("refused: room too long", {"type": "typing", "room": "r" * 65}),
    ("refused: extra key", {"type": "send", "room": ROOM, "body": "b", "cid": "c", "x": [1, {"y": 2}]}),
    ("refused: unknown type", {"type": "nonsense", "room": ROOM}),
]

_read = frames.read_fast


def read(data: bytes | str, protocol: str) -> Any:
    """endpoint._read's sequence: the frame, or the refusal's code."""
    fast = _read(data, protocol, MAX_BODY)
    if fast is not None:
        return fast[0]
    try:
        return frames.parse(wire.decode(data, protocol), MAX_BODY)
    except RoomError as exc:
        return exc.code


def _cpu_us(data: bytes | str, protocol: str, n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        read(data, protocol)
    return (time.process_time() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"reader: frames.{_read.__name__}")
    print(f"{'kind':24} {'msgpack µs [range]':>22} {'JSON µs [range]':>22}  fast way")
    for name, frame in KINDS:
        cells, fast = [], []
        for protocol, data in ((wire.MSGPACK, msgpack.packb(frame)), (wire.JSON, json.dumps(frame))):
            read(data, protocol)  # warm: caches, the first parse of an enum
            runs = [_cpu_us(data, protocol, args.calls) for _ in range(args.rounds)]
            cells.append(f"{statistics.median(runs):6.2f} [{min(runs):.2f}-{max(runs):.2f}]")
            fast.append("yes" if _read(data, protocol, MAX_BODY) is not None else "no")
        print(f"{name:24} {cells[0]:>22} {cells[1]:>22}  {'/'.join(fast)}")


if __name__ == "__main__":
    main()
