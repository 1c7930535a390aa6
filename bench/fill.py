"""What it costs to fill a big room: presence bytes and server CPU while N members join one
room, each member one connection, 50 joins in flight at a time.

Every frame a member receives from its first ``join`` until the server is quiet again is
counted by type (``joined``, ``presence``, the rest), in wire bytes (the WebSocket payload).
With the whole member list in every ``joined`` and every arrival announced to everyone, the
total grows with the square of N; with a capped list and counts it should grow linearly.

    python -m bench.fill [--members 250,500,1000] [--target kindred-embedded]

Its members are the load generator's lean peers (bench/wsclient.py), not chat_server.client's
RoomSocket: the figure is wire bytes per frame type, which only a client that sees each
payload before decoding it can count, and 1,000 joins at once is the generator's hot path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from bench.loadgen import Gen, Peer  # noqa: E402
from bench.targets import Backing, start_kindred  # noqa: E402
from rooms import catalog  # noqa: E402


class CountingPeer(Peer):
    """A generator peer that also adds up the bytes of every frame by its type."""

    def __init__(self, gen: Gen, index: int, url: str, token: str | None, tally: Counter[str]) -> None:
        super().__init__(gen, index, url, token)
        self.tally = tally

    def _on_frame(self, opcode: int, payload: bytes) -> None:
        # msgpack maps put "type" first: its value follows the 4-byte key.
        kind = "presence" if b"presence" in payload[:20] else "joined" if b"joined" in payload[:20] else "other"
        self.tally[kind] += len(payload)
        self.tally[kind + "_frames"] += 1
        super()._on_frame(opcode, payload)


async def fill(cfg: dict[str, Any]) -> dict[str, Any]:
    gen = Gen({**cfg, "workload": "fill"})
    tally: Counter[str] = Counter()
    peers = [CountingPeer(gen, i, gen.urls[i % len(gen.urls)], gen.tokens[i % len(gen.tokens)], tally)
             for i in range(cfg["members"])]
    await gen.open_all(peers, 100)
    await gen.quiet(max_s=10)
    tally.clear()
    window = gen.window()
    start = time.perf_counter()
    await gen.join_all([(p, cfg["room"]) for p in peers], 50)
    join_s = time.perf_counter() - start
    await gen.quiet(max_s=60)
    await asyncio.sleep(1.0)  # the last batched presence frame
    measured = window.close()
    for p in peers:
        p.close()
    return {
        "members": cfg["members"], "join_s": round(join_s, 2),
        "joined_bytes": tally["joined"], "presence_bytes": tally["presence"],
        "presence_frames": tally["presence_frames"],
        "total_mb": round((tally["joined"] + tally["presence"]) / 1e6, 3),
        "server_cpu_s": round(measured["server_cpu_s"], 2),
        "errors": gen.stats.errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", default="250,500,1000")
    parser.add_argument("--target", default="kindred-embedded", choices=["kindred-embedded", "kindred-redis-1"])
    parser.add_argument("--env", default="", help="extra KINDRED_* settings, NAME=VALUE,NAME=VALUE")
    args = parser.parse_args()
    sizes = [int(n) for n in args.members.split(",")]
    extra = dict(kv.split("=", 1) for kv in args.env.split(",") if kv)
    room = catalog.load().communities[-1].slug
    with tempfile.TemporaryDirectory(prefix="kindred-fill-") as tmp:
        backing = Backing(Path(tmp) / "backing") if args.target != "kindred-embedded" else None
        if backing is not None:
            backing.ensure()
        try:
            for n in sizes:
                target = start_kindred(args.target, Path(tmp) / f"{args.target}-{n}", backing, 1, n, extra)
                try:
                    cfg = {**target.config(), "members": n, "room": room}
                    result = asyncio.run(fill(cfg))
                finally:
                    target.stop()
                print(json.dumps({"target": args.target, **result}), flush=True)
        finally:
            if backing is not None:
                backing.stop()


if __name__ == "__main__":
    main()
