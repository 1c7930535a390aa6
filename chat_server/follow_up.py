"""The checks after a post, in a task of their own only when one of them has work.

Every acknowledged message is followed by the safety desk (a crisis match: resources to the
author, an alert to the navigators on duty), the notifier (mentions and replies) and the
conversations' activity. The first two await the database and the broker, and a member who
closes the page right after the ack must not cancel the crisis alert nor the notifications,
so they run in a task the runtime owns (``aio.outlive_caller``: a task and a shield). Nearly
every message needs neither, so each is asked first, with its synchronous predicate; a post
that needs nothing costs no task (issue 18: in a profiled run of the small rooms, 4,492
tasks became 21). The predicates are exact (``needs_after_post`` is the desk's own first
test, ``needs_on_post`` the notifier's), so nothing is ever skipped that would have run.

The conversations' activity is called either way: a plain call that returns at once (its
work runs in a task of the conversations' own), so it cannot be cancelled half-way and needs
no task here. A post that needs no checks costs no coroutine either: ``FollowUp`` returns
None and the sender has nothing to await.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from chat_server.aio import outlive_caller
from chat_server.protocol.base import ServerFrame
from rooms.model import Member

Tell = Callable[[ServerFrame], None]
# (author, room, message id, its seq, fresh): the conversations' activity, a plain call.
ConversationAfterPost = Callable[[Member, str, str, int, bool], None]


class SafetyChecks(Protocol):
    def needs_after_post(self, body: str) -> bool: ...

    async def after_post(self, author: Member, room: str, message_id: str, body: str, fresh: bool,
                         tell: Tell) -> None: ...


class NotifyChecks(Protocol):
    def needs_on_post(self, author: Member, body: str, fresh: bool, reply_to: str | None) -> bool: ...

    async def on_post(self, author: Member, room: str, message_id: str, body: str, fresh: bool,
                      reply_to: str | None) -> None: ...


class FollowUp:
    """The hub's ``after_post``: awaited by the sender's connection after the ack, so the
    order of the frames it sends the author (crisis resources) is kept."""

    def __init__(self, safety: SafetyChecks, notifier: NotifyChecks, conversation: ConversationAfterPost,
                 owner: set[asyncio.Task[None]]) -> None:
        """``owner`` holds the tasks still running, for the runtime's shutdown to wait for."""
        self._safety = safety
        self._notifier = notifier
        self._conversation = conversation
        self._owner = owner

    def __call__(self, author: Member, room: str, message_id: str, seq: int, body: str, fresh: bool,
                 tell: Tell, reply_to: str | None) -> Awaitable[None] | None:
        """What the sender must await (the checks, in their task), or None: nothing needed
        them, and the conversations' activity has been told."""
        if self._safety.needs_after_post(body) or self._notifier.needs_on_post(author, body, fresh, reply_to):
            return outlive_caller(self._owner,
                                  self._checks(author, room, message_id, seq, body, fresh, tell, reply_to),
                                  "after-post")
        self._conversation(author, room, message_id, seq, fresh)
        return None

    async def _checks(self, author: Member, room: str, message_id: str, seq: int, body: str, fresh: bool,
                      tell: Tell, reply_to: str | None) -> None:
        # In the order they always ran: the navigators' alert first.
        await self._safety.after_post(author, room, message_id, body, fresh, tell)
        await self._notifier.on_post(author, room, message_id, body, fresh, reply_to)
        self._conversation(author, room, message_id, seq, fresh)
