"""The session scheduler against a real SQLite database and the in-process broker: one read per
step, and a change that cannot happen yet (the archive waiting for its transcript) tried
again less and less often, logged once, and carried out at once when woken.

``step`` is driven by hand on a ``Clock`` the test moves forward (both the wall clock the due
times are read against and the monotonic one of the holds' back-off), so no assertion
depends on how long anything really took on a loaded machine.

The broker's log is put ahead of the database with ``raise_head`` (what a restart restores
from): the state of a Redis deployment whose writer has not stored the last messages yet.
Statements are counted on the engine (``before_cursor_execute``), as the database sees them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.broker.memory import MemoryBroker
from chat_server.events.lifecycle import Lifecycle
from chat_server.transcripts.embedded import EmbeddedWriter
from persistence import sessions as store
from persistence import transcripts
from persistence.db import make_engine, session_factory
from persistence.event_models import EventSeries
from persistence.models import Organization, User
from persistence.transcripts import NewMessage
from support.procs import TIMEOUT_SCALE
from support.sqlite_db import migrated_sqlite

LOGGER = "chat_server.events.lifecycle"
WAITS = "waits for its transcript"


class Clock:
    """Wall and monotonic time that move only when the test says so."""

    def __init__(self) -> None:
        self.wall = datetime.now(UTC).replace(tzinfo=None)
        self.mono = 1000.0

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


@dataclass
class Rig:
    engine: AsyncEngine
    db: async_sessionmaker[AsyncSession]
    broker: MemoryBroker
    user_id: int
    statements: list[str] = field(default_factory=list)
    head_reads: int = 0
    heads_read: list[str] = field(default_factory=list)  # the room of each archive try
    clock: Clock = field(default_factory=Clock)

    async def broker_head(self, room: str) -> int:
        self.head_reads += 1
        self.heads_read.append(room)
        return (await self.broker.heads([room]))[room]

    def lifecycle(self, grace_s: float = 0.0, archive_after_s: float = 0.0) -> Lifecycle:
        return Lifecycle(self.db, self.broker, grace_s, archive_after_s, 30.0, self.broker_head,
                         self.clock.now, self.clock.monotonic)

    async def session(self, starts_at: datetime, ends_at: datetime, due_at: datetime) -> tuple[int, str]:
        """A one-off session (scheduled, due at ``due_at``); its id and live room."""
        async with self.db() as db:
            series = EventSeries(public_id=store.new_public_id(), community="lounge", kind="drop_in",
                                 title="Check-in", tz="UTC", lobby_minutes=0, created_by=self.user_id,
                                 created_ms=0)
            [occ] = await store.create(db, series, [self.user_id], [(naive(starts_at), naive(ends_at))],
                                       None, [naive(due_at)], 0)
            await db.commit()
            assert occ.id is not None
            return occ.id, occ.room

    async def public_id(self, occ_id: int) -> str:
        async with self.db() as db:
            from persistence.event_models import EventOccurrence

            row = await db.get(EventOccurrence, occ_id)
            assert row is not None
            return row.public_id

    async def poison(self, occ_id: int) -> None:
        """Make every move of the session fail in the database (its audit entry is refused),
        as a row this code cannot handle would: a real error, raised inside ``move``."""
        public_id = await self.public_id(occ_id)
        async with self.engine.begin() as conn:
            await conn.exec_driver_sql(
                f"CREATE TRIGGER poison_{occ_id} BEFORE INSERT ON audit_log "
                f"WHEN NEW.detail LIKE 'session {public_id}:%' BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
            )

    async def cure(self, occ_id: int) -> None:
        async with self.engine.begin() as conn:
            await conn.exec_driver_sql(f"DROP TRIGGER poison_{occ_id}")

    async def state(self, occ_id: int) -> str:
        async with self.db() as db:
            from persistence.event_models import EventOccurrence

            row = await db.get(EventOccurrence, occ_id)
            assert row is not None
            return row.state


def naive(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(tzinfo=None)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    url = await asyncio.to_thread(migrated_sqlite, tmp_path / "k.db")
    engine = make_engine(url)
    db = session_factory(engine)
    async with db() as s:
        org = Organization(slug="org", name="Org", key_digest="k" * 64, created_at=naive(datetime.now(UTC)))
        s.add(org)
        await s.flush()
        assert org.id is not None
        user = User(public_id="u" * 16, org_id=org.id, handle="host", handle_key="host",
                    email="host@example.org", password_hash="x", role="navigator",
                    created_at=naive(datetime.now(UTC)))
        s.add(user)
        await s.commit()
        assert user.id is not None
        user_id = user.id
    found = Rig(engine, db, MemoryBroker(100, EmbeddedWriter(db)), user_id)

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        found.statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    yield found
    await engine.dispose()


async def until(what: Callable[[], Awaitable[bool]], seconds: float, why: str) -> None:
    deadline = time.monotonic() + seconds * TIMEOUT_SCALE
    while not await what():
        assert time.monotonic() < deadline, why
        await asyncio.sleep(0.02)


async def test_a_step_reads_the_database_once(rig: Rig) -> None:
    """Nothing due: one statement gives both what is due (nothing) and when the next is."""
    now = rig.clock.now()
    await rig.session(now + timedelta(hours=2), now + timedelta(hours=3), now + timedelta(seconds=20))
    lifecycle = rig.lifecycle()
    assert await lifecycle.step() == 20.0  # sleeps until the next change is due
    rig.statements.clear()
    await lifecycle.step()
    assert len(rig.statements) == 1, rig.statements


async def test_an_archive_waiting_for_its_transcript_backs_off_and_goes_when_woken(
    rig: Rig, caplog: pytest.LogCaptureFixture,
) -> None:
    """A session missed entirely goes to ``ended``; its archive (due at once) waits for a
    transcript the database does not hold yet. It is tried again after 1 s, then 2 s (one
    look each, nothing in between), logged once; once the transcript is there, a wake-up
    naming it archives it at once, not after the next back-off (8 s away); one naming another
    session leaves its back-off alone."""
    now = rig.clock.now()
    occ_id, room = await rig.session(now - timedelta(hours=2), now - timedelta(hours=1), now - timedelta(hours=2))
    await rig.broker.raise_head(room, 3)  # three messages acknowledged, none stored yet
    lifecycle = rig.lifecycle()
    caplog.set_level(logging.INFO, logger=LOGGER)

    assert await lifecycle.step() == 0.0  # moved to ended: read again at once
    assert await rig.state(occ_id) == "ended"
    assert await lifecycle.step() == 1.0  # the archive tried once and held: again in 1 s
    assert rig.head_reads == 1
    rig.statements.clear()
    for wait_s, tries in [(1.0, 1), (2.0, 2), (4.0, 3)]:
        rig.clock.advance(wait_s - 0.001)
        assert await lifecycle.step() == pytest.approx(0.001)  # not yet: no look, one read
        assert rig.head_reads == tries
        rig.clock.advance(0.001)
        assert await lifecycle.step() == 2 * wait_s  # tried (one look), held twice as long
        assert rig.head_reads == tries + 1
    # Each step is one scheduler read; a try adds the due row's hosts and one transcript look.
    assert len(rig.statements) == 6 + 3 * 2, rig.statements
    assert len([r for r in caplog.records if WAITS in r.getMessage()]) == 1, "logged once, not once per try"
    assert await rig.state(occ_id) == "ended"

    async with rig.db() as db:
        await transcripts.store(db, [NewMessage(f"m{i}", room, i, rig.user_id, f"c{i}", "hi", None, 0)
                                     for i in (1, 2, 3)])
    lifecycle.wake("someone-else")  # a SessionChanged for another session (or our own move)
    assert await lifecycle.step() == 8.0  # its back-off stands: not tried
    assert rig.head_reads == 4
    lifecycle.wake(await rig.public_id(occ_id))  # what events/wiring.py does on one naming it
    assert await lifecycle.step() == 0.0  # not after the 8 s back-off: now
    assert await rig.state(occ_id) == "archived"
    waits = [r for r in caplog.records if WAITS in r.getMessage()]
    assert len(waits) == 1, [r.getMessage() for r in waits]


async def test_the_running_scheduler_carries_out_what_is_due(rig: Rig) -> None:
    """The same on its own task with the real clocks: started, it ends a missed session and
    archives it (nothing to wait for) without being stepped."""
    real = datetime.now(UTC)
    occ_id, _ = await rig.session(real - timedelta(hours=2), real - timedelta(hours=1), real - timedelta(hours=2))
    lifecycle = Lifecycle(rig.db, rig.broker, 0.0, 0.0, 30.0, rig.broker_head)
    lifecycle.start()
    try:
        async def archived() -> bool:
            return await rig.state(occ_id) == "archived"

        await until(archived, 10, "the scheduler never archived the missed session")
    finally:
        await lifecycle.stop()


async def test_one_session_that_cannot_move_does_not_stop_the_others(
    rig: Rig, caplog: pytest.LogCaptureFixture,
) -> None:
    """Two missed sessions; moving the earlier one fails in the database every time. The other
    still moves on the first step; the failing one is held (tried again after 1 s, then 2 s),
    logged once with its error, and moves once whatever failed is mended."""
    now = rig.clock.now()
    bad, _ = await rig.session(now - timedelta(hours=2), now - timedelta(hours=1), now - timedelta(hours=2))
    good, _ = await rig.session(now - timedelta(hours=2), now - timedelta(hours=1), now - timedelta(hours=1))
    await rig.poison(bad)
    lifecycle = rig.lifecycle()
    caplog.set_level(logging.INFO, logger=LOGGER)

    assert await lifecycle.step() == 0.0  # the good one moved: read again at once
    assert await rig.state(good) == "ended" and await rig.state(bad) == "scheduled"
    await lifecycle.step()  # the good one's archive
    assert await rig.state(good) == "archived"
    assert await lifecycle.step() == 1.0  # nothing else due; the bad one held for 1 s
    rig.clock.advance(1.0)
    assert await lifecycle.step() == 2.0  # tried again, failed again: held twice as long
    failures = [r for r in caplog.records if "could not move" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None, "logged once, with the error"

    await rig.cure(bad)
    rig.clock.advance(2.0)
    assert await lifecycle.step() == 0.0
    assert await rig.state(bad) == "ended"


async def test_wake_ups_for_other_sessions_leave_a_hold_alone(rig: Rig) -> None:
    """Two held sessions: the moves of a busy schedule (each echoed back as a SessionChanged
    naming the session moved) never try a held session early; only one naming it does."""
    now = rig.clock.now()
    held, _ = await rig.session(now - timedelta(minutes=5), now + timedelta(hours=1), now - timedelta(minutes=5))
    await rig.poison(held)
    lifecycle = rig.lifecycle()
    assert await lifecycle.step() == 1.0
    rig.clock.advance(1.0)
    assert await lifecycle.step() == 2.0  # held for 2 s now
    busy = [await rig.session(now + timedelta(seconds=i), now + timedelta(hours=1), now + timedelta(seconds=i))
            for i in (1, 2)]
    rig.statements.clear()
    for busy_id, _ in busy:
        rig.clock.advance(0.5)
        lifecycle.wake(await rig.public_id(busy_id))  # created elsewhere, then moved here and echoed
        assert await lifecycle.step() == 0.0
        assert await rig.state(busy_id) == "live"
        lifecycle.wake(await rig.public_id(busy_id))  # our own move, echoed back
        await lifecycle.step()
    audits = [q for q in rig.statements if q.startswith("INSERT INTO audit_log")]
    assert len(audits) == 2, "the held session was tried again early"  # the two busy moves only
    assert await lifecycle.step() == pytest.approx(1.0)  # 2 s held, 1 s gone by
    lifecycle.wake(await rig.public_id(held))
    rig.statements.clear()
    await lifecycle.step()
    assert any(q.startswith("INSERT INTO audit_log") for q in rig.statements), "named, it is tried at once"
    assert await rig.state(held) == "scheduled"


async def test_a_held_session_moved_elsewhere_is_waited_for_without_its_wake_up(rig: Rig) -> None:
    """A session held here (its move failed) is moved by another gateway, to a state due again
    in 3 s; that gateway's wake-up is lost. The read still sees when it is next due, so the
    scheduler sleeps 3 s, not the 8 s left of its hold, and then moves it (the hold was made
    in the state it has left)."""
    now = rig.clock.now()
    # It ends 10 s from now: 3 s after the last of the tries below (at 0, 1, 3 and 7 s).
    occ_id, _ = await rig.session(now - timedelta(minutes=5), now + timedelta(seconds=10), now - timedelta(minutes=5))
    await rig.poison(occ_id)
    here = rig.lifecycle()
    assert await here.step() == 1.0
    for held_s in (2.0, 4.0, 8.0):
        rig.clock.advance(held_s / 2)
        assert await here.step() == held_s
    await rig.cure(occ_id)
    elsewhere = rig.lifecycle()
    assert await elsewhere.step() == 0.0  # another gateway moves it: live, ending in 3 s
    assert await rig.state(occ_id) == "live"
    # No wake-up reaches ``here``.
    assert await here.step() == 3.0
    rig.clock.advance(3.0)
    assert await here.step() == 0.0
    assert await rig.state(occ_id) == "ended"
