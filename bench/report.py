"""Turn a run's results into tables and ``docs/performance.md``.

The generated part (tables, machine, versions, ratios) is rebuilt on every run; the
hand-written analysis (what each change bought, where the time goes) lives in
``bench/notes.md`` and is appended as it is.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from bench import goals

NAMES = {
    "kindred-embedded": "Kindred, embedded (SQLite)",
    "kindred-redis-1": "Kindred, Redis, 1 gateway",
    "kindred-redis-2": "Kindred, Redis, 2 gateways",
    "limit": "raw limit (websockets.broadcast)",
    "socketio": "python-socketio + AsyncRedisManager",
    "channels": "Django Channels + channels_redis",
}
KINDRED = ("kindred-embedded", "kindred-redis-1", "kindred-redis-2")


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    load = os.getloadavg()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_kib / 2**20, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "load_at_start": [round(x, 2) for x in load]}


def versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for dist in ("uvicorn", "websockets", "starlette", "uvloop", "httptools", "msgpack", "redis",
                 "hiredis", "python-socketio", "python-engineio", "django", "channels",
                 "channels-redis", "sqlalchemy", "asyncpg", "aiosqlite"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    for name, argv in (("redis-server", ["/usr/bin/redis-server", "--version"]),
                       ("postgresql", ["/usr/lib/postgresql/15/bin/postgres", "--version"])):
        try:
            out[name] = subprocess.run(argv, capture_output=True, text=True, check=False,
                                       timeout=10).stdout.strip()
        except OSError:
            out[name] = "not found"
    return out


def _f(v: Any, digits: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _m(results: dict[str, Any], target: str, workload: str) -> dict[str, Any]:
    m: dict[str, Any] = results["targets"].get(target, {}).get(workload, {}).get("median", {})
    return m


def _ratio(a: Any, b: Any, digits: int = 2) -> str:
    if not isinstance(a, int | float) or not isinstance(b, int | float) or b == 0:
        return "-"
    return f"{a / b:.{digits}f}x"


def tables(results: dict[str, Any]) -> str:
    names = list(results["targets"])
    lines: list[str] = []

    def table(title: str, head: list[str], rows: list[list[str]]) -> None:
        lines.append(f"\n### {title}\n")
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|")
        lines.extend("| " + " | ".join(r) + " |" for r in rows)

    rows = []
    for t in names:
        m = _m(results, t, "rooms")
        if m:
            rows.append([NAMES.get(t, t), _f(m.get("deliveries_per_s"), 0), _f(m.get("delivery_ratio"), 3),
                         _f(m.get("p50_ms")), _f(m.get("p95_ms")), _f(m.get("p99_ms")), _f(m.get("max_ms")),
                         _f(m.get("server_cpu_per_1k"), 3), _f(m.get("backing_cpu_per_1k"), 3),
                         _f(m.get("client_cpu_s"), 2), _f((m.get("server_hwm_kib") or 0) / 1024, 0),
                         _f(m.get("connections_per_s"), 0)])
    if rows:
        table("(a) Small rooms: 50 rooms x 10 members, 2 senders per room at 5 msg/s",
              ["server", "deliveries/s", "delivery ratio", "p50 ms", "p95 ms", "p99 ms", "max ms",
               "server CPU s / 1k deliveries", "backing CPU s / 1k", "client CPU s",
               "server peak RSS MiB", "connections/s"], rows)
    rows = []
    for t in names:
        m = _m(results, t, "webinar")
        if m:
            held = m.get("held") or {}
            rows.append([NAMES.get(t, t), _f(m.get("highest_rate")),
                         _f(held.get("deliveries_per_s"), 0), _f(held.get("p50_ms")), _f(held.get("p99_ms")),
                         _f(held.get("loop_lag_p99_ms")), _f(held.get("loop_lag_max_ms")),
                         _f(held.get("server_cpu_per_1k"), 3), _f(held.get("backing_cpu_per_1k"), 3),
                         _f(m.get("connections_per_s"), 0)])
    if rows:
        table("(b) Webinar: 1 room x 1,000 members, one sender stepping up its rate",
              ["server", "highest rate that held (msg/s)", "deliveries/s at that rate",
               "p50 ms", "p99 ms", "loop lag p99 ms", "loop lag max ms", "server CPU s / 1k",
               "backing CPU s / 1k", "connections/s"], rows)
    rows = []
    for t in names:
        m = _m(results, t, "idle")
        if m:
            rows.append([NAMES.get(t, t), _f(m.get("connections"), 0), _f(m.get("rss_per_connection_kib")),
                         _f(m.get("connections_per_s"), 0), _f(m.get("joined_per_s"), 0),
                         _f(m.get("idle_server_cpu_s"), 2)])
    if rows:
        table("(c) Idle scale: connections joined to 60 rooms",
              ["server", "connections", "RSS per connection KiB", "connections/s",
               "connected and joined/s", "server CPU s while idle"], rows)
    rows = []
    for t in names:
        m = _m(results, t, "storm")
        if m:
            rows.append([NAMES.get(t, t), _f(m.get("connections"), 0), _f(m.get("resumed"), 0),
                         _f(m.get("resume_p50_s"), 3), _f(m.get("resume_p99_s"), 3),
                         _f(m.get("resume_max_s"), 3)])
    if rows:
        table("(d) Reconnect storm: every client dropped and reconnecting at once",
              ["server", "clients", "resumed", "p50 s", "p99 s", "max s"], rows)
    return "\n".join(lines)


def experiment_table(results: dict[str, Any]) -> str:
    exp = results.get("experiments")
    if not exp:
        return ""
    lines = ["\n### WebSocket implementation and event loop (Kindred embedded, 300 members, "
             "20 msg/s into one room)\n",
             "| variant | server CPU s / 1k deliveries | p50 ms | p99 ms | delivery ratio | connections/s |",
             "|---|---:|---:|---:|---:|---:|"]
    for label, v in exp.items():
        m = v["median"]
        lines.append(f"| {label} | {_f(m.get('server_cpu_per_1k'), 4)} | {_f(m.get('p50_ms'))} | "
                     f"{_f(m.get('p99_ms'))} | {_f(m.get('delivery_ratio'), 3)} | "
                     f"{_f(m.get('connections_per_s'), 0)} |")
    return "\n".join(lines)


def ratios(results: dict[str, Any]) -> str:
    lines = ["\n### Ratios (same run)\n", "| Kindred | vs | small rooms p99 | small rooms CPU/1k | "
             "webinar highest rate | idle RSS/conn |", "|---|---|---:|---:|---:|---:|"]
    for k in KINDRED:
        if k not in results["targets"]:
            continue
        for ref in ("limit", "socketio", "channels"):
            if ref not in results["targets"]:
                continue
            a, b = _m(results, k, "rooms"), _m(results, ref, "rooms")
            wa, wb = _m(results, k, "webinar"), _m(results, ref, "webinar")
            ia, ib = _m(results, k, "idle"), _m(results, ref, "idle")
            lines.append(f"| {NAMES[k]} | {NAMES[ref]} | {_ratio(a.get('p99_ms'), b.get('p99_ms'))} | "
                         f"{_ratio(a.get('server_cpu_per_1k'), b.get('server_cpu_per_1k'))} | "
                         f"{_ratio(wa.get('highest_rate'), wb.get('highest_rate'))} | "
                         f"{_ratio(ia.get('rss_per_connection_kib'), ib.get('rss_per_connection_kib'))} |")
    return "\n".join(lines)


def writer_table(results: dict[str, Any]) -> str:
    """The transcript writers (bench.writer) and filling a big room (bench.fill), if run."""
    lines: list[str] = []
    w = results.get("writers") or {}
    if w.get("paths"):
        lines += [f"\n### (e) Transcript writers: {w['messages']:,} messages in 20 rooms, batches of "
                  f"{w['batch']:,}, search index kept current, medians of {w['rounds']}\n",
                  "| database | path | messages/s | runs | writer µs/msg | database + Redis µs/msg |",
                  "|---|---|---:|---|---:|---:|"]
        for p in w["paths"]:
            lines.append(f"| {p['database']} | {p['path']} | {p['rate']:,.0f} | "
                         + " / ".join(f"{r / 1000:.1f}k" for r in p["runs"])
                         + f" | {p['writer_us']:.1f} | {p['db_us']:.1f} |")
    elif w.get("failed"):
        lines.append(f"\n### (e) Transcript writers\n\nNot measured: {w['failed']}.")
    fill = results.get("fill") or {}
    if fill:
        lines += ["\n### (f) Filling one room: N members join, 50 at a time\n",
                  "| server | members | presence + joined MB | of which joined MB | server CPU s | all joined after s |",
                  "|---|---:|---:|---:|---:|---:|"]
        for t, sizes in fill.items():
            for r in sizes:
                if "failed" in r:
                    lines.append(f"| {NAMES.get(t, t)} | {r['members']} | failed: {r['failed']} | | | |")
                    continue
                lines.append(f"| {NAMES.get(t, t)} | {r['members']:,} | {r['total_mb']:.2f} | "
                             f"{r['joined_bytes'] / 1e6:.2f} | {r['server_cpu_s']:.2f} | {r['join_s']:.2f} |")
    return "\n".join(lines)


def write_doc(results: dict[str, Any], path: Path) -> None:
    notes = Path(__file__).with_name("notes.md")
    m = results["machine"]
    when = dt.datetime.fromtimestamp(results["started"], dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = [
        "# Performance",
        "",
        "Generated by `make bench` (`python -m bench.run`); the analysis after the tables is "
        "hand-written (`bench/notes.md`). Re-run it to get figures for your machine.",
        "",
        f"Run: {when}, {results['size']} version, {results['elapsed_s']:.0f} s. Machine: {m['cpu']}, "
        f"{m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}, Python {m['python']}; "
        f"load average at start {m['load_at_start']}.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()) + ".",
    ]
    body = ("\n".join(head) + "\n" + goals.table(results) + tables(results) + "\n" + ratios(results) + "\n"
            + experiment_table(results) + "\n" + writer_table(results) + "\n")
    if notes.exists():
        body += "\n" + notes.read_text()
    path.write_text(body)
