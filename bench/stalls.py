"""Event-loop lag and latency tails at fixed webinar rates (issue 18: the embedded mode's
200-800 ms stalls at 5-10 msg/s into a 1,000-member room).

One room of ``--members`` members (1,000), one sender at each of ``--rates`` for
``--seconds`` each, on each target; the server's loop-lag probe (GET /debug/loop-lag,
KINDRED_LOOP_LAG_PROBE_MS=10; the raw limit has the same probe) is read around every step.
Prints, per target and rate: delivery latency p99 and max, loop lag p99 and max, how many
sleeps overslept by more than 20 ms, and the share of those long sleeps the loop thread
spent on the CPU (near 1: the loop was busy, our code or a collection; near 0: the thread
was not running, the machine busy elsewhere or a blocking call), as medians over ``--runs``
runs (each a fresh server); and the longest garbage-collector pause and the number of
full (generation 2) collections in the step. Never fails on a number.

    python -m bench.stalls [--only kindred-embedded,limit] [--rates 5,10,20] [--runs 3]
    python -m bench.stalls --env KINDRED_X=1 ...   # the Kindred targets with extra settings
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from bench.run import run_loadgen, slugs  # noqa: E402
from bench.targets import Backing, Running, start_kindred, start_peer  # noqa: E402

FIGURES = ("p99_ms", "max_ms", "loop_lag_p99_ms", "loop_lag_max_ms", "long_lags", "long_lags_on_cpu",
           "gc_max_ms", "gc_full")


def start(name: str, work: Path, backing: Backing, members: int, env: dict[str, str]) -> Running:
    if name == "limit":
        return start_peer(name, "raw", "bench.peers.raw_server", work / name, None)
    if name == "kindred-embedded":
        return start_kindred(name, work / name, None, 1, members, env)
    return start_kindred(name, work / name, backing, int(name.rsplit("-", 1)[1]), members, env)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="kindred-embedded,kindred-redis-1,limit")
    parser.add_argument("--rates", default="5,10,20,50")
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for Kindred")
    args = parser.parse_args()
    env = dict(kv.split("=", 1) for kv in args.env)
    rates = [int(r) for r in args.rates.split(",")]
    cfg: dict[str, Any] = {"workload": "webinar", "room": slugs()[-1], "members": args.members,
                           "rates": rates, "step_s": args.seconds, "drain_s": 3.0,
                           "p99_limit_ms": 1e9}  # every step runs, however it goes
    table: dict[tuple[str, int], list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="kindred-stalls-") as tmp:
        work = Path(tmp)
        backing = Backing(work / "backing")
        try:
            for run in range(args.runs):
                for name in args.only.split(","):
                    target = start(name, work / f"{run}", backing, args.members + 1, env)
                    try:
                        result = run_loadgen(target, cfg, work)
                    finally:
                        target.stop()
                    if "failed" in result:
                        print(f"  {name} run {run + 1}: failed {result['failed']}", flush=True)
                        continue
                    for step in result["steps"]:
                        table.setdefault((name, step["rate"]), []).append(step)
                    print(f"  {name} run {run + 1}: " + "  ".join(
                        f"{s['rate']}/s lag p99 {_f(s.get('loop_lag_p99_ms'))} max {_f(s.get('loop_lag_max_ms'))}"
                        for s in result["steps"]), flush=True)
        finally:
            backing.stop()
    print(f"\n{args.members} members, one sender, {args.seconds:g} s per rate, medians of {args.runs} "
          f"runs{'; ' + ' '.join(args.env) if args.env else ''}")
    print(f"{'target':20} {'msg/s':>6} {'latency p99':>12} {'latency max':>12} {'loop lag p99':>13} "
          f"{'loop lag max':>13} {'lags >20ms':>11} {'their CPU share':>16} {'GC max':>7} {'full GCs':>9}")
    for (name, rate), steps in table.items():
        meds = [statistics.median(v) if (v := [s[k] for s in steps if s.get(k) is not None]) else None
                for k in FIGURES]
        print(f"{name:20} {rate:6} " + " ".join(f"{_f(m):>12}" for m in meds[:2]) + " "
              + " ".join(f"{_f(m):>13}" for m in meds[2:4]) + f" {_f(meds[4]):>11} {_f(meds[5], 2):>16}"
              + f" {_f(meds[6]):>7} {_f(meds[7]):>9}")


def _f(v: Any, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


if __name__ == "__main__":
    main()
