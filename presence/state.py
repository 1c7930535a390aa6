"""Pure presence bookkeeping, time passed in.

An entry says "gateway G has user U in room R until time T". A gateway refreshes its entries
while it lives; when a gateway dies its entries expire and a sweep removes them. A user is
present in a room while at least one gateway holds an entry for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class RoomPresence:
    expiry: dict[tuple[str, str], float] = field(default_factory=dict)  # (gateway, user) -> t
    counts: dict[str, int] = field(default_factory=dict)  # user -> gateways holding them
    info: dict[str, dict[str, str]] = field(default_factory=dict)  # user -> public view

    def enter(self, gateway: str, user: dict[str, str], until: float) -> bool:
        """Add or refresh an entry; True when the user was not present before."""
        key = (gateway, user["id"])
        self.info[user["id"]] = user
        fresh = key not in self.expiry
        self.expiry[key] = until
        if not fresh:
            return False
        self.counts[user["id"]] = self.counts.get(user["id"], 0) + 1
        return self.counts[user["id"]] == 1

    def leave(self, gateway: str, user_id: str) -> dict[str, str] | None:
        """Drop an entry; return the user's public view when they are now gone everywhere."""
        if self.expiry.pop((gateway, user_id), None) is None:
            return None
        remaining = self.counts.get(user_id, 1) - 1
        if remaining > 0:
            self.counts[user_id] = remaining
            return None
        self.counts.pop(user_id, None)
        return self.info.pop(user_id, None)

    def sweep(self, now: float) -> list[dict[str, str]]:
        """Remove entries that expired at or before ``now``; return users now gone."""
        gone: list[dict[str, str]] = []
        for gateway, user_id in [k for k, t in self.expiry.items() if t <= now]:
            left = self.leave(gateway, user_id)
            if left is not None:
                gone.append(left)
        return gone

    def present(self) -> list[dict[str, str]]:
        return [self.info[u] for u in self.counts if u in self.info]

    def count(self) -> int:
        return len(self.counts)

    def listing(self, user_id: str, limit: int) -> list[dict[str, str]]:
        """At most ``limit`` views of present users, ``user_id``'s among them if present:
        a join's snapshot costs O(limit), not O(room)."""
        out = [self.info[user_id]] if user_id in self.counts and user_id in self.info else []
        for u in self.counts:
            if len(out) >= limit:
                break
            if u != user_id and u in self.info:
                out.append(self.info[u])
        return out

    def page(self, after: str | None, limit: int) -> tuple[list[dict[str, str]], str | None]:
        """Present users ordered by id, the first ``limit`` after ``after``; and the id to
        continue after, None when this page is the last."""
        ids = sorted(u for u in self.counts if (after is None or u > after) and u in self.info)
        chunk = ids[:limit]
        return [self.info[u] for u in chunk], (chunk[-1] if len(ids) > limit else None)

    def empty(self) -> bool:
        return not self.expiry


@dataclass(slots=True)
class ConnectionCounts:
    """Open connections per user across gateways, each with an expiry, for the per-user cap."""

    expiry: dict[str, dict[str, float]] = field(default_factory=dict)  # user -> conn -> t

    def open(self, user_id: str, conn_id: str, until: float, now: float, cap: int) -> bool:
        conns = self.expiry.setdefault(user_id, {})
        for cid in [c for c, t in conns.items() if t <= now]:
            del conns[cid]
        if conn_id not in conns and len(conns) >= cap:
            return False
        conns[conn_id] = until
        return True

    def close(self, user_id: str, conn_id: str) -> None:
        conns = self.expiry.get(user_id)
        if conns is not None:
            conns.pop(conn_id, None)
            if not conns:
                del self.expiry[user_id]
