"""The hub's rooms' seq counters kept honest: one pass of the room-head check, and the
floor a subscription's head is raised to.

Pub/sub may lose a frame with nothing after it to reveal the gap: a room whose head stays
ahead of what was delivered is filled from the log. A head that went backwards means Redis
lost its data: the counter is put past everything already given, or new messages would reuse
those seqs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from chat_server.broker.base import Broker
from chat_server.gateway.filling import LocalRoom
from rooms.errors import Unavailable

log = logging.getLogger(__name__)


async def check_heads(
    broker: Broker,
    rooms: dict[str, LocalRoom],
    start_fill: Callable[[LocalRoom], None],
    stored_head: Callable[[str], Awaitable[int]],
) -> None:
    """Compare each subscribed room's head with what was delivered; fill or repair. What was
    delivered is noted BEFORE the counters are read (frames arrive while the read is on its
    way): every seq noted was counted before the read, so a counter below it was lost."""
    watched = {r: local for r, local in rooms.items() if local.sequencer is not None}
    delivered = {r: local.sequencer.last for r, local in watched.items() if local.sequencer}
    try:
        heads = await broker.heads(list(watched))
    except Unavailable:
        return
    for room, head in heads.items():
        local = rooms.get(room)
        if local is not watched[room] or local.sequencer is None:
            continue  # let go (or taken again) meanwhile
        if head < delivered[room]:
            # The log's counter went backwards: Redis lost its data. Put it past everything
            # already given, or new messages would reuse those seqs.
            await recover_counter(broker, stored_head, room, local.sequencer.last)
            continue
        if local.sequencer.last < min(head, local.suspect_head):
            start_fill(local)
        local.suspect_head = head if head > local.sequencer.last else 0


async def floor_head(
    broker: Broker, stored_head: Callable[[str], Awaitable[int]], room: str, head: int
) -> int:
    """Never hand out a seq the database already holds: if the log's counter is behind
    the stored transcript (Redis lost its data: no appendonly, or a new Redis), raise it,
    or new messages would collide with stored ones and be dropped as duplicates."""
    try:
        stored = await stored_head(room)
    except Exception as exc:
        raise Unavailable("could not read the room's transcript; try again") from exc
    if stored <= head:
        return head
    log.error("room %s: log head %d is behind the transcript (%d); did Redis lose data? "
              "continuing after the transcript", room, head, stored)
    return await broker.raise_head(room, stored)


async def recover_counter(
    broker: Broker, stored_head: Callable[[str], Awaitable[int]], room: str, delivered: int
) -> None:
    try:
        floor = max(delivered, await stored_head(room))
        await broker.raise_head(room, floor)
    except Exception:
        log.exception("room %s: could not repair the seq counter", room)
        return
    log.error("room %s: seq counter was behind (Redis lost data?); raised to %d", room, floor)
