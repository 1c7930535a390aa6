"""``SharedReads`` (chat_server/questions/vote_facts.py): the votes arriving together share one
read of their question, what was read is kept a short while, and a failure or a voter who
leaves mid-read does not spoil the others' votes."""

from __future__ import annotations

import asyncio

import pytest

from chat_server.questions.vote_facts import SharedReads


class Source:
    """A loader that counts its reads and answers when told to."""

    def __init__(self) -> None:
        self.reads: list[str] = []
        self.release = asyncio.Event()
        self.fail: Exception | None = None

    async def load(self, key: str) -> str:
        self.reads.append(key)
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return f"answer {key} #{len(self.reads)}"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def shared(source: Source, clock: Clock, keep: bool = True, max_kept: int = 100) -> SharedReads[str]:
    return SharedReads(source.load, lambda _answer: keep, ttl_s=2.0, max_kept=max_kept, clock=clock)


async def test_votes_arriving_together_share_one_read() -> None:
    source, clock = Source(), Clock()
    reads = shared(source, clock)
    waiting = [asyncio.create_task(reads.get("q1")) for _ in range(50)]
    await asyncio.sleep(0)
    source.release.set()
    answers = await asyncio.gather(*waiting)
    assert source.reads == ["q1"]
    assert set(answers) == {"answer q1 #1"}
    # Another question is a read of its own.
    assert await reads.get("q2") == "answer q2 #2"


async def test_an_answer_is_kept_for_its_time_then_read_again() -> None:
    source, clock = Source(), Clock()
    source.release.set()
    reads = shared(source, clock)
    assert await reads.get("q1") == "answer q1 #1"
    clock.now += 1.9
    assert await reads.get("q1") == "answer q1 #1"
    clock.now += 0.1  # 2 s after the read
    assert await reads.get("q1") == "answer q1 #2"
    assert source.reads == ["q1", "q1"]


async def test_an_answer_not_to_keep_is_shared_but_read_again_next_time() -> None:
    source, clock = Source(), Clock()
    reads = shared(source, clock, keep=False)
    together = [asyncio.create_task(reads.get("q1")) for _ in range(3)]
    await asyncio.sleep(0)
    source.release.set()
    assert set(await asyncio.gather(*together)) == {"answer q1 #1"}
    assert await reads.get("q1") == "answer q1 #2"


async def test_forget_drops_what_was_kept() -> None:
    source, clock = Source(), Clock()
    source.release.set()
    reads = shared(source, clock)
    await reads.get("q1")
    reads.forget("q1")
    reads.forget("never read")
    assert await reads.get("q1") == "answer q1 #2"


async def test_a_read_under_way_when_forgotten_is_answered_but_not_kept() -> None:
    source, clock = Source(), Clock()
    reads = shared(source, clock)
    begun = asyncio.create_task(reads.get("q1"))
    await asyncio.sleep(0)
    reads.forget("q1")  # e.g. the question was dismissed while this read was under way
    source.release.set()
    assert await begun == "answer q1 #1"
    assert await reads.get("q1") == "answer q1 #2"
    assert await reads.get("q1") == "answer q1 #2"  # this one, begun after, is kept


async def test_a_failed_read_fails_everyone_waiting_and_is_not_kept() -> None:
    source, clock = Source(), Clock()
    source.fail = RuntimeError("database away")
    reads = shared(source, clock)
    waiting = [asyncio.create_task(reads.get("q1")) for _ in range(5)]
    await asyncio.sleep(0)
    source.release.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) and str(r) == "database away" for r in results), results
    source.fail = None
    assert await reads.get("q1") == "answer q1 #2"


async def test_the_first_voter_leaving_mid_read_does_not_fail_the_others() -> None:
    source, clock = Source(), Clock()
    reads = shared(source, clock)
    first = asyncio.create_task(reads.get("q1"))
    await asyncio.sleep(0)
    others = [asyncio.create_task(reads.get("q1")) for _ in range(3)]
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    source.release.set()
    assert set(await asyncio.gather(*others)) == {"answer q1 #1"}
    assert source.reads == ["q1"]
    assert await reads.get("q1") == "answer q1 #1"  # kept, though its first asker left


async def test_at_most_max_kept_answers_the_expired_first_then_the_oldest() -> None:
    source, clock = Source(), Clock()
    source.release.set()
    reads = shared(source, clock, max_kept=3)
    for key in ("a", "b"):
        await reads.get(key)
    clock.now += 2.5  # a and b expired
    for key in ("c", "d", "e"):
        await reads.get(key)
    assert source.reads == ["a", "b", "c", "d", "e"]
    # c, d and e are kept (a and b made room), so none of them is read again.
    for key in ("c", "d", "e"):
        await reads.get(key)
    assert len(source.reads) == 5
    await reads.get("f")  # full: the oldest (c) goes
    await reads.get("d")
    await reads.get("c")
    assert source.reads[5:] == ["f", "c"]
