"""Where private-talk requests wait: shared by every gateway (Redis) or, with no Redis
configured (embedded mode), in the database, so that a restart loses no one's place.

The one thing that must never happen twice is settling a request: two navigators on two
gateways pressing "accept" at the same moment, or a member cancelling just as a navigator
accepts. In Redis a request's outcome is set by one script (``HSETNX`` of its ``outcome``,
then it leaves the waiting set), so exactly one caller wins and the others learn what became
of it. Showing the crisis resources is claimed the same way (``HSETNX`` of ``res``), so a
member is shown them once however many gateways notice the wait is over. In the database
each step is one statement whose ``WHERE`` says when it may happen (``persistence/talks.py``),
which makes it just as atomic; the table holds what the hash holds, no more.

Keys (Redis): ``kindred:talk:<id>`` a hash (``r`` the request as JSON; ``outcome``, ``nav``,
``at``, ``res``, ``conv``, ``conv_room`` as they happen), ``kindred:talks`` the waiting ids by
the time they were made, ``kindred:talk:by:<member>`` the member's waiting request. Every key
expires, so nothing outlives ``expire_s`` by more than a day.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server import keys
from persistence import talks
from rooms.errors import Unavailable
from rooms.model import Member
from rooms.private_talk import TalkRequest
from rooms.roles import Role

KEEP_SETTLED_S = 86400.0  # a settled request is remembered this long ("taken by Heron")
# The database forgets old requests on a request at most this often (a delete that reads every
# settled row is too much for each request); a row outlives the Redis keys' life by this at most.
FORGET_EVERY_S = 3600.0
WAITING_MAX = 1000  # requests read back at most: far more than any queue a desk can serve


class TalkStore(Protocol):
    async def add(self, request: TalkRequest) -> str | None:
        """Store a new waiting request; None when stored, or the id of the member's request
        that is waiting already (nothing stored then). Raises ``Unavailable``."""
        ...

    async def waiting(self) -> list[TalkRequest]:
        """Every waiting request, oldest first (at most ``WAITING_MAX``)."""
        ...

    async def get(self, talk_id: str) -> TalkRequest | None:
        """The request, waiting or settled (for a while), or None."""
        ...

    async def settle(
        self, request: TalkRequest, outcome: str, now: float, navigator: dict[str, str] | None = None,
    ) -> tuple[bool, TalkRequest | None]:
        """Settle a waiting request: (True, it settled) for the one caller that did; (False,
        the request as it is now, or None if it is gone) for everyone else."""
        ...

    async def reopen(self, request: TalkRequest) -> None:
        """Undo the acceptance of ``request`` (the conversation could not be opened): it
        waits again in its old place."""
        ...

    async def attach(self, talk_id: str, conversation: str, conversation_room: str) -> None: ...

    async def mark_resources(self, talk_id: str, now: float) -> bool:
        """Claim showing the crisis resources for a waiting request: True for exactly one
        caller, False once claimed or once the request is settled."""
        ...


# -- the request as JSON --------------------------------------------------------------------


def _encode(request: TalkRequest) -> str:
    m = request.member
    return json.dumps({
        "id": request.id, "room": request.room, "room_org": request.room_org, "asked_at": request.asked_at,
        "member": {"id": m.id, "handle": m.handle, "role": m.role.value, "org_id": m.org_id, "db_id": m.db_id},
    })


def _decode(raw: str | bytes, extra: dict[str, Any] | None = None) -> TalkRequest:
    data = json.loads(raw)
    m = data["member"]
    member = Member(m["id"], m["handle"], Role(m["role"]), m["org_id"], int(m["db_id"]))
    extra = extra or {}

    def num(key: str) -> float | None:
        value = extra.get(key)
        return None if value is None else float(value)

    nav = extra.get("nav")
    return TalkRequest(
        data["id"], member, data["room"], data["room_org"], float(data["asked_at"]),
        resources_at=num("res"), outcome=extra.get("outcome"),
        navigator=json.loads(nav) if nav else None, settled_at=num("at"),
        conversation=extra.get("conv"), conversation_room=extra.get("conv_room"),
    )


# -- in the database (embedded mode: no Redis) --------------------------------------------


class DatabaseTalks:
    """The queue in the database (``persistence/talks.py``), for a gateway without Redis: a
    request waiting for a navigator survives a restart of the server. Each step is one
    conditional statement, so it is as atomic as the Redis scripts."""

    def __init__(self, db: async_sessionmaker[AsyncSession], expire_s: float) -> None:
        self._db = db
        self._keep_s = expire_s + KEEP_SETTLED_S  # as long as the Redis keys live
        self._forget_at = float("-inf")  # the first request after a start forgets at once

    async def add(self, request: TalkRequest) -> str | None:
        """Store ``request`` (``talks.add``); first, when ``FORGET_EVERY_S`` has passed since
        the last time, delete the requests older than the Redis keys live. The clock is the
        requests' own ``asked_at``; a clock that stepped back (a request asked before the last
        clean-up) starts the interval again rather than pausing clean-ups for the step."""
        async with self._session() as db:
            at = request.asked_at
            if at >= self._forget_at or at < self._forget_at - FORGET_EVERY_S:
                await talks.forget(db, request.asked_at - self._keep_s)
                self._forget_at = request.asked_at + FORGET_EVERY_S
            return await talks.add(db, request)

    async def waiting(self) -> list[TalkRequest]:
        async with self._session() as db:
            return await talks.waiting(db, WAITING_MAX)

    async def get(self, talk_id: str) -> TalkRequest | None:
        async with self._session() as db:
            return await talks.get(db, talk_id)

    async def settle(
        self, request: TalkRequest, outcome: str, now: float, navigator: dict[str, str] | None = None,
    ) -> tuple[bool, TalkRequest | None]:
        async with self._session() as db:
            won = await talks.settle(db, request.id, outcome, now, navigator)
            return won, await talks.get(db, request.id)

    async def reopen(self, request: TalkRequest) -> None:
        async with self._session() as db:
            await talks.reopen(db, request.id, request.member.id)

    async def attach(self, talk_id: str, conversation: str, conversation_room: str) -> None:
        async with self._session() as db:
            await talks.attach(db, talk_id, conversation, conversation_room)

    async def mark_resources(self, talk_id: str, now: float) -> bool:
        async with self._session() as db:
            return await talks.mark_resources(db, talk_id, now)

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        try:
            async with self._db() as db:
                yield db
        except (SQLAlchemyError, OSError) as exc:
            raise Unavailable("could not reach the navigators' queue; try again") from exc


# -- in Redis (every gateway) ---------------------------------------------------------------

# KEYS: by-member, request hash, waiting set. ARGV: id, request JSON, asked_at, ttl (s).
_ADD = """
local current = redis.call('GET', KEYS[1])
if current and redis.call('ZSCORE', KEYS[3], current) then return current end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4])
redis.call('HSET', KEYS[2], 'r', ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return false
"""

# KEYS: request hash, waiting set, by-member. ARGV: id, outcome, navigator JSON, now.
# 0: no such request; 1: settled before (by someone else); 2: settled now, by this call.
_SETTLE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HSETNX', KEYS[1], 'outcome', ARGV[2]) == 0 then return 1 end
redis.call('HSET', KEYS[1], 'nav', ARGV[3], 'at', ARGV[4])
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
return 2
"""

# KEYS: request hash. ARGV: now. 1 when this call claimed it.
_RESOURCES = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HEXISTS', KEYS[1], 'outcome') == 1 then return 0 end
return redis.call('HSETNX', KEYS[1], 'res', ARGV[1])
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisTalks:
    def __init__(self, redis: Redis, expire_s: float) -> None:
        self._redis = redis
        self._ttl_s = int(expire_s + KEEP_SETTLED_S)
        self._add = redis.register_script(_ADD)
        self._settle = redis.register_script(_SETTLE)
        self._resources = redis.register_script(_RESOURCES)

    async def add(self, request: TalkRequest) -> str | None:
        found = await self._call(self._add(
            keys=[keys.talk_by_member(request.member.id), keys.talk(request.id), keys.TALKS],
            args=[request.id, _encode(request), request.asked_at, self._ttl_s],
        ))
        return None if not found else _text(found)

    async def waiting(self) -> list[TalkRequest]:
        ids = [_text(i) for i in await self._call(self._redis.zrange(keys.TALKS, 0, WAITING_MAX - 1))]
        if not ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for talk_id in ids:
                pipe.hgetall(keys.talk(talk_id))
            rows = await self._call(pipe.execute())
        found, gone = [], []
        for talk_id, row in zip(ids, rows, strict=True):
            request = self._from_row(row)
            if request is None:
                gone.append(talk_id)  # its hash expired: drop the id too
            elif request.outcome is None:
                found.append(request)
        if gone:
            await self._call(self._redis.zrem(keys.TALKS, *gone))
        return found

    async def get(self, talk_id: str) -> TalkRequest | None:
        return self._from_row(await self._call(self._redis.hgetall(keys.talk(talk_id))))

    async def settle(
        self, request: TalkRequest, outcome: str, now: float, navigator: dict[str, str] | None = None,
    ) -> tuple[bool, TalkRequest | None]:
        result = await self._call(self._settle(
            keys=[keys.talk(request.id), keys.TALKS, keys.talk_by_member(request.member.id)],
            args=[request.id, outcome, json.dumps(navigator) if navigator else "", now],
        ))
        return int(result) == 2, await self.get(request.id)

    async def reopen(self, request: TalkRequest) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.talk(request.id), "outcome", "nav", "at")
            pipe.zadd(keys.TALKS, {request.id: request.asked_at})
            pipe.set(keys.talk_by_member(request.member.id), request.id, ex=self._ttl_s, nx=True)
            await self._call(pipe.execute())

    async def attach(self, talk_id: str, conversation: str, conversation_room: str) -> None:
        await self._call(self._redis.hset(keys.talk(talk_id),
                                          mapping={"conv": conversation, "conv_room": conversation_room}))

    async def mark_resources(self, talk_id: str, now: float) -> bool:
        return bool(await self._call(self._resources(keys=[keys.talk(talk_id)], args=[now])))

    @staticmethod
    def _from_row(row: dict[Any, Any] | None) -> TalkRequest | None:
        if not row:
            return None
        fields = {_text(k): _text(v) for k, v in row.items()}
        raw = fields.pop("r", None)
        return None if raw is None else _decode(raw, {k: v for k, v in fields.items() if v != ""})

    @staticmethod
    async def _call(awaitable: Any) -> Any:
        try:
            return await awaitable
        except (RedisError, OSError) as exc:
            raise Unavailable("could not reach the navigators' queue; try again") from exc
