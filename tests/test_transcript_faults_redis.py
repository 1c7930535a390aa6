"""Transcripts under faults, Redis killed: redis-server SIGKILLed and restarted from its
AOF while members chat: senders retry the same cid until acknowledged, and the table ends up
with one row per acknowledged message. redis-server and PostgreSQL are this module's own
(they are killed here; support/transcripts.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
import websockets
from redis.asyncio import Redis

from chat_server.client import Refused
from support.client import Client
from support.procs import TIMEOUT_SCALE
from support.transcripts import (
    Infra,
    assert_rows_match_acks,
    close_all,
    commits_drained,
    diagnose,
    pg_count,
    pg_duplicates,
    pg_rows,
)
from support.writer import eventually


@dataclass
class RetryingSender:
    """Posts ``count`` messages to one room, each retried with the same cid (RoomSocket.send;
    reconnecting and re-joining as needed) until acknowledged."""

    url: str
    token: str
    room: str
    prefix: str
    count: int
    interval_s: float
    acks: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    clients: list[Client] = field(default_factory=list)
    _client: Client | None = None

    async def _connected(self) -> Client:
        if self._client is not None and self._client.close_code is None:
            return self._client
        self._client = None
        c = await Client.connect(self.url, self.token)
        self.clients.append(c)
        await c.join(self.room, timeout_s=5)
        self._client = c
        return c

    def _retried(self, cid: str, why: str) -> None:
        self.failures.append(why)

    async def run(self) -> None:
        for i in range(self.count):
            cid = f"{self.prefix}-{i}"
            backoff = 0.05
            while True:
                try:
                    c = await self._connected()
                    # RoomSocket resends the cid on this connection while it is refused with
                    # ``unavailable`` or unanswered; a closed socket or used-up attempts: anew.
                    ack = await c.socket.send(self.room, f"{self.prefix} message {i}", cid=cid,
                                              ack_timeout_s=3 * TIMEOUT_SCALE, retry_pace_s=0.05,
                                              on_retry=self._retried)
                except Refused as refused:
                    assert refused.code == "unavailable", refused.frame
                    self.failures.append("unavailable")
                except (
                    ConnectionError, AssertionError, OSError, TimeoutError,
                    websockets.ConnectionClosed, websockets.InvalidStatus,
                ) as exc:
                    self.failures.append(type(exc).__name__)
                    if self._client is not None:
                        await self._client.close()
                        self._client = None
                else:
                    self.acks.append(ack.frame)
                    break
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 0.5)
            await asyncio.sleep(self.interval_s)

    async def close(self) -> None:
        await close_all(self.clients)


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.postgres
async def test_redis_sigkilled_and_restarted_every_acked_message_stored_once(infra: Infra) -> None:
    """redis-server is SIGKILLed a third of the way through and restarted from its AOF while
    6 senders post; they retry the same cid until acked. The table ends with one row per
    acknowledged message, in gap-free seqs, the duplicate acks agreeing with the first."""
    per_sender, n_senders = 80, 6
    dep = infra.gateways("t3", 2)
    redis = Redis.from_url(infra.redis.url)
    senders: list[RetryingSender] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        name, phrase, rooms = dep.new_org()
        members = [dep.register(org=(name, phrase), gateway=i % 2) for i in range(n_senders)]
        senders = [
            RetryingSender(dep.gateways[i % 2].ws_url, m.token, rooms[i % 3], f"t3s{i}", per_sender, 0.03)
            for i, m in enumerate(members)
        ]
        tasks = [asyncio.create_task(s.run()) for s in senders]
        total = per_sender * n_senders

        async def third_acked() -> bool:
            return sum(len(s.acks) for s in senders) >= total // 3

        await eventually(third_acked, 30, "a third of the messages acked")
        acked_at_kill = sum(len(s.acks) for s in senders)
        await asyncio.to_thread(infra.redis.kill)
        down_at = time.monotonic()

        async def everyone_failed() -> bool:
            # The outage is seen by every sender still posting (and lasts at least 2 s).
            return time.monotonic() - down_at >= 2 and all(
                s.failures or len(s.acks) == s.count for s in senders
            )

        await eventually(everyone_failed, 20, "every sender saw the outage")
        await asyncio.to_thread(infra.redis.restart)
        up_at = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*tasks), 60 * TIMEOUT_SCALE)
        all_acked_at = time.monotonic()

        acks = [a for s in senders for a in s.acks]
        assert len(acks) == total
        # Every ack ever received for a cid (first tries, retries, late answers) agrees.
        by_cid: dict[tuple[int, str], tuple[str, int]] = {}
        for k, s in enumerate(senders):
            for c in s.clients:
                for f in c.frames:
                    if f.get("type") == "ack":
                        place = (f["id"], f["seq"])
                        assert by_cid.setdefault((k, f["cid"]), place) == place, f
        ids = {a["id"] for a in acks}
        assert len(ids) == total

        async def all_rows() -> bool:
            return await pg_count(infra.pg.dsn, rooms) >= len(ids)

        try:
            await eventually(all_rows, 30, f"{len(ids)} rows")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}: {await diagnose(redis, infra.pg.dsn, rooms, acks)}") from None
        rows_at = time.monotonic()
        rows = await pg_rows(infra.pg.dsn, rooms)
        assert_rows_match_acks(rows, acks, rooms)
        assert await pg_duplicates(infra.pg.dsn, rooms) == []
        await eventually(lambda: commits_drained(redis), 10, "commits stream drained")
        failures = [f for s in senders for f in s.failures]
        print(
            f"\n[redis kill] killed after {acked_at_kill}/{total} acks, down "
            f"{up_at - down_at:.1f}s, {len(failures)} failed attempts retried "
            f"({', '.join(sorted(set(failures)))}); all acked {all_acked_at - up_at:.1f}s "
            f"after the restart, rows == acks {rows_at - up_at:.1f}s after it"
        )
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        if not infra.redis.running:
            await asyncio.to_thread(infra.redis.restart)
        for s in senders:
            await s.close()
        await redis.aclose()
        dep.stop()


# --------------------------------------------------------------------------- 4. embedded
