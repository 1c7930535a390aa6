"""The safety desk: crisis messages and members' reports reach the navigators on duty.

A message that matches the crisis phrase list is never removed or held. Its author is shown
their organization's crisis resources, privately, at once, and told truthfully whether a
navigator on duty was alerted (``alerted``); the message is queued for the navigators (the
queue survives everyone being off duty) and an ``alert`` goes to every on-duty navigator who
moderates the room, on whatever gateway they are connected to. A question to an expert
that matches the list is treated the same way (``after_question``): queued as an item about
the question, alerted to the navigators of the venue's community, resources to the asker.

A private conversation has no moderators: a crisis match in it, or a participant's report of
one of its messages, goes to the staff of one organization (the author's for a crisis, the
reporter's for a report), and the item carries a snapshot of that one message, taken now,
which is all the navigators are shown of the conversation (every showing is audited, by the
queue's API).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.broker.base import Broker
from chat_server.protocol import control
from chat_server.protocol import moderation_events as events
from chat_server.protocol.moderation import Resources
from persistence import communities, safety_queue, transcripts
from persistence import conversations as conversation_store
from persistence import moderation as store
from persistence.safety_queue import Subject
from rooms import conversations as conversation_rules
from rooms import resources
from rooms.access import can_see
from rooms.errors import NoSuchMessage, RoomError, Unavailable
from rooms.model import Community, Member
from rooms.safety import CrisisMatcher

log = logging.getLogger(__name__)

RESOURCES_TTL_S = 60.0


def org_rooms(org_id: int | None) -> Community:
    """A stand-in for "the rooms of this organization": whoever moderates it (its local
    staff, and admins) is who sees a private item of the organization."""
    return Community("", "", "local", "", org_id)


def _snapshot(message_id: str, body: str | None, author: dict[str, Any] | None, ts: int | None) -> str:
    return json.dumps({"id": message_id, "body": body, "author": author, "ts": ts})


class SafetyDesk:
    def __init__(
        self, db: async_sessionmaker[AsyncSession], broker: Broker, matcher: CrisisMatcher,
        on_duty_for: Callable[[str, str, int | None], Awaitable[bool]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``on_duty_for(room, author_id, org_id)``: is a navigator other than the author on
        duty for the room now (on any gateway)? For a private conversation, for ``org_id``."""
        self._db = db
        self._on_duty_for = on_duty_for
        self._broker = broker
        self._matcher = matcher
        self._clock = clock
        self._defaults = resources.defaults()
        self._by_org: dict[int | None, tuple[float, resources.CrisisResources]] = {}

    def needs_after_post(self, body: str) -> bool:
        """Whether ``after_post`` has anything to do for a message of ``body``: exactly when
        it matches the crisis list (fresh or retried: a retry is shown the resources again).
        Synchronous and cheap, so a post that needs nothing costs no task (issue 18)."""
        return self._matcher.match(body) is not None

    async def after_post(
        self, author: Member, room: str, message_id: str, body: str, fresh: bool,
        tell: Callable[[Resources], None], reply_to: str | None = None,
    ) -> None:
        """Called once a message is acknowledged; ``tell`` sends a frame to the author's
        connection. Never raises: the message is posted. Does nothing unless
        ``needs_after_post(body)``."""
        if not self.needs_after_post(body):
            return
        try:
            card = await self._resources(author.org_id)
        except Exception:
            card = self._defaults
        try:
            alerted = await self._on_duty_for(room, author.id, author.org_id)
        except Exception:
            alerted = False  # unknown: never promise a navigator who may not be there
        tell(Resources(room, alerted, card.frame_fields(), message_id=message_id))
        if not fresh:
            return  # a retried send: queued and alerted the first time
        private = None
        if conversation_rules.is_room(room):
            private = (author.org_id, _snapshot(message_id, body, author.public(), int(self._clock() * 1000)))
        try:
            await self._queue_and_alert("crisis", room, Subject(message_id=message_id), None, None,
                                        author=author.public(), skip=author.id, private=private)
        except Exception:
            log.exception("crisis alert for a message in %s failed", room)

    async def after_question(
        self, author: Member, room: str, question_id: str, venue: dict[str, str],
        shown_author: dict[str, Any], body: str,
    ) -> dict[str, Any] | None:
        """Called once a new question is stored (not for a retried cid). When ``body`` matches
        the crisis list the question is queued for the navigators who moderate ``room`` (the
        venue's community) and alerted to those on duty, as a message is; the answer is the
        crisis resources to show the asker privately, with ``alerted``; None otherwise.
        ``shown_author``: the author as members are shown them (anonymous stays anonymous).
        Never raises: the question is posted."""
        if self._matcher.match(body) is None:
            return None
        try:
            card = await self._resources(author.org_id)
        except Exception:
            card = self._defaults
        try:
            alerted = await self._on_duty_for(room, author.id, None)
        except Exception:
            alerted = False  # unknown: never promise a navigator who may not be there
        try:
            await self._queue_and_alert("crisis", room, Subject(question_id=question_id), None, None,
                                        author=shown_author, skip=author.id, venue=venue)
        except Exception:
            log.exception("crisis alert for a question in %s failed", room)
        return {**card.frame_fields(), "alerted": alerted}

    async def report(self, member: Member, message_id: str, reason: str) -> tuple[int, bool]:
        """Queue a member's report of a message they can see; alert on-duty staff the first
        time. A private message is reported by a participant who may read it, with a snapshot
        of it alone. Raises ``NoSuchMessage`` or ``Unavailable``."""
        private = None
        try:
            async with self._db() as db:
                found = await transcripts.by_id(db, message_id)
                community = await communities.by_slug(db, found.room) if found else None
                closed = await store.rooms_closed_to(db, member.db_id, int(self._clock() * 1000))
                if found is not None and conversation_rules.is_room(found.room):
                    conversation = await conversation_store.by_room(db, found.room)
                    if conversation is not None and conversation.has(member.db_id) and conversation_rules.may_read(
                            conversation_rules.State(conversation.row.state),
                            conversation.row.started_by == member.db_id):
                        private = (member.org_id, _snapshot(found.id, found.body, found.author, found.created_ms))
        except Exception as exc:
            raise Unavailable("could not look the message up; try again") from exc
        if found is None or community is None or not (can_see(member, community) or private is not None):
            raise NoSuchMessage("no such message")
        if found.room in closed:
            raise NoSuchMessage("no such message")  # kept out of the room: not theirs to report
        # ``skip``: the author is not alerted about a report of their own message.
        return await self._queue_and_alert("report", found.room, Subject(message_id=message_id), member,
                                           reason, skip=found.author["id"], private=private)

    async def _queue_and_alert(
        self, kind: str, room: str, subject: Subject, reporter: Member | None, reason: str | None,
        skip: str, author: dict[str, Any] | None = None, venue: dict[str, str] | None = None,
        private: tuple[int | None, str] | None = None,
    ) -> tuple[int, bool]:
        """``private``: (the organization whose staff see the item, the message's snapshot)."""
        now_ms = int(self._clock() * 1000)
        try:
            async with self._db() as db:
                community = await communities.by_slug(db, room)
                item, created = await safety_queue.queue_add(
                    db, kind, room, subject, reporter.db_id if reporter else None, reason, now_ms,
                    org_id=private[0] if private else None, snapshot=private[1] if private else None,
                )
        except RoomError:
            raise
        except Exception as exc:
            raise Unavailable("could not record it; try again") from exc
        if created:
            org_id = private[0] if private else community.org_id if community else None
            event = events.Alert(room, kind, subject.message_id, item, org_id, skip, author, reason,
                                 subject.question_id, venue)
            await self._broker.publish_control(control.encode(event))
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
