"""Carrying out a navigator's action: check it against the pure rules, record it with its
audit entry in one transaction, then tell every gateway.

The order matters. The database is written first, so an action a gateway learns of is already
on record (a gateway that reads the room's facts after the event finds it there). Then the
recent log is changed (``remove``), then the event goes out on the control channel; each
gateway applies it to its facts cache (``facts.py``) and its live connections
(``gateway/moderating.py``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgpack
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat_server.aio import stop_task
from chat_server.broker.base import Broker
from chat_server.protocol import control
from chat_server.protocol import moderation_events as events
from chat_server.protocol.message import message_frame
from persistence import accounts, communities, transcripts
from persistence import moderation as store
from persistence import reactions as reactions_store
from rooms.access import can_see
from rooms.commands import Command
from rooms.errors import BadFrame, NoSuchMember, NoSuchMessage, NoSuchRoom, RoomError, Unavailable
from rooms.model import Community, Member
from rooms.moderation import NOT_STAFF, Action, Forbidden, RestrictionKind, check, may_moderate_room
from rooms.roles import Role

log = logging.getLogger(__name__)

PLATFORM = Community(slug="*", name="the platform", kind="platform", description="")


@dataclass(frozen=True, slots=True)
class BlockChange:
    target_db_id: int
    handled: tuple[Member, int] | None  # (member asked, notification id) of an ended request


@dataclass(frozen=True, slots=True)
class FoundMessage:
    room: str
    seq: int
    author: Member
    body: str | None
    reply_to: str | None
    thread_root: str | None
    ts_ms: int
    stored: bool  # the transcript row exists


class Moderation:
    def __init__(
        self, db: async_sessionmaker[AsyncSession], broker: Broker,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._broker = broker
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    async def check_duty(self, member: Member) -> None:
        """Raise ``Forbidden`` unless ``member`` may go on duty (navigators and above, by
        their role as it is now, not as it was at the handshake)."""
        async with self._db() as db:
            fresh = await store.member_by_public_id(db, member.id)
        if fresh is None or fresh.role.rank < Role.NAVIGATOR.rank:
            raise Forbidden(NOT_STAFF)

    async def duty_recorded(self, member: Member, on: bool) -> None:
        """The roster has ``member`` on (or off) duty: audit it and tell every gateway."""
        try:
            async with self._db() as db:
                await store.audit(db, int(self._clock() * 1000), member.db_id,
                                  "duty_on" if on else "duty_off", "*")
                await db.commit()
        except Exception:
            log.exception("could not audit a duty change")
        await self._broker.publish_control(control.encode(events.DutyChanged()))

    async def set_block(self, member: Member, target_id: str, on: bool) -> BlockChange:
        """Block or unblock a member; every gateway starts hiding (or showing) their
        messages to ``member``'s connections at once. Raises ``NoSuchMember``, ``BadFrame``.
        The answer names the target's storage key and, when the block ended a pending friend
        request, ``(member asked, notification id)`` of its notification, marked handled (the
        caller tells their devices)."""
        async with self._db() as db:
            target = await store.member_by_public_id(db, target_id)
            if target is None:
                raise NoSuchMember("no such member")
            if on and (target.id == member.id or target.role.rank >= Role.NAVIGATOR.rank):
                raise BadFrame("you cannot block yourself or a member of staff")
            handled = await store.set_block(db, member.db_id, target.db_id, on, int(self._clock() * 1000))
            hidden = [m.id for m in await store.blocked_by(db, member.db_id)]
        await self._broker.publish_control(control.encode(
            events.BlocksChanged(member.id, frozenset(hidden))
        ))
        if handled is None:
            return BlockChange(target.db_id, None)
        return BlockChange(target.db_id, ((member if handled[0] == member.db_id else target), handled[1]))

    async def act(self, actor: Member, room: str, cmd: Command) -> dict[str, Any]:
        """Carry out ``cmd`` in ``room`` for ``actor``; return the ``moderated`` fields.
        Raises ``Forbidden``, ``NoSuchRoom``, ``NoSuchMember``, ``NoSuchMessage``,
        ``Unavailable``; a refusal changes nothing."""
        try:
            async with self._db() as db:
                return await self._act(db, actor, room, cmd)
        except RoomError:
            raise
        except Exception as exc:
            log.exception("moderation %s in %s failed", cmd.action.value, room)
            raise Unavailable("the action could not be recorded; try again") from exc

    async def _act(
        self, db: AsyncSession, actor: Member, room: str, cmd: Command
    ) -> dict[str, Any]:
        community = await communities.by_slug(db, room)
        if community is None or not can_see(actor, community):
            raise NoSuchRoom(f"no room {room!r} is open to you")
        # The role and assignments as they are now, not as they were at the handshake: a
        # navigator demoted or unassigned meanwhile loses their powers at once.
        fresh = await store.member_by_public_id(db, actor.id)
        if fresh is None:
            raise Forbidden(NOT_STAFF)
        actor = fresh
        assigned = await store.assignments(db, actor.db_id)
        scope = PLATFORM if cmd.platform else community
        if not may_moderate_room(actor, scope, assigned):
            raise Forbidden(NOT_STAFF)  # before any lookup: nothing is learnt about ids
        target: Member | None = None
        found: FoundMessage | None = None
        if cmd.user is not None:
            target = await store.member_by_public_id(db, cmd.user)
            # Someone who cannot see the room (a member of another organization, for a local
            # room) gets the same answer as an id nobody has: the answer must not tell a
            # navigator which ids exist elsewhere, and there is nothing of theirs to act on.
            if target is None or (not cmd.platform and not can_see(target, community)):
                raise NoSuchMember("no such member")
        if cmd.message is not None:
            found = await self._find_message(db, room, cmd.message)
            if cmd.action is Action.REMOVE:
                target = found.author
        check(actor, scope, cmd.action, target if cmd.action.needs_target else None, assigned)

        now_ms = int(self._clock() * 1000)
        answer: dict[str, Any] = {"room": room, "action": cmd.action.value}
        if cmd.user is not None:
            answer["user"] = cmd.user
        if cmd.message is not None:
            answer["message"] = cmd.message
        told: list[events.ModerationEvent] = []
        where = "*" if cmd.platform else room
        target_key = target.db_id if target is not None else None
        action = cmd.action

        if action in (Action.MUTE, Action.KICK, Action.BAN):
            assert target is not None
            until_ms = None if cmd.duration_s is None else now_ms + cmd.duration_s * 1000
            await store.add_restriction(db, where, target.db_id, action.value, until_ms, cmd.reason,
                                        actor.db_id, now_ms)
            answer["until"] = until_ms
            if cmd.platform:
                await accounts.close_sessions_of(db, target.db_id, commit=False)
                told.append(events.PlatformBanned(target.id, until_ms, cmd.reason))
            else:
                kind: RestrictionKind = "mute" if action is Action.MUTE else (
                    "kick" if action is Action.KICK else "ban")
                told.append(events.Restricted(room, target.id, kind, until_ms, cmd.reason))
        elif action in (Action.UNMUTE, Action.UNBAN):
            assert target is not None
            kinds = ["mute"] if action is Action.UNMUTE else ["ban", "kick"]
            await store.lift(db, where, target.db_id, kinds, now_ms)
            if not cmd.platform:
                told.append(events.Lifted(room, target.id, frozenset(kinds)))
        elif action is Action.REMOVE:
            assert found is not None and cmd.message is not None
            fallback = None if found.stored else {
                "room": room, "seq": found.seq, "author_id": found.author.db_id,
                # The real cid is only in Redis; this one is unique per message and valid.
                "cid": f"removed.{cmd.message[:24]}", "reply_to": found.reply_to,
                "thread_root": found.thread_root, "created_ms": found.ts_ms,
            }
            await store.remove_body(db, cmd.message, now_ms, fallback)
            await reactions_store.drop(db, cmd.message)  # its reactions go with it
            state = await store.room_state(db, room)
            if state.pinned_id == cmd.message:
                state = store.RoomState(state.slow_mode_s, state.locked, None)
                await store.set_room_state(db, room, state, now_ms)
                told.append(self._state_event(room, state, None))
            told.insert(0, events.MessageRemoved(room, cmd.message, found.author.id, cmd.reason))
        else:
            state = await store.room_state(db, room)
            pinned_view = None
            if action is Action.SLOW_MODE:
                state = store.RoomState(int(cmd.duration_s or 0), state.locked, state.pinned_id)
                answer["slow_mode_s"] = state.slow_mode_s
            elif action in (Action.LOCK, Action.UNLOCK):
                state = store.RoomState(state.slow_mode_s, action is Action.LOCK, state.pinned_id)
            else:  # PIN
                state = store.RoomState(state.slow_mode_s, state.locked, cmd.message)
            if state.pinned_id is not None:
                pinned_view = await self.pinned_view(db, room, state.pinned_id)
            await store.set_room_state(db, room, state, now_ms)
            told.append(self._state_event(room, state, pinned_view))

        await store.audit(
            db, now_ms, actor.db_id, action.value if not cmd.platform else f"platform_{action.value}",
            where, target_key, cmd.message, cmd.reason, cmd.duration_s,
        )
        await db.commit()
        # Recorded: from here on the action stands. Telling Redis and the gateways is retried
        # in the background if it fails, and the gateways' periodic re-reads repair the rest.
        steps: list[Callable[[], Awaitable[None]]] = []
        if action is Action.REMOVE and found is not None and cmd.message is not None:
            tombstone = message_frame(room, cmd.message, found.seq, found.author.public(), None,
                                      found.reply_to, found.ts_ms, found.thread_root)
            seq = found.seq
            steps.append(lambda: self._broker.redact(room, seq, tombstone))
        for event in told:
            steps.append(functools.partial(self._broker.publish_control, control.encode(event)))
        await self._carry_out(steps, f"{action.value} in {room}")
        return answer

    async def _carry_out(self, steps: list[Callable[[], Awaitable[None]]], what: str) -> None:
        for i, step in enumerate(steps):
            try:
                await step()
            except Exception as exc:
                log.warning("moderation %s: propagation failed (%s); retrying in the background",
                            what, type(exc).__name__)
                task = asyncio.create_task(self._retry(steps[i:], what), name=f"moderation-{what}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                return

    async def _retry(self, steps: list[Callable[[], Awaitable[None]]], what: str) -> None:
        delay = 0.2
        for step in steps:
            for _ in range(12):  # about a minute in all, then the periodic re-reads take over
                try:
                    await step()
                    break
                except Exception:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)
            else:
                log.error("moderation %s: could not reach Redis; gateways catch up on re-read", what)
                return

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            await stop_task(task)

    @staticmethod
    def _state_event(
        room: str, state: store.RoomState, pinned: dict[str, Any] | None
    ) -> events.StateChanged:
        return events.StateChanged(room, state.slow_mode_s, state.locked, pinned)

    async def pinned_view(self, db: AsyncSession, room: str, message_id: str) -> dict[str, Any] | None:
        try:
            found = await self._find_message(db, room, message_id)
        except NoSuchMessage:
            return None
        if found.body is None:
            return None
        return {"id": message_id, "body": found.body, "author": found.author.public()}

    async def _find_message(self, db: AsyncSession, room: str, message_id: str) -> FoundMessage:
        """A message of ``room``, from the transcript or, if a writer has not stored it yet,
        from the room's recent log."""
        stored = await transcripts.by_id(db, message_id)
        if stored is not None:
            if stored.room != room:
                raise NoSuchMessage("no such message in this room")
            author = await store.member_by_public_id(db, stored.author["id"])
            if author is None:
                raise NoSuchMessage("no such message in this room")
            return FoundMessage(room, stored.seq, author, stored.body, stored.reply_to,
                                stored.thread_root, stored.created_ms, True)
        recent = await self._broker.find_recent(room, message_id)
        if recent is None:
            raise NoSuchMessage("no such message in this room")
        frame = msgpack.unpackb(recent, raw=False)
        author = await store.member_by_public_id(db, frame["author"]["id"])
        if author is None:
            raise NoSuchMessage("no such message in this room")
        return FoundMessage(room, int(frame["seq"]), author, frame.get("body"), frame.get("reply_to"),
                            frame.get("thread_root"), int(frame["ts"]), False)
