"""The gateways' pub/sub reader alone: redis-py's ``PubSub.get_message`` loop (what
``RedisBroker`` used before) against ``chat_server.broker.subscriber.Subscriber``.

    python -m bench.pubsub_reader [--messages 20000] [--runs 5]

A redis-server of its own; a publisher in its own process sends room-sized messages
(``m<seq>:`` and a 180-byte frame) on one channel, either in bursts of 1,000 (pipelined) or
paced like a busy gateway (10 messages every 2 ms). The figure is the CPU time of the
reader's event-loop thread (``time.thread_time``) from the go to the last message, per
message; the two readers alternate, A B A B. Run on uvloop, as ``kindred serve`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import uvloop
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from chat_server.broker.subscriber import Subscriber  # noqa: E402
from presence.redis_address import Address  # noqa: E402
from support.procs import RedisServer  # noqa: E402

CHANNEL = b"kindred:room:bench"
FRAME = b"m%d:" + b"\x87" + b"x" * 179

_PUBLISHER = """
import sys, time, redis
r = redis.Redis(port=int(sys.argv[1]))
for line in sys.stdin:
    n, mode = line.split()
    n = int(n)
    pipe = r.pipeline(transaction=False)
    burst = 1000 if mode == "burst" else 10
    for i in range(n):
        pipe.publish(CHANNEL, FRAME % i)
        if (i + 1) % burst == 0:
            pipe.execute()
            if mode == "paced":
                time.sleep(0.002)
    pipe.execute()
    print("sent", flush=True)
""".replace("CHANNEL", repr(CHANNEL)).replace("FRAME", repr(FRAME))


async def _measure(start: Callable[[Callable[[bytes, bytes], None]], asyncio.Future[None]],
                   publisher: subprocess.Popen[str], n: int, mode: str) -> float:
    """Seconds of loop-thread CPU per message."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    count = 0

    def on_message(channel: bytes, data: bytes) -> None:
        nonlocal count
        count += 1
        if count == n and not done.done():
            done.set_result(None)

    ready = start(on_message)
    await ready
    await asyncio.sleep(0.2)
    t0 = time.thread_time()
    assert publisher.stdin is not None and publisher.stdout is not None
    publisher.stdin.write(f"{n} {mode}\n")
    publisher.stdin.flush()
    await asyncio.wait_for(done, 120)
    spent = time.thread_time() - t0
    await asyncio.to_thread(publisher.stdout.readline)
    return spent / n


async def _redis_py(port: int, publisher: subprocess.Popen[str], n: int, mode: str) -> float:
    client = Redis(port=port)
    pubsub = client.pubsub()
    task: asyncio.Task[None] | None = None

    def start(on_message: Callable[[bytes, bytes], None]) -> asyncio.Future[None]:
        nonlocal task
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def listen() -> None:
            await pubsub.subscribe(CHANNEL)
            while True:  # as RedisBroker._listen and _dispatch did
                message = await pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                kind = message["type"]
                if kind == b"subscribe" or kind == "subscribe":
                    ready.set_result(None)
                elif kind in (b"message", "message"):
                    on_message(message["channel"], message["data"])

        task = asyncio.create_task(listen())
        return ready

    try:
        return await _measure(start, publisher, n, mode)
    finally:
        if task is not None:
            task.cancel()
        await pubsub.aclose()
        await client.aclose()


async def _subscriber(port: int, publisher: subprocess.Popen[str], n: int, mode: str) -> float:
    task: asyncio.Task[None] | None = None

    def start(on_message: Callable[[bytes, bytes], None]) -> asyncio.Future[None]:
        nonlocal task
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        sub = Subscriber(Address(port=port), on_message, lambda c: ready.set_result(None), lambda: None)
        sub.subscribe(CHANNEL)
        task = asyncio.create_task(sub.run())
        return ready

    try:
        return await _measure(start, publisher, n, mode)
    finally:
        if task is not None:
            task.cancel()
            await asyncio.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp), appendonly=False) as server:
        publisher = subprocess.Popen([sys.executable, "-c", _PUBLISHER, str(server.port)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            for mode in ("burst", "paced"):
                results: dict[str, list[float]] = {"redis-py PubSub": [], "Subscriber": []}
                for _ in range(args.runs):
                    for name, reader in (("redis-py PubSub", _redis_py), ("Subscriber", _subscriber)):
                        per = uvloop.run(reader(server.port, publisher, args.messages, mode))
                        results[name].append(per * 1e6)
                for name, values in results.items():
                    print(f"{mode:6} {name:16} median {statistics.median(values):6.2f} us/msg "
                          f"(min {min(values):.2f}, max {max(values):.2f}, {len(values)} runs)", flush=True)
        finally:
            publisher.kill()


if __name__ == "__main__":
    main()
