"""python-socketio with ``AsyncRedisManager``: what a Python team would pick for rooms.

    python -m bench.peers.sio_server PORT REDIS_URL [WS_IMPL]

An ASGI app under uvicorn (uvloop). Every emit to a room goes through Redis pub/sub, so any
number of such processes share rooms, as Kindred's gateways do. Events: ``join`` answered
with ``joined``; ``send`` emits ``message`` to the room (sender included) and ``ack`` to the
sender.
"""

from __future__ import annotations

import logging
import sys
from collections import defaultdict
from typing import Any

import socketio
import uvicorn

from bench.peers.common import message, uvloop_or_asyncio

seqs: defaultdict[str, int] = defaultdict(int)


def build(redis_url: str) -> socketio.ASGIApp:
    sio = socketio.AsyncServer(
        # redis-py's asyncio pool holds 100 connections by default; under load more publishes
        # than that are in flight and the manager drops them ("Too many connections"), which
        # any team would fix by raising the pool, as here.
        async_mode="asgi",
        client_manager=socketio.AsyncRedisManager(redis_url, redis_options={"max_connections": 1000}),
        transports=["websocket"], cors_allowed_origins=[], logger=False, engineio_logger=False,
    )

    @sio.on("join")  # type: ignore[untyped-decorator]
    async def join(sid: str, data: dict[str, Any]) -> None:
        room = data["room"]
        await sio.enter_room(sid, room)
        await sio.emit("joined", {"type": "joined", "room": room, "seq": seqs[room], "present": []}, to=sid)

    @sio.on("send")  # type: ignore[untyped-decorator]
    async def send(sid: str, data: dict[str, Any]) -> None:
        room = data["room"]
        seqs[room] += 1
        await sio.emit("message", message(room, data["body"], seqs[room]), room=room)
        await sio.emit("ack", {"type": "ack", "cid": data["cid"], "room": room, "seq": seqs[room]}, to=sid)

    return socketio.ASGIApp(sio)


class _WithCause(logging.Formatter):
    """python-socketio puts the Redis error in ``extra``; show it, or the log says nothing."""

    def format(self, record: logging.LogRecord) -> str:
        cause = getattr(record, "redis_exception", None)
        return super().format(record) + (f" ({cause})" if cause else "")


if __name__ == "__main__":
    handler = logging.StreamHandler()
    handler.setFormatter(_WithCause("%(name)s: %(message)s"))
    logging.getLogger("socketio").addHandler(handler)
    logging.getLogger("socketio").propagate = False
    port, redis_url = int(sys.argv[1]), sys.argv[2]
    ws = sys.argv[3] if len(sys.argv) > 3 else "websockets-sansio"
    uvicorn.run(build(redis_url), host="127.0.0.1", port=port, loop=uvloop_or_asyncio(), ws=ws,
                ws_per_message_deflate=False, log_level="warning", access_log=False, backlog=4096)
