"""State changes of sessions, carried out exactly once across gateways, and told to everyone.

``Lifecycle.move`` is the one way a session changes state, whether a host asks or the clock
says so: a conditional UPDATE in the database (only the gateway whose UPDATE changed the row
goes on), the audit entry and the members' notifications in the same transaction, then a
control message on the broker so that every gateway pushes ``event_state`` to the session's
room and to the signed-up members' open connections.

Every gateway runs the scheduler (``_run``): one read gives the sessions whose next timed
change is due and when the next one after them is (``due_and_next``); it moves the due ones
and sleeps until the next (reading again at once if it moved any). Any change to
a session's times or state (created, edited, moved, on any gateway) sends ``SessionChanged``
on the control channel, which wakes every gateway's scheduler (``wake``) to read again; a long
safety tick (``tick_s``, KINDRED_EVENT_TICK_S) bounds the sleep in case a wake-up was lost
(the broker down for a moment). Several gateways reading the same row race on the UPDATE;
one wins, the others change nothing and send nothing.

A change that is due but cannot be carried out yet (the archive waiting for its transcript, or
any error moving that one session) is held (``holds.py``): tried again after 1 s, doubling up
to 30 s, logged once per state, and tried at once when a ``SessionChanged`` names it (a host or
another gateway changed it). The clock's archive looks at the transcript once and holds; only
a host's request waits for it (bounded), so one stuck archive never delays the others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.aio import stop_task, wait_at_most
from chat_server.broker.base import Broker
from chat_server.events.holds import Holds
from chat_server.events.views import aware, state_frame
from chat_server.protocol import control
from chat_server.protocol.control import SessionChanged
from chat_server.retry import until_done
from persistence import moderation as audit_store
from persistence import notifications, room_facts
from persistence import sessions as store
from persistence.sessions import Occurrence
from rooms.errors import Unavailable
from rooms.sessions import State, Timing, due, next_due

log = logging.getLogger(__name__)

_TRANSCRIPT_WAIT_S = 10.0  # a host's archive request waits this long for the transcript
RETRY_S = 1.0  # after a failed read; a session whose change cannot happen yet is held instead
_BATCH = 100  # sessions moved per read; a full batch is followed by another read at once
_NOTICE = {
    State.LOBBY: ("lobby_open", "The lobby of “{title}” is open: come in and say hello."),
    State.CANCELLED: ("cancelled", "“{title}” on {date} was cancelled."),
}


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Lifecycle:
    def __init__(
        self, db: async_sessionmaker[AsyncSession], broker: Broker, grace_s: float,
        archive_after_s: float, tick_s: float, broker_head: Callable[[str], Awaitable[int]],
        clock: Callable[[], datetime] = utcnow, monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock`` is the wall clock the due times are read against (naive UTC);
        ``monotonic`` the clock the holds' back-off runs on (seconds). Both are injected so
        that tests drive ``step`` through time without waiting for it."""
        self._db = db
        self._broker = broker
        self._grace = timedelta(seconds=grace_s)
        self._archive_after = timedelta(seconds=archive_after_s)
        self._tick_s = tick_s
        self._broker_head = broker_head
        self._clock = clock
        self._monotonic = monotonic
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._holds = Holds()
        self._retries: set[asyncio.Task[None]] = set()

    def timing(self, occ: Occurrence) -> Timing:
        return Timing(
            aware(occ.row.starts_at), aware(occ.row.ends_at), occ.series.lobby_minutes,
            self._grace, self._archive_after,
        )

    def next_due(self, occ: Occurrence, state: State, ended_at: datetime | None) -> datetime | None:
        at = next_due(state, self.timing(occ), None if ended_at is None else aware(ended_at))
        return None if at is None else at.astimezone(UTC).replace(tzinfo=None)

    # -- the one way to change state ---------------------------------------------------------

    async def move(
        self, occ: Occurrence, target: State, actor_db_id: int, by_clock: bool, reason: str | None = None,
    ) -> bool:
        """Move ``occ`` from the state it was read in to ``target``; False if another gateway
        (or request) changed it first. Raises ``Unavailable`` when the archive is asked for
        before the transcript is complete in the database (a host's request waits for it up
        to ``_TRANSCRIPT_WAIT_S``; the clock looks once and tries again later)."""
        wait_s = 0.0 if by_clock else _TRANSCRIPT_WAIT_S
        if target is State.ARCHIVED and not await self._transcript_complete(occ.row.room, wait_s):
            raise Unavailable("the transcript is still being written; try again in a moment")
        now = self._clock()
        now_ms = int(now.replace(tzinfo=UTC).timestamp() * 1000)
        ended_at = now if target is State.ENDED else occ.row.ended_at
        due_at = self.next_due(occ, target, ended_at)
        async with self._db() as db:
            if not await store.change_state(
                db, occ.row.id or 0, occ.state, target, due_at,
                now if target is State.ENDED else None, now_ms, reason,
            ):
                await db.rollback()
                return False
            how = "by the clock" if by_clock else "by a host"
            await audit_store.audit(
                db, now_ms, actor_db_id, f"event_{target.value}", occ.series.community,
                reason=reason or "", detail=f"session {occ.row.public_id}: {occ.state.value} -> {target.value} {how}",
            )
            people = await store.signed_up(db, occ.row.id or 0)
            notice = _NOTICE.get(target)
            notify_to: list[str] = []
            if notice is not None:
                kind, text = notice
                told = people if target is State.CANCELLED else await store.signed_up(db, occ.row.id or 0, "in")
                text = text.format(title=occ.series.title, date=aware(occ.row.starts_at).date().isoformat())
                added = {uid for uid, _ in await notifications.add(
                    db, [m.db_id for m in told], kind, occ.row.public_id, text, now_ms,
                    f"{kind}:{occ.row.public_id}",
                )}
                notify_to = [m.id for m in told if m.db_id in added]
            await db.commit()
        frame = state_frame(occ, target).wire()
        to = sorted({m.id for m in people} | set(occ.host_ids))
        message = SessionChanged(occ.row.room, frame, to, session=occ.row.public_id)
        if notify_to and notice is not None:
            # Only to those whose row was stored now: a member who muted the kind hears nothing.
            message = SessionChanged(occ.row.room, frame, to,
                                     {"kind": notice[0], "event": occ.row.public_id, "text": text}, notify_to,
                                     occ.row.public_id)
        await self.publish(message)
        return True

    async def publish(self, message: SessionChanged) -> None:
        """Tell every gateway; retried in the background if the broker is down for a moment
        (the change is committed: the members must hear of it)."""
        payload = control.encode(message)
        try:
            await self._broker.publish_control(payload)
        except Unavailable:
            task = asyncio.create_task(
                until_done(lambda: self._broker.publish_control(payload), Unavailable),
                name="event-publish-retry",
            )
            self._retries.add(task)
            task.add_done_callback(self._retries.discard)

    async def _transcript_complete(self, room: str, wait_s: float) -> bool:
        """In Redis mode an ack means Redis has the message and a writer stores it shortly
        after: the archive waits (up to ``wait_s``) until the database holds everything
        acknowledged."""
        try:
            head = await self._broker_head(room)
        except Unavailable:
            return False
        # A real wait on real sleeps (a host's request), so real time, not the holds' clock.
        deadline = time.monotonic() + wait_s
        while True:
            async with self._db() as db:
                if await room_facts.stored_head(await db.connection(), room) >= head:
                    return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.1)

    # -- the scheduler -----------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-scheduler")

    async def stop(self) -> None:
        for task in [self._task, *self._retries]:
            await stop_task(task)

    def wake(self, session: str | None = None) -> None:
        """A session changed (on any gateway): read what is due, and when, again now. Only
        the session named (its public id) is tried again at once if it is held: a change to
        another one (this gateway's own moves, echoed back, included) cannot have mended it."""
        if session is not None:
            self._holds.wake(session)
        self._wake.set()

    def wake_all(self) -> None:
        """A wake-up may have been missed (the control channel resubscribed): read again and
        try every held session once."""
        self._holds.wake_all()
        self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()  # a wake-up during the read below reads again after it
            try:
                delay = await self.step()
            except Exception:
                log.exception("session scheduler tick failed")
                delay = min(RETRY_S, self._tick_s)
            if delay > 0:
                await wait_at_most(self._wake.wait(), delay)

    async def step(self) -> float:
        """Carry out what is due now (one read); return how long to sleep before the next
        change is due or a held one may be tried again (at most ``tick_s``; 0 when it moved
        something or read a full batch: due times changed, read again at once)."""
        now = self._clock()
        skip = self._holds.waiting_states(self._monotonic())
        async with self._db() as db:
            work, later = await store.due_and_next(db, now, _BATCH, skip)
        if len(work) < _BATCH:
            self._holds.keep_only([*skip, *(occ.row.id or 0 for occ in work)])
        done = await self._carry_out(work, now)
        if done or len(work) >= _BATCH:
            return 0.0
        wait_s = self._tick_s
        if later is not None:
            wait_s = min(wait_s, max(0.0, (later - now).total_seconds()))
        held = self._holds.next_try_in(self._monotonic())
        if held is not None:
            wait_s = min(wait_s, held)
        return wait_s

    async def _carry_out(self, work: list[Occurrence], now: datetime) -> int:
        """Move each due session where the clock says, unless it is held; returns how many
        this gateway moved."""
        done = 0
        for occ in work:
            occ_id, state = occ.row.id or 0, occ.row.state
            if self._holds.waiting(occ_id, state, self._monotonic()):
                continue
            target = due(occ.state, self.timing(occ), None if occ.row.ended_at is None else aware(occ.row.ended_at),
                         now.replace(tzinfo=UTC))
            try:
                if target is not None and await self.move(occ, target, occ.series.created_by, by_clock=True):
                    done += 1
                    self._holds.release(occ_id)
                    continue
            except Unavailable:
                # Logged once per state; tried again after 1 s, 2 s, 4 s... up to 30 s.
                if self._holds.hold(occ_id, state, self._monotonic(), occ.row.public_id):
                    log.info("session %s: archive waits for its transcript; trying again, less often",
                             occ.row.public_id)
                continue
            except Exception:
                # Anything else (the audit, a notification, a read failing for this one row):
                # held the same way, so that one session that cannot move never stops the
                # others, which would otherwise wait behind it on every read, earliest first.
                if self._holds.hold(occ_id, state, self._monotonic(), occ.row.public_id):
                    log.exception("session %s: could not move from %s; trying again, less often",
                                  occ.row.public_id, state)
                continue
            # target None: its due time and the rules disagree (a clock step); hold it rather
            # than spin. Else another gateway (or a host) moved it first: its wake-up reads again.
            if target is None and self._holds.hold(occ_id, state, self._monotonic(), occ.row.public_id):
                log.info("session %s: due in %s, but nothing to do yet", occ.row.public_id, state)
        return done
