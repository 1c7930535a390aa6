"""The embedded mode's small-room stalls against the disk: every ``fdatasync`` on the machine
timed (``perf trace -a``, kernel tracepoints: the gateway is not slowed as with strace or a
per-process trace of every system call) while the rooms workload runs again and again on
one embedded Kindred server (and every ``pwrite64``, which the kernel may hold too; issue 18: a 230 ms stall in one of three runs, bench/notes.md).

For each run it prints the delivery p99 and max, the loop-lag probe's longest lag and
collection, and the SQLite writer thread's ``fdatasync``s in the measured window: how many,
the longest, and those over 20 ms with their time into the window; and the longest
``fdatasync`` of any other process meanwhile. A stall with a short loop lag and a long
``fdatasync`` is the disk; one with a long loop lag is the event loop (our code, a
collection, or the machine's CPUs).

``--disturb write`` has another process write 200 MB and sync it, one second into every
second run's measured window (what another engineer's tests, a PostgreSQL initdb or a git
checkout do to the shared disk); ``--disturb none`` leaves the disk alone.

    python -m bench.fsync_stalls --runs 20
    python -m bench.fsync_stalls --runs 8 --disturb write

Needs ``perf`` with access to the syscall tracepoints (root on the bench machine).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from bench.run import SETTLE_S, SIZES, slugs, start, workload_cfg  # noqa: E402
from bench.targets import Backing  # noqa: E402

# "14415557.462 ( 0.803 ms): python/27890 fdatasync(fd: 18) = 0"
_LINE = re.compile(r"^\s*([\d.]+) \(\s*([\d.]+) ms\): (\S+)/(\d+) (\w+)\(")
LONG_MS = 20.0


def parse(trace: Path, call: str) -> list[tuple[float, float, int]]:
    """(start in ms on perf's clock, duration in ms, thread id) of each ``call``."""
    out = []
    for line in trace.read_text(errors="replace").splitlines():
        m = _LINE.match(line)
        if m and m[5] == call:
            out.append((float(m[1]), float(m[2]), int(m[4])))
    return out


def run(runs: int, disturb: str, settle_s: float, work: Path) -> list[dict[str, Any]]:
    marker = os.open(work / "marker", os.O_WRONLY | os.O_CREAT)
    trace = work / "fdatasync.trace"
    perf = subprocess.Popen(["perf", "trace", "-a", "-T", "-m", "4096", "-e", "fdatasync,pwrite64",
                             "-o", str(trace)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)  # perf's set-up
    backing = Backing(work / "backing")  # never started: the embedded mode needs none
    target = start("kindred-embedded", work, backing, 2001)
    cfg = {**workload_cfg("rooms", SIZES["short"], slugs(), target.kind), "announce": True}
    results: list[dict[str, Any]] = []
    starts: list[float] = []  # each measured window's start, ms on the monotonic clock
    threads: set[int] = set()  # the gateway's, noted while it runs (the trace is read after)
    try:
        for i in range(runs):
            if i:
                time.sleep(settle_s)
            path = work / f"cfg-{i}.json"
            path.write_text(json.dumps({**target.config(), **cfg, "deadline_s": 290}))
            gen = subprocess.Popen([sys.executable, "-m", "bench.loadgen", str(path)], cwd=ROOT,
                                   stdout=subprocess.PIPE, text=True)
            last, noise = "", None
            assert gen.stdout is not None
            for line in gen.stdout:
                if line.strip() == "MEASURING":
                    os.write(marker, b"x")
                    os.fdatasync(marker)  # this run's mark in the trace
                    starts.append(time.monotonic() * 1000)
                    if disturb == "write" and i % 2 == 1:
                        big = work / "big"
                        noise = subprocess.Popen(
                            ["sh", "-c", f"sleep 1; dd if=/dev/zero of={big} bs=1M count=200 "
                                         f"conv=fdatasync 2>/dev/null; rm -f {big}"])
                elif line.startswith("{"):
                    last = line
            gen.wait()
            for pid in target.server_pids:
                threads.update(int(t) for t in os.listdir(f"/proc/{pid}/task"))
            if noise is not None:
                noise.wait()
            result = json.loads(last)
            result["disturbed"] = noise is not None
            results.append(result)
    finally:
        time.sleep(2)  # perf writes its buffers out late: the last runs' events
        target.stop()
        perf.send_signal(signal.SIGINT)
        perf.wait(timeout=30)
    syncs = parse(trace, "fdatasync")
    writes = parse(trace, "pwrite64")
    marks = [t for t, _, tid in syncs if tid == os.getpid()]
    # The writer thread: the gateway's thread with the most fdatasyncs.
    counts = collections.Counter(tid for _, _, tid in syncs if tid in threads)
    writer = counts.most_common(1)[0][0] if counts else -1
    window_ms = cfg["seconds"] * 1000
    # perf's clock is not the monotonic one: the offset from the first mark, each run's mark
    # looked for where it should be (perf may lose an event now and then: then the estimate).
    offset = marks[0] - starts[0] if marks and starts else 0.0
    for result, began in zip(results, starts, strict=True):
        mark = min(marks, key=lambda m: abs(m - began - offset), default=began + offset)
        if abs(mark - began - offset) > 20:
            mark = began + offset
        mine = [(t - mark, d) for t, d, tid in syncs if tid == writer and mark <= t <= mark + window_ms]
        others = [d for t, d, tid in syncs if tid not in (writer, os.getpid()) and mark <= t <= mark + window_ms]
        result["writer_syncs"] = len(mine)
        result["writer_sync_max_ms"] = max((d for _, d in mine), default=None)
        result["writer_syncs_long"] = [(round(at), round(d, 1)) for at, d in mine if d > LONG_MS]
        result["others_sync_max_ms"] = max(others, default=None)
        # A write into the page cache blocks too when another process has dirtied much of it
        # (the kernel throttles writers while it writes back).
        result["writer_pwrite_max_ms"] = max(
            (d for t, d, tid in writes if tid == writer and mark <= t <= mark + window_ms), default=None)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--disturb", choices=["none", "write"], default="none")
    parser.add_argument("--settle", type=float, default=SETTLE_S, help="seconds between runs")
    parser.add_argument("--out", default="/tmp/kindred-fsync-stalls.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kindred-fsync-") as tmp:
        results = run(args.runs, args.disturb, args.settle, Path(tmp))
    Path(args.out).write_text(json.dumps(results))
    for i, r in enumerate(results, 1):
        print(f"{i:3} {'disturbed ' if r['disturbed'] else ''}p99 {r['p99_ms']:.1f} max {r['max_ms']:.1f} ms, "
              f"loop lag max {r['loop_lag_max_ms']:.1f} ms, gc max {r['gc_max_ms']} ms | writer: "
              f"{r.get('writer_syncs')} fdatasync, longest {r.get('writer_sync_max_ms')} ms, "
              f"over {LONG_MS:.0f} ms {r.get('writer_syncs_long')}, longest pwrite64 "
              f"{r.get('writer_pwrite_max_ms')} ms; others' longest fdatasync "
              f"{r.get('others_sync_max_ms')} ms", flush=True)


if __name__ == "__main__":
    main()
