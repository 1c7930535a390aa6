"""python-socketio with ``AsyncRedisManager``: what a Python team would pick for rooms.

    python -m bench.peers.sio_server PORT REDIS_URL [WS_IMPL]

An ASGI app under uvicorn (uvloop). Every emit to a room goes through Redis pub/sub, so any
number of such processes share rooms, as Kindred's gateways do. Events: ``join`` answered
with ``joined``; ``send`` emits ``message`` to the room (sender included) and ``ack`` to the
sender.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from typing import Any

import socketio
import uvicorn

from bench.peers.common import message, uvloop_or_asyncio

seqs: defaultdict[str, int] = defaultdict(int)


def build(redis_url: str) -> socketio.ASGIApp:
    sio = socketio.AsyncServer(
        async_mode="asgi", client_manager=socketio.AsyncRedisManager(redis_url),
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


if __name__ == "__main__":
    port, redis_url = int(sys.argv[1]), sys.argv[2]
    ws = sys.argv[3] if len(sys.argv) > 3 else "websockets-sansio"
    uvicorn.run(build(redis_url), host="127.0.0.1", port=port, loop=uvloop_or_asyncio(), ws=ws,
                ws_per_message_deflate=False, log_level="warning", access_log=False, backlog=4096)
