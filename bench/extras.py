"""The parts of one `make bench` run that are not a load-generator workload against every
target: filling a big room (presence bytes), the transcript writers, and the anti-entropy
check's alarms read back from the gateways' logs. `bench.run` calls them after the targets,
so one invocation measures everything issue 18's targets are judged on.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import fill
from bench.targets import Backing, start_kindred
from rooms import catalog

ROOT = Path(__file__).resolve().parent.parent

# What the anti-entropy check logs when a room's counter in Redis is behind what this gateway
# already delivered (chat_server's hub); a real loss and a false alarm print the same line.
ALARM = "seq counter was behind"


def fill_rooms(work: Path, backing: Backing, sizes: list[int]) -> dict[str, list[dict[str, Any]]]:
    """Presence and `joined` bytes while N members join one room, per Kindred mode and N."""
    room = catalog.load().communities[-1].slug
    out: dict[str, list[dict[str, Any]]] = {}
    for name in ("kindred-embedded", "kindred-redis-1"):
        for n in sizes:
            target = start_kindred(f"fill-{name}-{n}", work / f"fill-{name}-{n}",
                                   backing if name != "kindred-embedded" else None, 1, n)
            try:
                result = asyncio.run(fill.fill({**target.config(), "members": n, "room": room}))
            except Exception as exc:  # a failed size is reported, the run goes on
                result = {"members": n, "failed": f"{type(exc).__name__}: {exc}"}
            finally:
                target.stop()
            out.setdefault(name, []).append(result)
            print(f"  fill {name:18} {n:5}: {result.get('total_mb', '-')} MB, "
                  f"cpu {result.get('server_cpu_s', '-')} s", flush=True)
    return out


def writers(work: Path, messages: int, rounds: int) -> dict[str, Any]:
    """`python -m bench.writer` in its own process (it starts its own redis-server and
    PostgreSQL), its medians read back as JSON."""
    out = work / "writers.json"
    argv = [sys.executable, "-m", "bench.writer", "--messages", str(messages),
            "--rounds", str(rounds), "--json", str(out)]
    began = time.monotonic()
    done = subprocess.run(argv, cwd=ROOT, check=False, timeout=1800)
    if done.returncode != 0 or not out.exists():
        return {"failed": f"bench.writer exited with {done.returncode}"}
    result: dict[str, Any] = json.loads(out.read_text())
    result["elapsed_s"] = time.monotonic() - began
    return result


def alarms(workdir: Path) -> int:
    """How many anti-entropy alarms the gateways under ``workdir`` logged."""
    count = 0
    for log in workdir.rglob("*.log"):
        if log.name in ("redis.log", "postgres.log"):
            continue
        with log.open("rb") as f:
            count += sum(1 for line in f if ALARM.encode() in line)
    return count
