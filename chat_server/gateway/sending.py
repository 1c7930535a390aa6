"""The send path of one process: every check of docs/protocol.md §3.3 in its order, then the
broker; and typing notices.

Order: joined, cid, moderation (ban / mute / lock / kick), the PHI hold, the rate limit, the
body, ``reply_to`` (then, as its look-up awaited, joined and moderation again), and the
slow-mode slot last, just before posting, so a refused send never uses it. A send is
acknowledged once the broker has it durably; the safety desk sees it after.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable

from chat_server.broker.base import Broker, Draft
from chat_server.gateway.connection import Connection
from chat_server.moderation.enforce import Enforcer
from chat_server.protocol.base import ServerFrame, encode_for, pack
from chat_server.protocol.message import message_prefix
from chat_server.protocol.rooms import Ack, Confirm, Typing
from rooms import messages, safety
from rooms.errors import BadFrame, NotJoined, RateLimited, Unavailable
from rooms.model import Member
from rooms.ratelimit import TokenBucket

_PHI_WORDS = {
    "phone": "a phone number", "email": "an email address", "address": "a street address",
    "birth_date": "a date of birth",
}
_PHI_REASON = (
    "This message seems to contain {}. Everyone in this room can read it, and it stays in the "
    "room's history. To post it anyway, send it again with confirm_phi set."
)

# Called once a send is acknowledged: (author, room, message id, its seq, body, first time
# posted, a way to send the author's connection a frame, reply_to). Returns what the send
# must await before it ends (the checks that have work), or None when nothing is left to do.
AfterPost = Callable[
    [Member, str, str, int, str, bool, Callable[[ServerFrame], None], str | None],
    Awaitable[None] | None,
]


def _in_words(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


class Sender:
    def __init__(
        self,
        broker: Broker,
        enforcer: Enforcer,
        stored_thread_of: Callable[[str, str], Awaitable[str | None]],
        after_post: AfterPost | None,
        send_rate_per_s: float,
        send_burst: int,
        max_body_chars: int,
        typing_interval_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._broker = broker
        self._enforcer = enforcer
        self._stored_thread_of = stored_thread_of
        self._after_post = after_post
        self._rate_per_s = send_rate_per_s
        self._burst = send_burst
        self._max_body_chars = max_body_chars
        self._typing_interval_s = typing_interval_s
        self._clock = clock
        # Per member on this process: shared by their connections here, dropped once they
        # have none left and the bucket is full again (``forget``).
        self._buckets: dict[str, TokenBucket] = {}
        self._typing: dict[tuple[str, str], float] = {}

    def forget(self, connected: set[str]) -> None:
        """Drop the full buckets of members with no connection on this process."""
        mono = time.monotonic()
        for user_id in [u for u, b in self._buckets.items() if u not in connected and b.full(mono)]:
            del self._buckets[user_id]

    async def send(
        self, conn: Connection, room: str, body: str, cid: str, reply_to: str | None,
        confirm_phi: bool = False,
    ) -> None:
        if room not in conn.rooms:
            raise NotJoined("join the room before sending to it")
        messages.check_cid(cid)
        staff = room in conn.staff_in
        enforcer = self._enforcer
        member = conn.member
        # Without a coroutine while the room's facts are cached (nearly every send).
        checked = enforcer.check_send_now(member.id, room, staff)
        if checked is None:
            checked = await enforcer.check_send(member.id, room, staff)
        if not confirm_phi:
            kinds = safety.find_phi(body)
            if kinds:
                # Held, not refused: the member decides, once warned, whether to share it.
                conn.push(encode_for(conn.protocol, Confirm(
                    room, cid, kinds, _PHI_REASON.format(_in_words([_PHI_WORDS[k] for k in kinds])),
                )))
                return
        bucket = self._buckets.get(member.id)
        if bucket is None:
            bucket = self._buckets[member.id] = TokenBucket(self._rate_per_s, self._burst)
        if not bucket.take(time.monotonic()):
            wait = bucket.retry_after()
            raise RateLimited(f"slow down: try again in {wait:.0f} s", wait)
        body = messages.clean_body(body, self._max_body_chars)
        thread_root = None
        if reply_to is not None:
            thread_root = await self._thread_of(room, messages.check_message_id(reply_to))
            # The look-up awaited (Redis, or the database): a kick, a ban, a mute or a lock
            # may have landed meanwhile. Checked again on the facts as they are now, still
            # without a coroutine while they are cached; the slot below takes these.
            if room not in conn.rooms:
                raise NotJoined("join the room before sending to it")
            checked = enforcer.check_send_now(member.id, room, staff)
            if checked is None:
                checked = await enforcer.check_send(member.id, room, staff)
        # The facts checked above, not a second read (claim_slot reads again if the cache
        # has replaced them since). No slow mode: nothing to claim, and no coroutine.
        if not enforcer.takes_no_slot(room, staff, checked):
            await enforcer.claim_slot(member.id, room, staff, checked)
        now_ms = int(self._clock() * 1000)
        message_id = os.urandom(16).hex()  # 32 hex digits, as uuid4().hex but cheaper
        prefix = message_prefix(room, message_id, member.public(), body, reply_to, now_ms, thread_root)
        draft = Draft(
            room, message_id, member.id, member.db_id, cid, prefix, body, reply_to, thread_root, now_ms,
        )
        # The message may reach this connection before the post returns (embedded: on its
        # commit): then it is held and goes out with the ack in one write.
        conn.expect_own(message_id)
        try:
            posted = await self._broker.post(draft, now_ms)
            ack = Ack(cid, posted.message_id, posted.seq, room, True if posted.duplicate else None)
            conn.push(encode_for(conn.protocol, ack))
        finally:
            conn.end_own()
        if self._after_post is not None:
            follow = self._after_post(
                member, room, posted.message_id, posted.seq, body, not posted.duplicate,
                lambda frame: conn.push(encode_for(conn.protocol, frame)), reply_to,
            )
            if follow is not None:  # checks with work to do (a crisis match, a mention)
                await follow

    async def _thread_of(self, room: str, reply_to: str) -> str:
        """The root of the thread ``reply_to`` belongs to, given when the reply is posted so
        it never depends on the order in which writers commit."""
        root = await self._broker.thread_of(room, reply_to)
        if root is None:
            try:
                root = await self._stored_thread_of(room, reply_to)
            except Exception as exc:
                raise Unavailable("could not look the message up; try again") from exc
        if root is None:
            raise BadFrame("reply_to is not a message of this room")
        return root

    async def typing(self, conn: Connection, room: str) -> None:
        if room not in conn.rooms:
            raise NotJoined("join the room first")
        now = time.monotonic()
        key = (conn.member.id, room)
        if now - self._typing.get(key, -1e9) < self._typing_interval_s:
            return  # throttled: one typing notice per interval is plenty
        self._typing[key] = now
        if len(self._typing) > 50_000:
            cutoff = now - self._typing_interval_s
            self._typing = {k: t for k, t in self._typing.items() if t > cutoff}
        await self._broker.publish_event(room, pack(Typing(room, conn.member.public())))
