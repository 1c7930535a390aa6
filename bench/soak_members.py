"""The soak's members: each one member of one room whose connection drops now and then,
comes back with its last seq (on the same gateway or on the other) and counts every message.

A member is a person, not a connection: what it received on all its connections, one after
the other, must be the room's messages after its first join, each once and in seq order. So
each member keeps its highest seq (``last``), the seqs it skipped (``holes``: a jump forward)
and counts a seq at or below ``last`` that was not a hole as a duplicate. A sender keeps its
unacknowledged sends and sends them again with the same cid after a reconnect, as a client
must (docs/protocol.md §5.2), so every message sent is acknowledged in the end.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bench.loadgen import Gen, Peer
from bench.wsclient import HandshakeFailed

CONNECT_ATTEMPTS = 5


def _ignore(opcode: int, payload: bytes) -> None:
    """The callback of a connection given up: what is still in its buffer is not counted
    (a real client that dropped a socket reads nothing more from it)."""


@dataclass
class Tally:
    """What every member saw, added up; ``acked`` is each room's acknowledged seqs."""

    acked: dict[str, set[int]] = field(default_factory=dict)
    deliveries: int = 0
    duplicates: int = 0
    late: int = 0  # a skipped seq that came after a later one: out of order
    gap_frames: int = 0
    went_back: int = 0  # a resume answered with a head below the member's last seq
    duplicate_acks: int = 0  # a resent cid answered with the original message
    resumes: int = 0  # reconnected to the same gateway
    rejoins: int = 0  # reconnected to the other gateway
    retries: int = 0  # a connect or join that failed and was tried again
    unreachable: int = 0  # members that could not connect after every attempt


class Member(Peer):
    """One member of ``room``, on gateway ``index % len(urls)`` to begin with."""

    def __init__(self, gen: Gen, index: int, room: str, tally: Tally) -> None:
        self.urls = gen.urls
        self.gateway = index % len(self.urls)
        super().__init__(gen, index, self.urls[self.gateway], gen.tokens[index % len(gen.tokens)])
        self.room = room
        self.tally = tally
        self.ready = False  # connected and joined: sends go out now, else they wait
        self.first_head: int | None = None
        self.last: int | None = None
        self.holes: set[int] = set()
        self.pending: dict[str, str] = {}  # cid -> room, sent (or due) and not acknowledged
        tally.acked.setdefault(room, set())

    # -- frames ----------------------------------------------------------------------

    def _on_frame(self, opcode: int, payload: bytes) -> None:
        assert self.client is not None
        frame = self.gen.dialect.decode(self.client, opcode, payload)
        if frame is None:
            return
        kind = frame.get("type")
        if kind == "message":
            self._message(frame["seq"])
        elif kind == "ack":
            self.pending.pop(frame["cid"], None)
            self.tally.acked[frame["room"]].add(frame["seq"])
            self.tally.duplicate_acks += bool(frame.get("duplicate"))
        elif kind == "gap":
            self.tally.gap_frames += 1
        else:
            if kind == "joined":
                self._joined_head(frame.get("seq") or 0)
            super()._on_frame(opcode, payload)  # join futures and error counts

    def _message(self, seq: int) -> None:
        t = self.tally
        t.deliveries += 1
        last = self.last
        if last is None:  # a message before the first joined: nothing to place it after
            t.duplicates += 1
        elif seq == last + 1:
            self.last = seq
        elif seq > last:
            self.holes.update(range(last + 1, seq))
            self.last = seq
        elif seq in self.holes:
            self.holes.discard(seq)
            t.late += 1
        else:
            t.duplicates += 1

    def _joined_head(self, head: int) -> None:
        # Set here, not after ``join`` returns: the replay follows in the same read.
        if self.last is None:
            self.first_head = self.last = head
        elif head < self.last:
            self.tally.went_back += 1

    # -- sending ---------------------------------------------------------------------

    def post(self, room: str, phase: int, cid: str) -> None:
        """Called by the pacer (``bench.workloads.pace``): sent now, or after the reconnect."""
        self.pending[cid] = room
        if self.ready:
            super().post(room, phase, cid)

    # -- churn -----------------------------------------------------------------------

    def leave_now(self, clean: bool) -> None:
        """Drop the connection: with a closing handshake, or as a network failure would."""
        self.ready = False
        client = self.client
        if client is not None:
            client.on_frame = _ignore
            if clean:
                client.close()
            client.abort()

    async def come_back(self, away_s: float, move: bool) -> None:
        """After ``away_s``, reconnect (to the other gateway if ``move``) and resume."""
        await asyncio.sleep(away_s)
        if move:
            self.gateway = (self.gateway + 1) % len(self.urls)
            parts = urlsplit(self.urls[self.gateway])
            self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        if await self.connect():
            if move:
                self.tally.rejoins += 1
            else:
                self.tally.resumes += 1

    async def connect(self) -> bool:
        """Open, join with ``since`` = the last seq received (none the first time), then
        send again what is still unacknowledged. False if every attempt failed."""
        for _ in range(CONNECT_ATTEMPTS):
            try:
                await self.open(timeout_s=30)
                await self.join(self.room, since=self.last, timeout_s=30)
            except (OSError, HandshakeFailed, TimeoutError, RuntimeError):
                self.tally.retries += 1
                self.leave_now(clean=False)
                await asyncio.sleep(0.5 + random.random())
                continue
            self.ready = True
            for cid, room in list(self.pending.items()):
                Peer.post(self, room, 0, cid)
            return True
        self.tally.unreachable += 1
        return False


async def churn(members: list[Member], per_s: float, seconds: float, move_share: float,
                tg: asyncio.TaskGroup) -> None:
    """For ``seconds``, about ``per_s`` times a second, drop a connected member (half of
    them cleanly) and bring it back 0.05-1.5 s later, to the other gateway with probability
    ``move_share``. The returns run in ``tg``, so the caller's TaskGroup waits for them."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while True:
        await asyncio.sleep(random.expovariate(per_s))
        if loop.time() >= end:
            return
        ready = [m for m in members if m.ready]
        if not ready:
            continue
        m = random.choice(ready)
        m.leave_now(clean=random.random() < 0.5)
        tg.create_task(m.come_back(random.uniform(0.05, 1.5), random.random() < move_share))


def missing(members: list[Member], tally: Tally) -> tuple[int, int]:
    """(expected, missing): every acknowledged message after a member's first join is
    expected once by that member; missing if it skipped it or never got that far."""
    expected = lost = 0
    for m in members:
        first = m.first_head
        for seq in tally.acked[m.room]:
            if first is not None and seq <= first:
                continue
            expected += 1
            if m.last is None or seq > m.last or seq in m.holes:
                lost += 1
    return expected, lost
