"""The embedded mode's post path alone: the broker, the writer and its SQLite thread.

Posts paced as in the small rooms (``--rate`` a second, 50 rooms, a fan-out callback that
does nothing), each post awaited by a task of its own as a sender's is, on uvloop, after
``serve.settle_heap`` as the server does. Reports, per message, the CPU of the event-loop
thread (``thread_time``) and of the SQLite writer thread (/proc, 10 ms ticks), and commits
per message. ``--null``: a committer that stores nothing, finishing each row on the loop's
next turn (the loop's cost without the writer: pacing, tasks, the broker); ``--cprofile
FILE``: the loop thread's posting under cProfile. To compare two trees, run it from each,
alternated (the loop thread's figure swings ±10 % with the machine's load).

    python -m bench.embedded_handoff [--messages 3000] [--rate 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from bench.writer import _author  # noqa: E402
from chat_server.broker.base import Draft  # noqa: E402
from chat_server.broker.memory import MemoryBroker  # noqa: E402
from chat_server.protocol.message import message_prefix  # noqa: E402
from chat_server.serve import settle_heap  # noqa: E402
from chat_server.transcripts.embedded import EmbeddedWriter  # noqa: E402
from persistence import migrate  # noqa: E402
from persistence.db import make_engine, session_factory  # noqa: E402

ROOMS = 50
BODY = "Thank you all for sharing today. The waiting is the hardest part for me."
TICK = os.sysconf("SC_CLK_TCK")


class _Instant:
    """A committer that stores nothing: each row "committed" on the loop's next turn (what
    the path costs the loop without the writer and its thread)."""

    def submit(self, row: object, after_commit: Callable[[], None]) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def finish() -> None:
            after_commit()
            done.set_result(None)

        asyncio.get_running_loop().call_soon(finish)
        return done


def _thread_cpu_s() -> dict[str, float]:
    """CPU seconds of each of this process's threads, by name (10 ms ticks)."""
    out: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[f"{name}/{task.name}"] = (int(fields[11]) + int(fields[12])) / TICK
    return out


async def one_round(url: str, author: int, n: int, rate: float, offset: int,
                    profile: str = "", null: bool = False) -> dict[str, float]:
    engine = make_engine(url)
    writer = EmbeddedWriter(session_factory(engine))
    broker = MemoryBroker(200, _Instant() if null else writer)
    delivered = 0

    def on_frame(room: str, seq: int | None, frame: bytes) -> None:
        nonlocal delivered
        delivered += 1

    await broker.start(on_frame, lambda room: None, lambda payload: None)
    writer.start()
    for r in range(ROOMS):
        await broker.subscribe(f"room-{r}")
    drafts = []
    for i in range(n):
        room = f"room-{i % ROOMS}"
        mid = uuid.uuid4().hex
        prefix = message_prefix(room, mid, {"id": "a"}, BODY, None, 1_700_000_000_000 + i, None)
        drafts.append(Draft(room, mid, "a", author, f"c{offset}-{i}", prefix, BODY, None, None,
                            1_700_000_000_000 + i))
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[object]] = set()
    settle_heap()  # as the server does once started: the set-up frozen, young collections rarer
    committed0 = writer.committed
    sqlite = writer._sqlite
    tx0 = sqlite.transactions if sqlite is not None else 0
    before = _thread_cpu_s()
    prof = cProfile.Profile(time.thread_time_ns, 1e-9) if profile else None
    if prof is not None:
        prof.enable()
    main0 = time.thread_time()
    start = loop.time()
    for i, draft in enumerate(drafts):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task: asyncio.Task[object] = loop.create_task(broker.post(draft, 0))
        pending.add(task)
        task.add_done_callback(pending.discard)
    while pending:
        await asyncio.gather(*pending)
    main_s = time.thread_time() - main0
    if prof is not None:
        prof.disable()
        prof.dump_stats(profile)
    after = _thread_cpu_s()
    tx = (sqlite.transactions if sqlite is not None else 0) - tx0
    assert delivered == n and (null or writer.committed - committed0 == n)
    tid = sqlite._thread.native_id if sqlite is not None and sqlite._thread is not None else None
    writer_s = sum(after[k] - before.get(k, 0.0) for k in after if k.endswith(f"/{tid}"))
    await writer.stop()
    await engine.dispose()
    return {"loop_us": main_s / n * 1e6, "writer_us": writer_s / n * 1e6, "commits": tx / n}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--null", action="store_true", help="a committer that stores nothing")
    parser.add_argument("--cprofile", default="", help="cProfile the loop thread's posting into this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'k.db'}"
        migrate.upgrade(url)
        author = asyncio.run(_author(url))
        results = []
        for r in range(args.rounds):
            res = uvloop.run(one_round(url, author, args.messages, args.rate, r * args.messages,
                                      args.cprofile, args.null))
            results.append(res)
            print(f"round {r + 1}: loop thread {res['loop_us']:.1f} µs, writer thread "
                  f"{res['writer_us']:.1f} µs a message, {res['commits']:.2f} commits a message",
                  flush=True)
        print("median: " + ", ".join(f"{k} {statistics.median(x[k] for x in results):.2f}"
                                     for k in results[0]))


if __name__ == "__main__":
    main()
