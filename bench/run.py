"""Kindred beside the raw limit of its stack and beside what a Python team would pick instead.

    python -m bench.run                 # the short version `make bench` runs (about 9 minutes)
    python -m bench.run --full          # the full sizes, 3 runs of everything (slow)
    python -m bench.run --only limit,kindred-embedded --workloads rooms

One run, one machine, one load generator (``bench/loadgen.py``, its own process) for every
target. Results go to ``bench/results/latest.json`` and ``docs/performance.md``. Figures are
printed, never judged: nothing here fails on a number.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
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

from bench import extras, goals, report  # noqa: E402
from bench.targets import Backing, Running, start_kindred, start_peer  # noqa: E402
from chat_server.config import Settings  # noqa: E402
from rooms import catalog  # noqa: E402

# The webinar's sender steps through these rates (messages a second into one room).
RATES = [5, 10, 15, 20, 30, 40, 50, 65, 80, 100, 130, 160, 200, 250, 320, 400, 500, 650, 800, 1000]

SIZES: dict[str, dict[str, Any]] = {
    "short": {
        "runs": 3,
        "rooms": {"rooms": 50, "members": 10, "senders": 2, "rate": 5, "warmup_s": 1, "seconds": 3},
        "webinar": {"members": 1000, "step_s": 1.5, "drain_s": 2.0, "runs": 1},
        # Three idle runs (each on a fresh server), medians: one run's connection rate swung
        # by about a quarter from one `make bench` to the next, the raw limit's most, and the
        # "connection plus join" target is judged on that ratio (bench/notes.md, issue 18).
        "idle": {"connections": 2000, "rooms": 60, "runs": 3},
        "storm": {"connections": 1000, "rooms": 10, "before": 3, "missed": 2, "runs": 1},
        "fill": [250, 500, 1000],
        "writers": {"messages": 20_000, "rounds": 3},
    },
    "full": {
        "runs": 3,
        "rooms": {"rooms": 50, "members": 10, "senders": 2, "rate": 5, "warmup_s": 2, "seconds": 10},
        "webinar": {"members": 1000, "step_s": 3, "drain_s": 3.0},
        "idle": {"connections": 10000, "rooms": 60, "runs": 3},
        "storm": {"connections": 1000, "rooms": 10, "before": 3, "missed": 2, "runs": 3},
        "fill": [250, 500, 1000],
        "writers": {"messages": 20_000, "rounds": 3},
    },
}

# Implementation choices measured side by side on Kindred (embedded): one room, a fixed
# rate, so the figure that moves is the server's CPU per delivery.
EXPERIMENTS: dict[str, dict[str, str]] = {
    "direct + uvloop (server default)": {},
    "websockets-sansio + uvloop": {"KINDRED_WS_IMPL": "websockets-sansio"},
    "websockets (legacy) + uvloop": {"KINDRED_WS_IMPL": "websockets"},
    "wsproto + uvloop": {"KINDRED_WS_IMPL": "wsproto"},
    "direct + asyncio loop": {"KINDRED_WS_IMPL": "direct", "KINDRED_EVENT_LOOP": "asyncio"},
}
EXPERIMENT_LOAD: dict[str, Any] = {"workload": "webinar", "members": 300, "rates": [20], "step_s": 4,
                   "drain_s": 3.0, "p99_limit_ms": 1e9}

# Between runs on one Kindred server: its presence linger (the production default the bench
# keeps) and a second for the departures' fan-out. KINDRED_BENCH_SETTLE_S overrides it (0: no
# wait), to measure what the wait buys (bench/notes.md, issue 18).
SETTLE_S = float(os.environ.get("KINDRED_BENCH_SETTLE_S", Settings().presence_linger_s + 1.0))

TARGETS = ["kindred-embedded", "kindred-redis-1", "kindred-redis-2", "limit", "socketio", "channels"]
SHORT_TARGETS = ["kindred-embedded", "kindred-redis-1", "kindred-redis-2", "limit", "socketio", "channels"]
# Idle first: its RSS per connection is measured from a fresh server process's baseline.
WORKLOADS = ["idle", "rooms", "webinar", "storm"]


def slugs() -> list[str]:
    return [c.slug for c in catalog.load().communities]


def start(name: str, work: Path, backing: Backing, members: int) -> Running:
    if name == "kindred-embedded":
        return start_kindred(name, work / name, None, 1, members)
    if name.startswith("kindred-redis-"):
        return start_kindred(name, work / name, backing, int(name.rsplit("-", 1)[1]), members)
    if name == "limit":
        return start_peer(name, "raw", "bench.peers.raw_server", work / name, None)
    if name == "socketio":
        return start_peer(name, "socketio", "bench.peers.sio_server", work / name, backing)
    if name == "channels":
        return start_peer(name, "channels", "bench.peers.channels_server", work / name, backing)
    raise ValueError(name)


def run_loadgen(target: Running, cfg: dict[str, Any], work: Path, timeout_s: float = 300) -> dict[str, Any]:
    path = work / f"cfg-{target.name}-{cfg['workload']}-{time.monotonic_ns()}.json"
    path.write_text(json.dumps({**target.config(), **cfg, "deadline_s": timeout_s - 10}))
    proc = subprocess.run([sys.executable, "-m", "bench.loadgen", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout_s, check=False)
    if proc.returncode != 0:
        return {"failed": proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def workload_cfg(workload: str, size: dict[str, Any], rooms: list[str], kind: str) -> dict[str, Any]:
    spec = dict(size[workload])
    spec.pop("runs", None)
    if workload == "rooms":
        return {"workload": "rooms", **{**spec, "rooms": rooms[:spec["rooms"]]}}
    if workload == "webinar":
        return {"workload": "webinar", "room": rooms[-1], "rates": RATES, **spec}
    if workload == "idle":
        return {"workload": "idle", **{**spec, "rooms": rooms[:spec["rooms"]]}}
    return {"workload": "storm", "resumes": kind == "kindred", **{**spec, "rooms": rooms[-spec["rooms"]:]}}


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each numeric figure's median over the runs that completed."""
    ok = [r for r in runs if "failed" not in r]
    if not ok:
        return runs[0] if runs else {}
    out: dict[str, Any] = {"runs": len(ok), "failed_runs": len(runs) - len(ok)}
    for key, value in ok[0].items():
        values = [r.get(key) for r in ok]
        if isinstance(value, bool) or not isinstance(value, int | float):
            out[key] = value
            continue
        nums = [v for v in values if isinstance(v, int | float)]
        out[key] = statistics.median(nums) if nums else None
    if "held" in out and isinstance(out.get("highest_rate"), int | float):
        # The webinar's details come from the run whose highest rate is the median's.
        pick = min(ok, key=lambda r: abs((r.get("highest_rate") or 0) - out["highest_rate"]))
        out["held"], out["steps"] = pick.get("held"), pick.get("steps")
    return out


def report_only(paths: list[str]) -> None:
    """Rewrite docs/performance.md from saved results (later files add their experiments)."""
    results = json.loads(Path(paths[0]).read_text())
    for extra in paths[1:]:
        results.setdefault("experiments", {}).update(json.loads(Path(extra).read_text()).get("experiments", {}))
    for per in results["targets"].values():
        for w in per.values():
            w["median"] = median_of(w["runs"])
    report.write_doc(results, ROOT / "docs" / "performance.md")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--full", action="store_true", help="full sizes and all targets (slow)")
    parser.add_argument("--only", default="", help="comma-separated targets")
    parser.add_argument("--workloads", default="", help="comma-separated workloads")
    parser.add_argument("--runs", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "latest.json"))
    parser.add_argument("--no-doc", action="store_true")
    parser.add_argument("--no-extras", action="store_true",
                        help="skip filling a big room and the transcript writers")
    parser.add_argument("--set", action="append", default=[], metavar="WORKLOAD.KEY=N",
                        help="override one size, e.g. storm.connections=1000 (repeatable)")
    parser.add_argument("--experiments", action="store_true",
                        help="also compare WebSocket implementations and event loops")
    parser.add_argument("--report-only", nargs="+", metavar="JSON",
                        help="rewrite docs/performance.md from saved results (later files add "
                             "their experiments)")
    args = parser.parse_args(argv)
    if args.report_only:
        report_only(args.report_only)
        return
    size = copy.deepcopy(SIZES["full" if args.full else "short"])
    for item in args.set:
        key, _, value = item.partition("=")
        workload, _, field = key.partition(".")
        size[workload][field] = float(value) if "." in value else int(value)
    targets = [t for t in (args.only.split(",") if args.only else (TARGETS if args.full else SHORT_TARGETS))
               if t and t != "none"]
    workloads = [w for w in (args.workloads.split(",") if args.workloads else WORKLOADS) if w]
    runs = args.runs or size["runs"]
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    rooms = slugs()
    members = max(size["idle"]["connections"], size["webinar"]["members"], 500,
                  size["storm"]["connections"]) + 1
    results: dict[str, Any] = {"size": "full" if args.full else "short", "started": time.time(),
                               "machine": report.machine(), "versions": report.versions(),
                               "targets": {}}
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kindred-bench-") as tmp:
        work = Path(tmp)
        backing = Backing(work / "backing")
        try:
            # In rounds: each round starts every target afresh and gives it one run of each
            # workload still owed, so the targets take turns and a ratio to the raw limit
            # compares runs minutes apart, not a target's first run against another's last
            # (the machine drifts: bench/notes.md, issue 18, "Why the misses"). Each round's
            # server starts with the idle workload, whose RSS per connection is read against a
            # fresh process's baseline.
            owed = {w: args.runs or size[w].get("runs", runs) for w in workloads}
            done: dict[str, dict[str, list[dict[str, Any]]]] = {n: {w: [] for w in workloads} for n in targets}
            spent: dict[str, float] = dict.fromkeys(targets, 0.0)
            for round_ in range(max(owed.values(), default=0)):
                for name in targets:
                    t0 = time.monotonic()
                    target = start(name, work / f"round-{round_}", backing, members)
                    try:
                        for workload in workloads:
                            if round_ >= owed[workload]:
                                continue
                            if target.kind == "kindred" and workload != workloads[0]:
                                # The last run's members left; Kindred announces a departure
                                # only after the presence linger (a reconnect within it is
                                # no departure). Let those land before the next measured run
                                # rather than inside it.
                                time.sleep(SETTLE_S)
                            r = run_loadgen(target, workload_cfg(workload, size, rooms, target.kind), work)
                            done[name][workload].append(r)
                            _progress(name, workload, round_ + 1, owed[workload], r)
                    finally:
                        target.stop()
                    spent[name] += time.monotonic() - t0
                    print(f"  {name}, round {round_ + 1}: {time.monotonic() - t0:.0f} s", flush=True)
            for name in targets:
                results["targets"][name] = {
                    w: {"median": median_of(runs_), "runs": runs_} for w, runs_ in done[name].items()}
                if name.startswith("kindred-redis-"):
                    found = sum(extras.alarms(d) for d in work.glob(f"round-*/{name}"))
                    results.setdefault("alarms", {})[name] = {"count": found, "minutes": spent[name] / 60}
            if not args.no_extras and not args.only:
                results["fill"] = extras.fill_rooms(work, backing, size["fill"])
                results["writers"] = extras.writers(work, **size["writers"])
            if args.experiments or args.full:
                results["experiments"] = experiments(work, rooms, runs)
        finally:
            backing.stop()
    results["elapsed_s"] = time.monotonic() - began
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(report.tables(results))
    print(report.writer_table(results))
    print(goals.table(results))
    if not args.no_doc:
        report.write_doc(results, ROOT / "docs" / "performance.md")
        print(f"wrote {ROOT / 'docs' / 'performance.md'}")
    print(f"bench took {results['elapsed_s']:.0f} s")


def experiments(work: Path, rooms: list[str], runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, env in EXPERIMENTS.items():
        name = "exp-" + str(len(out))
        target = start_kindred(name, work / name, None, 1, int(EXPERIMENT_LOAD["members"]) + 1, env)
        try:
            done = []
            for i in range(runs):
                r = run_loadgen(target, {**EXPERIMENT_LOAD, "room": rooms[-1]}, work)
                step = (r.get("steps") or [{}])[0] if "failed" not in r else r
                done.append({**step, "connections_per_s": r.get("connections_per_s")})
                print(f"  {label:30} {i + 1}/{runs}: cpu/1k {_f(step.get('server_cpu_per_1k'), 4)} "
                      f"p99 {_f(step.get('p99_ms'))} ms", flush=True)
            out[label] = {"median": median_of(done), "runs": done}
        finally:
            target.stop()
    return out


def _progress(name: str, workload: str, i: int, n: int, r: dict[str, Any]) -> None:
    keys: dict[str, Callable[[dict[str, Any]], str]] = {
        "rooms": lambda r: f"ratio {r.get('delivery_ratio')} p99 {_f(r.get('p99_ms'))} ms cpu/1k "
                           f"{_f(r.get('server_cpu_per_1k'), 3)} loop lag p99 {_f(r.get('loop_lag_p99_ms'))} ms",
        "webinar": lambda r: f"highest {r.get('highest_rate')}/s, loop lag p99 per step (ms): "
                             + " ".join(f"{s.get('rate')}:{_f(s.get('loop_lag_p99_ms'))}"
                                        for s in r.get("steps") or []),
        "idle": lambda r: f"{_f(r.get('rss_per_connection_kib'))} KiB/conn, {_f(r.get('connections_per_s'))} conn/s",
        "storm": lambda r: f"p99 {_f(r.get('resume_p99_s'), 3)} s, {r.get('failures')} failed",
    }
    text = r["failed"] if "failed" in r else keys[workload](r)
    print(f"  {name:18} {workload:8} {i}/{n}: {text}", flush=True)


def _f(v: Any, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
