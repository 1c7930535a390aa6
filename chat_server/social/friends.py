"""Friends: requests, answers and the list (``/api/friends``), with the rules of
``rooms/friends.py``.

A pending request is one notification (``friend_request``) for the member asked, stored in the
request's own transaction and told live on every gateway (``Notifier.tell``); asking again while it waits does nothing, and a new
request after an earlier one was answered brings the same notification back (unread) rather
than adding another. Accepting, declining or cancelling marks it read, on every device of the
member asked (``notifications_read``). An acceptance is told to the member who asked
(``friend_accepted``). New requests are rate limited per member across every gateway; a
refused one changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.limits import FailureCounter
from chat_server.social.notifier import Notifier
from chat_server.social.ties import other_member, read_pair
from persistence import friends as store
from persistence import notifications
from rooms.errors import RateLimited
from rooms.friends import Delete, FriendState, Put, on_delete, on_put, state
from rooms.model import Member
from rooms.notifications import Kind


def request_text(requester: Member) -> str:
    return f"{requester.handle} would like to be your friend."


class Friends:
    def __init__(
        self, db: async_sessionmaker[AsyncSession], notifier: Notifier, requests: FailureCounter,
        rate: int, window_s: int, clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._notifier = notifier
        self._requests = requests
        self._rate = rate
        self._window_s = window_s
        self._clock = clock

    async def listing(self, member: Member) -> dict[str, Any]:
        """``{friends, incoming, outgoing}``: public views with ``since`` (friends) or ``at``."""
        async with self._db() as db:
            ties = await store.listing(db, member.db_id)
        out: dict[str, list[dict[str, Any]]] = {"friends": [], "incoming": [], "outgoing": []}
        for person, tie in ties:
            if tie.friends:
                out["friends"].append({**person.public(), "since": tie.since_ms})
            elif tie.requester_id == member.db_id:
                out["outgoing"].append({**person.public(), "at": tie.created_ms})
            else:
                out["incoming"].append({**person.public(), "at": tie.created_ms})
        out["friends"].sort(key=lambda f: f["handle"].lower())
        return out

    async def put(self, member: Member, target: str) -> dict[str, Any]:
        """Ask ``target`` to be friends, or accept their request. Raises ``NoSuchMember``,
        ``Yourself``, ``YouBlocked``, ``NotTaking``, ``RateLimited``; nothing changes then."""
        now_ms = int(self._clock() * 1000)
        async with self._db() as db:
            other = await other_member(db, member, target, "befriend")
            # One change to a pair at a time (a block, or the other asking at the same moment,
            # waits here, then reads what this one did).
            await store.lock_pair(db, member.db_id, other.db_id)
            action = on_put(await read_pair(db, member, other))
            if action is Put.REQUEST:
                await self._take_a_request(member)
                if not await store.add_request(db, member.db_id, other.db_id, now_ms):
                    # They asked at the same moment (or another device of ours did): answer it.
                    action = on_put(await read_pair(db, member, other))
                    if action is Put.REQUEST:
                        action = Put.NOTHING  # and it went again: nothing of ours was stored
            handled = revived = None
            if action is Put.ACCEPT:
                if await store.accept(db, member.db_id, other.db_id, now_ms):
                    handled = await store.handle_request_note(db, other.db_id, member.db_id, now_ms)
                else:
                    action = Put.NOTHING  # answered meanwhile
            elif action is Put.REQUEST and await notifications.unmuted(db, [other.db_id], Kind.FRIEND_REQUEST.value):
                revived = await store.revive_request_note(db, member.db_id, other.db_id, request_text(member), now_ms)
                if revived is None:
                    # Stored with the request, in its transaction (it was stored after the
                    # commit: an acceptance or a block in between found no notification to
                    # mark handled, and the member was left with an unread request from a
                    # friend, or from someone they had blocked).
                    added = await notifications.add(
                        db, [other.db_id], Kind.FRIEND_REQUEST.value, None, request_text(member), now_ms,
                        store.request_dedupe(member.id))
                    revived = added[0][1] if added else None
            await db.commit()
            after = state(await read_pair(db, member, other))
        if action is Put.REQUEST:
            await self._tell_request(other, revived)
        elif action is Put.ACCEPT:
            if handled is not None:
                await self._notifier.tell_read(member, [handled])
            await self._notifier.notify(
                [other.db_id], Kind.FRIEND_ACCEPTED, f"{member.handle} accepted your friend request. "
                "You are friends now.", f"friends:{member.id}:{now_ms}")
        return {"user": other.public(), "friend": after.value}

    async def delete(self, member: Member, target: str) -> dict[str, Any]:
        """Decline their request, cancel one's own, or unfriend; nothing there is no error."""
        now_ms = int(self._clock() * 1000)
        async with self._db() as db:
            other = await other_member(db, member, target, "unfriend")
            action = on_delete(await read_pair(db, member, other))
            handled: tuple[Member, int] | None = None
            if action is not Delete.NOTHING:
                gone = await store.remove(db, member.db_id, other.db_id)
                if gone is not None and not gone.friends:
                    asked = member if gone.requester_id == other.db_id else other
                    asker = other if asked is member else member
                    nid = await store.handle_request_note(db, asker.db_id, asked.db_id, now_ms)
                    handled = None if nid is None else (asked, nid)
                await db.commit()
        if handled is not None:
            await self._notifier.tell_read(handled[0], [handled[1]])
        return {"user": other.public(), "friend": FriendState.NONE.value}

    async def _take_a_request(self, member: Member) -> None:
        """Count one new request against the member's window; raise ``RateLimited`` past it."""
        if await self._requests.count(member.id) >= self._rate or await self._requests.add(member.id) > self._rate:
            raise RateLimited(
                "you have sent many friend requests just now; please wait a while before sending more",
                float(self._window_s))

    async def _tell_request(self, other: Member, stored: int | None) -> None:
        """Tell the member asked of the request's notification, stored (or revived) with it."""
        if stored is not None:
            await self._notifier.tell(other.db_id, other.id, stored)
