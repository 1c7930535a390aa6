"""Transcripts under faults, embedded mode (SQLite): the server SIGKILLed right after an
ack; after a restart every acknowledged message is stored, seqs continue, and a resume from 0
replays the database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import websockets

from support.client import Client
from support.cluster import Deployment
from support.procs import TIMEOUT_SCALE
from support.transcripts import (
    assert_contiguous,
    assert_rows_match_acks,
    close_all,
    connect_members,
    has_ack,
    has_seq,
    sqlite_rows,
)


async def pipelined_posts(
    client: Client, room: str, prefix: str, count: int, window: int, on_ack: Callable[[], None]
) -> list[str]:
    """Send up to ``window`` posts ahead of their acks; stop when the socket closes.
    Returns the cids sent (acked or not)."""
    sent: list[str] = []
    try:
        for i in range(count):
            if i >= window:
                await client.wait_until(has_ack(sent[i - window]), 10, f"ack {sent[i - window]}")
                on_ack()
            cid = f"{prefix}-{i}"
            await client.send({"type": "send", "room": room, "body": f"{prefix} message {i}", "cid": cid})
            sent.append(cid)
    except (ConnectionError, websockets.ConnectionClosed):
        pass
    return sent


@pytest.mark.slow
async def test_embedded_sigkill_after_ack_keeps_every_acked_message(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Embedded mode: 6 senders pipeline posts; the server is SIGKILLed right after the
    150th ack. After a restart on the same data dir every acknowledged message is in SQLite,
    seqs are gap-free and continue, a send retried with an unacked cid is stored once, and a
    join with since=0 replays every stored message from the database in order, once."""
    n_senders, kill_after = 6, 150
    dep = Deployment.start(tmp_path_factory.mktemp("faults-embedded"), count=1)
    gw = dep.gateways[0]
    db_path = Path(dep.env["KINDRED_DATA_DIR"]) / "kindred.db"
    clients: list[Client] = []
    try:
        name, phrase, rooms = dep.new_org()
        members = [dep.register(org=(name, phrase)) for _ in range(n_senders)]
        clients = await connect_members(dep, members, rooms)
        seen = 0
        killed_at_ack = 0

        def on_ack() -> None:
            nonlocal seen, killed_at_ack
            seen += 1
            if seen == kill_after:
                gw.kill()  # SIGKILL, in the same event-loop step as the ack was seen
                killed_at_ack = seen

        sent = await asyncio.wait_for(
            asyncio.gather(
                *(
                    pipelined_posts(c, rooms[i % 3], f"t4s{i}", 1000, 8, on_ack)
                    for i, c in enumerate(clients)
                )
            ),
            60 * TIMEOUT_SCALE,
        )
        assert killed_at_ack == kill_after and not gw.running
        for c in clients:  # every frame the dead server had written is read by now
            await c.wait_closed(10)
        acks = [f for c in clients for f in c.frames if f.get("type") == "ack"]
        errors = [f for c in clients for f in c.frames if f.get("type") == "error"]
        assert errors == []
        assert len(acks) >= kill_after

        stored = sqlite_rows(db_path, rooms)
        stored_ids = {i for _, _, i, _ in stored}
        missing = [a for a in acks if a["id"] not in stored_ids]
        assert missing == [], f"{len(missing)} acknowledged messages lost: {missing[:5]}"
        places = {i: (r, s) for r, s, i, _ in stored}
        assert all(places[a["id"]] == (a["room"], a["seq"]) for a in acks)
        heads = assert_contiguous([(r, s, i) for r, s, i, _ in stored], rooms)
        acked_cids = {(k, f["cid"]) for k, c in enumerate(clients) for f in c.frames if f.get("type") == "ack"}
        unacked = [(k, cid) for k, cids in enumerate(sent) for cid in cids if (k, cid) not in acked_cids]
        stored_by_cid = {cid: i for _, _, i, cid in stored}
        committed_unacked = [x for x in unacked if x[1] in stored_by_cid]
        await close_all(clients)
        clients = []

        started = time.monotonic()
        await asyncio.to_thread(gw.start)
        restart_s = time.monotonic() - started
        clients = await connect_members(dep, members, rooms)
        # Seqs continue after the restart: a new post gets the stored head + 1.
        for k in range(3):
            room = rooms[k]
            ack = await clients[k].post(room, "after the restart", cid="t4-after")
            assert ack["type"] == "ack" and ack["seq"] == heads[room] + 1, (ack, heads[room])
            acks.append(ack)
        # Sends that were in flight are retried with their cid: those already committed are
        # acknowledged as duplicates of the stored row, the others are posted now.
        for k, cid in unacked:
            room = rooms[k % 3]
            ack = await clients[k].post(room, "retried", cid=cid)
            assert ack["type"] == "ack", ack
            if cid in stored_by_cid:
                assert ack.get("duplicate") is True and ack["id"] == stored_by_cid[cid], ack
            acks.append(ack)
        final = sqlite_rows(db_path, rooms)
        final_rows = [(r, s, i) for r, s, i, _ in final]
        assert_rows_match_acks(final_rows, acks, rooms)

        # A member joining with since=0 gets every stored message, in order, exactly once.
        reader = await Client.connect(gw.ws_url, members[0].token)
        clients.append(reader)
        for room in rooms:
            await reader.join(room, since=0)
        marks: dict[str, int] = {}
        for k, room in enumerate(rooms):
            marks[room] = (await clients[k].post(room, "marker", cid="t4-marker"))["seq"]
        for room in rooms:
            await reader.wait_until(has_seq(reader, room, marks[room]), 10, f"marker in {room}")
            got = [(m["seq"], m["id"]) for m in reader.messages(room)]
            want = sorted((s, i) for r, s, i in final_rows if r == room)
            assert got[:-1] == want, f"{room}: replay differs from the database"
            assert got[-1][0] == marks[room] == len(want) + 1
        print(
            f"\n[embedded kill] killed after ack #{kill_after}; {len(acks) - 3 - len(unacked)} "
            f"acks received in all before the kill, {len(unacked)} sends unacked "
            f"({len(committed_unacked)} of them committed, acked as duplicates on retry); "
            f"restart {restart_s:.1f}s; {len(final)} rows replayed from since=0"
        )
    finally:
        await close_all(clients)
        dep.stop()
