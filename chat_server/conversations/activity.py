"""What follows a message posted in a conversation, and telling participants and gateways.

After each acknowledged message (the hub's ``after_post``): a request's first message makes
the request known to its recipient (a ``dm_request`` notification and a ``conversation``
frame); a message of an open conversation tells the others' connections (``conversation``
with ``event: message`` and the message's ``seq``, never the body), for their list and unread
count. This runs in tasks
of its own, owned here, one room's messages in their order: the sender's socket may close the
moment it has its ack, and that must not cut a request short. Nothing here logs a body.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.aio import stop_task, wait_at_most
from chat_server.broker.base import Broker
from chat_server.conversations.gates import Gates
from chat_server.protocol import control
from chat_server.protocol.control import ConversationChanged
from chat_server.protocol.social import Conversation
from chat_server.social.delivery import Delivery
from chat_server.social.notifier import Notifier
from persistence import conversations as store
from persistence.conversations import Stored
from rooms import conversations as rules
from rooms.conversations import State
from rooms.model import Member
from rooms.notifications import Kind

log = logging.getLogger(__name__)


class Activity:
    def __init__(
        self, db: async_sessionmaker[AsyncSession], broker: Broker, delivery: Delivery,
        notifier: Notifier, gates: Gates,
    ) -> None:
        self._db = db
        self._broker = broker
        self._delivery = delivery
        self._notifier = notifier
        self._gates = gates
        self._tasks: set[asyncio.Task[None]] = set()
        self._last: dict[str, asyncio.Task[None]] = {}  # per room: its messages in their order

    async def close(self) -> None:
        """Let what follows the last messages finish (bounded), then stop it."""
        tasks = list(self._tasks)
        if tasks:
            await wait_at_most(asyncio.gather(*tasks, return_exceptions=True), 2.0)
        for task in tasks:
            await stop_task(task)

    def after_post(self, author: Member, room: str, message_id: str, seq: int, fresh: bool) -> None:
        """A message was posted in some room: for a conversation, its first message makes a
        request known to the recipient (a ``dm_request`` notification and a ``conversation``
        frame); in an open one, the others' list hears of new activity. Returns at once (the
        work runs in a task of this service's); never raises."""
        if not fresh or not rules.is_room(room):
            return
        task = asyncio.create_task(self._after_post_logged(author, room, message_id, seq, self._last.get(room)),
                                   name=f"conversation-after-post-{room}")
        self._tasks.add(task)
        self._last[room] = task

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            if self._last.get(room) is finished:
                del self._last[room]

        task.add_done_callback(done)

    async def _after_post_logged(
        self, author: Member, room: str, message_id: str, seq: int, before: asyncio.Task[None] | None,
    ) -> None:
        if before is not None:
            # After the room's previous message (this gateway's): a request's first message
            # must be the one recorded as its first.
            await asyncio.wait([before])
        try:
            await self._after_post(author, room, message_id, seq)
        except Exception:
            log.exception("conversation activity in %s failed", room)

    async def _after_post(self, author: Member, room: str, message_id: str, seq: int) -> None:
        facts = await self._gates.facts(room)
        if facts is None:
            return
        if facts.state is State.REQUEST and not facts.request_made and facts.requester == author.id:
            async with self._db() as db:
                found = await store.by_room(db, room)
                if found is None or not await store.mark_request(db, found.db_id, message_id):
                    return
            self._gates.forget(room)
            await self.publish(room)
            await self._notifier.notify(
                [o.db_id for o in found.others(author.db_id)], Kind.DM_REQUEST,
                f"{author.handle} would like to write to you privately.",
                store.request_dedupe(found.row.public_id), room=room)
            await self.tell(found, "request", skip=author.id)
            return
        if facts.state is not State.OPEN:
            return  # held: the recipient hears nothing of a request's later messages
        to = facts.others(author.id)
        hidden: set[int] = set()
        if facts.group:
            async with self._db() as db:
                hidden = await store.blockers_of(db, author.db_id, [facts.member_keys[o] for o in to])
        # The seq lets the client tell this message from those an ``unread`` frame's read mark
        # covers: that frame can arrive after this one (docs/protocol.md §4.28).
        frame = Conversation("message", facts.id, room, message_id, author.public(), seq=seq)
        for other in to:
            if facts.member_keys[other] not in hidden:
                await self._delivery.send(other, frame)

    # -- telling ----------------------------------------------------------------------

    async def publish(self, room: str) -> None:
        """Every gateway drops its copy of the conversation's facts."""
        try:
            await self._broker.publish_control(control.encode(ConversationChanged(room)))
        except Exception:
            # The change is committed; other gateways read it again within their cache's TTL.
            log.warning("could not tell the other gateways about a conversation change")

    async def tell(self, found: Stored, event: str, skip: str | None) -> None:
        """A ``conversation`` frame to every participant's connections (but ``skip``)."""
        frame = Conversation(event, found.row.public_id, found.row.room, state=found.row.state)
        for m in found.members:
            if m.id != skip:
                try:
                    await self._delivery.send(m.id, frame)
                except Exception:
                    log.warning("could not tell a member about a conversation change")
