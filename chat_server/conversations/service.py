"""What the API (and the navigators' private talks) ask of conversations: start one, answer a
request, the member's setting, and, after each message, the request and activity frames.

Who may write to whom first is decided by ``rooms.conversations.first_message`` over the
sender's class, which is gathered here (blocks, staff of the recipient's rooms, friends,
rooms in common). A refusal leaves nothing behind: no row, no notification, nothing the
recipient could see. Nothing here logs a message body.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.broker.base import Broker
from chat_server.conversations import views
from chat_server.conversations.activity import Activity
from chat_server.conversations.gates import Gates
from chat_server.limits import RequestLimit
from chat_server.social.delivery import Delivery
from chat_server.social.notifier import Notifier
from persistence import conversations as store
from persistence import friends, notifications
from persistence import moderation as moderation_store
from persistence.conversations import Stored
from rooms import conversations as rules
from rooms.conversations import (
    DEFAULT_ALLOW,
    Allow,
    DmRefused,
    NothingToAnswer,
    Sender,
    State,
    Verdict,
)
from rooms.errors import NoSuchMember, NotFound, RoomError, Unavailable
from rooms.model import Community, Member
from rooms.roles import Role

log = logging.getLogger(__name__)


class Conversations:
    def __init__(
        self, db: async_sessionmaker[AsyncSession], broker: Broker, delivery: Delivery,
        notifier: Notifier, gates: Gates, clock: Callable[[], float] = time.time,
        requests: RequestLimit | None = None,
    ) -> None:
        self._db = db
        self._broker = broker
        self._delivery = delivery
        self._notifier = notifier
        self._gates = gates
        self._clock = clock
        self._requests = requests
        self._activity = Activity(db, broker, delivery, notifier, gates)

    async def close(self) -> None:
        await self._activity.close()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    # -- who may write first ------------------------------------------------------------

    async def sender_class(self, db: AsyncSession, sender: Member, recipient: Member) -> Sender:
        """What ``sender`` is to ``recipient`` (rooms.conversations.Sender)."""
        if await store.blocked_between(db, sender.db_id, recipient.db_id):
            return Sender.BLOCKED
        theirs = await store.rooms_of(db, recipient.db_id)
        staff = False
        if sender.role.rank >= Role.NAVIGATOR.rank:
            assigned = await moderation_store.assignments(db, sender.db_id)
            own_org = [] if recipient.org_id is None else [
                Community("", "", "local", "", recipient.org_id)]  # their organization's rooms
            staff = rules.staff_of(sender, assigned, [*theirs, *own_org])
        mine = {c.slug for c in await store.rooms_of(db, sender.db_id)}
        return rules.classify(
            blocked=False, staff=staff, other_staff=sender.role.rank >= Role.NAVIGATOR.rank,
            friend=await friends.are_friends(db, sender.db_id, recipient.db_id),
            shares_community=any(c.slug in mine for c in theirs),
        )

    async def verdict(self, db: AsyncSession, sender: Member, recipient: Member) -> Verdict:
        allow = Allow((await store.allow_of(db, recipient.db_id)) or DEFAULT_ALLOW)
        return rules.first_message(allow, await self.sender_class(db, sender, recipient))

    async def can_message(self, sender: Member, recipient_id: str) -> bool:
        """Would a message from ``sender`` reach the member ``recipient_id`` (public id),
        directly or as a request? For the profile's "Send a message" button; a conversation
        the two already have may always be opened. False for no such member."""
        async with self._db() as db:
            found = await store.members_by_public_ids(db, [recipient_id])
            if not found or found[0].db_id == sender.db_id:
                return False
            recipient = found[0]
            live = await store.live_pair(db, sender.db_id, recipient.db_id)
            if live is not None and rules.listed(State(live.row.state), live.row.started_by == sender.db_id,
                                                 live.row.request_message is not None):
                return True
            if await store.declined(db, sender.db_id, recipient.db_id):
                return False
            return await self.verdict(db, sender, recipient) is not Verdict.REFUSED

    # -- starting ----------------------------------------------------------------------

    async def start(self, member: Member, with_ids: list[str]) -> tuple[dict[str, Any], bool]:
        """``POST /api/conversations``: the conversation with ``with_ids`` (public ids), and
        whether it was created now. Raises ``BadFrame`` (invalid_request), ``NoSuchMember``,
        ``DmRefused``, ``RateLimited`` (and then nothing at all is recorded)."""
        others_ids = rules.check_start(member, with_ids)
        try:
            async with self._db() as db:
                others = await store.members_by_public_ids(db, others_ids)
                if len(others) != len(others_ids):
                    raise NoSuchMember("no such member")
                stored, created = await self._start(db, member, others)
        except RoomError:
            raise
        except Exception as exc:
            raise Unavailable("could not start the conversation; try again") from exc
        if created and stored.row.state == State.OPEN:
            await self._tell(stored, "opened", skip=member.id)
        return await self.view(member, stored), created

    async def _start(self, db: AsyncSession, member: Member, others: list[Member]) -> tuple[Stored, bool]:
        if len(others) > 1:
            for other in others:  # a group: staff who may write to each of them, directly
                if await self.verdict(db, member, other) is not Verdict.DIRECT:
                    raise DmRefused("not everyone here takes private messages from you")
            made = await store.create(db, secrets.token_hex(8), member.db_id,
                                      [o.db_id for o in others], State.OPEN, self._now_ms())
            assert made is not None, "a group has no pair key to collide on"
            return made, True
        other = others[0]
        counted = False
        for _ in range(3):  # a pair created meanwhile by a concurrent request: read it then
            live = await store.live_pair(db, member.db_id, other.db_id)
            if live is not None:
                return await self._existing(db, member, other, live), False
            verdict = await self._check(db, member, other)
            state = State.OPEN if verdict is Verdict.DIRECT else State.REQUEST
            if (state is State.REQUEST and not counted and self._requests is not None
                    and member.role.rank < Role.NAVIGATOR.rank):
                # A member asking people who are not their friends is what a spammer would
                # repeat (staff are not limited: a navigator may need to reach many). Counted
                # before anything is stored, so a refusal (RateLimited) leaves nothing behind.
                await self._requests.take(member.id)
                counted = True
            made = await store.create(db, secrets.token_hex(8), member.db_id, [other.db_id], state,
                                      self._now_ms())
            if made is not None:
                return made, True
        raise Unavailable("could not start the conversation; try again")

    async def _check(self, db: AsyncSession, member: Member, other: Member) -> Verdict:
        if await store.declined(db, member.db_id, other.db_id):
            raise DmRefused("this member does not take private messages from you")
        verdict = await self.verdict(db, member, other)
        if verdict is Verdict.REFUSED:
            raise DmRefused("this member does not take private messages from you")
        return verdict

    async def _existing(self, db: AsyncSession, member: Member, other: Member, live: Stored) -> Stored:
        """The pair's live conversation, as ``member`` may have it. A request nobody wrote in
        yet, started by the other, is unknown to ``member``: it is theirs to start now (as
        their own rules say), never a way to learn of it."""
        row = live.row
        if row.started_by == member.db_id or row.state != State.REQUEST or row.request_message is not None:
            return live
        verdict = await self._check(db, member, other)
        target = State.OPEN if verdict is Verdict.DIRECT else State.REQUEST
        await store.change_state(db, live.db_id, State.REQUEST, target, self._now_ms(),
                                 requester=member.db_id)
        self._gates.forget(row.room)
        await self._publish(row.room)
        found = await store.by_public_id(db, row.public_id)
        return found or live

    async def open_staff_talk(self, navigator_user_id: int, member_user_id: int) -> tuple[str, str]:
        """The one-to-one conversation of a navigator (``users.id``) and a member, created or
        reused, open at once: staff may always write, and the member asked for it, so neither
        the member's setting, a request step nor a block stands in the way. Returns
        ``(conversation id, room slug)``. Raises ``NoSuchMember``, ``DmRefused`` (the first is
        not staff, or both are the same member), ``Unavailable``."""
        if navigator_user_id == member_user_id:
            raise DmRefused("a conversation is between two people")
        async with self._db() as db:
            navigator = await store.member(db, navigator_user_id)
            member = await store.member(db, member_user_id)
            if navigator is None or member is None:
                raise NoSuchMember("no such member")
            if navigator.role.rank < Role.NAVIGATOR.rank:
                raise DmRefused("only staff open a private talk")
            for _ in range(3):
                live = await store.live_pair(db, navigator_user_id, member_user_id)
                if live is not None:
                    if live.row.state != State.OPEN:
                        await store.change_state(db, live.db_id, live.row.state, State.OPEN, self._now_ms())
                        await self._opened(live.row.room)
                        live = await store.by_public_id(db, live.row.public_id) or live
                    return live.row.public_id, live.row.room
                made = await store.create(db, secrets.token_hex(8), navigator_user_id, [member_user_id],
                                          State.OPEN, self._now_ms())
                if made is not None:
                    await self._tell(made, "opened", skip=None)
                    return made.row.public_id, made.row.room
        raise Unavailable("could not open the conversation; try again")

    async def _opened(self, room: str) -> None:
        self._gates.forget(room)
        await self._publish(room)
        async with self._db() as db:
            found = await store.by_room(db, room)
        if found is not None:
            await self._tell(found, "accepted", skip=None)

    # -- answering a request -----------------------------------------------------------

    async def answer(self, member: Member, public_id: str, accept: bool) -> dict[str, Any]:
        """Accept or decline a request made to ``member``. Raises ``NotFound``,
        ``NothingToAnswer`` (not a request to them, or answered already)."""
        if not rules.is_public_id(public_id):
            raise NotFound("no such conversation")
        async with self._db() as db:
            found = await store.by_public_id(db, public_id)
            if found is None or not found.has(member.db_id) or not rules.listed(
                    State(found.row.state), found.row.started_by == member.db_id,
                    found.row.request_message is not None):
                raise NotFound("no such conversation")
            if (found.row.state != State.REQUEST or found.row.started_by == member.db_id
                    or found.row.request_message is None):
                raise NothingToAnswer("this is not a request waiting for your answer")
            target = State.OPEN if accept else State.DECLINED
            if not await store.change_state(db, found.db_id, State.REQUEST, target, self._now_ms()):
                raise NothingToAnswer("this request was answered already")
            found = await store.by_public_id(db, public_id) or found
            # Answered: its notification is handled, on every device of the member.
            note = await store.request_note(db, member.db_id, public_id)
            handled = [] if note is None else await notifications.mark_read(db, member.db_id, [note], self._now_ms())
        if handled:
            await self._notifier.tell_read(member, handled)
        self._gates.forget(found.row.room)
        await self._publish(found.row.room)
        await self._tell(found, "accepted" if accept else "declined", skip=None)
        return await self.view(member, found)

    # -- reading -----------------------------------------------------------------------

    async def mine(self, member: Member) -> list[dict[str, Any]]:
        async with self._db() as db:
            return await views.listing(db, member)

    async def get(self, member: Member, public_id: str) -> dict[str, Any]:
        """One conversation as ``member`` sees it; for the recipient of a request, the request's
        first message (and only it). Raises ``NotFound``."""
        if not rules.is_public_id(public_id):
            raise NotFound("no such conversation")
        async with self._db() as db:
            found = await store.by_public_id(db, public_id)
            if found is None or not views.is_listed(found, member):
                raise NotFound("no such conversation")
        out = await self.view(member, found)
        if found.row.state == State.REQUEST and found.row.started_by != member.db_id:
            out["request"] = await views.request_message(self._db, self._broker, found)
        return out

    async def view(self, member: Member, found: Stored) -> dict[str, Any]:
        async with self._db() as db:
            return (await views.of(db, member, [found]))[0]

    async def readable(self, member: Member, room: str) -> bool:
        """May ``member`` read this conversation's messages (history, threads, search,
        reports, read marks)? False for anyone else, exactly as for no conversation."""
        if not rules.is_room(room):
            return False
        async with self._db() as db:
            found = await store.by_room(db, room)
        return found is not None and found.has(member.db_id) and rules.may_read(
            State(found.row.state), found.row.started_by == member.db_id)

    async def readable_rooms(self, member: Member) -> list[str]:
        async with self._db() as db:
            return [c.row.room for c in await store.of_member(db, member.db_id)
                    if rules.may_read(State(c.row.state), c.row.started_by == member.db_id)]

    # -- the member's setting ----------------------------------------------------------

    async def allow(self, member: Member) -> str:
        async with self._db() as db:
            return (await store.allow_of(db, member.db_id)) or DEFAULT_ALLOW.value

    async def set_allow(self, member: Member, value: object) -> str:
        allow = Allow.parse(value)
        async with self._db() as db:
            await store.set_allow(db, member.db_id, allow.value)
        return allow.value

    # -- after a message, and telling -------------------------------------------------

    def after_post(self, author: Member, room: str, message_id: str, seq: int, fresh: bool) -> None:
        self._activity.after_post(author, room, message_id, seq, fresh)

    async def blocks_changed(self, a_user_id: int, b_user_id: int) -> None:
        """A block between two members was put or lifted: their conversation, if any, opens or
        closes on every gateway at once."""
        async with self._db() as db:
            live = await store.live_pair(db, a_user_id, b_user_id)
        if live is not None:
            self._gates.forget(live.row.room)
            await self._activity.publish(live.row.room)

    async def _publish(self, room: str) -> None:
        await self._activity.publish(room)

    async def _tell(self, found: Stored, event: str, skip: str | None) -> None:
        await self._activity.tell(found, event, skip)
