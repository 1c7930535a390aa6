"""The raw limit: a bare ``websockets`` server that broadcasts locally with
``websockets.broadcast`` (one encoding, written to every socket without awaiting).

    python -m bench.peers.raw_server PORT

Speaks the benchmark's msgpack frames: ``join`` -> ``joined``; ``send`` -> ``message`` to
the room (sender included) and ``ack`` to the sender.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import defaultdict
from http import HTTPStatus

import msgpack
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from bench.peers.common import message
from chat_server.looplag import LoopLagProbe

# The same loop-lag probe as Kindred's (KINDRED_LOOP_LAG_PROBE_MS=10 in the bench), at the
# same path, so the lag of the bare limit and of Kindred are read alike.
probe = LoopLagProbe(0.010)

rooms: defaultdict[str, set[ServerConnection]] = defaultdict(set)
seqs: defaultdict[str, int] = defaultdict(int)
pack = msgpack.Packer(use_bin_type=True).pack


async def handler(ws: ServerConnection) -> None:
    joined: set[str] = set()
    try:
        async for data in ws:
            frame = msgpack.unpackb(data)
            kind = frame.get("type")
            room = frame.get("room")
            if kind == "send" and room in joined:
                seqs[room] += 1
                broadcast(rooms[room], pack(message(room, frame["body"], seqs[room])))
                await ws.send(pack({"type": "ack", "cid": frame["cid"], "room": room, "seq": seqs[room]}))
            elif kind == "join":
                joined.add(room)
                rooms[room].add(ws)
                await ws.send(pack({"type": "joined", "room": room, "seq": seqs[room], "present": []}))
    finally:
        for room in joined:
            rooms[room].discard(ws)


def loop_lag(connection: ServerConnection, request: Request) -> Response | None:
    if not request.path.startswith("/debug/loop-lag"):
        return None  # a WebSocket handshake
    body = json.dumps(probe.summary(reset="reset=1" in request.path)).encode()
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                       ("Connection", "close")])
    return Response(HTTPStatus.OK.value, HTTPStatus.OK.phrase, headers, body)


async def main(port: int) -> None:
    probing = asyncio.create_task(probe.run())
    async with serve(handler, "127.0.0.1", port, compression=None, max_size=65536,
                     ping_interval=20, ping_timeout=20, backlog=4096,
                     process_request=loop_lag) as server:
        await server.serve_forever()
    probing.cancel()


if __name__ == "__main__":
    import uvloop

    uvloop.run(main(int(sys.argv[1])))
