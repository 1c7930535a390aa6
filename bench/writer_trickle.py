"""The Redis mode's transcript writer at a gateway's trickle, not a backlog: what each small
batch costs.

    python -m bench.writer_trickle [--rounds 3] [--seconds 8] [--rows 25] [--every-ms 50]

In small rooms (500 messages a second) the writer inside a gateway finds ~25 entries after
each 50 ms wait (``GATHER_S``), so its cost per message is mostly its cost per batch, which
``bench.writer`` (batches of 5,000) does not show. This process posts ``rows`` entries to the
commits stream every ``every_ms`` (as the post script would) while a real ``RedisWriter``
commits them to PostgreSQL; it prints this process's CPU per message (the writer plus the
feeding, the same in every tree) and PostgreSQL's. Compare trees by running it from each.
Real redis-server and PostgreSQL in temp dirs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from bench.writer import _author, _pid, server_cpu_s  # noqa: E402
from chat_server.keys import COMMITS_STREAM  # noqa: E402
from chat_server.protocol.message import message_frame  # noqa: E402
from chat_server.transcripts.redis_writer import RedisWriter  # noqa: E402
from persistence import migrate  # noqa: E402
from persistence.db import make_engine, session_factory  # noqa: E402
from support.procs import Postgres, RedisServer  # noqa: E402


async def one_round(pg: Postgres, redis_url: str, author: int, args: argparse.Namespace,
                    first_seq: int) -> tuple[float, float, int]:
    engine = make_engine(pg.url)
    redis = Redis.from_url(redis_url)
    writer = RedisWriter(redis, session_factory(engine), 5000, 60, consumer="trickle")
    writer.start()
    view = {"id": "u", "handle": "h", "role": "member"}
    seq, sent = first_seq, 0
    await asyncio.sleep(0.5)
    cpu0, pg0 = time.process_time(), server_cpu_s(_pid(pg))
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        pipe = redis.pipeline(transaction=False)
        for _ in range(args.rows):
            seq += 1
            room = f"room-{seq % 50}"
            frame = message_frame(room, uuid.uuid4().hex, seq, view, "hello there " * 5, None, 1, None)
            pipe.xadd(COMMITS_STREAM, {"r": room, "s": seq, "a": author, "c": uuid.uuid4().hex[:16], "f": frame})
        await pipe.execute()
        sent += args.rows
        await asyncio.sleep(args.every_ms / 1000)
    while writer.committed < sent:  # noqa: ASYNC110 - the writer offers a count, not an event
        await asyncio.sleep(0.01)
    cpu1, pg1 = time.process_time(), server_cpu_s(_pid(pg))
    await writer.stop()
    await redis.aclose()
    await engine.dispose()
    return 1e6 * (cpu1 - cpu0) / sent, 1e6 * (pg1 - pg0) / sent, sent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rows", type=int, default=25)
    parser.add_argument("--every-ms", type=float, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with RedisServer(work / "redis") as redis_server, Postgres(work / "pg") as pg:
            migrate.upgrade(pg.url)
            author = asyncio.run(_author(pg.url))
            for r in range(args.rounds):
                mine, db, n = asyncio.run(one_round(pg, redis_server.url, author, args, 10_000_000 * (r + 1)))
                print(f"round {r + 1}: this process {mine:.1f} µs/msg, PostgreSQL {db:.1f} µs/msg "
                      f"({n} messages)", flush=True)


if __name__ == "__main__":
    main()
