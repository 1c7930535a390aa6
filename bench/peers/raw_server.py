"""The raw limit: a bare ``websockets`` server that broadcasts locally with
``websockets.broadcast`` (one encoding, written to every socket without awaiting).

    python -m bench.peers.raw_server PORT

Speaks the benchmark's msgpack frames: ``join`` -> ``joined``; ``send`` -> ``message`` to
the room (sender included) and ``ack`` to the sender.
"""

from __future__ import annotations

import sys
from collections import defaultdict

import msgpack
from websockets.asyncio.server import ServerConnection, broadcast, serve

from bench.peers.common import message

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


async def main(port: int) -> None:
    async with serve(handler, "127.0.0.1", port, compression=None, max_size=65536,
                     ping_interval=20, ping_timeout=20, backlog=4096) as server:
        await server.serve_forever()


if __name__ == "__main__":
    import uvloop

    uvloop.run(main(int(sys.argv[1])))
