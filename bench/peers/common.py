"""What the reference servers share: the frames they answer with, built like Kindred's.

A ``message`` frame carries the same fields as Kindred's (id, author, body, reply_to,
thread_root, ts, seq), so payload sizes match. The references do NOT authenticate, persist
or check anything: that is the point of a reference.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

AUTHOR = {"id": "u0000benchauthor", "handle": "benchmember", "role": "member"}


def message(room: str, body: str, seq: int) -> dict[str, Any]:
    return {
        "type": "message", "room": room, "id": uuid.uuid4().hex, "author": AUTHOR, "body": body,
        "reply_to": None, "thread_root": None, "ts": int(time.time() * 1000), "seq": seq,
    }


def uvloop_or_asyncio() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"
