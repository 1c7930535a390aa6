"""Sessions whose due change could not be carried out yet, and when to try each again.

A change can be due and still not happen: the archive waits until the database holds the
whole transcript (in Redis mode a writer stores acknowledged messages shortly after, or,
with no writer running, not at all). The scheduler must neither spin on such a session nor
let it stall the others, so each one is held: tried again after ``first_s``, then after
twice as long each time, up to ``max_s``. ``wake`` (a ``SessionChanged`` naming the session:
a host or another gateway changed it) makes that one due again at once without resetting its
back-off; a change to any other session (this gateway's own moves echoed back included) leaves
it alone, so a busy schedule does not turn the back-off into fast polling. ``wake_all`` is for
a wake-up that may have been missed (the control channel resubscribed): every hold once.

A hold belongs to the state it was made in: once the session is in another state (moved by
a host, by another gateway, or carried out here), the hold is gone. ``hold`` says whether
this is the first failure in that state, so the caller logs once per state, not per try.

Pure: time is passed in (``time.monotonic`` seconds), nothing is read or written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

FIRST_S = 1.0
MAX_S = 30.0


@dataclass(slots=True)
class _Hold:
    state: str
    name: str  # the session's public id, as ``SessionChanged`` names it
    retry_at: float
    delay_s: float


class Holds:
    def __init__(self, first_s: float = FIRST_S, max_s: float = MAX_S) -> None:
        self._first_s = first_s
        self._max_s = max(first_s, max_s)
        self._held: dict[int, _Hold] = {}

    def __len__(self) -> int:
        return len(self._held)

    def waiting(self, occ_id: int, state: str, now: float) -> bool:
        """True while the session, read in ``state``, is held and its next try is not due;
        a hold made in another state is dropped (the session moved meanwhile)."""
        hold = self._held.get(occ_id)
        if hold is None:
            return False
        if hold.state != state:
            del self._held[occ_id]
            return False
        return now < hold.retry_at

    def waiting_states(self, now: float) -> dict[int, str]:
        """The held sessions whose next try is not due at ``now``, with the state each is held
        in (the read skips them while they are still in that state)."""
        return {k: h.state for k, h in self._held.items() if now < h.retry_at}

    def hold(self, occ_id: int, state: str, now: float, name: str = "") -> bool:
        """The change due in ``state`` failed at ``now``: try again later (doubling, up to
        ``max_s``). True when this is the first failure in this state. ``name`` is what
        ``wake`` knows the session by (its public id)."""
        hold = self._held.get(occ_id)
        if hold is None or hold.state != state:
            self._held[occ_id] = _Hold(state, name, now + self._first_s, self._first_s)
            return True
        hold.delay_s = min(hold.delay_s * 2, self._max_s)
        hold.retry_at = now + hold.delay_s
        return False

    def release(self, occ_id: int) -> None:
        """The change was carried out (or is no longer due)."""
        self._held.pop(occ_id, None)

    def keep_only(self, occ_ids: Iterable[int]) -> None:
        """Forget the holds of sessions no longer due (moved or cancelled elsewhere)."""
        keep = set(occ_ids)
        self._held = {k: v for k, v in self._held.items() if k in keep}

    def wake(self, name: str) -> None:
        """The session called ``name`` changed: it may be tried at once (its back-off goes on
        from where it was). Nothing happens for a session that is not held."""
        for hold in self._held.values():
            if hold.name == name:
                hold.retry_at = 0.0

    def wake_all(self) -> None:
        """Every held session may be tried at once (its back-off goes on from where it was)."""
        for hold in self._held.values():
            hold.retry_at = 0.0

    def next_try_in(self, now: float) -> float | None:
        """Seconds until the earliest held session may be tried again (0 if one may now)."""
        if not self._held:
            return None
        return max(0.0, min(h.retry_at for h in self._held.values()) - now)
