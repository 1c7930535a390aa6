"""Token buckets with time passed in, so the rule is tested without a clock."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class TokenBucket:
    """``rate_per_s`` tokens refill each second up to ``burst``; each action takes one.

    ``take(now)`` returns True when the action is allowed. ``now`` is any monotonic clock in
    seconds; the first call fills the bucket.
    """

    rate_per_s: float
    burst: float
    tokens: float = -1.0
    updated: float = 0.0

    def take(self, now: float, cost: float = 1.0) -> bool:
        if self.tokens < 0:
            self.tokens, self.updated = self.burst, now
        else:
            elapsed = max(0.0, now - self.updated)
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate_per_s)
            self.updated = now
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False

    def full(self, now: float) -> bool:
        """True when the bucket has refilled completely (it can be forgotten)."""
        self.take(now, cost=0.0)
        return self.tokens >= self.burst

    def retry_after(self, cost: float = 1.0) -> float:
        """Seconds until ``cost`` tokens will be available (0 when they are now)."""
        missing = cost - max(self.tokens, 0.0)
        return 0.0 if missing <= 0 else missing / self.rate_per_s


# A send that comes this much before the wait it was told has passed still counts as obeying:
# the wait is rounded to milliseconds on the wire, and timers in a browser are not exact.
OBEY_SLACK_S = 0.05


@dataclass(slots=True)
class Strikes:
    """Counts refusals in a row; a member who keeps pushing after being told is disconnected."""

    limit: int
    count: int = 0
    wait_until: float = 0.0  # when the last ``rate_limited`` said sending would work again

    def strike(self) -> bool:
        """Record one refusal; True once the limit is reached."""
        self.count += 1
        return self.count >= self.limit

    def rate_limited(self, now: float, retry_after_s: float) -> bool:
        """A ``rate_limited`` refusal at ``now`` (monotonic seconds) that told the member to
        wait ``retry_after_s``. It is a strike only when the send came before the previous
        wait had passed: a client that waits as told (another tab of the same member may have
        taken the token meanwhile) is refused again, never disconnected. True once the
        limit is reached."""
        obeyed = now >= self.wait_until - OBEY_SLACK_S
        self.wait_until = now + retry_after_s
        return False if obeyed else self.strike()

    def clear(self) -> None:
        self.count = 0
