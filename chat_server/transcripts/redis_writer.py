"""The transcript writer of the Redis mode: from the commits stream into the database.

Every posted message is appended to ``kindred:commits`` by the posting script. Writers read
it as one consumer group, so several writers (in each ``kindred serve``, or ``kindred
writer`` processes) share the work. A batch is inserted idempotently and only then
acknowledged and deleted from the stream: a writer killed between the two leaves the entries
pending, another writer claims them after ``claim_idle_s`` (XAUTOCLAIM) and inserting them
again changes nothing. A database outage stops the writer's progress, never its input: the
entries wait in Redis. A row the database refuses for good is set aside in
``kindred:commits:dead`` so the rest goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy.ext.asyncio import AsyncConnection, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.aio import stop_task
from chat_server.keys import COMMITS_STREAM, DEAD_STREAM, WRITERS_GROUP
from chat_server.transcripts.errors import is_bad_row
from persistence import transcripts
from persistence.transcripts import NewMessage
from presence.redis_address import Address
from presence.redis_pipe import RedisPipe

log = logging.getLogger(__name__)

GROUP = WRITERS_GROUP


class _Stored(msgspec.Struct):
    """What a row takes from the entry's ``message`` frame; its other keys (the type, the
    room, the author's view, the seq) are skipped unread, the room and seq coming from the
    entry's own fields."""

    id: str
    body: str
    ts: int
    reply_to: str | None = None
    thread_root: str | None = None


# msgspec decodes only these five into a struct, in C: about 3 us an entry against 7 for
# the whole frame through msgpack.unpackb and a dict (bench/notes.md, the row "The Redis
# writer's small batches"); a writer parses every message once.
_read_stored = msgspec.msgpack.Decoder(_Stored).decode
_MALFORMED = (KeyError, ValueError, TypeError, msgspec.DecodeError)


def parse_entry(fields: dict[bytes, bytes]) -> NewMessage:
    """One commits-stream entry as a row; raises one of ``_MALFORMED`` if it is malformed
    (a field missing, not a message frame, a value of the wrong type)."""
    frame = _read_stored(fields[b"f"])
    return NewMessage(
        frame.id, fields[b"r"].decode(), int(fields[b"s"]), int(fields[b"a"]),
        fields[b"c"].decode(), frame.body, frame.reply_to, frame.ts, frame.thread_root,
    )


Entry = tuple[bytes, dict[bytes, bytes]]


@dataclass(slots=True)
class _Batch:
    """Entries read from the stream, parsed: rows in stream order (a room's seq order: the
    post script numbers and appends in one step), and the ones that could not be parsed (to
    be set aside). The insert orders by (room, seq) itself."""

    entries: list[Entry]
    rows: list[NewMessage] = field(default_factory=list)
    ids: list[bytes] = field(default_factory=list)  # the rows' entry ids, in the same order
    malformed: list[Entry] = field(default_factory=list)


def entries_of(reply: Any) -> list[Entry]:
    """The entries of a raw ``XREADGROUP`` reply of one stream (RESP2, as hiredis reads it:
    ``[[stream, [[id, [field, value, ...]], ...]]]``, or None when nothing came), their fields
    as a dict; an entry deleted while still pending (by hand, or by a trim) comes with no
    fields and is left out: there is nothing left of it to commit."""
    if not reply:
        return []
    out: list[Entry] = []
    for entry_id, flat in reply[0][1]:
        if flat:
            it = iter(flat)
            out.append((entry_id, dict(zip(it, it, strict=True))))
    return out


def parse_batch(entries: list[Entry]) -> _Batch:
    batch = _Batch(entries)
    for entry_id, fields in entries:
        try:
            batch.rows.append(parse_entry(fields))
        except _MALFORMED:
            batch.malformed.append((entry_id, fields))
            continue
        batch.ids.append(entry_id)
    return batch


GATHER_S = 0.05
# How often an empty stream is read again when the connection's reply deadline is too short
# for a blocking read (``RedisWriter._block_ms``).
POLL_S = 0.1


class RedisWriter:
    # The longest a batch may take on the held connection: one the network dropped silently
    # would otherwise hang the writer until TCP gives up (~15 min). Past it the connection is
    # dropped and the batch retried on a new one, as for any outage.
    STATEMENT_TIMEOUT_S = 30.0

    def __init__(
        self,
        redis: Redis,
        db: async_sessionmaker[AsyncSession],
        batch: int,
        claim_idle_s: float,
        consumer: str | None = None,
        gather_s: float = GATHER_S,
    ) -> None:
        self._redis = redis
        self._gather_s = gather_s
        self._db = db
        self._batch = batch
        self._claim_idle_ms = int(claim_idle_s * 1000)
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.committed = 0
        self._task: asyncio.Task[None] | None = None
        # PostgreSQL: one connection kept from batch to batch. A check-out from the pool
        # pings first (pool_pre_ping: BEGIN, a statement, ROLLBACK), which at small batches
        # (a busy gateway commits every GATHER_S) was half the writer's round trips. A held
        # connection that fails is dropped (invalidated) and the batch retried on a new one,
        # as for any outage: nothing is acknowledged before its commit.
        bind = db.kw.get("bind")
        self._engine = bind if bind is not None and bind.dialect.name == "postgresql" else None
        self._held: AsyncConnection | None = None
        # The reads and acknowledgements, once a batch each, go on connections of the
        # writer's own (hiredis, no pool): through redis-py they cost the gateway's loop
        # ~0.5 ms a batch, more than the batch's insert at a gateway's trickle (bench/notes.md,
        # the row "The transcript writer's reads and acknowledgements on a RedisPipe"). One
        # for each: with a backlog the next batch's read (megabytes) and this one's
        # acknowledgement travel at once, as they did on redis-py's pooled connections; on
        # one connection the writer committed a quarter fewer rows a second. A blocked
        # XREADGROUP holds only the reads'. The rare commands (the group, claims, the
        # dead-letter stream) stay on redis-py. Opened by ``run`` on its loop.
        self._address = Address.of(redis)
        self._pipe: RedisPipe | None = None
        self._acks: RedisPipe | None = None
        # Within the reply deadline, with room to spare: a read that blocks longer than the
        # connection waits for a reply would be taken for a Redis that stopped answering.
        # Redis ends a blocked read on its clock's tick (``hz`` 10: up to 100 ms late). A
        # deadline too short for that (``socket_timeout`` under ~0.35 s): no blocking read,
        # an empty stream is read again every POLL_S instead.
        block_ms = min(500, int((self._address.timeout_s - 0.15) * 1000 / 2))
        self._block_ms: int | None = block_ms if block_ms >= 100 else None

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="transcript-writer")

    async def stop(self) -> None:
        await stop_task(self._task)
        await self._drop_held(invalidate=False)

    async def _drop_held(self, invalidate: bool) -> None:
        held, self._held = self._held, None
        if held is None:
            return
        with contextlib.suppress(Exception):  # already broken: the pool forgets it either way
            if invalidate:
                await held.invalidate()
            await held.close()

    async def _ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(COMMITS_STREAM, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self) -> None:
        self._pipe = RedisPipe(self._address, at_once=True)
        self._acks = RedisPipe(self._address, at_once=True)
        try:
            await self._run()
        finally:
            pipe, self._pipe = self._pipe, None
            acks, self._acks = self._acks, None
            await pipe.close()
            await acks.close()

    def _line(self) -> RedisPipe:
        assert self._pipe is not None, "the writer's connection is opened by run()"
        return self._pipe

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            try:
                await self._ensure_group()
                # Our own pending entries first (we may have been restarted under this name).
                await self._drain_own_pending()
                await self._pump()
            except (RedisError, OSError) as exc:
                log.warning("writer: redis unreachable (%s); retrying", type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            except Exception:
                # Whatever it was, the entries stay pending and are read again: keep going.
                log.exception("writer: unexpected failure; retrying")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            else:
                backoff = 0.05

    async def _pump(self) -> None:
        """Read, commit, acknowledge, for ever. With a backlog the three overlap: the next
        batch is read and parsed while this one commits, and this one's acknowledgement
        travels while the next one commits (the database is another process or thread, so
        that is real parallelism). Nothing is acknowledged before its commit: a writer that
        dies with entries read ahead or unacknowledged leaves them pending, and they are
        committed again (a no-op) by whoever claims them."""
        loop = asyncio.get_running_loop()
        claim_every = max(self._claim_idle_ms / 1000 / 2, 0.5)
        next_claim = 0.0
        ahead: asyncio.Task[_Batch] | None = None
        acking: asyncio.Task[None] | None = None
        try:
            while True:
                if loop.time() >= next_claim:
                    await self._claim_abandoned()
                    next_claim = loop.time() + claim_every
                batch = await (ahead if ahead is not None else self._read())
                ahead = None
                if len(batch.entries) >= self._batch:
                    # A backlog: read on without blocking (if it ended with this batch,
                    # the next turn's read blocks as usual).
                    ahead = asyncio.create_task(self._read(block=False), name="transcript-writer-read")
                elif not batch.entries and self._block_ms is None:
                    await asyncio.sleep(POLL_S)
                if batch.entries:
                    # The read's reply was parsed in this loop turn (or, read ahead, in the
                    # task's own turn, where this yield costs one turn); the commit's
                    # encoding goes in the next. At a gateway's trickle (~25 rows) each is ~0.3 ms,
                    # and together they held the loop ~0.6 ms every GATHER_S, in which no
                    # member's message moved (bench/notes.md, "Small-room tails").
                    await asyncio.sleep(0)
                ids = await self._handle(batch)
                if acking is not None:
                    await acking  # at most one acknowledgement on its way
                acking = asyncio.create_task(self._acknowledge(ids), name="transcript-writer-ack")
                if 0 < len(batch.entries) < self._batch:
                    # A trickle: let more arrive, so that a busy room costs a commit per
                    # gather_s rather than one per message (members never wait for this:
                    # a message is acknowledged and delivered once Redis holds it).
                    await asyncio.sleep(self._gather_s)
        finally:
            try:
                if acking is not None and not acking.done():
                    # Let the last acknowledgement land (else its entries are committed
                    # again, harmlessly, by whoever claims them later).
                    await asyncio.wait({acking}, timeout=0.5)
            finally:
                await stop_task(ahead)
                await stop_task(acking)

    async def _read(self, block: bool = True) -> _Batch:
        """The next entries, parsed (read ahead, this overlaps the commit before them);
        ``block``: wait up to ``_block_ms`` for the first one if there is none yet."""
        waiting = ("BLOCK", self._block_ms) if block and self._block_ms is not None else ()
        reply = await self._line().execute(
            "XREADGROUP", "GROUP", GROUP, self.consumer, "COUNT", self._batch, *waiting,
            "STREAMS", COMMITS_STREAM, ">",
        )
        return parse_batch(entries_of(reply))

    async def _drain_own_pending(self) -> None:
        while True:
            reply = await self._line().execute(
                "XREADGROUP", "GROUP", GROUP, self.consumer, "COUNT", self._batch,
                "STREAMS", COMMITS_STREAM, "0",
            )
            entries = entries_of(reply)
            if not entries:
                return
            await self._acknowledge(await self._handle(parse_batch(entries)))

    async def _claim_abandoned(self) -> None:
        start = "0-0"
        while True:
            result: Any = await self._redis.xautoclaim(
                COMMITS_STREAM, GROUP, self.consumer, self._claim_idle_ms, start, count=self._batch
            )
            start, entries = result[0], [e for e in result[1] if e[1]]
            if entries:
                log.info("writer: took over %d entries left by another writer", len(entries))
                await self._acknowledge(await self._handle(parse_batch(entries)))
            if start in (b"0-0", "0-0"):
                return

    async def _handle(self, batch: _Batch) -> list[bytes]:
        """Commit the batch's rows. Returns the ids the caller must acknowledge; entries set
        aside, or committed one by one after a refused row, are acknowledged here."""
        for entry_id, fields in batch.malformed:
            await self._set_aside(entry_id, fields, "malformed entry")
        if not batch.rows:
            return []
        backoff = 0.05
        while True:
            try:
                await self._commit(batch.rows)
                return batch.ids
            except Exception as exc:
                if is_bad_row(exc):
                    await self._one_by_one(batch.entries, batch.rows, batch.ids)
                    return []
                log.warning("writer: database unavailable (%s); retrying", type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    async def _one_by_one(self, entries: list[Entry], rows: list[NewMessage], ids: list[bytes]) -> None:
        fields_by_id = dict(entries)
        by_row = {row.id: entry_id for row, entry_id in zip(rows, ids, strict=True)}
        for row in rows:
            entry_id = by_row[row.id]
            try:
                await self._commit([row])
            except Exception as exc:
                if not is_bad_row(exc):
                    raise  # an outage: leave the rest pending; it is retried or claimed
                await self._set_aside(entry_id, fields_by_id[entry_id], type(exc).__name__)
                continue
            await self._acknowledge([entry_id])

    async def _commit(self, rows: list[NewMessage]) -> None:
        if self._engine is None:
            async with self._db() as session:
                await transcripts.store(session, rows)
            return
        if self._held is None:
            self._held = await self._engine.connect()
        try:
            async with asyncio.timeout(self.STATEMENT_TIMEOUT_S):
                await transcripts.store_postgres(self._held, rows)
        except BaseException as exc:
            # The server refused a statement (a bad row) and the connection is open and out
            # of any transaction: it is fine, and the row-by-row retries that follow keep it.
            # Anything else (the server went away, a timeout, a cancelled COPY) leaves its
            # state unknown: a fresh one for the next attempt.
            if not await self._still_good(exc):
                await asyncio.shield(self._drop_held(invalidate=True))
            raise

    async def _still_good(self, exc: BaseException) -> bool:
        if not isinstance(exc, asyncpg.PostgresError) or self._held is None:
            return False
        try:
            pg = (await self._held.get_raw_connection()).driver_connection
        except Exception:
            return False
        return pg is not None and not pg.is_closed() and not pg.is_in_transaction()

    async def _acknowledge(self, ids: list[bytes]) -> None:
        """The entries are committed: they leave the queue (and count as committed)."""
        if not ids:
            return
        assert self._acks is not None
        await self._acks.transaction(
            [("XACK", COMMITS_STREAM, GROUP, *ids), ("XDEL", COMMITS_STREAM, *ids)]
        )
        self.committed += len(ids)

    async def _set_aside(self, entry_id: bytes, fields: dict[bytes, Any], why: str) -> None:
        log.error("writer: entry %s set aside: %s", entry_id.decode(), why)
        async with self._redis.pipeline(transaction=True) as pipe:
            dead: dict[Any, Any] = {**fields, b"why": why.encode(), b"entry": entry_id}
            pipe.xadd(DEAD_STREAM, dead)
            pipe.xack(COMMITS_STREAM, GROUP, entry_id)
            pipe.xdel(COMMITS_STREAM, entry_id)
            await pipe.execute()

    async def backlog(self) -> int:
        """Entries not yet committed (for readiness and benchmarks)."""
        return int(await self._redis.xlen(COMMITS_STREAM))
