"""What holds a server's event loop, step by step, for ``bench.tails`` (not part of Kindred).

On this directory's PYTHONPATH with ``KINDRED_BENCH_STEP_TRACE=<file>``, a fresh process
(not one forked from the test zygote: ``KINDRED_TEST_FORK=0``) times every asyncio task's
*steps* (one uninterrupted run on the loop thread, from a resume to the next suspension) and
the pub/sub reader's ``data_received`` (the fan-out runs there, in no task), in wall and
thread CPU time, with the garbage collector's pauses. The first SIGUSR2 starts recording;
the second writes ``<file>.<pid>`` (JSON: steps of at least ``KINDRED_BENCH_STEP_TRACE_MIN_MS``
as [start, wall s, cpu s, name], per-name totals, collections) and stops. Times are
``perf_counter`` (CLOCK_MONOTONIC), the load generator's clock. Every task's coroutine is
wrapped, so a traced server is a little slower; compare traced runs with traced runs.
"""

from __future__ import annotations

import os

_OUT = os.environ.get("KINDRED_BENCH_STEP_TRACE")

if _OUT:
    import asyncio
    import collections.abc
    import gc
    import importlib.abc
    import importlib.util
    import json
    import signal
    import sys
    import time
    from typing import Any

    _perf, _cpu = time.perf_counter, time.thread_time
    _MIN_S = float(os.environ.get("KINDRED_BENCH_STEP_TRACE_MIN_MS", "0.3")) / 1000
    _state: dict[str, Any] = {"on": False, "steps": [], "totals": {}, "gc": [], "gc_start": 0.0}

    def _record(name: str, start: float, wall: float, cpu: float) -> None:
        if not _state["on"]:
            return
        totals = _state["totals"].setdefault(name, [0, 0.0, 0.0])
        totals[0] += 1
        totals[1] += cpu
        totals[2] = max(totals[2], cpu)
        if wall >= _MIN_S:
            _state["steps"].append((start, wall, cpu, name))

    class _Timed(collections.abc.Coroutine):  # type: ignore[type-arg]
        """A task's coroutine, each ``send``/``throw`` (one step) timed."""

        __slots__ = ("_coro", "_name")

        def __init__(self, coro: Any) -> None:
            self._coro = coro
            self._name = getattr(coro, "__qualname__", type(coro).__name__)

        def send(self, value: Any) -> Any:
            t, c = _perf(), _cpu()
            try:
                return self._coro.send(value)
            finally:
                _record(self._name, t, _perf() - t, _cpu() - c)

        def throw(self, *args: Any) -> Any:
            t, c = _perf(), _cpu()
            try:
                return self._coro.throw(*args)
            finally:
                _record(self._name, t, _perf() - t, _cpu() - c)

        def close(self) -> None:
            self._coro.close()

        def __await__(self) -> Any:
            return self._coro.__await__()

    class _Task(asyncio.Task):  # type: ignore[type-arg]
        def __init__(self, coro: Any, **kw: Any) -> None:
            super().__init__(_Timed(coro), **kw)

    # Before uvloop is imported: it takes asyncio.Task once, at import.
    asyncio.Task = asyncio.tasks.Task = _Task  # type: ignore[misc]

    def _on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            _state["gc_start"] = _perf()
        elif _state["on"]:
            _state["gc"].append((_state["gc_start"], _perf() - _state["gc_start"], info["generation"]))

    gc.callbacks.append(_on_gc)

    class _TimeFanOut(importlib.abc.MetaPathFinder):
        """Wraps the pub/sub reader's ``data_received`` once its module is loaded."""

        def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
            if name != "chat_server.broker.subscriber":
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            assert spec is not None and spec.loader is not None
            loader, load = spec.loader, spec.loader.exec_module

            def exec_module(module: Any) -> None:
                load(module)
                received = module._Protocol.data_received

                def data_received(self: Any, data: bytes) -> None:
                    t, c = _perf(), _cpu()
                    try:
                        received(self, data)
                    finally:
                        _record("Subscriber.data_received", t, _perf() - t, _cpu() - c)

                module._Protocol.data_received = data_received

            loader.exec_module = exec_module  # type: ignore[method-assign]
            return spec

    sys.meta_path.insert(0, _TimeFanOut())

    def _toggle(signum: int, frame: object) -> None:
        if not _state["on"]:
            _state.update(on=True, steps=[], totals={}, gc=[])
            return
        _state["on"] = False
        with open(f"{_OUT}.{os.getpid()}", "w") as out:
            json.dump({k: _state[k] for k in ("steps", "totals", "gc")}, out)

    signal.signal(signal.SIGUSR2, _toggle)
