"""Queries for scheduled sessions: series and occurrences, sign-ups, state changes.

Every state change is a conditional UPDATE (``WHERE id = ? AND state = <read>``): with several
gateways running the same scheduler, exactly one of them changes a row; the others see no row
changed and do nothing (no frame, no notification, no audit entry twice).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, not_, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.accounts import to_member
from persistence.event_models import EventHost, EventOccurrence, EventSeries, EventSignup
from persistence.models import Community, User
from rooms.model import Member
from rooms.sessions import OPEN_STATES, ROOM_PREFIX, Signup, State


def new_public_id() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One date of a session with its series' fields, as the service works with it."""

    series: EventSeries
    row: EventOccurrence
    hosts: list[Member] = field(default_factory=list)

    @property
    def state(self) -> State:
        return State(self.row.state)

    @property
    def host_ids(self) -> list[str]:
        return [h.id for h in self.hosts]


async def create(
    db: AsyncSession, series: EventSeries, host_ids: Sequence[int], dates: Sequence[tuple[datetime, datetime]],
    org_id: int | None, due: Sequence[datetime | None], now_ms: int,
) -> list[EventOccurrence]:
    """Store a series, its hosts and its occurrences, each with its live room (a community
    row of kind ``event``, so joining, history, search and moderation treat it as a room).
    Not committed: the caller adds its audit entry to the same transaction."""
    db.add(series)
    await db.flush()
    assert series.id is not None
    for uid in dict.fromkeys(host_ids):
        db.add(EventHost(series_id=series.id, user_id=uid))
    made: list[EventOccurrence] = []
    for (start, end), due_at in zip(dates, due, strict=True):
        public_id = new_public_id()
        room = f"{ROOM_PREFIX}{public_id}"
        db.add(Community(slug=room, name=series.title, kind="event", description="", org_id=org_id))
        occ = EventOccurrence(
            public_id=public_id, series_id=series.id, room=room, original_start=start,
            starts_at=start, ends_at=end, state=State.SCHEDULED.value, due_at=due_at,
            updated_ms=now_ms,
        )
        db.add(occ)
        made.append(occ)
    await db.flush()
    return made


async def _hosts(db: AsyncSession, series_ids: set[int]) -> dict[int, list[Member]]:
    if not series_ids:
        return {}
    query = (
        select(EventHost.series_id, User)
        .join(User, col(User.id) == col(EventHost.user_id))
        .where(col(EventHost.series_id).in_(series_ids))
        .order_by(col(User.handle))
    )
    out: dict[int, list[Member]] = {}
    for sid, user in (await db.exec(query)).all():
        out.setdefault(sid, []).append(to_member(user))
    return out


async def _with_hosts(db: AsyncSession, rows: Sequence[tuple[EventOccurrence, EventSeries]]) -> list[Occurrence]:
    hosts = await _hosts(db, {s.id for _, s in rows if s.id is not None})
    return [Occurrence(s, o, hosts.get(s.id or 0, [])) for o, s in rows]


def _joined() -> object:
    return select(EventOccurrence, EventSeries).join(
        EventSeries, col(EventSeries.id) == col(EventOccurrence.series_id)
    )


async def get(db: AsyncSession, public_id: str) -> Occurrence | None:
    query = _joined().where(EventOccurrence.public_id == public_id)  # type: ignore[attr-defined]
    rows = (await db.exec(query)).all()
    found = await _with_hosts(db, rows)
    return found[0] if found else None


async def by_room(db: AsyncSession, room: str) -> Occurrence | None:
    query = _joined().where(EventOccurrence.room == room)  # type: ignore[attr-defined]
    found = await _with_hosts(db, (await db.exec(query)).all())
    return found[0] if found else None


async def of_series(db: AsyncSession, series_id: int) -> list[EventOccurrence]:
    query = select(EventOccurrence).where(EventOccurrence.series_id == series_id).order_by(
        col(EventOccurrence.starts_at)
    )
    return list((await db.exec(query)).all())


async def listing(
    db: AsyncSession, rooms: Sequence[str], start: datetime | None, end: datetime | None,
    kind: str | None, after: tuple[datetime, int] | None, limit: int,
) -> list[Occurrence]:
    """Occurrences in ``rooms`` (the communities a member sees), by start, after a cursor."""
    query = _joined().where(col(EventSeries.community).in_(rooms))  # type: ignore[attr-defined]
    if start is not None:
        query = query.where(col(EventOccurrence.ends_at) > start)
    if end is not None:
        query = query.where(col(EventOccurrence.starts_at) < end)
    if kind is not None:
        query = query.where(EventSeries.kind == kind)
    if after is not None:
        at, oid = after
        query = query.where(
            (col(EventOccurrence.starts_at) > at)
            | ((col(EventOccurrence.starts_at) == at) & (col(EventOccurrence.id) > oid))
        )
    query = query.order_by(col(EventOccurrence.starts_at), col(EventOccurrence.id)).limit(limit)
    return await _with_hosts(db, (await db.exec(query)).all())


async def mine(db: AsyncSession, user_db_id: int, now: datetime, limit: int) -> list[tuple[Occurrence, str]]:
    """The occurrences a member signed up for or hosts, with their sign-up status ("host"
    for hosts): upcoming first (by start), then past ones (newest first)."""
    signed = select(EventSignup.event_id, EventSignup.status).where(EventSignup.user_id == user_db_id)
    status = {eid: st for eid, st in (await db.exec(signed)).all()}
    hosted = select(EventHost.series_id).where(EventHost.user_id == user_db_id)
    query = _joined().where(  # type: ignore[attr-defined]
        col(EventOccurrence.id).in_(list(status)) | col(EventOccurrence.series_id).in_(hosted)
    )
    found = await _with_hosts(db, (await db.exec(query)).all())
    upcoming = sorted((o for o in found if o.row.ends_at > now), key=lambda o: o.row.starts_at)
    past = sorted((o for o in found if o.row.ends_at <= now), key=lambda o: o.row.starts_at, reverse=True)
    return [(o, status.get(o.row.id or 0, "host")) for o in [*upcoming, *past][:limit]]


# -- sign-ups -------------------------------------------------------------------------------


async def lock(db: AsyncSession, occ: EventOccurrence) -> None:
    """Take the occurrence's write lock for this transaction (PostgreSQL: its row; SQLite: the
    database), so counting places and adding a sign-up cannot interleave with another's."""
    await db.exec(
        update(EventOccurrence).where(col(EventOccurrence.id) == occ.id)
        .values(updated_ms=EventOccurrence.updated_ms)
    )


async def signup_of(db: AsyncSession, event_id: int, user_db_id: int) -> EventSignup | None:
    query = select(EventSignup).where(EventSignup.event_id == event_id, EventSignup.user_id == user_db_id)
    return (await db.exec(query)).first()


async def counts(db: AsyncSession, event_id: int) -> dict[str, int]:
    query = select(EventSignup.status, func.count()).where(EventSignup.event_id == event_id).group_by(
        col(EventSignup.status)
    )
    found = {str(s): int(n) for s, n in (await db.exec(query)).all()}
    return {"in": found.get(Signup.IN.value, 0), "waiting": found.get(Signup.WAITING.value, 0)}


async def waiting(db: AsyncSession, event_id: int) -> list[EventSignup]:
    query = select(EventSignup).where(
        EventSignup.event_id == event_id, EventSignup.status == Signup.WAITING.value
    ).order_by(col(EventSignup.id))
    return list((await db.exec(query)).all())


async def signed_up(db: AsyncSession, event_id: int, status: str | None = None) -> list[Member]:
    """The members signed up (``status`` None: in and waiting), in order of arrival."""
    query = select(User).join(EventSignup, col(EventSignup.user_id) == col(User.id)).where(
        EventSignup.event_id == event_id
    )
    if status is not None:
        query = query.where(EventSignup.status == status)
    return [to_member(u) for u in (await db.exec(query.order_by(col(EventSignup.id)))).all()]


# -- state ----------------------------------------------------------------------------------


async def change_state(
    db: AsyncSession, occ_id: int, expected: State, target: State, due_at: datetime | None,
    ended_at: datetime | None, now_ms: int, reason: str | None = None,
) -> bool:
    """Move the occurrence from ``expected`` to ``target`` if it is still ``expected``; True
    when this call did it. Not committed (the audit entry joins the transaction)."""
    values: dict[str, object] = {"state": target.value, "due_at": due_at, "updated_ms": now_ms}
    if ended_at is not None:
        values["ended_at"] = ended_at
    if reason is not None:
        values["cancel_reason"] = reason
    result = await db.exec(
        update(EventOccurrence)
        .where(col(EventOccurrence.id) == occ_id, col(EventOccurrence.state) == expected.value)
        .values(**values)
    )
    return bool(result.rowcount == 1)


async def due_and_next(
    db: AsyncSession, now: datetime, limit: int = 100, skip: Mapping[int, str] | None = None,
) -> tuple[list[Occurrence], datetime | None]:
    """The scheduler's one read: the open occurrences whose next timed change is due at
    ``now`` (at most ``limit``, earliest first, none of the held ones in ``skip`` while they
    are still in the state each was held in), and when the first one after ``now`` is due
    (None if none is; ``skip`` does not hide it: a held session moved elsewhere to a later
    due time is waited for, even if that move's wake-up was lost). One statement on the
    ``due_at`` index: the due rows and the earliest later one (``id =`` a subquery); hosts
    are read only for due rows."""
    open_states = [s.value for s in OPEN_STATES]
    first_later = (
        select(EventOccurrence.id)
        .where(col(EventOccurrence.due_at) > now, col(EventOccurrence.state).in_(open_states))
        .order_by(col(EventOccurrence.due_at)).limit(1)
        .scalar_subquery()
    )
    is_due = col(EventOccurrence.due_at) <= now
    if skip:
        by_state: dict[str, list[int]] = {}
        for occ_id, state in skip.items():
            by_state.setdefault(state, []).append(occ_id)
        held = or_(*(and_(col(EventOccurrence.state) == state, col(EventOccurrence.id).in_(ids))
                     for state, ids in by_state.items()))
        is_due = and_(is_due, not_(held))
    query = _joined().where(  # type: ignore[attr-defined]
        col(EventOccurrence.state).in_(open_states),
        is_due | (col(EventOccurrence.id) == first_later),
    )
    query = query.order_by(col(EventOccurrence.due_at)).limit(limit + 1)
    rows = (await db.exec(query)).all()
    due = [(o, s) for o, s in rows if o.due_at is not None and o.due_at <= now][:limit]
    later = next((o.due_at for o, _ in rows if o.due_at is not None and o.due_at > now), None)
    return await _with_hosts(db, due) if due else [], later


async def set_hosts(db: AsyncSession, series_id: int, user_ids: Sequence[int]) -> None:
    """Replace the series' hosts. Not committed."""
    from sqlmodel import delete

    await db.exec(delete(EventHost).where(col(EventHost.series_id) == series_id))
    for uid in dict.fromkeys(user_ids):
        db.add(EventHost(series_id=series_id, user_id=uid))
