"""Scheduling, editing, signing up for and running sessions: what the HTTP API calls.

Rules come from the domain (``rooms.sessions``, ``rooms.schedule``); refusals are
``RoomError``s, mapped to HTTP statuses by ``chat_server/api/sessions.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.events.lifecycle import Lifecycle, utcnow
from chat_server.events.views import aware, event_view, state_frame
from chat_server.protocol.control import SessionChanged
from persistence import communities, notifications
from persistence import moderation as audit_store
from persistence import sessions as store
from persistence.event_models import EventOccurrence, EventSeries, EventSignup
from persistence.sessions import Occurrence
from rooms.access import can_see
from rooms.errors import NoSuchMember, NotFound
from rooms.model import Community, Member
from rooms.moderation import NOT_STAFF, Forbidden
from rooms.schedule import MAX_HOSTS, Fields, check, clean_text, expand, video_host
from rooms.sessions import (
    AudienceMode,
    EventClosed,
    InvalidEvent,
    Kind,
    NotHost,
    Signup,
    State,
    check_signup,
    check_transition,
    may_host,
    may_schedule,
    place,
    promotions,
    runs_it,
)


@dataclass(frozen=True, slots=True)
class Caller:
    member: Member
    assigned: frozenset[str]  # national rooms they are staff of


def _ms(now: datetime) -> int:
    return int(now.replace(tzinfo=UTC).timestamp() * 1000)


class Events:
    def __init__(
        self, db: async_sessionmaker[AsyncSession], lifecycle: Lifecycle, embed_hosts: tuple[str, ...],
    ) -> None:
        self._db = db
        self.lifecycle = lifecycle
        self._embed = embed_hosts

    # -- reading -----------------------------------------------------------------------------

    async def _visible(self, db: AsyncSession, who: Caller, public_id: str) -> tuple[Occurrence, Community]:
        occ = await store.get(db, public_id)
        community = None if occ is None else await communities.by_slug(db, occ.series.community)
        if occ is None or community is None or not can_see(who.member, community):
            raise NotFound("no such session")
        return occ, community

    async def _view(self, db: AsyncSession, who: Caller, occ: Occurrence, community: Community) -> dict[str, Any]:
        mine = await store.signup_of(db, occ.row.id or 0, who.member.db_id)
        runs = runs_it(who.member, occ.host_ids, community, who.assigned)
        view = event_view(occ, await store.counts(db, occ.row.id or 0), mine.status if mine else None,
                          runs, self._embed)
        if runs:  # hosts see who is in and who waits (handles only, as in the room)
            view["signups"] = {
                "in": [m.public() for m in await store.signed_up(db, occ.row.id or 0, Signup.IN.value)],
                "waiting": [m.public() for m in await store.signed_up(db, occ.row.id or 0, Signup.WAITING.value)],
            }
        return view

    async def get(self, who: Caller, public_id: str) -> dict[str, Any]:
        async with self._db() as db:
            occ, community = await self._visible(db, who, public_id)
            return await self._view(db, who, occ, community)

    async def listing(
        self, who: Caller, start: datetime | None, end: datetime | None, room: str | None,
        kind: str | None, after: tuple[datetime, int] | None, limit: int,
    ) -> tuple[list[dict[str, Any]], tuple[datetime, int] | None]:
        async with self._db() as db:
            rooms = [c.slug for c in await communities.visible_to(db, who.member) if c.kind != "event"]
            if room is not None:
                if room not in rooms:
                    raise NotFound("no such community")
                rooms = [room]
            found = await store.listing(db, rooms, start, end, kind, after, limit + 1)
            by_slug = {c.slug: c for c in await communities.visible_to(db, who.member)}
            views = [await self._view(db, who, o, by_slug[o.series.community]) for o in found[:limit]]
        last = found[limit - 1].row if len(found) > limit else None
        return views, None if last is None else (last.starts_at, last.id or 0)

    async def mine(self, who: Caller, limit: int) -> list[dict[str, Any]]:
        async with self._db() as db:
            found = await store.mine(db, who.member.db_id, utcnow(), limit)
            by_slug = {c.slug: c for c in await communities.visible_to(db, who.member)}
            return [await self._view(db, who, o, by_slug[o.series.community])
                    for o, _ in found if o.series.community in by_slug]

    # -- scheduling and editing --------------------------------------------------------------

    async def _hosts(self, db: AsyncSession, ids: Sequence[str], community: Community) -> list[Member]:
        if not 1 <= len(ids) <= MAX_HOSTS:
            raise InvalidEvent(f"hosts: 1 to {MAX_HOSTS} staff members")
        hosts = []
        for public_id in dict.fromkeys(ids):
            found = await audit_store.member_by_public_id(db, public_id)
            if found is None:
                raise NoSuchMember(f"hosts: no member {public_id[:24]!r}")
            if not may_host(found, community):
                raise InvalidEvent(f"hosts: {found.handle} cannot host here (staff of this community only)")
            hosts.append(found)
        return hosts

    async def create(self, who: Caller, room: str, fields: Fields, host_ids: Sequence[str] | None) -> dict[str, Any]:
        now = utcnow()
        async with self._db() as db:
            community = await communities.by_slug(db, room)
            if community is None or community.kind == "event" or not can_see(who.member, community):
                raise NotFound("no such community")
            if not may_schedule(who.member, community, who.assigned):
                raise Forbidden(NOT_STAFF)
            fields = check(fields, now.replace(tzinfo=UTC))
            hosts = await self._hosts(db, host_ids or [who.member.id], community)
            duration = fields.ends_at - fields.starts_at
            starts = expand(fields.recurrence, fields.starts_at, fields.tz)
            dates = [(s.replace(tzinfo=None), (s + duration).replace(tzinfo=None)) for s in starts]
            series = EventSeries(
                public_id=store.new_public_id(), community=room, kind=fields.kind.value,
                title=fields.title, description=fields.description, tz=fields.tz,
                capacity=fields.capacity, recurrence=fields.recurrence,
                lobby_minutes=fields.lobby_minutes, audience_mode=fields.audience_mode.value,
                video_url=fields.video_url, created_by=who.member.db_id, created_ms=_ms(now),
            )
            occs = await store.create(
                db, series, [h.db_id for h in hosts], dates, community.org_id,
                [self._due(series, s, e) for s, e in dates], _ms(now),
            )
            await audit_store.audit(
                db, _ms(now), who.member.db_id, "event_schedule", room,
                detail=f"session {occs[0].public_id}: {fields.kind.value}, {len(occs)} date(s)",
            )
            await db.commit()
            first = await store.get(db, occs[0].public_id)
            assert first is not None
            view = await self._view(db, who, first, community)
        view["occurrences"] = [{"id": o.public_id, "starts_at": aware(o.starts_at).isoformat()} for o in occs]
        # Nothing to show anyone yet, but every gateway's scheduler reads when it is next due.
        await self.lifecycle.publish(SessionChanged(None, None, []))
        return view

    def _due(self, series: EventSeries, start: datetime, end: datetime) -> datetime | None:
        occ = Occurrence(series, EventOccurrence(
            public_id="", series_id=0, room="", original_start=start, starts_at=start, ends_at=end,
            updated_ms=0,
        ))
        return self.lifecycle.next_due(occ, State.SCHEDULED, None)

    async def _running(self, db: AsyncSession, who: Caller, public_id: str) -> tuple[Occurrence, Community]:
        occ, community = await self._visible(db, who, public_id)
        if not runs_it(who.member, occ.host_ids, community, who.assigned):
            raise NotHost()
        return occ, community

    async def patch(self, who: Caller, public_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Edit a session. Times move this occurrence only (while it has not started);
        everything else is the series' and applies to all its dates."""
        now = utcnow()
        async with self._db() as db:
            occ, community = await self._running(db, who, public_id)
            series, row = occ.series, occ.row
            if "starts_at" in changes or "ends_at" in changes:
                if occ.state not in (State.SCHEDULED, State.LOBBY):
                    raise EventClosed(f"a {occ.state.value} session cannot be moved", occ.state)
                moved = check(Fields(
                    Kind(series.kind), series.title, series.description,
                    changes.get("starts_at") or aware(row.starts_at), changes.get("ends_at") or aware(row.ends_at),
                    series.tz, None, None, series.lobby_minutes, AudienceMode(series.audience_mode), None,
                ), now.replace(tzinfo=UTC))
                row.starts_at = moved.starts_at.replace(tzinfo=None)
                row.ends_at = moved.ends_at.replace(tzinfo=None)
            if "title" in changes:
                series.title = clean_text(changes["title"], "title", 120, True)
            if "description" in changes:
                series.description = clean_text(changes["description"], "description", 4000, False)
            if "capacity" in changes:
                capacity = changes["capacity"]
                if capacity is not None and not 1 <= capacity <= 100_000:
                    raise InvalidEvent("capacity: 1 to 100000, or null for no limit")
                series.capacity = capacity
            if "lobby_minutes" in changes:
                if not 0 <= changes["lobby_minutes"] <= 120:
                    raise InvalidEvent("lobby_minutes: 0 to 120")
                series.lobby_minutes = changes["lobby_minutes"]
            if "audience_mode" in changes:
                mode = AudienceMode(changes["audience_mode"])
                if mode is AudienceMode.HOSTS_ONLY and series.kind == Kind.DROP_IN.value:
                    raise InvalidEvent("audience_mode: hosts_only is for webinars")
                series.audience_mode = mode.value
            if "video_url" in changes:
                if changes["video_url"] is not None:
                    video_host(changes["video_url"])
                series.video_url = changes["video_url"]
            if "hosts" in changes:
                hosts = await self._hosts(db, changes["hosts"], community)
                await store.set_hosts(db, series.id or 0, [h.db_id for h in hosts])
            row.due_at = self.lifecycle.next_due(replace(occ, row=row), occ.state, row.ended_at)
            row.updated_ms = _ms(now)
            db.add(series)
            db.add(row)
            await audit_store.audit(db, _ms(now), who.member.db_id, "event_edit", series.community,
                                    detail=f"session {row.public_id}: {', '.join(sorted(changes))}"[:200])
            promoted = await self._promote(db, occ) if "capacity" in changes else []
            await db.commit()
            fresh = await store.get(db, public_id)
            assert fresh is not None
            view = await self._view(db, who, fresh, community)
            people = await store.signed_up(db, row.id or 0)
        # The same frame as a state change, marked with what was edited (times, mode...).
        await self.lifecycle.publish(SessionChanged(
            row.room, state_frame(fresh, changed=sorted(changes)).wire(),
            sorted({m.id for m in people} | set(fresh.host_ids)), session=row.public_id,
        ))
        await self._tell_promoted(fresh, promoted)
        return view

    # -- sign-up and the waiting list --------------------------------------------------------

    async def signup(self, who: Caller, public_id: str) -> dict[str, Any]:
        now = utcnow()
        async with self._db() as db:
            occ, community = await self._visible(db, who, public_id)
            check_signup(occ.state)
            await store.lock(db, occ.row)
            existing = await store.signup_of(db, occ.row.id or 0, who.member.db_id)
            if existing is None:
                counts = await store.counts(db, occ.row.id or 0)
                status = place(occ.series.capacity, counts["in"])
                db.add(EventSignup(event_id=occ.row.id or 0, user_id=who.member.db_id,
                                   status=status.value, created_ms=_ms(now)))
            await db.commit()
            return await self._view(db, who, occ, community)

    async def withdraw(self, who: Caller, public_id: str) -> dict[str, Any]:
        async with self._db() as db:
            occ, community = await self._visible(db, who, public_id)
            await store.lock(db, occ.row)
            existing = await store.signup_of(db, occ.row.id or 0, who.member.db_id)
            promoted: list[Member] = []
            if existing is not None:
                await db.delete(existing)
                await db.flush()
                promoted = await self._promote(db, occ)
            await db.commit()
            view = await self._view(db, who, occ, community)
        await self._tell_promoted(occ, promoted)
        return view

    async def admit(self, who: Caller, public_id: str, user: str) -> dict[str, Any]:
        """A host lets a waiting member in, over capacity (drop-ins: a small group can stretch)."""
        async with self._db() as db:
            occ, community = await self._running(db, who, public_id)
            target = await audit_store.member_by_public_id(db, user)
            row = None if target is None else await store.signup_of(db, occ.row.id or 0, target.db_id)
            if target is None or row is None or row.status != Signup.WAITING.value:
                raise NoSuchMember("that member is not on the waiting list")
            row.status = Signup.IN.value
            db.add(row)
            now = utcnow()
            await audit_store.audit(db, _ms(now), who.member.db_id, "event_admit", occ.series.community,
                                    target_db_id=target.db_id, detail=f"session {occ.row.public_id}")
            told = await self._notify_in(db, occ, [target])
            await db.commit()
            view = await self._view(db, who, occ, community)
        await self._tell_promoted(occ, told)
        return view

    async def _promote(self, db: AsyncSession, occ: Occurrence) -> list[Member]:
        counts = await store.counts(db, occ.row.id or 0)
        waiters = await store.waiting(db, occ.row.id or 0)
        moving = set(promotions(occ.series.capacity, counts["in"], [str(w.id) for w in waiters]))
        moved = [w for w in waiters if str(w.id) in moving]
        for w in moved:
            w.status = Signup.IN.value
            db.add(w)
        moved_ids = {w.user_id for w in moved}
        members = [m for m in await store.signed_up(db, occ.row.id or 0, Signup.IN.value)
                   if m.db_id in moved_ids]
        return await self._notify_in(db, occ, members)

    async def _notify_in(self, db: AsyncSession, occ: Occurrence, members: list[Member]) -> list[Member]:
        """Store ``place_free`` for each member; returns those whose row this call stored
        (not those who muted the kind): only they are told live."""
        if not members:
            return []
        added = await notifications.add(
            db, [m.db_id for m in members], "place_free", occ.row.public_id,
            f"A place opened in “{occ.series.title}”: you are in.", _ms(utcnow()),
            f"in:{occ.row.public_id}",
        )
        stored = {uid for uid, _ in added}
        return [m for m in members if m.db_id in stored]

    async def _tell_promoted(self, occ: Occurrence, members: list[Member]) -> None:
        if members:
            await self.lifecycle.publish(SessionChanged(
                occ.row.room, None, [m.id for m in members],
                {"kind": "place_free", "event": occ.row.public_id,
                 "text": f"A place opened in “{occ.series.title}”: you are in."},
            ))

    # -- state -------------------------------------------------------------------------------

    async def set_state(self, who: Caller, public_id: str, target: State, reason: str | None = None) -> dict[str, Any]:
        async with self._db() as db:
            occ, _ = await self._running(db, who, public_id)
        check_transition(occ.state, target)
        if not await self.lifecycle.move(occ, target, who.member.db_id, by_clock=False, reason=reason):
            async with self._db() as db:  # changed meanwhile: refuse from what it is now
                now_occ, _ = await self._visible(db, who, public_id)
            check_transition(now_occ.state, target)
            raise EventClosed("the session changed meanwhile; try again", now_occ.state)
        return await self.get(who, public_id)
