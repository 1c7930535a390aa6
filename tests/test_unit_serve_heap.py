"""The gateway's heap settings once the app is built (chat_server.serve.settle_heap)."""

from __future__ import annotations

import gc

from chat_server.serve import GC_YOUNG_THRESHOLD, settle_heap


def test_the_young_generation_is_collected_less_often_and_the_rest_keeps_its_ratios() -> None:
    before = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
        assert before[0] < GC_YOUNG_THRESHOLD
        assert gc.get_freeze_count() > 0  # what existed is frozen, as before
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
