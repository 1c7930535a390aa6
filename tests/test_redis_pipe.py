"""presence/redis_pipe.py against a real redis-server: the commands of one loop turn in one
write, each caller's replies and errors its own, a failure in the middle of a batch, commands
queued while a batch is in flight or while the connection opens, NOSCRIPT, callers cancelled
before and after the write, the backoff through an outage, and the presence store and broker
reads on top of it.

The module has a redis-server of its own: one test pauses it, one kills connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis as redis_sync
from redis.asyncio import Redis
from redis.exceptions import RedisError

from chat_server import keys
from chat_server.broker.redis_broker import RedisBroker
from presence.redis_address import Address
from presence.redis_pipe import RedisPipe, ReplyFailed, Script
from presence.redis_store import RedisPresence
from support.inproc import eventually
from support.procs import TIMEOUT_SCALE, RedisServer, free_port

pytestmark = pytest.mark.redis

_ECHO = Script("return {KEYS[1], ARGV[1]}")
_BOOM = Script("return redis.error_reply('BOOM ' .. ARGV[1])")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("pipe-redis"), appendonly=False) as srv:
        yield srv


@pytest.fixture
def admin(server: RedisServer) -> Iterator[redis_sync.Redis]:
    client = redis_sync.Redis.from_url(server.url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
async def pipe(server: RedisServer) -> AsyncIterator[RedisPipe]:
    p = RedisPipe(Address(port=server.port, timeout_s=2.0 * TIMEOUT_SCALE))
    yield p
    await p.close()


async def together(*calls: object) -> list[object]:
    """Every call started in the same loop turn; results or exceptions, in order."""
    return await asyncio.gather(*calls, return_exceptions=True)  # type: ignore[arg-type]


async def test_one_write_per_loop_turn_and_replies_in_order(pipe: RedisPipe, admin: redis_sync.Redis) -> None:
    await pipe.run(_ECHO, ["key"], ["arg"])  # connected, and the script known
    writes = pipe.writes
    n = 200
    results = await together(
        *(pipe.execute("INCRBY", f"k{i}", i) for i in range(n)),
        pipe.execute_many([("SET", "g", "x"), ("APPEND", "g", "y"), ("GET", "g")]),
        pipe.run(_ECHO, ["key"], ["arg"]),
        pipe.transaction([("INCR", "t"), ("INCR", "t")]),
    )
    assert results[:n] == list(range(n))
    assert results[n:] == [[b"OK", 2, b"xy"], [b"key", b"arg"], [1, 2]]
    assert pipe.writes == writes + 1  # every caller's commands in one write
    # The next turn's commands are the next write.
    assert await together(pipe.execute("GET", "k7"), pipe.execute("GET", "k9")) == [b"7", b"9"]
    assert pipe.writes == writes + 2


async def test_commands_queued_while_connecting_go_out_together(pipe: RedisPipe) -> None:
    first = [asyncio.ensure_future(pipe.execute("INCR", "c")) for _ in range(5)]
    await asyncio.sleep(0)  # the first batch is flushed; the connection is being opened
    second = [asyncio.ensure_future(pipe.execute("INCR", "c")) for _ in range(5)]
    assert await asyncio.gather(*first, *second) == list(range(1, 11))
    assert pipe.writes == 1


async def test_each_caller_gets_its_own_error(pipe: RedisPipe, admin: redis_sync.Redis) -> None:
    admin.hset("h", "f", "v")
    results = await together(
        pipe.execute("SET", "s", "1"),
        pipe.execute("INCR", "h"),  # WRONGTYPE: this caller only
        pipe.execute("GET", "s"),
        pipe.run(_BOOM, [], ["one"]),  # a script's error: this caller only
        pipe.execute_many([("INCR", "m"), ("INCR", "h"), ("INCR", "m")]),  # a pipeline: all ran
        pipe.execute("NOSUCHCOMMAND"),
        pipe.execute("INCR", "s"),
    )
    assert results[0] == b"OK"
    assert isinstance(results[1], ReplyFailed) and "WRONGTYPE" in str(results[1])
    assert results[2] == b"1"
    assert isinstance(results[3], ReplyFailed) and "BOOM one" in str(results[3])
    assert isinstance(results[4], ReplyFailed) and "WRONGTYPE" in str(results[4])
    assert isinstance(results[5], ReplyFailed)
    assert results[6] == 2
    assert isinstance(results[1], RedisError)  # callers' `except RedisError` still holds
    assert admin.get("m") == b"2"
    # A transaction refused at queueing time runs none of its commands.
    with pytest.raises(ReplyFailed):
        await pipe.transaction([("INCR", "m"), ("NOSUCHCOMMAND",)])
    assert admin.get("m") == b"2"


async def test_a_failure_mid_batch_fails_the_rest_of_it_and_the_next_call_reconnects(
    pipe: RedisPipe, admin: redis_sync.Redis,
) -> None:
    me = await pipe.execute("CLIENT", "ID")
    results = await together(
        pipe.execute("SET", "a", "1"),
        pipe.execute("CLIENT", "KILL", "ID", me, "SKIPME", "no"),  # Redis drops us here
        pipe.execute("INCR", "b"),
        pipe.execute_many([("GET", "a"), ("GET", "a")]),
        pipe.run(_ECHO, ["k"], ["v"]),
    )
    assert results[:2] == [b"OK", 1]  # answered before the connection went
    assert all(isinstance(r, ConnectionError) for r in results[2:]), results
    assert admin.get("b") is None  # not run: the connection closed before it
    assert await pipe.execute("CLIENT", "ID") != me  # a new connection
    assert await pipe.execute("GET", "a") == b"1"


async def test_a_command_queued_while_a_batch_is_in_flight(
    pipe: RedisPipe, admin: redis_sync.Redis,
) -> None:
    await pipe.execute("PING")
    writes = pipe.writes
    admin.execute_command("CLIENT", "PAUSE", int(300 * TIMEOUT_SCALE), "ALL")
    first = [asyncio.ensure_future(pipe.execute("INCR", "f")) for _ in range(3)]
    await asyncio.sleep(0.05)
    assert pipe.writes == writes + 1 and not any(f.done() for f in first)  # written, unanswered
    second = [asyncio.ensure_future(pipe.execute("INCR", "f")) for _ in range(3)]
    late = asyncio.ensure_future(pipe.execute_many([("GET", "f"), ("INCR", "f")]))
    assert await asyncio.gather(*first, *second, late) == [1, 2, 3, 4, 5, 6, [b"6", 7]]
    assert pipe.writes == writes + 2


async def test_no_answer_in_time_fails_every_waiter_and_the_pipe_recovers(
    server: RedisServer, admin: redis_sync.Redis,
) -> None:
    pipe = RedisPipe(Address(port=server.port, timeout_s=0.2))
    try:
        await pipe.execute("PING")
        admin.execute_command("CLIENT", "PAUSE", int(1000 * TIMEOUT_SCALE), "ALL")
        results = await together(pipe.execute("INCR", "p"), pipe.execute_many([("INCR", "p")] * 2))
        assert all(isinstance(r, TimeoutError) for r in results), results
        admin.execute_command("CLIENT", "UNPAUSE")
        assert await pipe.execute("PING") == b"PONG"
    finally:
        admin.execute_command("CLIENT", "UNPAUSE")
        await pipe.close()


async def test_no_answer_in_time_fails_every_waiter_with_credentials_and_a_database(
    server: RedisServer, admin: redis_sync.Redis,
) -> None:
    # AUTH and SELECT are answered on every new connection before any caller's command: the
    # deadlines must count them, or the last callers of each write would wait for ever.
    admin.execute_command("ACL", "SETUSER", "pauser", "on", ">secret", "~*", "&*", "+@all")
    pipe = RedisPipe(Address(port=server.port, username="pauser", password="secret", db=2, timeout_s=0.2))
    try:
        assert await pipe.execute("PING") == b"PONG"
        admin.execute_command("CLIENT", "PAUSE", int(1000 * TIMEOUT_SCALE), "ALL")
        async with asyncio.timeout(5 * TIMEOUT_SCALE):
            # One command in the write: the two hello replies would have covered its deadline.
            results = await together(pipe.execute("INCR", "p"))
        assert all(isinstance(r, TimeoutError) for r in results), results
    finally:
        admin.execute_command("CLIENT", "UNPAUSE")
        await pipe.close()
        admin.execute_command("ACL", "DELUSER", "pauser")


@pytest.mark.parametrize("at_once", [False, True])
async def test_each_write_is_held_to_its_own_deadline(
    server: RedisServer, admin: redis_sync.Redis, at_once: bool,
) -> None:
    # One timer watches every write's deadline (the oldest unmet one): a write answered in
    # time must not fail a later one early, and the later one must still fail on time: the
    # timer, set for the earlier write, finds it answered and is set again for the later.
    timeout_s = 0.4
    pipe = RedisPipe(Address(port=server.port, timeout_s=timeout_s), at_once=at_once)
    loop = asyncio.get_running_loop()

    async def a_paused_write_fails_on_time() -> None:
        admin.execute_command("CLIENT", "PAUSE", int(3000 * TIMEOUT_SCALE), "ALL")
        started = loop.time()
        async with asyncio.timeout(5 * TIMEOUT_SCALE):
            results = await together(pipe.execute("INCR", "d"))
        waited = loop.time() - started
        assert isinstance(results[0], TimeoutError), results
        assert timeout_s * 0.9 <= waited < timeout_s + 1.0 * TIMEOUT_SCALE, waited

    try:
        assert await pipe.execute("PING") == b"PONG"  # opens; the timer is set for this write
        await asyncio.sleep(timeout_s / 2)
        await a_paused_write_fails_on_time()
        admin.execute_command("CLIENT", "UNPAUSE")
        # A new connection, and after a quiet spell (the timer found nothing to watch) a
        # write is watched again.
        assert await pipe.execute("PING") == b"PONG"
        await asyncio.sleep(timeout_s * 1.5)
        await a_paused_write_fails_on_time()
    finally:
        admin.execute_command("CLIENT", "UNPAUSE")
        await pipe.close()


@pytest.mark.parametrize("turns", [0, 1, 2, 3, 4])
async def test_close_fails_a_call_whatever_turn_of_its_connecting_it_lands_in(
    server: RedisServer, turns: int,
) -> None:
    pipe = RedisPipe(Address(port=server.port))
    call = asyncio.ensure_future(pipe.execute("PING"))
    for _ in range(turns):
        await asyncio.sleep(0)
    await pipe.close()
    async with asyncio.timeout(2 * TIMEOUT_SCALE):
        result = await asyncio.gather(call, return_exceptions=True)
    assert result == [b"PONG"] or isinstance(result[0], ConnectionError), result
    assert not pipe._held and not pipe._queued
    with pytest.raises(ConnectionError):
        await pipe.execute("PING")


async def test_a_caller_cancelled_before_the_write_has_its_command_dropped(pipe: RedisPipe) -> None:
    # Queued while the connection opens, cancelled before it is open; then the same on an
    # open connection, cancelled before the end of the turn.
    for key in ("x", "y"):
        calls = [asyncio.ensure_future(pipe.execute("INCRBY", key, 1 + i)) for i in range(3)]
        await asyncio.sleep(0)  # queued, not yet written
        calls[1].cancel()
        assert await calls[0] == 1
        assert await calls[2] == 4  # 1, then 3: the cancelled caller's 2 never went out
        assert await pipe.execute("GET", key) == b"4"
    writes = pipe.writes
    only = asyncio.ensure_future(pipe.execute("INCR", "z"))
    await asyncio.sleep(0)
    only.cancel()
    assert await pipe.execute("GET", "z") is None  # nothing run, and no empty write either
    assert pipe.writes == writes + 1


async def test_at_once_writes_each_call_as_it_is_made(server: RedisServer) -> None:
    pipe = RedisPipe(Address(port=server.port), at_once=True)
    try:
        # Made while the connection opens: held, then one write.
        assert await together(*(pipe.execute("INCR", "n") for _ in range(3))) == [1, 2, 3]
        assert pipe.writes == 1
        calls = [asyncio.ensure_future(pipe.execute("INCR", "n")) for _ in range(3)]
        await asyncio.sleep(0)  # each call's first step has run; the turn has not ended
        assert pipe.writes == 4
        assert await asyncio.gather(*calls) == [4, 5, 6]
    finally:
        await pipe.close()


async def test_a_caller_cancelled_after_the_write_keeps_the_others_replies_in_place(
    pipe: RedisPipe, admin: redis_sync.Redis,
) -> None:
    await pipe.execute("PING")
    writes = pipe.writes
    admin.execute_command("CLIENT", "PAUSE", int(300 * TIMEOUT_SCALE), "ALL")
    try:
        calls = [asyncio.ensure_future(pipe.execute("INCRBY", "x", 1 + i)) for i in range(3)]
        await asyncio.sleep(0.05)
        assert pipe.writes == writes + 1 and not any(c.done() for c in calls)  # written, unanswered
        calls[1].cancel()
        assert await calls[0] == 1
        assert await calls[2] == 6  # 1, then 2 (the cancelled caller's, still run), then 3
        assert await pipe.execute("GET", "x") == b"6"
    finally:
        admin.execute_command("CLIENT", "UNPAUSE")


async def test_an_outage_is_retried_with_a_backoff_and_the_first_call_after_it_connects(
    tmp_path: Path,
) -> None:
    with RedisServer(tmp_path, appendonly=False) as server:
        pipe = RedisPipe(Address(port=server.port, connect_timeout_s=1.0), retry_max_s=0.2)
        try:
            assert await pipe.execute("PING") == b"PONG"
            server.stop()
            # Driven by attempts, not by a window of wall time: each round of calls shares one
            # attempt and waits for it; sleeps never end early, so load only lengthens rounds.
            loop = asyncio.get_running_loop()
            connects = pipe.connects
            for _ in range(10):  # the first round may still meet the lost connection itself
                results = await together(*(pipe.execute("PING") for _ in range(5)))
                assert all(isinstance(r, ConnectionError) for r in results), results
                if pipe.connects > connects:
                    break
            assert pipe.connects == connects + 1  # one attempt, at once; it failed
            start = loop.time()
            for attempt in range(2, 6):
                results = await together(*(pipe.execute("PING") for _ in range(5)))
                assert all(isinstance(r, ConnectionError) for r in results), results
                assert pipe.connects == connects + attempt  # the round's five calls shared it
            # Attempts 3-5 waited 100, 200, 200 ms (retry_max_s); without a backoff: a few ms.
            assert loop.time() - start >= 0.45, loop.time() - start
            server.start()  # same port
            # The first call once Redis is back waits for the next attempt, not an error.
            assert await pipe.execute("PING") == b"PONG"
            # A connection lost after it opened is reopened at once, and an attempt that
            # fails after a success waits the shortest time again.
            me = await pipe.execute("CLIENT", "ID")
            killed = pipe._proto
            await together(pipe.execute("CLIENT", "KILL", "ID", me, "SKIPME", "no"))
            # Once the pipe has seen the loss: a call written before the socket's close is read
            # goes out on the killed connection and fails with it (a race of the test's own).
            await eventually(lambda: killed is None or killed.lost)
            connects = pipe.connects
            assert await pipe.execute("PING") == b"PONG"
            assert pipe.connects == connects + 1
        finally:
            await pipe.close()


async def test_noscript_sends_the_script_once(pipe: RedisPipe, admin: redis_sync.Redis) -> None:
    assert await pipe.run(_ECHO, ["a"], [1]) == [b"a", b"1"]
    admin.script_flush()
    assert await together(pipe.run(_ECHO, ["b"], [2]), pipe.run(_ECHO, ["c"], [3])) == [
        [b"b", b"2"], [b"c", b"3"]]
    admin.script_flush()
    assert await pipe.run_many(_ECHO, [(["d"], [4]), (["e"], [5])]) == [[b"d", b"4"], [b"e", b"5"]]


async def test_nothing_listening_fails_the_batch_and_close_fails_later_calls() -> None:
    pipe = RedisPipe(Address(port=free_port(), connect_timeout_s=1.0))
    results = await together(pipe.execute("PING"), pipe.run(_ECHO, ["k"], ["v"]))
    assert all(isinstance(r, ConnectionError) for r in results), results
    await pipe.close()
    with pytest.raises(ConnectionError):
        await pipe.execute("PING")


async def test_credentials_and_database_from_the_client(server: RedisServer, admin: redis_sync.Redis) -> None:
    admin.execute_command("ACL", "SETUSER", "piper", "on", ">secret", "~*", "&*", "+@all")
    try:
        client = Redis.from_url(f"redis://piper:secret@127.0.0.1:{server.port}/3")
        pipe = RedisPipe.of(client)
        try:
            assert await pipe.execute("SET", "where", "three") == b"OK"
            assert redis_sync.Redis(port=server.port, db=3).get("where") == b"three"
        finally:
            await pipe.close()
            await client.aclose()
        wrong = RedisPipe(Address(port=server.port, username="piper", password="wrong"))
        with pytest.raises(ConnectionError):
            await wrong.execute("PING")
        await wrong.close()
    finally:
        admin.execute_command("ACL", "DELUSER", "piper")


async def test_presence_joins_of_one_turn_share_a_write(server: RedisServer, admin: redis_sync.Redis) -> None:
    client = Redis.from_url(server.url)
    presence = RedisPresence(client, "gw", ttl_s=10)
    try:
        users = [{"id": f"u{i}", "handle": f"h{i}", "role": "member"} for i in range(50)]
        # Connected, and the scripts known (a first call's NOSCRIPT costs a write of its own).
        assert await presence.open_connection("u0", "c0", 5, 100.0)
        await presence.enter_listing("room-z", users[0], 100.0, 100)
        writes = presence._pipe.writes
        opened = await together(*(presence.open_connection(u["id"], "c1", 5, 100.0) for u in users))
        assert opened == [True] * 50
        joined = await together(*(presence.enter_listing("room-a", u, 100.0, 100) for u in users))
        assert presence._pipe.writes == writes + 2
        assert [j[0] for j in joined] == [True] * 50  # type: ignore[index]
        assert [j[2] for j in joined] == list(range(1, 51))  # type: ignore[index]
        assert await presence.count("room-a") == 50
        views, _ = await presence.page("room-a", None, 100)
        assert sorted(v["id"] for v in views) == sorted(u["id"] for u in users)
        assert await presence.present_among("room-a", ["u3", "nobody"]) == {"u3"}
        assert len(await presence.present("room-a")) == 50
        assert await presence.refresh([("room-a", users[0])], 100.0) == []
        await presence.refresh_connections([("u1", "c1")], 100.0)
        assert admin.zscore(b"kindred:conns:u1", "c1") == 110.0
        gone = await together(*(presence.leave("room-a", u["id"]) for u in users))
        assert gone == users
        await presence.close_connection("u1", "c1")
        assert admin.zscore(b"kindred:conns:u1", "c1") is None
    finally:
        await presence.close()
        await client.aclose()


async def test_broker_reads_through_the_pipe(server: RedisServer, admin: redis_sync.Redis) -> None:
    client = Redis.from_url(server.url)
    broker = RedisBroker(client, "gw", window=100, check_interval_s=5)
    try:
        admin.set(keys.seq("room-b"), 3)
        for seq in (1, 2, 3):
            admin.xadd(keys.log("room-b"), {"f": f"frame{seq}"}, id=f"{seq}-0")
        admin.xdel(keys.log("room-b"), "2-0")
        admin.hset(keys.tomb("room-b"), "2", "gone")
        assert await broker.heads(["room-b", "room-c"]) == {"room-b": 3, "room-c": 0}
        replay = await broker.replay("room-b", 0, 10)
        assert (replay.frames, replay.first, replay.head) == ([(1, b"frame1"), (2, b"gone"), (3, b"frame3")], 1, 3)
        replay = await broker.replay("room-b", 2, 10)
        assert replay.frames == [(3, b"frame3")]
        empty = await broker.replay("room-c", 0, 10)
        assert (empty.frames, empty.first, empty.head) == ([], 1, 0)
    finally:
        await broker.close()
        await client.aclose()


async def test_a_joiner_is_in_its_own_listing_once_sampled_or_not(server: RedisServer) -> None:
    """joined.present is a sample of at most ``limit`` views: the joiner is in it exactly once,
    whether Redis' sample picked them (their stored view is what the join just wrote) or not
    (then they lead it). Views with a non-ASCII handle, as json.dumps stores them, too."""
    client = Redis.from_url(server.url)
    presence = RedisPresence(client, "gw", ttl_s=10)
    try:
        users = [{"id": f"s{i}", "handle": f"Zoë {i}", "role": "member"} for i in range(40)]
        seen_sampled = seen_missed = 0
        for i, user in enumerate(users):
            _new, views, count = await presence.enter_listing("room-s", user, 100.0, 3)
            assert count == i + 1
            assert len(views) == min(3, i + 1)
            assert [v["id"] for v in views].count(user["id"]) == 1
            assert all(v == next(u for u in users if u["id"] == v["id"]) for v in views)
            if views[0] is user:
                seen_missed += 1
            else:
                seen_sampled += 1
        assert seen_missed > 0 and seen_sampled > 0  # both ways taken (40 joins, 3 of up to 40)
    finally:
        await presence.close()
        await client.aclose()
