"""Private talks with the navigator on duty, carried out: ask, withdraw, accept, and the clock.

The rules are ``rooms/private_talk.py``; the queue is the store (``store.py``), shared by every
gateway. Each step is audited (``audit_log``: ``talk_requested``, ``talk_cancelled``,
``talk_accepted``, ``talk_taken``, ``talk_resources``, ``talk_expired``) and then every gateway
is told to read the queue again (``TalkQueueChanged`` on the control channel); each one then
shows its own connections what changed (``desk.py``). Gateways read the queue on that message
and when the clock has something to do, not on a timer: a message that could not be published
is published again (backing off) until the broker takes it, and a gateway whose control
subscription was lost reads again once it is back.

Accepting settles the request first (exactly one navigator wins, whichever gateway they are
on) and only then opens the conversation, so a navigator who lost the race never opens one.
If the conversation cannot be opened the request waits again, in its old place.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.aio import stop_task
from chat_server.broker.base import Broker
from chat_server.limits import FailureCounter
from chat_server.moderation.duty import DutyRoster
from chat_server.moderation.enforce import Enforcer
from chat_server.moderation.facts import FactsCache
from chat_server.private_talk.store import TalkStore
from chat_server.protocol import control
from chat_server.protocol.base import ServerFrame, Wire
from chat_server.protocol.control import TalkQueueChanged
from chat_server.protocol.moderation import Resources
from chat_server.protocol.talks import TalkAccepted, member_frame, queue_for
from chat_server.retry import until_done
from chat_server.social.delivery import Delivery
from persistence import moderation as store
from rooms import catalog, resources
from rooms.access import PRIVATE_KIND, can_join
from rooms.errors import NoSuchRoom, RateLimited, RoomError, Unavailable
from rooms.model import Community, Member
from rooms.moderation import NOT_STAFF, Forbidden
from rooms.private_talk import (
    ACCEPTED,
    CANCELLED,
    EXPIRED,
    AlreadyAsked,
    NoSuchTalk,
    TalkRequest,
    TalkTaken,
    check_request,
    due_for_resources,
    lapsed,
    may_take,
    next_deadline,
    places,
)
from rooms.roles import Role

log = logging.getLogger(__name__)

ASKS_PER_WINDOW = 10  # requests one member may make per window: asking and withdrawing in a
ASK_WINDOW_S = 600    # loop would flood every navigator's screen and the audit log
RESOURCES_TTL_S = 60.0

# (navigator's user id, member's user id) -> (conversation id, its room's slug): the
# conversations service's ``open_staff_talk``.
OpenTalk = Callable[[int, int], Awaitable[tuple[str, str]]]


class PrivateTalks:
    def __init__(
        self, db: async_sessionmaker[AsyncSession], talks: TalkStore, broker: Broker,
        delivery: Delivery, facts: FactsCache, enforcer: Enforcer, roster: DutyRoster,
        asks: FailureCounter, wait_s: float, expire_s: float, opener: OpenTalk | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._talks = talks
        self._broker = broker
        self._delivery = delivery
        self._facts = facts
        self._enforcer = enforcer
        self._roster = roster
        self._asks = asks
        self.wait_s = wait_s
        self.expire_s = expire_s
        self._opener = opener
        self._clock = clock
        self._defaults = resources.defaults()
        self._cards: dict[int | None, tuple[float, resources.CrisisResources]] = {}
        self._telling: asyncio.Task[None] | None = None  # _changed's retry, one at a time

    async def close(self) -> None:
        await stop_task(self._telling)

    # -- the member -----------------------------------------------------------------------

    async def request(self, member: Member, room: str, assigned: frozenset[str]) -> dict[str, Any]:
        """Ask for a navigator from ``room`` (the caller checked the connection joined it);
        the ``talk`` frame of the new request. Raises ``NoSuchRoom``, ``Banned``, ``Kicked``,
        ``StaffOfRoom``, ``AlreadyAsked``, ``RateLimited``, ``Unavailable``; nothing is
        stored then."""
        community = await self._room(member, room)
        check_request(member, community, assigned)
        if await self._asks.count(member.id) >= ASKS_PER_WINDOW:
            raise RateLimited("you have asked many times in a short while; please wait a few minutes",
                              ASK_WINDOW_S)
        now = self._clock()
        talk = TalkRequest("t" + secrets.token_hex(8), member, room, community.org_id, now)
        existing = await self._talks.add(talk)
        if existing is not None:
            raise AlreadyAsked(existing)
        await self._asks.add(member.id)
        try:
            await self._audit(now, member.db_id, "talk_requested", room)
        except Exception as exc:
            # Not on record, so not made: take it back before anyone is told of it.
            await self._talks.settle(talk, CANCELLED, now)
            raise Unavailable("your request could not be recorded; please try again") from exc
        await self._changed()
        return member_frame(talk, await self._place(talk.id))

    async def cancel(self, member: Member, talk_id: str) -> dict[str, Any]:
        """Withdraw the member's waiting request; its ``talk`` frame as it is now (also sent
        to every connection of the member). Accepted meanwhile: the accepted frame, nothing
        withdrawn. Raises ``NoSuchTalk``, ``Unavailable``."""
        talk = await self._talks.get(talk_id)
        if talk is None or talk.member.id != member.id:
            raise NoSuchTalk(talk_id)
        now = self._clock()
        won, current = await self._talks.settle(talk, CANCELLED, now)
        if not won:
            if current is not None and current.outcome == ACCEPTED:
                return member_frame(current)  # too late to withdraw: a navigator is there
            raise NoSuchTalk(talk_id, "this request is no longer waiting")
        assert current is not None
        await self._audit_logged(now, member.db_id, "talk_cancelled", talk.room)
        frame = member_frame(current)
        await self._tell(member.id, frame)
        await self._changed()
        return frame

    async def mine(self, member: Member) -> dict[str, Any] | None:
        """The member's waiting request as a ``talk`` frame (with the resources card once
        shown), or None."""
        waiting = await self._talks.waiting()
        talk = next((t for t in waiting if t.member.id == member.id), None)
        if talk is None:
            return None
        return await self.member_view(talk, places(waiting).get(talk.id))

    async def member_view(self, talk: TalkRequest, place: int | None) -> dict[str, Any]:
        frame = member_frame(talk, place)
        if talk.resources_at is not None:
            frame["resources"] = (await self._card(talk.member.org_id)).frame_fields()
        return frame

    # -- the navigator --------------------------------------------------------------------

    async def queue(self, navigator: Member, assigned: frozenset[str]) -> dict[str, Any]:
        """The ``talk_queue`` frame of what ``navigator`` may take now."""
        return queue_for(navigator, assigned, await self._talks.waiting())

    async def accept(self, navigator: Member, talk_id: str) -> dict[str, Any]:
        """Take a waiting request: the ``talk_accepted`` frame, with the conversation opened
        with the member (who is sent their ``talk`` frame with it on every connection).
        Raises ``Forbidden`` (not staff of the request's room), ``NoSuchTalk`` (never was,
        withdrawn, lapsed), ``TalkTaken`` (another navigator was first), ``Unavailable``."""
        fresh, assigned = await self._staff(navigator)
        talk = await self._talks.get(talk_id)
        if talk is None:
            raise NoSuchTalk(talk_id)
        if not may_take(fresh, talk, assigned):
            raise Forbidden(NOT_STAFF)
        if talk.outcome is not None:
            return await self._settled_already(fresh, talk)
        if self._opener is None:
            raise Unavailable("private conversations are not available on this server yet")
        now = self._clock()
        won, current = await self._talks.settle(talk, ACCEPTED, now, fresh.public())
        if not won:
            return await self._settled_already(fresh, current or talk)
        assert current is not None
        try:
            conversation, conversation_room = await self._opener(fresh.db_id, talk.member.db_id)
        except BaseException as exc:
            await self._reopen(talk)
            if isinstance(exc, RoomError) or not isinstance(exc, Exception):
                raise
            log.exception("could not open a private talk's conversation")
            raise Unavailable("the conversation could not be opened; the request is waiting again") from exc
        await self._talks.attach(talk.id, conversation, conversation_room)
        done = replace(current, conversation=conversation, conversation_room=conversation_room)
        await self._audit_logged(now, fresh.db_id, "talk_accepted", talk.room, talk.member.db_id,
                                 detail=f"conversation {conversation}")
        await self._tell(talk.member.id, member_frame(done))
        await self._changed()
        return self._accepted(done)

    # -- the clock (every gateway, every tick) ----------------------------------------------

    async def tick(self) -> list[TalkRequest]:
        """Show the resources to members who have waited ``wait_s``, let requests older than
        ``expire_s`` lapse (each claimed by one gateway only); the waiting requests after it."""
        now = self._clock()
        waiting = await self._talks.waiting()
        changed = False
        for talk in due_for_resources(waiting, now, self.wait_s):
            if await self._talks.mark_resources(talk.id, now):
                changed = True
                await self._show_resources(replace(talk, resources_at=now))
        for talk in lapsed(waiting, now, self.expire_s):
            won, current = await self._talks.settle(talk, EXPIRED, now)
            if won and current is not None:
                changed = True
                await self._audit_logged(now, talk.member.db_id, "talk_expired", talk.room,
                                         detail=f"nobody took it within {int(self.expire_s)} s")
                await self._tell(talk.member.id, member_frame(current))
        if not changed:
            return waiting
        await self._changed()
        return await self._talks.waiting()

    def next_tick_in(self, waiting: list[TalkRequest]) -> float | None:
        """Seconds until ``tick`` has something to do for ``waiting`` (0: now), or None while
        nothing waits."""
        at = next_deadline(waiting, self.wait_s, self.expire_s)
        return None if at is None else max(0.0, at - self._clock())

    async def _show_resources(self, talk: TalkRequest) -> None:
        card = await self._card(talk.member.org_id)
        try:
            alerted = self._roster.covers(talk.community, excluding=talk.member.id)
        except Exception:
            alerted = False  # unknown: never promise a navigator who may not be there
        await self._tell(talk.member.id, Resources(talk.room, alerted, card.frame_fields(), talk=talk.id))
        await self._audit_logged(talk.resources_at or self._clock(), talk.member.db_id, "talk_resources",
                                 talk.room, detail=f"after {int(self.wait_s)} s with nobody free")

    # -- helpers --------------------------------------------------------------------------

    async def _room(self, member: Member, room: str) -> Community:
        if not catalog.is_slug(room):
            raise NoSuchRoom(f"no room {room[:64]!r} is open to you")
        try:
            facts = await self._facts.facts(room)
        except Exception as exc:
            raise Unavailable("could not look the room up; try again") from exc
        if facts is not None and facts.community.kind == PRIVATE_KIND:
            # A private conversation has no navigators of its own: ask from a community's room.
            raise NoSuchRoom("ask from one of your community's rooms, not from a private conversation")
        if facts is None or not can_join(member, facts.community):
            raise NoSuchRoom(f"no room {room!r} is open to you")
        await self._enforcer.check_join(member.id, room)  # banned or asked to step out
        return facts.community

    async def _staff(self, navigator: Member) -> tuple[Member, frozenset[str]]:
        """The navigator's role and assignments as they are now, not as at the handshake."""
        try:
            async with self._db() as db:
                fresh = await store.member_by_public_id(db, navigator.id)
                assigned = await store.assignments(db, fresh.db_id) if fresh else frozenset[str]()
        except Exception as exc:
            raise Unavailable("could not check your role; try again") from exc
        if fresh is None or fresh.role.rank < Role.NAVIGATOR.rank:
            raise Forbidden(NOT_STAFF)
        return fresh, assigned

    async def _settled_already(self, navigator: Member, talk: TalkRequest) -> dict[str, Any]:
        """Another outcome came first. The navigator who took it, asking again, is answered
        as before; anyone else is told what happened (a late accept is audited as taken)."""
        if talk.outcome == ACCEPTED:
            if talk.navigator is not None and talk.navigator["id"] == navigator.id:
                return self._accepted(talk)
            await self._audit_logged(self._clock(), navigator.db_id, "talk_taken", talk.room,
                                     talk.member.db_id)
            raise TalkTaken(talk.id, talk.navigator)
        if talk.outcome == CANCELLED:
            raise NoSuchTalk(talk.id, "the member withdrew this request")
        raise NoSuchTalk(talk.id, "this request lapsed: nobody took it in time")

    @staticmethod
    def _accepted(talk: TalkRequest) -> dict[str, Any]:
        return TalkAccepted(talk.id, talk.room, talk.member.public(), talk.conversation,
                            talk.conversation_room).wire()

    async def _reopen(self, talk: TalkRequest) -> None:
        try:
            await self._talks.reopen(talk)
        except Exception:
            log.exception("a private talk could not be put back in the queue")

    async def _place(self, talk_id: str) -> int | None:
        try:
            return places(await self._talks.waiting()).get(talk_id)
        except Unavailable:
            return None  # the next reading of the queue tells the member

    async def _tell(self, user_id: str, frame: ServerFrame | Wire) -> None:
        """A frame to every connection of the member, on any gateway."""
        try:
            await self._delivery.send(user_id, frame)
        except Exception:
            log.warning("a private talk's frame could not be sent; the queue's next reading tells")

    async def _changed(self) -> None:
        try:
            await self._broker.publish_control(control.encode(TalkQueueChanged()))
        except Exception:
            log.warning("gateways not told of a private talk; telling them once the broker is back")
            if self._telling is None or self._telling.done():
                # One message says it all (read the queue again): one retry covers every change.
                payload = control.encode(TalkQueueChanged())
                self._telling = asyncio.create_task(
                    until_done(lambda: self._broker.publish_control(payload)), name="private-talk-changed",
                )

    async def _audit(self, now: float, actor: int, action: str, room: str, target: int | None = None,
                     detail: str = "") -> None:
        async with self._db() as db:
            await store.audit(db, int(now * 1000), actor, action, room, target, detail=detail)
            await db.commit()

    async def _audit_logged(self, now: float, actor: int, action: str, room: str,
                            target: int | None = None, detail: str = "") -> None:
        """Audit a step that has happened already (it stands whether or not this works)."""
        try:
            await self._audit(now, actor, action, room, target, detail)
        except Exception:
            log.exception("could not audit %s", action)

    async def _card(self, org_id: int | None) -> resources.CrisisResources:
        cached = self._cards.get(org_id)
        now = time.monotonic()
        if cached is not None and now - cached[0] < RESOURCES_TTL_S:
            return cached[1]
        try:
            async with self._db() as db:
                stored = await store.org_resources(db, org_id)
        except Exception:
            return self._defaults
        card = resources.from_json(stored, self._defaults)
        self._cards[org_id] = (now, card)
        return card
