"""How a post waits for its commit in the embedded broker (MemoryBroker._wait): a sender
that goes away does not cancel the commit others wait for, a commit that takes too long is
answered ``unavailable`` (the row stays queued and a retry is acknowledged once it lands), and
a refused row is answered ``unavailable`` and forgotten. A committer whose futures the test
settles by hand; no database, no timing but one shortened timeout.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable

import pytest

from chat_server.broker import memory
from chat_server.broker.base import Draft
from chat_server.broker.memory import MemoryBroker
from chat_server.protocol.message import message_prefix
from chat_server.transcripts.committer import RowRefused
from persistence.transcripts import NewMessage
from rooms.errors import BadFrame, Unavailable

pytestmark = pytest.mark.unit
ROOM = "ack-room"


class HandCommitter:
    """Queues rows; the test commits or refuses them."""

    def __init__(self) -> None:
        self.pending: list[tuple[NewMessage, Callable[[], None], asyncio.Future[None]]] = []

    def submit(self, row: NewMessage, after_commit: Callable[[], None]) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append((row, after_commit, done))
        return done

    def commit_all(self) -> None:
        for _, after_commit, done in self.pending:
            after_commit()
            done.set_result(None)
        self.pending.clear()

    def refuse_all(self) -> None:
        for _, _, done in self.pending:
            done.set_exception(RowRefused("IntegrityError"))
        self.pending.clear()


def _draft(n: int, cid: str | None = None) -> Draft:
    message_id = f"{n:032x}"
    author = {"id": "u1", "handle": "Hand", "role": "member"}
    prefix = message_prefix(ROOM, message_id, author, f"body {n}", None, 1000 + n, None)
    return Draft(ROOM, message_id, "u1", 1, cid or f"c{n}", prefix, f"body {n}", None, None, 1000 + n)


async def _started(committer: HandCommitter) -> MemoryBroker:
    broker = MemoryBroker(100, committer)
    await broker.start(lambda room, seq, frame: None, lambda room: None, lambda payload: None)
    return broker


async def _until_queued(committer: HandCommitter, n: int) -> None:
    async with asyncio.timeout(5):
        while len(committer.pending) < n:  # noqa: ASYNC110 - the posting task runs in between
            await asyncio.sleep(0)


async def test_a_sender_that_goes_away_does_not_cancel_the_commit() -> None:
    committer = HandCommitter()
    broker = await _started(committer)
    first = asyncio.create_task(broker.post(_draft(1), 1001))
    await _until_queued(committer, 1)
    committed = committer.pending[0][2]
    retry = asyncio.create_task(broker.post(_draft(1), 1001))  # the same cid, resent
    await asyncio.sleep(0)
    first.cancel()  # the first sender's socket closed
    with pytest.raises(asyncio.CancelledError):
        await first
    assert not committed.cancelled()
    committer.commit_all()
    posted = await asyncio.wait_for(retry, 5)
    assert (posted.seq, posted.duplicate) == (1, True)


async def test_a_slow_commit_is_answered_unavailable_and_a_retry_acked_once_it_lands(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(memory, "ACK_TIMEOUT_S", 0.05)
    committer = HandCommitter()
    broker = await _started(committer)
    with pytest.raises(Unavailable, match="not stored yet"):
        await asyncio.wait_for(broker.post(_draft(1), 1001), 5)
    retry = asyncio.create_task(broker.post(_draft(1), 1001))
    await asyncio.sleep(0)
    committer.commit_all()
    posted = await asyncio.wait_for(retry, 5)
    assert (posted.seq, posted.duplicate) == (1, True)


async def test_a_refused_row_is_unavailable_and_its_cid_forgotten() -> None:
    committer = HandCommitter()
    broker = await _started(committer)
    sending = asyncio.create_task(broker.post(_draft(1), 1001))
    await _until_queued(committer, 1)
    committer.refuse_all()
    with pytest.raises(Unavailable, match="could not be stored"):
        await asyncio.wait_for(sending, 5)
    # The retry is a new posting (its own row), not a duplicate of the refused one.
    again = asyncio.create_task(broker.post(_draft(2, cid="c1"), 1002))
    await _until_queued(committer, 1)
    committer.commit_all()
    posted = await asyncio.wait_for(again, 5)
    assert (posted.seq, posted.duplicate) == (2, False)


async def test_committed_postings_are_remembered_without_anything_the_collector_scans() -> None:
    # Up to 100,000 cids are remembered for retries; a long-lived server fills them, and each
    # full collection scanned every one that kept its posting object and future.
    committer = HandCommitter()
    broker = await _started(committer)
    posts = [asyncio.create_task(broker.post(_draft(n), 1000 + n)) for n in range(1, 201)]
    await _until_queued(committer, 200)
    committer.commit_all()
    answers = await asyncio.gather(*posts)
    gc.collect()
    tracked = [obj for obj in gc.get_objects()
               if type(obj) in (memory._Posting, asyncio.Future)]
    assert tracked == []
    # A retry of a committed send is still answered with the first posting's id and seq.
    again = await broker.post(_draft(7), 1007)
    assert (again.message_id, again.seq, again.duplicate) == (answers[6].message_id, answers[6].seq, True)
    with pytest.raises(BadFrame):
        await broker.post(Draft("other-room", "f" * 32, "u1", 1, "c7", b"", "x", None, None, 1), 1)
