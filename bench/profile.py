"""Where a server's time goes under a workload: py-spy samples it while the generator runs.

    python -m bench.profile kindred-embedded --workload webinar --rate 20 --seconds 8
    python -m bench.profile limit --workload rooms
    python -m bench.profile kindred-redis-1 --workload rooms --cprofile
    python -m bench.profile kindred-redis-1 --workload idle --set idle.connections=4000

For ``idle`` (connecting and joining) and ``storm`` (the resume) the whole measured part is
sampled (or, with ``--perf-stat``, the gateway's system calls and writes are counted), from the generator's signal that it begins to the one that it ended; ``--seconds``
does not apply to them. ``--phase connect`` or ``--phase join`` samples only one of idle's
two phases (the generator says JOINING between them, and pauses a second there for ``join``
so that the sampler is attached first).

Prints the functions with the most samples, by own time and by inclusive time, and keeps
the collapsed stacks (``bench/results/profile-<target>.txt``, for flame-graph tools).

``--gateway N`` samples the N-th gateway of a ``kindred-redis-N`` target (the first by
default). With ``--cprofile`` (or when py-spy is not installed) that gateway's event-loop thread
is profiled with cProfile instead (``bench/cprofile_hook``): deterministic, so it slows the
server and overstates small, frequent calls, but it needs nothing installed. Threads (the
aiosqlite thread) are not in it. The stats go to ``bench/results/cprofile-<target>-<workload>``.
"""

from __future__ import annotations

import argparse
import collections
import copy
import json
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.run import ROOT, SIZES, slugs, start, workload_cfg


def summarize(collapsed: Path, top: int) -> str:
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    out = [f"{total} samples", "", "own time:"]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    out += ["", "inclusive:"]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in incl.most_common(top)]
    return "\n".join(out)


def start_measuring(config: dict[str, object], work: Path) -> subprocess.Popen[str]:
    """The load generator on ``config`` (written to ``work/cfg.json``), returned once it
    announces that its measured part has begun."""
    cfg_path = work / "cfg.json"
    cfg_path.write_text(json.dumps({**config, "deadline_s": 300, "announce": True}))
    gen = subprocess.Popen([sys.executable, "-m", "bench.loadgen", str(cfg_path)], cwd=ROOT,
                           stdout=subprocess.PIPE, text=True)
    assert gen.stdout is not None
    while gen.stdout.readline().strip() not in ("MEASURING", ""):
        pass
    return gen


def _read_until(gen: subprocess.Popen[str], word: str = "MEASURED") -> None:
    """Read the generator's output up to ``word`` (or its end)."""
    assert gen.stdout is not None
    while gen.stdout.readline().strip() not in (word, ""):
        pass


JOIN_PAUSE_S = 1.0  # --phase join: the generator's pause before the joins, for the sampler to attach


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("target")
    parser.add_argument("--workload", default="webinar")
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--idle", action="store_true", help="include idle samples")
    parser.add_argument("--native", action="store_true", help="py-spy: include C frames")
    parser.add_argument("--cprofile", action="store_true", help="cProfile instead of py-spy")
    parser.add_argument("--perf-stat", action="store_true",
                        help="idle or storm: count the gateway's system calls and writes (perf stat "
                             "tracepoints) over the measured part instead of sampling it")
    parser.add_argument("--perf-events", default="task-clock,context-switches,raw_syscalls:sys_enter,"
                        "syscalls:sys_enter_write",
                        help="--perf-stat: the events counted (e.g. 'syscalls:sys_enter_*' for every call)")
    parser.add_argument("--hz", type=int, default=100, help="py-spy: samples a second")
    parser.add_argument("--gateway", type=int, default=0,
                        help="which gateway of a kindred-redis-N target (0 = the first)")
    parser.add_argument("--set", action="append", default=[], metavar="WORKLOAD.KEY=N",
                        help="override one size, as bench.run's --set")
    parser.add_argument("--phase", choices=("all", "connect", "join"), default="all",
                        help="idle: sample only the connections' opening or only the joins")
    args = parser.parse_args()
    spy = Path(sys.executable).parent / "py-spy"
    use_cprofile = args.cprofile or not spy.exists()
    size = copy.deepcopy(SIZES["short"])
    for item in args.set:
        key, _, value = item.partition("=")
        workload, _, field = key.partition(".")
        size[workload][field] = float(value) if "." in value else int(value)
    whole = args.workload in ("idle", "storm")  # sampled from the signal to the end
    rooms = slugs()
    phase = "" if args.phase == "all" else f"-{args.phase}"
    out = ROOT / "bench" / "results" / f"profile-{args.target}-{args.workload}{phase}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    stats = ROOT / "bench" / "results" / f"cprofile-{args.target}-{args.workload}{phase}"
    if use_cprofile:
        # Inherited by the gateways (their environment is ours plus theirs).
        os.environ["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT / "bench" / "cprofile_hook"), *filter(None, [os.environ.get("PYTHONPATH")])])
        os.environ["KINDRED_BENCH_CPROFILE"] = str(stats)
    with tempfile.TemporaryDirectory(prefix="kindred-profile-") as tmp:
        work = Path(tmp)
        from bench.targets import Backing

        backing = Backing(work / "backing")
        members = max(1001, size["idle"]["connections"] + 1, size["storm"]["connections"] + 1)
        target = start(args.target, work, backing, members)
        try:
            cfg = workload_cfg(args.workload, size, rooms, target.kind)
            if args.workload == "webinar":
                cfg.update(rates=[args.rate], step_s=args.seconds, p99_limit_ms=1e9)
            else:
                cfg.update(seconds=args.seconds)
            # The idle workload says JOINING between its two phases (bench/workloads.py).
            begin, end = "MEASURING", "MEASURED"
            if args.phase != "all":
                assert args.workload == "idle", "--phase is for the idle workload"
                begin, end = ("JOINING", "MEASURED") if args.phase == "join" else ("MEASURING", "JOINING")
                if args.phase == "join":
                    cfg.update(join_pause_s=JOIN_PAUSE_S)
            gen = start_measuring({**target.config(), **cfg}, work)
            if begin == "JOINING":
                _read_until(gen, begin)
            if not whole:
                time.sleep(args.seconds * 0.2)
            gw_pid = target.server_pids[args.gateway]
            if use_cprofile:
                pid = gw_pid
                os.kill(pid, signal.SIGUSR2)
                if whole:
                    _read_until(gen, end)
                    os.kill(pid, signal.SIGUSR2)
                    stdout, _ = gen.communicate(timeout=300)
                else:
                    time.sleep(args.seconds * 0.6)
                    os.kill(pid, signal.SIGUSR2)
                    stdout, _ = gen.communicate(timeout=300)
                print(stdout.strip()[-600:])
                time.sleep(1)
                found = stats.with_name(f"{stats.name}.{pid}")
                found.replace(stats)
                pstats.Stats(str(stats)).sort_stats("tottime").print_stats(args.top)
                pstats.Stats(str(stats)).sort_stats("cumulative").print_stats(args.top)
                return
            if args.perf_stat and whole:
                perf = subprocess.Popen(["perf", "stat", "-e", args.perf_events, "-p", str(gw_pid)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                _read_until(gen, end)
                perf.send_signal(signal.SIGINT)
                _, counted = perf.communicate(timeout=60)
                stdout, _ = gen.communicate(timeout=300)
                print(stdout.strip()[-600:])
                print(counted.strip())
                return
            duration = 600 if whole else int(args.seconds * 0.6)
            cmd = ["py-spy", "record", "--pid", str(gw_pid), "--duration",
                   str(duration), "--rate", str(args.hz), "--format", "raw", "--output", str(out), "--nonblocking"]
            if args.idle:
                cmd.append("--idle")
            if args.native:  # py-spy reads C stacks only while the process is stopped
                cmd.remove("--nonblocking")
                cmd.append("--native")
            spy_proc = subprocess.Popen([str(Path(sys.executable).parent / cmd[0]), *cmd[1:]],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if whole:  # until the measured part ends, then py-spy writes what it has
                _read_until(gen, end)
                spy_proc.send_signal(signal.SIGINT)
                spy_proc.wait(timeout=60)
                stdout, _ = gen.communicate(timeout=300)
            else:
                spy_proc.wait()
                stdout, _ = gen.communicate(timeout=300)
            print(stdout.strip()[-600:])
        finally:
            target.stop()
            backing.stop()
    print(summarize(out, args.top))


if __name__ == "__main__":
    main()
