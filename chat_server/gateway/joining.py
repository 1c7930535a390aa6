"""What a join sends after ``joined``: the frames missed since ``since``, and gaps for what
neither the recent log nor the database holds (Zulip's rule: detect gaps, never guess)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from chat_server.broker.base import Broker
from chat_server.gateway.connection import Connection, Cursor
from chat_server.protocol.base import encode_for
from chat_server.protocol.rooms import Gap
from chat_server.wire import Outgoing
from rooms.errors import Unavailable

# Frames with after < seq <= upto from the database, for what the recent log dropped.
History = Callable[[str, int, int], Awaitable[list[tuple[int, bytes]]]]


async def missed(
    broker: Broker, history: History, room: str, since: int, window: int, max_resume: int
) -> tuple[int, list[tuple[int, bytes]]]:
    """The room's head and the frames after ``since`` (at most ``max_resume``, the newest),
    from the recent log and, for what it no longer holds, the database. Seqs missing from
    the result are gaps: neither holds them. Raises ``Unavailable``."""
    replay = await broker.replay(room, since, window)
    head = replay.head
    oldest = max(since, head - max_resume)
    if oldest > since:  # capped: read the recent log from where the resume starts
        replay = await broker.replay(room, oldest, window)
    frames: list[tuple[int, bytes]] = []
    if oldest + 1 < replay.first:
        try:
            frames = await history(room, oldest, replay.first - 1)
        except Exception as exc:
            raise Unavailable("the room's history could not be read; try again") from exc
    frames.extend(f for f in replay.frames if f[0] > oldest)
    while frames and frames[-1][0] < head and len(replay.frames) >= window:
        replay = await broker.replay(room, frames[-1][0], window)
        frames.extend(replay.frames)
    return head, frames


async def send_missed(
    conn: Connection, room: str, cursor: Cursor, head: int, frames: list[tuple[int, bytes]]
) -> None:
    """Send ``frames`` (after ``cursor.seq``) and a ``gap`` for every hole up to ``head``;
    messages by members this connection blocked are skipped, the cursor still advancing."""
    for seq, data in frames:
        if seq <= cursor.seq:
            continue
        if seq > cursor.seq + 1:
            await conn.push_owed(encode_for(conn.protocol, Gap(room, cursor.seq + 1, seq - 1)))
        cursor.seq = seq
        out = Outgoing(data)
        if conn.hidden and out.author_id in conn.hidden:
            continue  # written by someone this member blocked
        await conn.push_owed(out.for_protocol(conn.protocol))
    if cursor.seq < head:
        await conn.push_owed(encode_for(conn.protocol, Gap(room, cursor.seq + 1, head)))
        cursor.seq = head
