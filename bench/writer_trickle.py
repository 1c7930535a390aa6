"""The Redis mode's transcript writer at a gateway's trickle, not a backlog: what each small
batch costs.

    python -m bench.writer_trickle [--rounds 3] [--seconds 8] [--rows 25] [--every-ms 50]
        [--writers 2] [--paced] [--uvloop]

In small rooms (500 messages a second) the writer inside a gateway finds ~25 entries after
each 50 ms wait (``GATHER_S``), so its cost per message is mostly its cost per batch, which
``bench.writer`` (batches of 5,000) does not show. This process posts ``rows`` entries to the
commits stream every ``every_ms`` (as the post script would) while a real ``RedisWriter``
commits them to PostgreSQL; it prints this process's CPU per message (the writers plus the
feeding, the same in every tree), PostgreSQL's, and the rows per committed batch. Compare
trees by running it from each. ``--writers 2`` runs two writers (two gateways' worth, in
one process); ``--paced`` posts the same rate one entry at a time, as a room's members do,
rather than ``rows`` at once (a writer blocked on an empty stream wakes for the first).
Real redis-server and PostgreSQL in temp dirs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from redis import Redis as SyncRedis
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
                    first_seq: int) -> tuple[float, float, float, int, int]:
    engine = make_engine(pg.url)
    redis = Redis.from_url(redis_url)
    writers = [RedisWriter(redis, session_factory(engine), 5000, 60, consumer=f"trickle-{i}")
               for i in range(args.writers)]
    commits = [0]
    for writer in writers:  # counted here, so that the script measures any tree's writer
        writer._commit = _counted(writer._commit, commits)  # type: ignore[method-assign,assignment]
        writer.start()
    group = args.rows if not args.paced else 1
    pause = args.every_ms / 1000 / (args.rows // group)
    await asyncio.sleep(0.5)
    # The feeding on a thread of its own (a sync client, on a schedule so the rate holds):
    # the loop thread's CPU is then the writers' alone.
    fed: list[int] = []
    cpu0, loop0, pg0 = time.process_time(), time.thread_time(), server_cpu_s(_pid(pg))
    feeder = threading.Thread(target=_feed, args=(redis_url, author, first_seq, group, pause,
                                                  args.seconds, fed))
    feeder.start()
    while feeder.is_alive():  # noqa: ASYNC110 - a thread, not an event
        await asyncio.sleep(0.05)
    sent = fed[0]
    while sum(w.committed for w in writers) < sent:  # noqa: ASYNC110 - a count, not an event
        await asyncio.sleep(0.01)
    cpu1, loop1, pg1 = time.process_time(), time.thread_time(), server_cpu_s(_pid(pg))
    batches = commits[0]
    for writer in writers:
        await writer.stop()
    await redis.aclose()
    await engine.dispose()
    return (1e6 * (cpu1 - cpu0) / sent, 1e6 * (loop1 - loop0) / sent, 1e6 * (pg1 - pg0) / sent,
            sent, batches)


def _feed(redis_url: str, author: int, seq: int, group: int, pause: float, seconds: float,
          fed: list[int]) -> None:
    """Post ``group`` entries every ``pause`` seconds for ``seconds``, as the post script would."""
    client = SyncRedis.from_url(redis_url)
    view = {"id": "u", "handle": "h", "role": "member"}
    sent = 0
    start = time.monotonic()
    while (now := time.monotonic()) < start + seconds:
        pipe = client.pipeline(transaction=False)
        for _ in range(group):
            seq += 1
            room = f"room-{seq % 50}"
            frame = message_frame(room, uuid.uuid4().hex, seq, view, "hello there " * 5, None, 1, None)
            pipe.xadd(COMMITS_STREAM, {"r": room, "s": seq, "a": author, "c": uuid.uuid4().hex[:16], "f": frame})
        pipe.execute()
        sent += group
        time.sleep(max(0.0, start + (sent // group) * pause - now))
    client.close()
    fed.append(sent)


def _counted(commit: Callable[[list[Any]], Coroutine[Any, Any, None]],
             count: list[int]) -> Callable[[list[Any]], Coroutine[Any, Any, None]]:
    async def counted(rows: list[Any]) -> None:
        count[0] += 1
        await commit(rows)
    return counted


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rows", type=int, default=25)
    parser.add_argument("--every-ms", type=float, default=50)
    parser.add_argument("--writers", type=int, default=1)
    parser.add_argument("--paced", action="store_true", help="one entry at a time, same rate")
    parser.add_argument("--uvloop", action="store_true",
                        help="on uvloop, as a gateway runs (asyncio's own loop otherwise, as "
                             "the figures before 2026-12-07 afternoon were taken)")
    args = parser.parse_args()
    run: Any = asyncio.run
    if args.uvloop:
        import uvloop
        run = uvloop.run
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with RedisServer(work / "redis") as redis_server, Postgres(work / "pg") as pg:
            migrate.upgrade(pg.url)
            author = asyncio.run(_author(pg.url))
            for r in range(args.rounds):
                mine, loop, db, n, batches = run(
                    one_round(pg, redis_server.url, author, args, 10_000_000 * (r + 1)))
                print(f"round {r + 1}: this process {mine:.1f} µs/msg (writers' loop thread "
                      f"{loop:.1f}), PostgreSQL {db:.1f} µs/msg "
                      f"({n} messages, {batches} batches, {n / max(batches, 1):.1f} rows a batch)",
                      flush=True)


if __name__ == "__main__":
    main()
