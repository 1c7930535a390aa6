"""The safety desk: crisis messages and members' reports reach the navigators on duty.

A message that matches the crisis phrase list is never removed or held. Its author is shown
their organization's crisis resources, privately, at once, and told truthfully whether a
navigator on duty was alerted (``alerted``); the message is queued for the navigators (the
queue survives everyone being off duty) and an ``alert`` goes to every on-duty navigator who
moderates the room, on whatever gateway they are connected to.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.broker.base import Broker
from chat_server.moderation import events
from persistence import communities, transcripts
from persistence import moderation as store
from rooms import resources
from rooms.access import can_see
from rooms.errors import NoSuchMessage, RoomError, Unavailable
from rooms.model import Member
from rooms.safety import CrisisMatcher

log = logging.getLogger(__name__)

RESOURCES_TTL_S = 60.0


class SafetyDesk:
    def __init__(
        self, db: async_sessionmaker[AsyncSession], broker: Broker, matcher: CrisisMatcher,
        on_duty_for: Callable[[str, str], Awaitable[bool]], clock: Callable[[], float] = time.time,
    ) -> None:
        """``on_duty_for(room, author_id)``: is a navigator other than the author on duty
        for the room now (on any gateway)?"""
        self._db = db
        self._on_duty_for = on_duty_for
        self._broker = broker
        self._matcher = matcher
        self._clock = clock
        self._defaults = resources.defaults()
        self._by_org: dict[int | None, tuple[float, resources.CrisisResources]] = {}

    async def after_post(
        self, author: Member, room: str, message_id: str, body: str, fresh: bool,
        tell: Callable[[dict[str, Any]], None], reply_to: str | None = None,
    ) -> None:
        """Called once a message is acknowledged; ``tell`` sends a frame to the author's
        connection. Never raises: the message is posted."""
        if self._matcher.match(body) is None:
            return
        try:
            card = await self._resources(author.org_id)
        except Exception:
            card = self._defaults
        try:
            alerted = await self._on_duty_for(room, author.id)
        except Exception:
            alerted = False  # unknown: never promise a navigator who may not be there
        tell({"type": "resources", "room": room, "message_id": message_id, "alerted": alerted,
              **card.frame_fields()})
        if not fresh:
            return  # a retried send: queued and alerted the first time
        try:
            await self._queue_and_alert("crisis", room, message_id, None, None,
                                        author=author.public(), skip=author.id)
        except Exception:
            log.exception("crisis alert for a message in %s failed", room)

    async def card_if_crisis(self, text: str, org_id: int | None) -> dict[str, Any] | None:
        """The crisis resources to show privately when ``text`` matches the list (questions
        to experts use it as messages do); None otherwise."""
        if self._matcher.match(text) is None:
            return None
        try:
            card = await self._resources(org_id)
        except Exception:
            card = self._defaults
        return dict(card.frame_fields())

    async def report(self, member: Member, message_id: str, reason: str) -> tuple[int, bool]:
        """Queue a member's report of a message they can see; alert on-duty staff the first
        time. Raises ``NoSuchMessage`` or ``Unavailable``."""
        try:
            async with self._db() as db:
                found = await transcripts.by_id(db, message_id)
                community = await communities.by_slug(db, found.room) if found else None
                closed = await store.rooms_closed_to(db, member.db_id, int(self._clock() * 1000))
        except Exception as exc:
            raise Unavailable("could not look the message up; try again") from exc
        if found is None or community is None or not can_see(member, community):
            raise NoSuchMessage("no such message")
        if found.room in closed:
            raise NoSuchMessage("no such message")  # kept out of the room: not theirs to report
        # ``skip``: the author is not alerted about a report of their own message.
        return await self._queue_and_alert("report", found.room, message_id, member, reason,
                                           skip=found.author["id"])

    async def _queue_and_alert(
        self, kind: str, room: str, message_id: str, reporter: Member | None, reason: str | None,
        skip: str, author: dict[str, str] | None = None,
    ) -> tuple[int, bool]:
        now_ms = int(self._clock() * 1000)
        try:
            async with self._db() as db:
                community = await communities.by_slug(db, room)
                item, created = await store.queue_add(
                    db, kind, room, message_id, reporter.db_id if reporter else None, reason, now_ms
                )
        except RoomError:
            raise
        except Exception as exc:
            raise Unavailable("could not record it; try again") from exc
        if created:
            event = events.Alert(room, kind, message_id, item,
                                 community.org_id if community else None, skip, author, reason)
            await self._broker.publish_control(events.encode(event))
        return item, created

    async def _resources(self, org_id: int | None) -> resources.CrisisResources:
        cached = self._by_org.get(org_id)
        now = time.monotonic()
        if cached is not None and now - cached[0] < RESOURCES_TTL_S:
            return cached[1]
        async with self._db() as db:
            stored = await store.org_resources(db, org_id)
        card = resources.from_json(stored, self._defaults)
        self._by_org[org_id] = (now, card)
        return card
