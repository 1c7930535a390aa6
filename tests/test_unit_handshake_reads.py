"""The handshakes' session lookups read together (chat_server/accounts/handshakes.py), on a
real migrated SQLite file: each handshake gets its own session's member, blocks and staff rooms
whatever else is in the batch; an unknown, expired or signed-out session is refused; a session
signed out while an earlier read is still under way is refused by the next one (nothing is
answered from a read that began before the lookup); a failed read refuses its whole batch and
the next lookups read again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chat_server.accounts.handshakes import HandshakeReads
from chat_server.runtime import lean_handshakes
from persistence import accounts, moderation
from persistence.handshake import Handshake
from rooms.model import Member
from rooms.roles import Role
from support.inproc import InProc, eventually

pytestmark = pytest.mark.unit


class CountedReads:
    """The real batched read, counting its calls and, when ``gate`` is set, held until it opens."""

    def __init__(self, tier: InProc) -> None:
        self.tier = tier
        self.batches: list[list[str]] = []
        self.gate: asyncio.Event | None = None
        self.fail = False

    async def __call__(self, digests: list[str]) -> dict[str, Handshake]:
        self.batches.append(list(digests))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise OSError("database unreachable")
        return await lean_handshakes(self.tier.hot, digests)


@pytest.fixture
async def tier(tmp_path: Path) -> AsyncIterator[InProc]:
    async with InProc(tmp_path) as tier:
        yield tier


async def _session(tier: InProc, member: Member, digest: str, hours: float = 1.0) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    async with tier.db() as db:
        await accounts.open_session(db, member.db_id, digest, now, now + timedelta(hours=hours))


async def _sign_out(tier: InProc, digest: str) -> None:
    async with tier.db() as db:
        assert await accounts.close_session(db, digest)


async def test_lookups_that_arrive_together_are_read_together_each_with_its_own_answer(
    tier: InProc,
) -> None:
    ann, bea, nav = await tier.member("Ann"), await tier.member("Bea"), await tier.member("Nav")
    async with tier.db() as db:
        await moderation.set_block(db, ann.db_id, bea.db_id, True, 1)
        await moderation.assign(db, nav.db_id, "nat-one")
        await db.commit()
        await accounts.set_role(db, "nav", Role.NAVIGATOR)
    await _session(tier, ann, "a" * 64)
    await _session(tier, bea, "b" * 64)
    await _session(tier, nav, "n" * 64)
    await _session(tier, bea, "e" * 64, hours=-1)  # expired
    reads = CountedReads(tier)
    handshakes = HandshakeReads(reads)
    digests = ["a" * 64, "b" * 64, "n" * 64, "e" * 64, "u" * 64, "a" * 64] * 20
    found = await asyncio.gather(*(handshakes.lookup(d) for d in digests))
    # The first lookup is read at once, alone; everything asked meanwhile in the next read.
    assert [len(set(b)) for b in reads.batches] == [1, 5]
    by_digest = dict(zip(digests, found, strict=True))
    assert by_digest["a" * 64] is not None and by_digest["a" * 64].member.id == ann.id
    assert by_digest["a" * 64].hidden == frozenset({bea.id})
    assert by_digest["b" * 64] is not None and by_digest["b" * 64].member.id == bea.id
    assert by_digest["b" * 64].hidden == frozenset() and by_digest["b" * 64].assigned == frozenset()
    assert by_digest["n" * 64] is not None and by_digest["n" * 64].assigned == frozenset({"nat-one"})
    assert by_digest["n" * 64].member.role is Role.NAVIGATOR
    assert by_digest["e" * 64] is None and by_digest["u" * 64] is None
    await handshakes.close()


async def test_a_session_signed_out_during_an_earlier_read_is_refused_by_the_next(tier: InProc) -> None:
    ann, bea = await tier.member("Ann"), await tier.member("Bea")
    await _session(tier, ann, "a" * 64)
    await _session(tier, bea, "b" * 64)
    reads = CountedReads(tier)
    handshakes = HandshakeReads(reads)
    reads.gate = asyncio.Event()
    first = asyncio.create_task(handshakes.lookup("a" * 64))
    await eventually(lambda: reads.batches == [["a" * 64]])  # under way, held at the gate
    await _sign_out(tier, "b" * 64)  # Bea signs out, then her tab reconnects
    second = asyncio.create_task(handshakes.lookup("b" * 64))
    await asyncio.sleep(0)  # asked (its first step), waiting for Ann's read to end
    reads.gate.set()
    assert (await first) is not None
    assert (await second) is None
    assert reads.batches == [["a" * 64], ["b" * 64]]
    await handshakes.close()


async def test_a_failed_read_refuses_its_batch_and_the_next_lookups_read_again(tier: InProc) -> None:
    ann = await tier.member("Ann")
    await _session(tier, ann, "a" * 64)
    reads = CountedReads(tier)
    handshakes = HandshakeReads(reads)
    reads.fail = True
    results = await asyncio.gather(*(handshakes.lookup("a" * 64) for _ in range(3)),
                                   return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results)
    reads.fail = False
    found = await handshakes.lookup("a" * 64)
    assert found is not None and found.member.id == ann.id
    await handshakes.close()
    with pytest.raises(RuntimeError):
        await handshakes.lookup("a" * 64)
