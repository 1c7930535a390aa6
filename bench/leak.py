"""Does a long-lived Kindred server keep anything per run? The small-rooms workload run again
and again against ONE server, and between runs (members gone, presence linger passed) a
snapshot of the gateway (bench/heap_hook): live objects by type, containers reachable from
the Hub, asyncio tasks, RSS, plus the run's p50/p99 and server CPU.

    python -m bench.leak --runs 14 --seconds 3                  # embedded (SQLite)
    python -m bench.leak --runs 14 --seconds 3 --redis          # Redis mode, one gateway
    python -m bench.leak --runs 8 --reset-db                    # messages deleted between runs

Prints one line a run and, at the end, what grew from the second snapshot to the last (types,
containers, tasks). ``--reset-db`` (embedded only) deletes the messages (and their search
index rows) between runs through SQLite, to tell the database's growth from the server's.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from bench.run import SETTLE_S, SIZES, run_loadgen, slugs  # noqa: E402
from bench.targets import Backing, start_kindred  # noqa: E402

HOOK = ROOT / "bench" / "heap_hook"


def _snapshot(pid: int, out: Path, n: int) -> dict[str, Any]:
    os.kill(pid, signal.SIGUSR2)
    path = Path(f"{out}.{pid}.{n}")
    for _ in range(200):
        if path.exists() and path.stat().st_size:
            time.sleep(0.2)
            return dict(json.loads(path.read_text()))
        time.sleep(0.1)
    raise TimeoutError(path)


def _reset_db(db: Path) -> None:
    con = sqlite3.connect(db, timeout=30)
    # The triggers take the rows out of the search index; 'rebuild' then leaves it as a new
    # database's (deleting alone leaves tombstones in the index's segments).
    con.execute("delete from messages")
    con.execute("insert into messages_fts(messages_fts) values('rebuild')")
    con.commit()
    con.close()


def _grew(first: dict[str, int], last: dict[str, int], runs: int, min_per_run: float) -> list[str]:
    rows = []
    for k in sorted(set(first) | set(last)):
        d = last.get(k, 0) - first.get(k, 0)
        if d >= min_per_run * runs:
            rows.append(f"  {k}: {first.get(k, 0)} -> {last.get(k, 0)} (+{d / runs:.1f}/run)")
    return rows


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=8)
    p.add_argument("--seconds", type=float, default=3)
    p.add_argument("--redis", action="store_true")
    p.add_argument("--reset-db", action="store_true")
    p.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server")
    args = p.parse_args()
    from support import zygote

    os.environ["PYTHONPATH"] = os.pathsep.join([str(HOOK), *filter(None, [os.environ.get("PYTHONPATH")])])
    zygote.ENABLED = False
    size = {**SIZES["short"]["rooms"], "seconds": args.seconds}
    size.pop("runs", None)
    cfg = {"workload": "rooms", **size, "rooms": slugs()[:size["rooms"]]}
    with tempfile.TemporaryDirectory(prefix="kindred-leak-") as tmp:
        work = Path(tmp)
        out = work / "heap"
        env = {"KINDRED_BENCH_HEAP": str(out), **dict(e.split("=", 1) for e in args.env)}
        backing = Backing(work / "backing") if args.redis else None
        target = start_kindred("leak", work / "k", backing, 1, 501, env)
        pid = target.server_pids[0]
        snaps = []
        try:
            for i in range(args.runs):
                r = run_loadgen(target, cfg, work)
                time.sleep(SETTLE_S)
                s = _snapshot(pid, out, i + 1)
                snaps.append(s)
                if args.reset_db and not args.redis:
                    _reset_db(work / "k" / "data" / "kindred.db")
                print(f"run {i + 1:2}: p50 {r.get('p50_ms', 0):.2f} p99 {r.get('p99_ms', 0):.2f} ms "
                      f"cpu/1k {r.get('server_cpu_per_1k', 0):.4f} rss {r.get('server_rss_peak_mb', r.get('rss_mb', 0))} "
                      f"| after: rss {s['rss_kb'] / 1024:.1f} MB objects {s['objects']} "
                      f"tasks {sum(s['tasks'].values())} full gc {s.get('full_gc')} "
                      f"(longest {s.get('full_gc_max_ms', 0):.1f} ms CPU; one now {s.get('full_gc_now_ms', 0):.1f} ms) load {os.getloadavg()[0]:.1f} {r.get('failed', '')}",
                      flush=True)
        finally:
            target.stop()
            if backing is not None:
                backing.stop()
    if len(snaps) >= 3:
        a, b, n = snaps[1], snaps[-1], len(snaps) - 2
        print("types grown (2nd -> last snapshot):", *_grew(a["types"], b["types"], n, 5), sep="\n")
        print("hub containers grown:", *_grew(a["sizes"], b["sizes"], n, 1), sep="\n")
        print("Python heap grown, bytes by line (PYTHONTRACEMALLOC=1):",
              *_grew(a.get("traced", {}), b.get("traced", {}), n, 20_000), sep="\n")
        print("tasks grown:", *_grew(a["tasks"], b["tasks"], n, 0.5), sep="\n")
        Path("/tmp/kindred-leak-snaps.json").write_text(json.dumps(snaps))


if __name__ == "__main__":
    main()
