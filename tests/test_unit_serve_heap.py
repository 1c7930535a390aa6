"""The gateway's heap settings once the app is built (chat_server.serve.settle_heap)."""

from __future__ import annotations

import gc
from typing import Any

from chat_server.serve import GC_MIDDLE_THRESHOLD, GC_YOUNG_THRESHOLD, settle_heap


def test_the_young_generation_is_collected_less_often_and_the_middle_in_smaller_pieces() -> None:
    before = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, GC_MIDDLE_THRESHOLD, before[2])
        assert before[0] < GC_YOUNG_THRESHOLD and before[1] > GC_MIDDLE_THRESHOLD
        assert gc.get_freeze_count() > 0  # what existed is frozen, as before
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_survivors_of_nine_young_collections_meet_a_middle_collection() -> None:
    """Connections' objects live as long as their sockets: the middle generation must not
    gather them all before it is collected (one collection of ~200,000 held the loop 50-60 ms)."""
    before = gc.get_threshold()
    seen: list[int] = []

    def count(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop":
            seen.append(info["generation"])

    try:
        settle_heap()
        gc.callbacks.append(count)
        kept = [[] for _ in range(9 * GC_YOUNG_THRESHOLD + 1000)]  # tracked, all alive
        young, middle = seen.count(0), sum(1 for g in seen if g >= 1)
        # CPython collects the middle generation when more than GC_MIDDLE_THRESHOLD young
        # collections ran since its last one: one in every GC_MIDDLE_THRESHOLD + 2 here (at
        # CPython's 10, none in these nine).
        assert young + middle >= 8
        assert middle >= 1 and middle >= (young + middle) // (GC_MIDDLE_THRESHOLD + 2)
        del kept
    finally:
        if count in gc.callbacks:
            gc.callbacks.remove(count)
        gc.unfreeze()
        gc.set_threshold(*before)
