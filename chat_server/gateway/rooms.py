"""The room service: what a member's socket asks of the rooms, carried out.

Join, leave, send, typing, moderate, duty, and the clean-up when a connection ends. The
endpoint (endpoint.py) keeps the handshake, decoding, dispatch and error mapping; the hub
keeps subscriptions, presence and fan-out; this holds the steps in between, in their order,
with only the collaborators it uses.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable

from chat_server.conversations.gates import Gates as ConversationGates
from chat_server.conversations.gates import is_conversation_room
from chat_server.events.gates import Gates, is_event_room
from chat_server.gateway.connection import Connection
from chat_server.gateway.hub import Hub
from chat_server.moderation.enforce import Enforcer
from chat_server.moderation.facts import FactsCache
from chat_server.moderation.service import Moderation
from chat_server.protocol.base import encode_for
from chat_server.protocol.moderation import Moderated
from chat_server.protocol.rooms import Duty, Left, Members
from presence.store import PresenceUnavailable
from rooms import catalog
from rooms.access import PRIVATE_KIND, can_join
from rooms.commands import Command
from rooms.errors import NoSuchRoom, NotJoined, Unavailable
from rooms.moderation import may_moderate_room


class RoomService:
    def __init__(
        self, hub: Hub, facts: FactsCache, enforcer: Enforcer, moderation: Moderation,
        gates: Gates | None = None, conversations: ConversationGates | None = None,
    ) -> None:
        self._hub = hub
        self._facts = facts
        self._enforcer = enforcer
        self._moderation = moderation
        self._gates = gates  # scheduled sessions' live rooms (chat_server/events), when wired
        self._conversations = conversations  # private conversations (chat_server/conversations)

    async def join(self, conn: Connection, room: str, since: int | None) -> None:
        """Access, then a ban or kick, then ``joined``, ``room_state`` and what was missed.
        Raises ``NoSuchRoom`` (also for a room the member may not see), ``Banned``,
        ``Kicked``, ``TooManyRooms``, ``Unavailable``."""
        if not catalog.is_slug(room):
            raise NoSuchRoom(f"no room {room[:64]!r} is open to you")
        try:
            # The room's facts (community, restrictions, state) are cached per process.
            facts = await self._facts.facts(room)
        except Exception as exc:
            raise Unavailable("could not look the room up; try again") from exc
        if facts is not None and self._conversations is not None and facts.community.kind == PRIVATE_KIND:
            # No room rule opens a conversation (rooms/access.py): only its participants.
            await self._conversations.check_join(conn, room)
        elif facts is None or not can_join(conn.member, facts.community):
            raise NoSuchRoom(f"no room {room!r} is open to you")
        if self._gates is not None and is_event_room(room):
            await self._gates.check_join(conn, room)  # a session's live room
        await self._enforcer.check_join(conn.member.id, room)
        if may_moderate_room(conn.member, facts.community, conn.assigned):
            conn.staff_in.add(room)
        state = [encode_for(conn.protocol, self._hub.moderating.room_state(facts))]
        await self._hub.join(conn, room, since, state)
        # A kick or ban that landed while this join was under way found no connection.
        self._hub.moderating.recheck(conn, room)

    async def leave(self, conn: Connection, room: str) -> None:
        await self._hub.leave(conn, room)
        conn.staff_in.discard(room)
        conn.push(encode_for(conn.protocol, Left(room)))

    def send(
        self, conn: Connection, room: str, body: str, cid: str, reply_to: str | None,
        confirm_phi: bool,
    ) -> Awaitable[None]:
        """Every check of docs/protocol.md §3.3 in its order, then the broker (sending.py).
        A room with no gate of its own (not a session's, not a conversation) goes straight
        to the hub's sender: the caller awaits its coroutine, with no frame of ours around it."""
        if room in conn.rooms and (
            (self._gates is not None and is_event_room(room))
            or (self._conversations is not None and is_conversation_room(room))
        ):
            return self._send_gated(conn, room, body, cid, reply_to, confirm_phi)
        return self._hub.send(conn, room, body, cid, reply_to, confirm_phi)

    async def _send_gated(
        self, conn: Connection, room: str, body: str, cid: str, reply_to: str | None,
        confirm_phi: bool,
    ) -> None:
        # ``send`` found the room joined and gated.
        if self._gates is not None and is_event_room(room):
            await self._gates.check_send(conn, room)  # hosts_only, closed sessions
        if self._conversations is not None and is_conversation_room(room):
            await self._conversations.check_send(conn, room)  # requests, declined, blocks
        await self._hub.send(conn, room, body, cid, reply_to, confirm_phi)

    async def typing(self, conn: Connection, room: str) -> None:
        await self._hub.typing(conn, room)

    async def members(self, conn: Connection, room: str, after: str | None) -> None:
        """One page of who is here (§3.8): a big room's `joined.present` is only a sample.
        Raises ``NotJoined``, ``Unavailable``."""
        if room not in conn.rooms:
            raise NotJoined(f"join {room[:64]!r} before asking who is there")
        limit = self._hub.limits.presence_list_max
        try:
            views, next_after = await self._hub.presence.page(room, after, limit)
            count = await self._hub.presence.count(room)
        except PresenceUnavailable as exc:
            raise Unavailable("presence is unreachable; ask again shortly") from exc
        conn.push(encode_for(conn.protocol, Members(room, views, next_after, count)))

    async def moderate(self, conn: Connection, room: str, command: Command, cid: str | None) -> None:
        done = await self._moderation.act(conn.member, room, command)
        conn.push(encode_for(conn.protocol, Moderated(done, cid)))

    async def duty(self, conn: Connection, on: bool) -> None:
        """On duty (navigators and above, by their role now) or off, audited once."""
        if on:
            await self._moderation.check_duty(conn.member)
        if await self._hub.moderating.set_duty(conn, on):
            await self._moderation.duty_recorded(conn.member, on)
        conn.push(encode_for(conn.protocol, Duty(on)))

    async def disconnected(self, conn: Connection) -> None:
        """The connection ended: out of its rooms, and off duty. Never raises."""
        with contextlib.suppress(Exception):
            await self._hub.detach(conn)
        if conn.on_duty:
            with contextlib.suppress(Exception):
                if await self._hub.moderating.set_duty(conn, False):
                    await self._moderation.duty_recorded(conn.member, False)
