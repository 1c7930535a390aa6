"""System calls, context switches and CPU per thread of a server under the small-rooms load.

    python -m bench.syscalls kindred-embedded --seconds 10
    python -m bench.syscalls kindred-redis-1 limit

Starts the target as ``bench.run`` does, runs the small-rooms workload, and while it is in
its measured phase counts, per thread of every server process (both gateways of
``kindred-redis-2``, each thread named ``gwN:name``, and each process's sum as ``gwN
(all)``), the system calls that
matter for the fan-out and the hand-offs (kernel tracepoints through ``perf stat
--per-thread``: cheap, no ptrace) and reads each thread's user and system CPU from ``/proc``.
Everything is printed per message posted (the workload posts a fixed rate), so the figures
of different targets and trees can be set side by side. Needs ``perf`` and tracepoints
(root or ``perf_event_paranoid`` <= 1); hardware counters are not used.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from bench.profile import start_measuring
from bench.run import SIZES, slugs, start, workload_cfg
from bench.targets import start_kindred

SYSCALLS = [
    "write", "writev", "sendto", "sendmsg", "read", "recvfrom", "recvmsg", "epoll_wait",
    "epoll_pwait", "futex", "pwrite64", "pread64", "fsync", "fdatasync", "poll", "select",
    "eventfd2", "getpid", "clock_nanosleep",
]
EVENTS = ["task-clock", "context-switches", "raw_syscalls:sys_enter"] + [
    f"syscalls:sys_enter_{name}" for name in SYSCALLS
]
_TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu(pid: int) -> dict[str, tuple[float, float]]:
    """(user, system) CPU seconds per thread, keyed ``name/tid``."""
    out: dict[str, tuple[float, float]] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        out[f"{name}/{tid}"] = (int(fields[11]) / _TICK, int(fields[12]) / _TICK)
    return out


def proc_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def parse_perf(text: str) -> dict[str, dict[str, float]]:
    """perf stat -x, --per-thread output: {thread: {event: count}}."""
    counts: dict[str, dict[str, float]] = collections.defaultdict(dict)
    for line in text.splitlines():
        parts = line.split(",")
        if len(parts) < 4 or not parts[0] or parts[0].startswith("#"):
            continue
        thread, value, event = parts[0], parts[1], parts[3]
        try:
            counts[thread][event.removeprefix("syscalls:sys_enter_")] = float(value)
        except ValueError:
            continue
    return counts


def gateway_threads(pids: list[int]) -> dict[str, tuple[float, float]]:
    """``thread_cpu`` of every server process, keyed ``gwN:name/tid``, plus each process's
    sum as ``gwN:(all)/-`` (threads that ended meanwhile are in neither reading: the sums
    are of the threads alive at both)."""
    out: dict[str, tuple[float, float]] = {}
    for i, pid in enumerate(pids):
        threads = thread_cpu(pid)
        out.update({f"gw{i}:{key}": cpu for key, cpu in threads.items()})
        out[f"gw{i}:(all)/-"] = (sum(u for u, _ in threads.values()), sum(s for _, s in threads.values()))
    return out


def by_gateway(counts: dict[str, dict[str, float]], tid_gw: dict[str, str]) -> dict[str, dict[str, float]]:
    """perf's per-thread counts (``name-tid``) named as ``gateway_threads`` names them, and
    summed per process (``gwN (all)``) when there is more than one thread."""
    out: dict[str, dict[str, float]] = {}
    sums: dict[str, dict[str, float]] = collections.defaultdict(lambda: collections.defaultdict(float))
    for thread, events in counts.items():
        gw = tid_gw.get(thread.rsplit("-", 1)[-1], "gw?")
        out[f"{gw}:{thread}"] = events
        for event, value in events.items():
            sums[gw][event] += value
    for gw, events in sorted(sums.items()):
        out[f"{gw} (all)"] = dict(events)
    return out


def measure(name: str, seconds: float, window: float, record: Path | None = None,
            env: dict[str, str] | None = None) -> dict[str, object]:
    size = SIZES["short"]
    with tempfile.TemporaryDirectory(prefix="kindred-syscalls-") as tmp:
        work = Path(tmp)
        from bench.targets import Backing

        backing = Backing(work / "backing")
        if env and name.startswith("kindred-"):  # the same targets, with settings of our own
            gateways = int(name.rsplit("-", 1)[1]) if name.startswith("kindred-redis-") else 1
            target = start_kindred(name, work / name, None if name == "kindred-embedded" else backing,
                                   gateways, 1001, env)
        else:
            target = start(name, work, backing, 1001)
        try:
            cfg = workload_cfg("rooms", size, slugs(), target.kind)
            cfg.update(seconds=seconds)
            rate = len(cfg["rooms"]) * cfg["senders"] * cfg["rate"]
            gen = start_measuring({**target.config(), **cfg}, work)
            time.sleep(min(1.0, seconds * 0.1))
            pids = list(target.server_pids)
            before = gateway_threads(pids)
            back_before = {p: proc_cpu(p) for p in backing.pids if p}
            perf = subprocess.run(
                ["perf", "stat", "-x,", "--per-thread", "-e", ",".join(EVENTS),
                 "-p", ",".join(map(str, pids)), "--", "sleep", str(window)],
                capture_output=True, text=True, check=False,
            )
            after = gateway_threads(pids)
            back_after = {p: proc_cpu(p) for p in backing.pids if p}
            if record is not None:  # a sampled profile after the counted window
                subprocess.run(["perf", "record", "-q", "-F", "2000", "-g", "-o", str(record),
                                "-p", ",".join(map(str, pids)), "--", "sleep", str(window)],
                               capture_output=True, check=False)
            stdout, _ = gen.communicate(timeout=300)
            result = json.loads(stdout.strip().splitlines()[-1])
        finally:
            target.stop()
            backing.stop()
    messages = rate * window
    threads = {}
    for key, (user, system) in after.items():
        u0, s0 = before.get(key, (0.0, 0.0))
        threads[key] = {"user_us": 1e6 * (user - u0) / messages, "sys_us": 1e6 * (system - s0) / messages}
    tid_gw = {key.rsplit("/", 1)[1]: key.split(":", 1)[0] for key in after}
    counts = by_gateway(parse_perf(perf.stderr), tid_gw)
    per_msg = {
        thread: {event: value / messages for event, value in events.items() if value}
        for thread, events in counts.items()
    }
    return {
        "target": name, "messages_per_s": rate, "window_s": window, "threads_cpu_per_msg": threads,
        "per_msg": per_msg,
        "backing_cpu_us_per_msg": {p: 1e6 * (back_after[p] - back_before[p]) / messages for p in back_after},
        "server_cpu_per_1k": result.get("server_cpu_per_1k"), "p99_ms": result.get("p99_ms"),
        "perf_error": perf.stderr[-500:] if perf.returncode else None,
    }


def show(res: dict[str, object]) -> None:
    print(f"== {res['target']}  ({res['messages_per_s']} msg/s, {res['window_s']} s window; "
          f"bench server CPU per 1k deliveries {res['server_cpu_per_1k']}, p99 {res['p99_ms']} ms)")
    for key, cpu in res["threads_cpu_per_msg"].items():  # type: ignore[attr-defined]
        if cpu["user_us"] + cpu["sys_us"] > 0:
            print(f"  cpu {key:32s} user {cpu['user_us']:7.1f} µs  sys {cpu['sys_us']:7.1f} µs per message")
    for key, value in res["backing_cpu_us_per_msg"].items():  # type: ignore[attr-defined]
        print(f"  backing pid {key}: {value:.1f} µs per message")
    for thread, events in res["per_msg"].items():  # type: ignore[attr-defined]
        shown = {k: round(v, 2) for k, v in events.items() if k != "task-clock" and v >= 0.01}
        clock = events.get("task-clock", 0.0) * 1000  # msec -> µs
        print(f"  {thread:28s} task-clock {clock:7.1f} µs  {shown}")
    if res.get("perf_error"):
        print("  perf:", res["perf_error"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("targets", nargs="+")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--window", type=float, default=5)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--record", type=Path, help="also perf record -g into DIR/<target>.data")
    parser.add_argument("--env", action="append", default=[], metavar="KINDRED_X=V",
                        help="extra server settings for Kindred targets (repeatable)")
    args = parser.parse_args()
    results = []
    for name in args.targets:
        record = None
        if args.record:
            args.record.mkdir(parents=True, exist_ok=True)
            record = args.record / f"{name}.data"
        env = dict(item.split("=", 1) for item in args.env)
        res = measure(name, args.seconds, args.window, record, env)
        show(res)
        results.append(res)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
