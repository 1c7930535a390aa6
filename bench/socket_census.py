"""What one open, joined, idle WebSocket keeps in the gateway: objects the cyclic collector
tracks, asyncio tasks alive and created, RSS; a census by type (bench/heap_hook).

    python -m bench.socket_census                       # embedded (SQLite), 1,000 sockets
    python -m bench.socket_census --redis --sockets 2000

The collector's CPU and collections while a round's sockets open and join are printed too
(they depend on the load; the object counts do not). A round opens ``--sockets`` connections, joins each to one of 60 rooms (as the idle workload
does), lets them settle, snapshots, closes them and waits for the presence linger. The first
round warms the server (rooms, caches, pools); the later rounds' figures are the difference
between the snapshot before the round opened its sockets and the one with them open, divided
by the sockets. The code measured is whatever ``python -m chat_server`` imports: run it from
another checkout for before/after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from bench.gen import Gen  # noqa: E402
from bench.leak import HOOK, _snapshot  # noqa: E402
from bench.run import SETTLE_S, slugs  # noqa: E402
from bench.targets import Backing, start_kindred  # noqa: E402


async def _open(cfg: dict[str, Any], n: int, rooms: list[str]) -> tuple[Gen, list[Any]]:
    gen = Gen(cfg)
    peers = [gen.peer(i) for i in range(n)]
    _, failed = await gen.open_all(peers, 200)
    await gen.join_all([(p, rooms[p.index % len(rooms)]) for p in peers], 200)
    if failed:
        raise RuntimeError(f"{failed} connections failed")
    return gen, peers


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sockets", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3, help="rounds after the warm-up one")
    p.add_argument("--redis", action="store_true")
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args()
    from support import zygote

    os.environ["PYTHONPATH"] = os.pathsep.join([str(HOOK), *filter(None, [os.environ.get("PYTHONPATH")])])
    zygote.ENABLED = False
    rooms = slugs()[:60]
    with tempfile.TemporaryDirectory(prefix="kindred-census-") as tmp:
        work = Path(tmp)
        out = work / "heap"
        backing = Backing(work / "backing") if args.redis else None
        target = start_kindred("census", work / "k", backing, 1, args.sockets, {"KINDRED_BENCH_HEAP": str(out)})
        pid = target.server_pids[0]
        cfg = {**target.config(), "workload": "idle"}
        n_snap = 0
        rows = []
        try:
            for r in range(args.rounds + 1):
                n_snap += 1
                before = _snapshot(pid, out, n_snap)
                loop = asyncio.new_event_loop()
                _gen, peers = loop.run_until_complete(_open(cfg, args.sockets, rooms))
                loop.run_until_complete(asyncio.sleep(2.0))
                n_snap += 1
                during = _snapshot(pid, out, n_snap)
                for peer in peers:
                    peer.close()
                loop.run_until_complete(asyncio.sleep(0.2))
                loop.close()
                time.sleep(SETTLE_S)
                if r == 0:
                    continue  # warm-up: the rooms, caches and pools are made here
                n = args.sockets
                row = {
                    "objects": (during["objects"] - before["objects"]) / n,
                    "tasks_alive": (sum(during["tasks"].values()) - sum(before["tasks"].values())) / n,
                    "tasks_created": (during["tasks_created"] - before["tasks_created"]) / n,
                    "rss_kib": (during["rss_kb"] - before["rss_kb"]) / n,
                    # The collector while the round's sockets opened and joined (CPU, ms).
                    "gc_ms": [1000 * (a - b) for a, b in zip(during["gc_cpu_s"], before["gc_cpu_s"], strict=True)],
                    "gcs": [a - b for a, b in zip(during["gc_count"], before["gc_count"], strict=True)],
                    "types": {k: (during["types"].get(k, 0) - before["types"].get(k, 0)) / n
                              for k in set(during["types"]) | set(before["types"])},
                    "tasks": {k: (during["tasks"].get(k, 0) - before["tasks"].get(k, 0)) / n
                              for k in set(during["tasks"]) | set(before["tasks"])},
                }
                rows.append(row)
                print(f"round {r}: tracked objects/socket {row['objects']:.1f}  tasks alive/socket "
                      f"{row['tasks_alive']:.2f}  tasks created/socket {row['tasks_created']:.2f}  "
                      f"RSS/socket {row['rss_kib']:.2f} KiB  collector {sum(row['gc_ms']):.0f} ms CPU "
                      f"({'/'.join(f'{g:.0f}' for g in row['gc_ms'])} ms in {'/'.join(map(str, row['gcs']))} "
                      f"collections by generation)  load {os.getloadavg()[0]:.1f}", flush=True)
        finally:
            target.stop()
            if backing is not None:
                backing.stop()
    if rows:
        last = rows[-1]
        print("last round, per socket, by type:")
        for k, v in sorted(last["types"].items(), key=lambda kv: -abs(kv[1]))[:args.top]:
            print(f"  {v:7.2f}  {k}")
        print("tasks alive per socket:", {k: round(v, 2) for k, v in last["tasks"].items() if abs(v) >= 0.01})
        Path("/tmp/kindred-socket-census.json").write_text(json.dumps(rows))


if __name__ == "__main__":
    main()
