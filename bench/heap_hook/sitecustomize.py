"""What a server process keeps between runs, for ``bench.leak`` (not part of Kindred).

On this directory's PYTHONPATH with ``KINDRED_BENCH_HEAP=<file>``, a fresh process (not one
forked from the test zygote) gets a SIGUSR2 handler that, on the loop thread, writes
``<file>.<pid>.<n>`` (JSON): a full collection's result, live objects by type, the asyncio
tasks by coroutine, RSS, the size of every container reachable from the ``Hub`` (three levels
of attributes), and with ``PYTHONTRACEMALLOC=1`` the Python heap by allocating line. Two
snapshots taken with the members gone can then be compared. The first snapshot also installs a
task factory that counts the tasks created from then on (``tasks_created``, cumulative).

The server freezes its start-up heap (``serve.settle_heap``), so ``gc.get_objects`` lists only
what was made since: the Hub itself is found through its heartbeat task's frame.
"""

from __future__ import annotations

import os

_OUT = os.environ.get("KINDRED_BENCH_HEAP")

if _OUT:
    import asyncio
    import collections
    import gc
    import json
    import signal
    import time
    import tracemalloc
    from typing import Any

    _CONTAINERS = (dict, list, set, collections.deque)
    _OURS = ("chat_server", "presence", "rooms", "persistence")
    _count = {"n": 0}
    # Full collections since the last snapshot: how many, and their CPU (the loop stops for them).
    _full: dict[str, Any] = {"start": 0.0, "pauses": []}

    # Every collection's count and CPU by generation, cumulative (the snapshots' own excluded).
    _gcs: dict[str, Any] = {"start": 0.0, "count": [0, 0, 0], "cpu_s": [0.0, 0.0, 0.0]}

    def _on_gc(phase: str, info: dict[str, int]) -> None:
        if _full.get("own"):
            return
        gen = info["generation"]
        if phase == "start":
            _gcs["start"] = time.thread_time()
            return
        took = time.thread_time() - _gcs["start"]
        _gcs["count"][gen] += 1
        _gcs["cpu_s"][gen] += took
        if gen == 2:
            _full["pauses"].append(took)

    gc.callbacks.append(_on_gc)

    def _rss_kb() -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def _attrs(obj: Any) -> dict[str, Any]:
        found: dict[str, Any] = dict(vars(obj)) if hasattr(obj, "__dict__") else {}
        for klass in type(obj).__mro__:
            for slot in getattr(klass, "__slots__", ()):
                if hasattr(obj, slot):
                    found[slot] = getattr(obj, slot)
        return found

    def _ours(value: Any) -> bool:
        return type(value).__module__.split(".")[0] in _OURS and not isinstance(value, type)

    def _sizes(obj: Any, prefix: str, out: dict[str, int], depth: int, seen: set[int]) -> None:
        if depth < 0 or id(obj) in seen:
            return
        seen.add(id(obj))
        for name, value in _attrs(obj).items():
            where = f"{prefix}.{name}"
            if isinstance(value, _CONTAINERS):
                out[where] = len(value)
                # A dict of our objects (rooms, connections): the sum of their containers.
                if isinstance(value, dict):
                    for item in list(value.values()):
                        if _ours(item):
                            for sub, inner in _attrs(item).items():
                                if isinstance(inner, _CONTAINERS):
                                    out[f"{where}[*].{sub}"] = out.get(f"{where}[*].{sub}", 0) + len(inner)
            elif _ours(value):
                _sizes(value, where, out, depth - 1, seen)

    def _name(task: asyncio.Task[Any]) -> str:
        coro = task.get_coro()
        return str(getattr(coro, "__qualname__", task.get_name()))

    _created = {"n": 0}

    def _counting_factory(loop: Any, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        _created["n"] += 1
        return asyncio.Task(coro, loop=loop, **kwargs)

    def _count_tasks() -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if loop.get_task_factory() is None:
            loop.set_task_factory(_counting_factory)

    def _snapshot(signum: int, frame: object) -> None:
        _count_tasks()
        pauses, _full["pauses"] = _full["pauses"], []
        _full["own"] = True  # this collection is timed apart: what a full one costs now
        started = time.thread_time()
        unreachable = gc.collect()
        own_ms = (time.thread_time() - started) * 1000
        _full["own"] = False
        objs = gc.get_objects()
        types = collections.Counter(type(o).__qualname__ if type(o).__module__ == "builtins"
                                    else f"{type(o).__module__}.{type(o).__qualname__}" for o in objs)
        try:
            tasks = list(asyncio.all_tasks())
        except RuntimeError:
            tasks = []
        sizes: dict[str, int] = {}
        for task in tasks:
            locals_ = getattr(getattr(task.get_coro(), "cr_frame", None), "f_locals", {})
            owner = locals_.get("self")
            if type(owner).__name__ == "Hub":  # several of its tasks: walk it once
                _sizes(owner, "Hub", sizes, 3, set())
                break
        traced = ({f"{st.traceback[0].filename}:{st.traceback[0].lineno}": st.size
                   for st in tracemalloc.take_snapshot().statistics("lineno")[:300]}
                  if tracemalloc.is_tracing() else {})
        _count["n"] += 1
        with open(f"{_OUT}.{os.getpid()}.{_count['n']}", "w") as f:
            json.dump({"rss_kb": _rss_kb(), "gc_unreachable": unreachable, "objects": len(objs),
                       "types": dict(types), "sizes": sizes,
                       "tasks": dict(collections.Counter(_name(t) for t in tasks)), "traced": traced,
                       "tasks_created": _created["n"], "gc_count": list(_gcs["count"]),
                       "gc_cpu_s": list(_gcs["cpu_s"]),
                       "full_gc": len(pauses), "full_gc_now_ms": own_ms, "full_gc_max_ms": max(pauses, default=0) * 1000}, f)

    signal.signal(signal.SIGUSR2, _snapshot)
