"""Filling gaps: what pub/sub did not bring, read back from the room's log and the database.

A room's frames reach this process through pub/sub, which drops silently around faults. The
``Sequencer`` of each local room notices a missing seq (or the hub's anti-entropy check does);
then ``GapFiller.fill`` reads the recent log from the last seq delivered, the database for
what the log no longer holds, and gives up a hole neither holds as a ``gap`` frame rather than
spin. Everything it finds goes out through the hub's fan-out, in seq order.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from chat_server.broker.base import Broker
from chat_server.gateway.connection import Connection
from chat_server.protocol.base import encode
from chat_server.protocol.rooms import Gap
from chat_server.wire import Outgoing
from rooms.errors import Unavailable
from rooms.sequence import Sequencer

log = logging.getLogger(__name__)


@dataclass(slots=True)
class LocalRoom:
    slug: str
    conns: dict[Connection, None] = field(default_factory=dict)  # an ordered set
    users: Counter[str] = field(default_factory=Counter)
    refs: int = 0  # connections joined or joining
    ready: asyncio.Future[None] | None = None
    sequencer: Sequencer[Outgoing] | None = None
    filling: bool = False
    suspect_head: int = 0  # a head seen ahead of us at the last check


FanOut = Callable[[LocalRoom, int | None, Outgoing], None]


class GapFiller:
    def __init__(
        self,
        broker: Broker,
        history: Callable[[str, int, int], Awaitable[list[tuple[int, bytes]]]],
        window: int,
        fan_out: FanOut,
        is_current: Callable[[LocalRoom], bool],
    ) -> None:
        self._broker = broker
        self._history = history
        self._window = window
        self._fan_out = fan_out
        # False once the hub has let the room go (its last local member left): stop then.
        self._is_current = is_current

    async def fill(self, local: LocalRoom) -> None:
        """Read what pub/sub did not bring from the room's log, until caught up with head."""
        try:
            backoff = 0.05
            while self._is_current(local) and local.sequencer is not None:
                seq = local.sequencer
                try:
                    replay = await self._broker.replay(local.slug, seq.last, self._window)
                except Unavailable:
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                    continue
                if replay.first > seq.last + 1 and replay.head > seq.last:
                    # Older than the recent log: the database has what was committed.
                    try:
                        older = await self._history(local.slug, seq.last, replay.first - 1)
                    except Exception:
                        log.warning("room %s: history unreachable while filling a gap", local.slug)
                        await asyncio.sleep(backoff)
                        backoff = min(backoff * 2, 2.0)
                        continue
                    for s, data in older:
                        for rs, ro in seq.offer(s, Outgoing(data)):
                            self._fan_out(local, rs, ro)
                if replay.first > seq.last + 1 and replay.head > seq.last:
                    lost = (seq.last + 1, replay.first - 1)
                    log.warning("room %s: seqs %d..%d are in neither log", local.slug, *lost)
                    gap = encode(Gap(local.slug, lost[0], lost[1]))
                    for s, o in seq.skip_to(lost[1]):
                        self._fan_out(local, s, o)
                    self._fan_out(local, None, gap)
                before = seq.last
                for s, data in replay.frames:
                    for rs, ro in seq.offer(s, Outgoing(data)):
                        self._fan_out(local, rs, ro)
                if seq.missing() is None and seq.last >= replay.head:
                    return
                if seq.last == before:
                    # No progress: the log holds later seqs but not the next one (a row the
                    # database refused, or an entry trimmed before it was stored). Ask the
                    # database once, then give the hole up as a gap rather than spin.
                    await self._give_up_hole(local, seq, replay.head)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
        finally:
            local.filling = False

    async def _give_up_hole(self, local: LocalRoom, seq: Sequencer[Outgoing], head: int) -> None:
        missing = seq.missing()
        end = missing[1] if missing is not None else head
        try:
            for s, data in await self._history(local.slug, seq.last, end):
                for rs, ro in seq.offer(s, Outgoing(data)):
                    self._fan_out(local, rs, ro)
        except Exception:
            log.warning("room %s: history unreachable while filling a gap", local.slug)
            return
        if seq.last < end:
            log.warning("room %s: seqs %d..%d are in neither log", local.slug, seq.last + 1, end)
            gap = encode(Gap(local.slug, seq.last + 1, end))
            self._fan_out(local, None, gap)
            for s, o in seq.skip_to(end):
                self._fan_out(local, s, o)
