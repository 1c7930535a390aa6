"""Announcing presence changes: batched per room, and lingering for dropped connections.

The hub decides *that* a member came or went (the presence store says whether it was their
first or last entry anywhere); this module decides *when* the room is told. Changes go to
``presence.batch.PresenceBatcher`` and leave as one ``presence`` frame per room at most every
``batch_s`` (the first in a quiet room at once). A member whose last connection in a room
dropped keeps their presence entry for ``linger_s``: if they join again meanwhile (a phone
changing networks, every client of a restarted gateway) nothing is announced at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from chat_server.broker.base import Broker
from chat_server.protocol.base import pack
from chat_server.protocol.rooms import Presence
from presence.batch import LEFT, Batch, PresenceBatcher
from presence.store import PresenceStore, PresenceUnavailable
from rooms.errors import Unavailable

log = logging.getLogger(__name__)

CLOSE_FLUSH_S = 2.0  # at shutdown, how long pending frames may take to go out


class Announcer:
    def __init__(
        self,
        broker: Broker,
        presence: PresenceStore,
        batch_s: float,
        linger_s: float,
        clock: Callable[[], float],
        holds: Callable[[str, str], bool],
        list_max: int = 100,
    ) -> None:
        self._broker = broker
        self._presence = presence
        self._linger_s = linger_s
        self._clock = clock  # wall clock, for the presence store's expiry times
        self._holds = holds  # (room, user id) -> a local connection has them in the room
        # Past this many present, frames carry the count only: naming every arrival to
        # everyone makes filling a room quadratic in bytes (protocol §4.4, §5.4).
        self._list_max = list_max
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._batcher = PresenceBatcher(batch_s)
        self._timers: set[asyncio.TimerHandle] = set()
        self._lingering: dict[tuple[str, str], tuple[asyncio.TimerHandle, dict[str, str]]] = {}
        self._publishing: dict[str, bool] = {}  # room -> flush again once this frame is out

    @property
    def lingers(self) -> bool:
        return self._linger_s > 0

    async def close(self) -> None:
        """Stop, but first publish what is pending (a leave, a kick in the last moments: the
        entry is gone already, so no sweep would announce it later), in order, within
        ``CLOSE_FLUSH_S``. Lingering members are not announced as gone: their entries expire
        after the TTL and the sweep of a gateway with members in the room announces them."""
        self._closed = True
        for handle in [*self._timers, *(h for h, _ in self._lingering.values())]:
            handle.cancel()
        self._timers.clear()
        self._lingering.clear()

        async def flush_all() -> None:
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)  # frames in flight first
            now = asyncio.get_running_loop().time()
            for room in self._batcher.pending_rooms():
                batch = self._batcher.take(room, now)
                if batch is not None:
                    await self._publish(room, batch)

        try:
            async with asyncio.timeout(CLOSE_FLUSH_S):
                await flush_all()
        except TimeoutError:
            log.warning("presence changes not all published before shutdown")
        for task in list(self._tasks):
            task.cancel()

    # -- changes -------------------------------------------------------------------------

    def changed(self, room: str, change: str, user: dict[str, str]) -> None:
        """``user`` joined or left ``room`` (first or last entry anywhere): tell the room."""
        if self._closed:
            return
        due = self._batcher.add(room, change, user, asyncio.get_running_loop().time())
        if due is not None:
            self._call_at(due, self._flush, room)

    def _flush(self, room: str) -> None:
        if room in self._publishing:
            # A frame of this room is still on its way: frames are set operations and must
            # not overtake each other, so this one goes once that one is out.
            self._publishing[room] = True
            return
        batch = self._batcher.take(room, asyncio.get_running_loop().time())
        if batch is not None:
            self._publishing[room] = False
            self._spawn(self._publish_then_next(room, batch), f"presence-{room}")

    async def _publish_then_next(self, room: str, batch: Batch) -> None:
        try:
            await self._publish(room, batch)
        finally:
            if self._publishing.pop(room, False) and not self._closed:
                self._flush(room)

    async def _publish(self, room: str, batch: Batch) -> None:
        joined, left = batch.joined, batch.left
        count: int | None = None
        try:
            # A batch may have waited up to batch_s while another gateway announced a newer
            # change of the same member (Bob's linger ended here, he came back through
            # another gateway, which said "joined" at once). Only what still holds goes out;
            # the window left is that of publishing without batching: milliseconds.
            here = await self._presence.present_among(room, [u["id"] for u in [*joined, *left]])
            joined = [u for u in joined if u["id"] in here]
            left = [u for u in left if u["id"] not in here]
            count = await self._presence.count(room)
        except (PresenceUnavailable, Unavailable):
            pass  # publish as recorded: the snapshot of the next join corrects any view
        if not joined and not left:
            return
        frame = Presence(room, joined, left, count)
        if count is not None and count > self._list_max:
            frame = Presence(room, [], [], count, True)  # a big room: the count, and the list on demand
        try:
            await self._broker.publish_event(room, pack(frame))
        except (Unavailable, OSError):
            # Presence is not stored: the next join's snapshot and the heartbeats' sweep
            # put every view right again.
            log.warning("room %s: presence change not published (backing service down)", room)

    # -- lingering -----------------------------------------------------------------------

    def linger(self, room: str, user: dict[str, str]) -> None:
        """The member's last local connection in ``room`` dropped: end their presence after
        ``linger_s`` unless ``returned`` is called first."""
        if self._closed:
            return
        self.returned(room, user["id"])
        when = asyncio.get_running_loop().time() + self._linger_s
        self._lingering[(room, user["id"])] = (self._call_at(when, self._linger_over, room, user), user)

    def returned(self, room: str, user_id: str) -> None:
        """The member joined ``room`` again here: their departure is never announced."""
        found = self._lingering.pop((room, user_id), None)
        if found is not None:
            found[0].cancel()
            self._timers.discard(found[0])

    def end_now(self, user_id: str, room: str | None = None) -> None:
        """The member was kicked or banned (from ``room``, or everywhere): a linger of theirs
        ends now, so their departure is announced at once, as for a connected member."""
        for key in [k for k in self._lingering if k[1] == user_id and room in (None, k[0])]:
            handle, user = self._lingering.pop(key)
            handle.cancel()
            self._timers.discard(handle)
            self._spawn(self._end(key[0], user), f"presence-leave-{key[0]}")

    def _linger_over(self, room: str, user: dict[str, str]) -> None:
        self._lingering.pop((room, user["id"]), None)
        self._spawn(self._end(room, user), f"presence-leave-{room}")

    async def _end(self, room: str, user: dict[str, str]) -> None:
        try:
            gone = await self._presence.leave(room, user["id"])
            for _ in range(3):
                if not self._holds(room, user["id"]):
                    break
                # They came back while their entry was being removed: put it back, quietly;
                # and if they left again while that was under way, end it after all.
                await self._presence.enter(room, user, self._clock())
                if self._holds(room, user["id"]):
                    return
                gone = await self._presence.leave(room, user["id"])
        except (PresenceUnavailable, Unavailable):
            log.warning("room %s: presence leave not recorded (backing service down)", room)
            return
        if gone is not None:
            self.changed(room, LEFT, gone)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        if self._closed:
            coro.close()
            return
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _call_at(self, when: float, callback: Callable[..., None], *args: Any) -> asyncio.TimerHandle:
        def run() -> None:
            self._timers.discard(handle)
            callback(*args)

        handle = asyncio.get_running_loop().call_at(when, run)
        self._timers.add(handle)
        return handle
