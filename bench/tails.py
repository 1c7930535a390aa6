"""What makes the small rooms' tail: variants of Kindred (Redis mode) run alternately, and
with ``--trace`` what held each gateway's loop meanwhile.

    python -m bench.tails base=                          # Kindred as the bench runs it
    python -m bench.tails --pairs 3 --trace tick=KINDRED_EVENT_TICK_S=0.25 base= --limit
    python -m bench.tails --gateways 2 --trace base=

Each ``NAME=KEY=VALUE;KEY=VALUE`` is a target (Redis mode, ``--gateways`` gateways, its own
redis-server and PostgreSQL) with those settings over the bench's; ``--limit`` adds the raw
limit. All are started once, then the rooms workload (bench.run's short size, ``--seconds``
measured) runs on each in turn, the order reversed every round. Each run prints its latency
and the loop-lag probe; the generator also keeps every measured delivery's send and receive
time. With ``--trace`` the gateways run ``bench/step_trace`` (each task's steps and the
pub/sub fan-out timed in thread CPU time, which the machine's load does not inflate) and
each variant gets a table of the holds of 0.3 ms or more: how many a second, their CPU,
how often a delivery at or above p99 was in flight during one (against one near the median),
and the p99 of the wait our own holds alone would give a message arriving at a random
moment (a model: Σ max(0, hold - r) = 1 % of the window). Results: ``--out`` (JSON lines).
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from bench.run import SIZES, slugs  # noqa: E402
from bench.targets import Backing, Running, start_kindred, start_peer  # noqa: E402

HOOK = ROOT / "bench" / "step_trace"
HOLD_S = 0.0003  # a step of this much CPU or more is a hold worth looking at
WATCH = ["Lifecycle._run", "RedisWriter.run", "RedisWriter._acknowledge", "Hub._heartbeat_loop",
         "Subscriber.data_received", "_read"]


# --------------------------------------------------------------------------- the generator

def loadgen(cfg_path: str) -> None:
    """bench.loadgen, keeping (sent ns, received ns) of every measured delivery."""
    import asyncio

    from bench import gen as g
    from bench.measure import _MSGPACK_MESSAGE, unstamp
    from bench.workloads import WORKLOADS

    cfg = json.loads(Path(cfg_path).read_text())
    kept: list[tuple[int, int]] = []
    slow = g.Peer._on_frame

    def on_frame(self: g.Peer, opcode: int, payload: bytes) -> None:
        if self.gen.fast and payload.startswith(_MSGPACK_MESSAGE, 1):
            phase, sent = unstamp(payload)
            now = time.perf_counter_ns()
            stats = self.gen.stats
            stats.delivered[phase] += 1
            stats.latencies[phase].append((now - sent) / 1e6)
            if phase == 1:
                kept.append((sent, now))
            return
        slow(self, opcode, payload)

    g.Peer._on_frame = on_frame  # type: ignore[method-assign]
    try:
        import uvloop

        result = uvloop.run(WORKLOADS["rooms"](g.Gen(cfg), cfg))
    except ImportError:
        result = asyncio.run(WORKLOADS["rooms"](g.Gen(cfg), cfg))
    Path(cfg["deliveries_file"]).write_text(json.dumps(kept))
    print(json.dumps(result))


# --------------------------------------------------------------------------- the analysis

def _residual(holds: list[float], span: float, share: float = 0.01) -> float:
    """r such that sum(max(0, h - r)) = share * span: the wait from our own holds alone that
    a message arriving at a random moment exceeds with probability ``share``."""
    if sum(holds) <= share * span:
        return 0.0
    lo, hi = 0.0, max(holds)
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if sum(max(0.0, h - mid) for h in holds) > share * span else (lo, mid)
    return lo


def analyse(traces: list[dict[str, Any]], deliveries: list[tuple[int, int]]) -> dict[str, Any]:
    """One run: the holds of each name in the measured window, over all gateways' traces."""
    lat = sorted((r - s) / 1e6 for s, r in deliveries)
    p50, p99 = lat[len(lat) // 2], lat[int(0.99 * len(lat))]
    lo, hi = min(s for s, _ in deliveries) / 1e9, max(r for _, r in deliveries) / 1e9
    span = hi - lo
    holds = sorted((t, t + wall, name, cpu) for tr in traces for t, wall, cpu, name in tr["steps"]
                   if lo <= t <= hi and cpu >= HOLD_S)
    starts = [h[0] for h in holds]

    def during(s: float, r: float) -> set[str]:
        found: set[str] = set()
        j = bisect.bisect_left(starts, s - 0.05)
        while j < len(holds) and holds[j][0] <= r:
            if holds[j][1] >= s:
                found.add(holds[j][2])
            j += 1
        return found

    shares: dict[str, dict[str, float]] = {}
    picks: tuple[tuple[str, Callable[[float], bool]], ...] = (
        ("tail", lambda ms: ms >= p99), ("mid", lambda ms: abs(ms - p50) < 0.2))
    for label, pick in picks:
        chosen = [(s / 1e9, r / 1e9) for s, r in deliveries if pick((r - s) / 1e6)]
        counts: dict[str, int] = {}
        for s, r in chosen:
            for name in during(s, r):
                counts[name] = counts.get(name, 0) + 1
        shares[label] = {n: c / max(len(chosen), 1) for n, c in counts.items()}
    out: dict[str, Any] = {"p50_ms": p50, "p99_ms": p99, "collections": sum(
        1 for tr in traces for g in tr["gc"] if lo <= g[0] <= hi), "names": {}}
    for name in {h[2] for h in holds}:
        cpus = [h[3] * 1000 for h in holds if h[2] == name]
        out["names"][name] = {"per_s": len(cpus) / span, "cpu_med_ms": statistics.median(cpus),
                              "cpu_max_ms": max(cpus), "ms_per_s": sum(cpus) / span,
                              "tail": shares["tail"].get(name, 0.0), "mid": shares["mid"].get(name, 0.0)}
    # Per gateway (the loop a message waits on is its gateway's), then the worst.
    out["own_hold_p99_ms"] = max(_residual(
        [cpu * 1000 for t, _w, cpu, _n in tr["steps"] if lo <= t <= hi and cpu >= HOLD_S], span * 1000)
        for tr in traces)
    return out


def _mr(values: list[float], digits: int = 2) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


def holds_table(name: str, runs: list[dict[str, Any]]) -> str:
    lines = [f"{name}: {len(runs)} traced runs, collections in the windows {[r['collections'] for r in runs]}, "
             f"own-hold p99 {_mr([r['own_hold_p99_ms'] for r in runs])} ms",
             f"  {'holds >= 0.3 ms CPU':26} {'a second':>16} {'CPU ms each':>16} {'longest':>18} "
             f"{'ms a second':>18} {'in p99 tail %':>16} {'near p50 %':>12}"]
    for what in WATCH:
        per = [r["names"][what] for r in runs if what in r["names"]]
        if not per:
            lines.append(f"  {what:26} none")
            continue
        lines.append(f"  {what:26} {_mr([p['per_s'] for p in per], 1):>16} {_mr([p['cpu_med_ms'] for p in per]):>16} "
                     f"{_mr([p['cpu_max_ms'] for p in per]):>18} {_mr([p['ms_per_s'] for p in per], 1):>18} "
                     f"{_mr([100 * p['tail'] for p in per], 0):>16} {_mr([100 * p['mid'] for p in per], 0):>12}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- the runs

def _run(target: Running, cfg: dict[str, Any], work: Path, trace: bool) -> tuple[dict[str, Any], Any]:
    path = work / f"cfg-{target.name}-{time.monotonic_ns()}.json"
    deliveries = work / f"deliveries-{target.name}.json"
    path.write_text(json.dumps({**target.config(), **cfg, "announce": True, "deadline_s": 120,
                                "deliveries_file": str(deliveries)}))
    proc = subprocess.Popen([sys.executable, "-m", "bench.tails", "--loadgen", str(path)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    last = ""
    assert proc.stdout is not None and proc.stderr is not None
    for line in proc.stdout:
        if line.strip() == "MEASURING" and trace:
            for pid in target.server_pids:
                os.kill(pid, signal.SIGUSR2)  # start recording
        last = line
    if proc.wait() != 0:
        return {"failed": proc.stderr.read()[-500:]}, None
    result: dict[str, Any] = json.loads(last)
    if not trace:
        return result, None
    for pid in target.server_pids:
        os.kill(pid, signal.SIGUSR2)  # write what was recorded
    time.sleep(1.0)
    traces = [json.loads(Path(f"{work / target.name / 'trace'}.{pid}").read_text()) for pid in target.server_pids]
    return result, analyse(traces, [tuple(d) for d in json.loads(deliveries.read_text())])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("variants", nargs="*", help="NAME=KEY=VALUE;KEY=VALUE (Kindred, Redis mode)")
    parser.add_argument("--pairs", type=int, default=3, help="rounds (the order reversed every round)")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--gateways", type=int, default=1)
    parser.add_argument("--limit", action="store_true", help="also the raw limit")
    parser.add_argument("--trace", action="store_true", help="trace the gateways' loops (bench/step_trace)")
    parser.add_argument("--out", default="/tmp/kindred-tails.jsonl")
    parser.add_argument("--loadgen", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loadgen:
        loadgen(args.loadgen)
        return
    if args.trace:
        # The hook must be imported by a fresh interpreter, not a fork of the test zygote.
        from support import zygote

        os.environ["PYTHONPATH"] = os.pathsep.join([str(HOOK), *filter(None, [os.environ.get("PYTHONPATH")])])
        zygote.ENABLED = False
    size = {**SIZES["short"]["rooms"], "seconds": args.seconds}
    cfg = {"workload": "rooms", **size, "rooms": slugs()[:size["rooms"]]}
    traced: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="kindred-tails-") as tmp:
        work = Path(tmp)
        targets: dict[str, Running] = {}
        backings: list[Backing] = []
        try:
            for spec in args.variants:
                name, _, settings = spec.partition("=")
                env = dict(item.split("=", 1) for item in settings.split(";") if item)
                if args.trace:
                    env["KINDRED_BENCH_STEP_TRACE"] = str(work / name / "trace")
                backings.append(Backing(work / f"backing-{name}"))
                targets[name] = start_kindred(name, work / name, backings[-1], args.gateways, 501, env)
            if args.limit:
                targets["limit"] = start_peer("limit", "raw", "bench.peers.raw_server", work / "limit", None)
            for i in range(args.pairs):
                for name in (list(targets) if i % 2 == 0 else list(reversed(targets))):
                    result, holds = _run(targets[name], cfg, work, args.trace and name != "limit")
                    load = os.getloadavg()[0]
                    with open(args.out, "a") as out:
                        out.write(json.dumps({"variant": name, "round": i, "load": load, **result,
                                              "holds": holds}) + "\n")
                    if holds is not None:
                        traced.setdefault(name, []).append(holds)
                    print(f"{name:12} {i + 1}/{args.pairs}: p50 {result.get('p50_ms', 0):.2f} p99 "
                          f"{result.get('p99_ms', 0):.2f} ms, loop lag p99 {result.get('loop_lag_p99_ms') or 0:.1f} ms, "
                          f"cpu/1k {result.get('server_cpu_per_1k', 0):.4f}, ratio {result.get('delivery_ratio')}, "
                          f"load {load:.1f}", flush=True)
        finally:
            for target in targets.values():
                target.stop()
            for backing in backings:
                backing.stop()
    for name, runs in traced.items():
        print(holds_table(name, runs))


if __name__ == "__main__":
    main()
