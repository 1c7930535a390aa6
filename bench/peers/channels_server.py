"""Django Channels with ``channels_redis``: the Django team's answer.

    python -m bench.peers.channels_server PORT REDIS_URL [WS_IMPL]

An ``AsyncWebsocketConsumer`` under uvicorn (uvloop); rooms are channel-layer groups in
Redis (``RedisChannelLayer``, the documented default). Speaks the benchmark's msgpack
frames: ``join`` -> ``joined``; ``send`` -> ``group_send`` of the ``message`` frame (sender
included) and ``ack`` to the sender.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from typing import Any

import msgpack

pack = msgpack.Packer(use_bin_type=True).pack
seqs: defaultdict[str, int] = defaultdict(int)


def build(redis_url: str) -> Any:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False, SECRET_KEY="bench-only", ALLOWED_HOSTS=["*"], INSTALLED_APPS=["channels"],
        CHANNEL_LAYERS={"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                    # redis-py's pool defaults to 100 connections, too few
                                    # for hundreds of consumers under load.
                                    "CONFIG": {"hosts": [{"address": redis_url,
                                                          "max_connections": 1000}]}}},
        USE_TZ=True,
    )
    django.setup()
    from channels.generic.websocket import AsyncWebsocketConsumer
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.urls import path

    from bench.peers.common import message

    class Room(AsyncWebsocketConsumer):  # type: ignore[misc]
        async def connect(self) -> None:
            self.rooms: set[str] = set()
            await self.accept()

        async def disconnect(self, code: int) -> None:
            for room in self.rooms:
                await self.channel_layer.group_discard(room, self.channel_name)

        async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
            frame = msgpack.unpackb(bytes_data or b"\x80")
            kind, room = frame.get("type"), frame.get("room")
            if kind == "join":
                self.rooms.add(room)
                await self.channel_layer.group_add(room, self.channel_name)
                await self.send(bytes_data=pack({"type": "joined", "room": room, "seq": seqs[room], "present": []}))
            elif kind == "send" and room in self.rooms:
                seqs[room] += 1
                data = pack(message(room, frame["body"], seqs[room]))
                await self.channel_layer.group_send(room, {"type": "room.message", "data": data})
                await self.send(bytes_data=pack({"type": "ack", "cid": frame["cid"], "room": room, "seq": seqs[room]}))

        async def room_message(self, event: dict[str, Any]) -> None:
            await self.send(bytes_data=event["data"])

    return ProtocolTypeRouter({"websocket": URLRouter([path("ws", Room.as_asgi())])})


if __name__ == "__main__":
    import uvicorn

    from bench.peers.common import uvloop_or_asyncio

    port, redis_url = int(sys.argv[1]), sys.argv[2]
    ws = sys.argv[3] if len(sys.argv) > 3 else "websockets-sansio"
    uvicorn.run(build(redis_url), host="127.0.0.1", port=port, loop=uvloop_or_asyncio(), ws=ws,
                ws_per_message_deflate=False, log_level="warning", access_log=False,
                lifespan="off", backlog=4096)
