"""The soak: Redis mode with several gateways for minutes, members coming and going, every
message counted (issue 18: "the anti-entropy check fires only on a real gap").

    python -m bench.soak --minutes 10 --gateways 2      # `make soak`
    python -m bench.soak --minutes 0.33 --json out.json # what tests/test_soak.py runs

It starts redis-server, PostgreSQL and the gateways as ``bench.run`` does (``bench.targets``:
each gateway runs its transcript writer, as ``kindred serve`` does by default), seeds one
member per place, and drives small rooms spread over every gateway: a few senders per room
at a fixed rate (``bench.loadgen``'s pacer), while members drop their connection and resume
with their last seq, on the same gateway or on the other (``bench.soak_members``). At the
end every member must have received every acknowledged message of its room after its first
join exactly once, in seq order; and the gateways' logs must hold no anti-entropy alarm.
Prints the figures, exits 1 if anything was missing, duplicated or out of order, any send
stayed unacknowledged, or any alarm fired.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # bench.targets starts servers with tests/support

from bench.extras import ALARM  # noqa: E402
from bench.gen import Gen  # noqa: E402
from bench.soak_members import Member, Tally, churn, missing  # noqa: E402
from bench.targets import Backing, start_kindred  # noqa: E402
from bench.workloads import pace  # noqa: E402
from rooms import catalog  # noqa: E402

# An ERROR record as the gateway logs it ("... ERROR name: ...") or as uvicorn does ("ERROR:").
_ERROR = re.compile(rb"(^|\s)ERROR[:\s]")


def run(minutes: float, gateways: int, rooms: int = 50, members: int = 10, senders: int = 2,
        rate: float = 2.0, churn_per_s: float = 3.3, move_share: float = 0.5) -> dict[str, Any]:
    """Start everything, drive the traffic, stop everything; the figures."""
    with contextlib.suppress(ValueError, OSError):
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    slugs = [c.slug for c in catalog.load().communities][:rooms]
    spec = {"minutes": minutes, "gateways": gateways, "rooms": len(slugs), "members": members,
            "senders": senders, "rate": rate, "churn_per_s": churn_per_s}
    with tempfile.TemporaryDirectory(prefix="kindred-soak-") as tmp:
        work = Path(tmp)
        backing = Backing(work / "backing")
        try:
            target = start_kindred("soak", work / "soak", backing, gateways, len(slugs) * members)
            try:
                drive = _drive({**target.config(), "workload": "soak"}, slugs, spec)
                result = _runner()(drive)
            finally:
                target.stop()
        finally:
            backing.stop()
        logs = sorted((work / "soak").glob("gw*.log"))
        result["alarms"] = {log.stem: _count(log, lambda line: ALARM.encode() in line) for log in logs}
        result["error_lines"] = {log.stem: _count(log, _ERROR.search) for log in logs}
        # The logs go with the temporary directory: keep a few ERROR lines as evidence.
        result["error_samples"] = {log.stem: _first(log, _ERROR.search, 5) for log in logs}
    return {**spec, **result}


def _runner() -> Callable[[Any], Any]:
    try:
        import uvloop

        run_: Callable[[Any], Any] = uvloop.run
    except ImportError:
        run_ = asyncio.run
    return run_


def _count(log: Path, match: Callable[[bytes], Any]) -> int:
    with log.open("rb") as f:
        return sum(1 for line in f if match(line))


def _first(log: Path, match: Callable[[bytes], Any], n: int) -> list[str]:
    with log.open("rb") as f:
        found = [line.decode("utf-8", "replace").rstrip() for line in f if match(line)]
    return found[:n]


async def _drive(cfg: dict[str, Any], slugs: list[str], spec: dict[str, Any]) -> dict[str, Any]:
    gen = Gen(cfg)
    tally = Tally()
    size = spec["members"]
    people = [Member(gen, i, slugs[i // size], tally) for i in range(len(slugs) * size)]
    sem = asyncio.Semaphore(50)

    async def first(m: Member) -> None:
        async with sem:
            await m.connect()

    await asyncio.gather(*(first(m) for m in people))
    await gen.quiet()  # the joins' presence announcements are out
    senders = [(people[r * size + k], slugs[r]) for r in range(len(slugs))
               for k in range(spec["senders"])]
    seconds = spec["minutes"] * 60
    window = gen.window()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(churn(people, spec["churn_per_s"], seconds, 0.5, tg))
        sent = await pace(senders, spec["rate"], seconds, 0, gen, lambda _room: size)
    # Every member back, every send acknowledged, every member at its room's newest seq.
    settle_s = await _settle(people, tally, 60.0)
    measured = window.close()
    for m in people:
        m.close()
    expected, lost = missing(people, tally)
    acked = sum(len(s) for s in tally.acked.values())
    return {
        "seconds": measured["seconds"], "sent": sent, "acknowledged": acked,
        "unacknowledged": sum(len(m.pending) for m in people),
        "expected": expected, "deliveries": tally.deliveries, "missing": lost,
        "duplicates": tally.duplicates, "out_of_order": tally.late,
        "gap_frames": tally.gap_frames, "went_back": tally.went_back,
        "delivery_ratio": (expected - lost) / expected if expected else None,
        "resumes": tally.resumes, "rejoins": tally.rejoins, "connect_retries": tally.retries,
        "unreachable": tally.unreachable, "duplicate_acks": tally.duplicate_acks,
        "settle_s": settle_s, "error_frames": gen.stats.errors,
        "server_cpu_s": measured["server_cpu_s"], "backing_cpu_s": measured["backing_cpu_s"],
        "server_cpu_per_1k": 1000 * measured["server_cpu_s"] / max(tally.deliveries, 1),
        "backing_cpu_per_1k": 1000 * measured["backing_cpu_s"] / max(tally.deliveries, 1),
    }


async def _settle(people: list[Member], tally: Tally, max_s: float) -> float:
    """Reconnect whoever is still away, then wait until no send is unacknowledged and every
    member holds its room's newest acknowledged seq, at most ``max_s``; the seconds taken."""
    start = time.perf_counter()
    await asyncio.gather(*(m.connect() for m in people if not m.ready))

    def done() -> bool:
        if any(m.pending for m in people):
            return False
        heads = {room: max(seqs, default=0) for room, seqs in tally.acked.items()}
        return all((m.last or 0) >= heads[m.room] for m in people)

    while time.perf_counter() - start < max_s:
        if done():
            break
        await asyncio.sleep(0.1)
    return time.perf_counter() - start


def failures(r: dict[str, Any]) -> list[str]:
    """What makes the soak fail: anything lost, doubled, out of order or unacknowledged,
    and any anti-entropy alarm."""
    bad = [f"{k}: {r[k]}" for k in ("missing", "duplicates", "out_of_order", "gap_frames",
                                     "went_back", "unacknowledged", "unreachable") if r[k]]
    bad += [f"alarms on {gw}: {n}" for gw, n in r["alarms"].items() if n]
    if not r["acknowledged"]:
        bad.append("nothing was acknowledged")
    return bad


def report(r: dict[str, Any]) -> str:
    def per_gw(counts: dict[str, int]) -> str:
        return ", ".join(f"{gw} {n:,}" for gw, n in counts.items())

    rows = [
        ("minutes", f"{r['seconds'] / 60:.1f} ({r['gateways']} gateways, {r['rooms']} rooms x "
                    f"{r['members']} members, {r['senders']} senders a room at {r['rate']:g}/s)"),
        ("messages acknowledged", f"{r['acknowledged']:,}"),
        ("deliveries", f"{r['deliveries']:,} (expected {r['expected']:,})"),
        ("missing", f"{r['missing']:,}"),
        ("duplicates", f"{r['duplicates']:,} (out of order {r['out_of_order']:,}, gap frames "
                       f"{r['gap_frames']:,}, heads gone back {r['went_back']:,})"),
        ("delivery ratio", "-" if r["delivery_ratio"] is None else f"{r['delivery_ratio']:.6f}"),
        ("anti-entropy alarms", per_gw(r["alarms"])),
        ("ERROR lines", per_gw(r["error_lines"])),
        ("server CPU per 1,000 deliveries", f"{r['server_cpu_per_1k']:.3f} s (backing "
                                            f"{r['backing_cpu_per_1k']:.3f} s)"),
        ("rejoins (other gateway)", f"{r['rejoins']:,}"),
        ("resumes (same gateway)", f"{r['resumes']:,}"),
        ("unacknowledged sends", f"{r['unacknowledged']:,} (resent cids answered as "
                                 f"duplicates {r['duplicate_acks']:,})"),
        ("connect retries", f"{r['connect_retries']:,} (gave up {r['unreachable']:,})"),
        ("error frames", json.dumps(r["error_frames"]) if r["error_frames"] else "none"),
    ]
    return "\n".join(f"  {k:32} {v}" for k, v in rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--gateways", type=int, default=2)
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--members", type=int, default=10, help="members of each room")
    parser.add_argument("--senders", type=int, default=2, help="senders in each room")
    parser.add_argument("--rate", type=float, default=2.0, help="messages a second per sender")
    parser.add_argument("--churn", type=float, default=3.3, help="reconnects a second, in all")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    r = run(args.minutes, args.gateways, args.rooms, args.members, args.senders, args.rate,
            args.churn)
    print("soak:\n" + report(r), flush=True)
    for gw, lines in r["error_samples"].items():
        for line in lines:
            print(f"  {gw}: {line[:300]}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=1))
    bad = failures(r)
    if bad:
        print("FAILED: " + "; ".join(bad), flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
