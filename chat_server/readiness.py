"""What ``/readyz`` reports: whether the database and Redis answer, whether this gateway is
draining, and the transcript backlog (informational)."""

from __future__ import annotations

from collections.abc import Callable

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from chat_server.broker.base import Broker
from chat_server.keys import COMMITS_STREAM


class Readiness:
    def __init__(self, engine: AsyncEngine, redis: Redis | None, broker: Broker,
                 draining: Callable[[], bool]) -> None:
        self._engine, self._redis, self._broker, self._draining = engine, redis, broker, draining

    async def check(self) -> dict[str, str]:
        """Each backing service: ``ok`` or ``unreachable: <exception type>``."""
        status: dict[str, str] = {}
        try:
            async with self._engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            status["database"] = "ok"
        except Exception as exc:  # readiness reports any failure, whatever its type
            status["database"] = f"unreachable: {type(exc).__name__}"
        if self._redis is not None:
            try:
                await self._broker.ready()
                status["redis"] = "ok"
            except Exception as exc:
                status["redis"] = f"unreachable: {type(exc).__name__}"
        return status

    async def report(self) -> tuple[bool, dict[str, object]]:
        """(ready, the body): ready when every part is ``ok`` and the gateway is not draining."""
        status = await self.check()
        if self._draining():
            status["gateway"] = "draining"
        ok = all(v == "ok" for v in status.values())
        body: dict[str, object] = {"status": "ready" if ok else "not_ready", **status}
        if self._redis is not None and status.get("redis") == "ok":
            # Messages acknowledged but not yet in the database: informational, for alerting.
            body["transcript_backlog"] = int(await self._redis.xlen(COMMITS_STREAM))
        return ok, body
