"""Helpers of the fan-out red team (tests/test_fan_out_turns_redteam*.py): act at the moment a
chosen message of the room is queued but not yet sent to every member, and read what each
member was handed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from chat_server.gateway.connection import Connection
from chat_server.gateway.filling import LocalRoom
from chat_server.wire import Outgoing
from rooms.model import Member
from support.inproc import ROOM, InProc, decode, frames_until, of_type

TURN = 2  # connections a turn of the loop in these tests


@contextlib.contextmanager
def loop_errors_caught() -> Iterator[list[dict[str, Any]]]:
    """What reaches the loop's exception handler meanwhile (a callback that raised, a task's
    exception never retrieved)."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    old = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        yield seen
    finally:
        loop.set_exception_handler(old)


class Hooks:
    """Acts (synchronously) right after the hub queued the frame of a given seq for the room's
    members, while the room's turns are still going out; tasks it starts are awaited by
    ``done``."""

    def __init__(self, tier: InProc) -> None:
        self.tier = tier
        self.actions: dict[int, Callable[[Outgoing], None]] = {}
        self.fired: dict[int, bool] = {}  # seq -> whether its frame was still going out
        self.tasks: list[asyncio.Task[Any]] = []
        hub = tier.hub
        inner = hub._fan_out

        def fan_out(local: LocalRoom, seq: int | None, out: Outgoing) -> None:
            inner(local, seq, out)
            action = self.actions.pop(seq, None) if seq is not None else None
            if action is not None:
                self.fired[seq] = local.slug in hub._fan._queued  # type: ignore[index]
                action(out)

        hub._fan_out = fan_out  # type: ignore[method-assign]

    def at(self, seq: int, action: Callable[[Outgoing], None]) -> None:
        self.actions[seq] = action

    def spawn(self, coro: Any) -> None:
        self.tasks.append(asyncio.create_task(coro))

    async def done(self) -> None:
        await asyncio.gather(*self.tasks)
        assert not self.actions, f"never reached: seqs {sorted(self.actions)}"
        assert all(self.fired.values()), f"acted after the frame had gone out: {self.fired}"


def msg_seqs(frames: list[dict[str, Any]]) -> list[int]:
    return [f["seq"] for f in frames if f.get("type") == "message" and f.get("room") == ROOM]


def after_last_joined(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    idx = [i for i, f in enumerate(frames) if f.get("type") == "joined"]
    return frames[idx[-1] + 1:] if idx else []


def has_seq_after_joined(n: int, since: bool = True) -> Callable[[list[dict[str, Any]]], bool]:
    """Caught up with seq ``n`` since the last join: handed it after ``joined``, or (a join
    without ``since``, which replays nothing) joined at it or later."""

    def done(frames: list[dict[str, Any]]) -> bool:
        joined = of_type(frames, "joined")
        if not joined:
            return False
        return n in msg_seqs(after_last_joined(frames)) or (not since and joined[-1]["seq"] >= n)

    return done


async def read_on(conn: Connection, got: list[dict[str, Any]],
                  done: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
    """``got`` (already read from ``conn``) and what comes next, until ``done`` of it all."""
    more = await frames_until(conn, lambda f: done(got + f))
    return got + more


def outbox_last_seq(conn: Connection) -> int:
    """The newest message a connection has been handed (what its client would resume from)."""
    return max(msg_seqs([decode(d) for d in conn._outbox]), default=0)


async def drained(tier: InProc, *conns: Connection) -> None:
    """Nothing more for these connections: whatever is still queued goes out, then their
    outboxes must hold no further message of the room (nothing delivered late or twice)."""
    tier.hub._fan.settle(ROOM)
    for _ in range(5):
        await asyncio.sleep(0)
    for c in conns:
        late = msg_seqs([decode(d) for d in c._outbox])
        assert late == [], (c.id, late)


async def joined_members(tier: InProc, n: int, prefix: str = "M") -> tuple[list[Member], list[Connection]]:
    members = [await tier.member(f"{prefix}{i}") for i in range(n)]
    conns = [tier.connect(m) for m in members]
    for c in conns:
        await tier.join(c)
    return members, conns


async def send_many(tier: InProc, senders: list[Connection], each: int) -> None:
    """Several senders at once, each sending its next once acknowledged (as a client does):
    the writer commits them in batches, the batches' fan-outs queue behind each other's
    turns, and what the test does meanwhile interleaves with them."""

    async def one(k: int, s: Connection) -> None:
        for i in range(each):
            await tier.send(s, f"m{k}-{i}", f"c{k}-{i}-{s.id}")

    await asyncio.gather(*(one(k, s) for k, s in enumerate(senders)))
