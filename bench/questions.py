"""A webinar of 1,000 members where 200 vote at once: frames per member and server CPU per vote.

    python -m bench.questions                      # embedded (SQLite, one process)
    python -m bench.questions --members 1000 --voters 200 --questions 10
    python -m bench.questions --redis --gateways 2 # Redis mode: PostgreSQL, two gateways

Starts a throw-away ``kindred serve`` (tests/support), seeds the members straight into the
database (bench/seed.py), runs the webinar live, opens one WebSocket per member joined to its
room, approves the questions, then has ``--voters`` members each send one ``vote`` at the
same moment. It measures the ``question`` frames each member received during the storm and
the server processes' CPU time (user + system, /proc; in Redis mode the gateways' sum, not
redis-server's nor PostgreSQL's) from the first vote to the last frame, divided by the votes.
In Redis mode the members and the voters are spread over the gateways in turn. Figures are
printed, never judged.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from bench.seed import seed_members  # noqa: E402
from bench.targets import kindred_env  # noqa: E402
from chat_server.client import JSON, RoomSocket  # noqa: E402
from chat_server.client.api import KEEPALIVE_EXPIRY_S  # noqa: E402
from support.cluster import ORG_A, Deployment  # noqa: E402
from support.moderation import default_org  # noqa: E402
from support.procs import Postgres, RedisServer  # noqa: E402


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Member:
    """One member's socket (chat_server.client's RoomSocket), every frame kept with the time it
    arrived: the storm's frames are counted and timed from this log."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.socket: RoomSocket | None = None
        self.frames: list[dict[str, Any]] = []

    def _keep(self, frame: dict[str, Any] | None) -> None:
        if frame is not None:
            frame["_at"] = time.monotonic()
            self.frames.append(frame)

    async def open(self, url: str, room: str) -> None:
        self.socket = await RoomSocket.connect(url, self.token, JSON, open_timeout_s=60, observer=self._keep)
        await self.socket.join(room, timeout_s=60)

    async def send(self, frame: dict[str, Any]) -> None:
        assert self.socket is not None
        await self.socket.send_frame(frame)

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="kindred-bench-q-"))
    with contextlib.ExitStack() as stack:
        # Production settings with the bench's lifts (bench/targets.py), not the tests' ticks.
        env = kindred_env({"KINDRED_QUESTION_RATE": "1000"})
        count, url = 1, f"sqlite+aiosqlite:///{work / 'data' / 'kindred.db'}"
        if args.redis:
            redis_server = stack.enter_context(RedisServer(work / "redis"))
            pg = stack.enter_context(Postgres(work / "pg"))
            pg.reset_database()
            env |= {"KINDRED_REDIS_URL": redis_server.url, "KINDRED_DATABASE_URL": pg.url}
            count, url = args.gateways, pg.url
        dep = Deployment.start(work, count, env)
        try:
            return {"mode": f"redis, {count} gateways, PostgreSQL" if args.redis else "embedded, SQLite",
                    **await _webinar(args, dep, url)}
        finally:
            dep.stop()


async def _webinar(args: argparse.Namespace, dep: Deployment, url: str) -> dict[str, Any]:
    gw = dep.gateways[0]
    # The bench reads the gateway processes' CPU time.
    pids = [g._proc.pid for g in dep.gateways if g._proc]
    host = dep.register()
    dep.cli("user", "role", host.handle, "navigator")
    tokens = await asyncio.to_thread(seed_members, url, ORG_A[0], args.members)
    headers = {"Authorization": f"Bearer {host.token}"}
    # Idle connections given up before the server's 5 s keep-alive closes them: with httpx's
    # own 5 s, about one run in three lost a sign-up to a connection reset in that race.
    limits = httpx.Limits(max_connections=50, keepalive_expiry=KEEPALIVE_EXPIRY_S)
    async with httpx.AsyncClient(base_url=gw.http_url, headers=headers, timeout=60, limits=limits) as http:
        start = time.time() + 3600
        made = (await http.post("/api/events", json={
            "room": default_org(ORG_A).lounge, "kind": "webinar", "title": "Bench webinar",
            "starts_at": datetime.fromtimestamp(start, UTC).isoformat(),
            "ends_at": datetime.fromtimestamp(start + 3600, UTC).isoformat(), "tz": "UTC",
            "audience_mode": "hosts_only"})).json()
        event, room = made["id"], made["live_room"]

        async def signup(token: str) -> None:
            r = await http.put(f"/api/events/{event}/signup", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, r.text

        for i in range(0, len(tokens), 50):
            await asyncio.gather(*(signup(t) for t in tokens[i:i + 50]))
        for state in ("lobby", "live"):
            assert (await http.post(f"/api/events/{event}/state", json={"state": state})).status_code == 200
        members = [Member(t) for t in tokens]
        for i in range(0, len(members), 50):
            await asyncio.gather(*(m.open(dep.gateways[(i + j) % len(dep.gateways)].ws_url, room)
                                   for j, m in enumerate(members[i:i + 50])))
        qids = []
        for i in range(args.questions):
            r = await http.post(f"/api/events/{event}/questions",
                                headers={"Authorization": f"Bearer {tokens[-1 - i]}"},
                                json={"body": f"Bench question {i}?", "cid": f"bq-{i}"})
            qid = r.json()["id"]
            assert (await http.post(f"/api/questions/{qid}/action", json={"action": "approve"})).status_code == 200
            qids.append(qid)
        await asyncio.sleep(1.0)  # let the approvals' frames arrive before counting

    rng = random.Random(7)
    voters = members[: args.voters]
    before = [len(m.frames) for m in members]
    await _loop_lag(dep)  # the probes start afresh for the storm
    spy = _py_spy(args.py_spy, pids[0]) if args.py_spy else None
    cpu0, t0 = sum(map(cpu_s, pids)), time.monotonic()
    for i, v in enumerate(voters):
        await v.send({"type": "vote", "question": rng.choice(qids), "up": True, "cid": f"v{i}"})
    deadline = time.monotonic() + 60
    while sum(1 for v in voters if any(f.get("type") in ("voted", "error") for f in v.frames)) < len(voters):
        assert time.monotonic() < deadline, "votes were not answered within 60 s"
        await asyncio.sleep(0.05)
    t_answered = time.monotonic()
    # A voter whose vote was refused has an error and no ``voted`` among its frames.
    refused = [v for v in voters if not any(f.get("type") == "voted" for f in v.frames)]
    counted = len(voters) - len(refused)

    def seen(m: Member, b: int) -> int:
        """The votes this member's latest count of each question adds up to."""
        latest: dict[str, int] = {}
        for f in m.frames[b:]:
            if f.get("type") == "question":
                latest[f["id"]] = f["votes"]
        return sum(latest.values())

    # The last coalesced counts arrive up to one interval after the last vote (0.25 s, up to
    # 2 s in a big room with several questions voted on): wait for every member to see them.
    # Members who saw it all are not looked at again (the bench shares the server's cores).
    deadline = time.monotonic() + 10
    waiting = list(zip(members, before, strict=True))
    while waiting and time.monotonic() < deadline:
        waiting = [(m, b) for m, b in waiting if seen(m, b) < counted]
        if waiting:
            await asyncio.sleep(0.1)
    t_seen = None if waiting else time.monotonic()
    storm = [[f for f in m.frames[b:] if f.get("type") == "question"] for m, b in zip(members, before, strict=True)]
    last_at = max((f["_at"] for frames in storm for f in frames), default=t_answered)
    cpu1 = sum(map(cpu_s, pids))
    if spy is not None:  # py-spy writes what it has on SIGINT
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)
    lags = await _loop_lag(dep)
    per_member = [len(s) for s in storm]
    finals: dict[str, int] = {}
    for frames in storm:
        for f in frames:
            finals[f["id"]] = max(finals.get(f["id"], 0), f["votes"])
    for m in members:
        await m.close()
    return {
        "members": args.members, "voters": args.voters, "questions": args.questions,
        "refused": len(refused),
        "question_frames_per_member": {"mean": round(statistics.mean(per_member), 2), "max": max(per_member)},
        "frames_without_coalescing": args.voters,
        "server_cpu_ms_per_vote": round((cpu1 - cpu0) * 1000 / args.voters, 2),
        "all_votes_answered_s": round(t_answered - t0, 3),
        "last_count_frame_s": round(last_at - t0, 3),
        "votes_counted": sum(finals.values()),
        # Members whose latest counts add up to every vote counted, and when the last did.
        "members_who_saw_every_vote": sum(seen(m, b) == counted for m, b in zip(members, before, strict=True)),
        "all_members_saw_every_vote_s": None if t_seen is None else round(t_seen - t0, 3),
        # The gateways' loop-lag probes over the storm (KINDRED_LOOP_LAG_PROBE_MS): the worst
        # p99 and the longest lag of any gateway, in ms.
        "loop_lag_p99_ms": max((lag["p99_ms"] for lag in lags), default=None),
        "loop_lag_max_ms": max((lag["max_ms"] for lag in lags), default=None),
        # The collector's pauses over the storm, per gateway and generation (count, longest).
        "gc": [lag.get("gc") for lag in lags],
        "long_lags": [(lag.get("long_lags"), lag.get("long_lags_on_cpu")) for lag in lags],
    }


def _py_spy(out: str, pid: int) -> subprocess.Popen[bytes]:
    """py-spy sampling the first gateway from the storm's first vote to its last frame
    (summarize with ``python -c 'from bench.profile import summarize; print(summarize(...))'``)."""
    cmd = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--duration", "600",
           "--rate", "250", "--format", "raw", "--output", out, "--nonblocking"]
    spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # attached before the first vote
    return spy


async def _loop_lag(dep: Deployment) -> list[dict[str, Any]]:
    """Each gateway's loop-lag probe since the last read (the read resets it)."""
    async with httpx.AsyncClient(timeout=10) as http:
        return [(await http.get(f"{g.http_url}/debug/loop-lag", params={"reset": "1"})).json()
                for g in dep.gateways]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--voters", type=int, default=200)
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--redis", action="store_true", help="Redis mode (redis-server, PostgreSQL)")
    parser.add_argument("--gateways", type=int, default=2, help="gateways in Redis mode")
    parser.add_argument("--py-spy", metavar="FILE", help="sample the first gateway over the storm (raw)")
    result = asyncio.run(run(parser.parse_args()))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
