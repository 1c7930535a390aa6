"""Plain data types shared by every layer."""

from __future__ import annotations

from dataclasses import dataclass

from rooms.roles import Role

NATIONAL = "national"
LOCAL = "local"


@dataclass(frozen=True, slots=True)
class Member:
    """Who a member is, as far as rooms are concerned.

    ``public()`` is the only view other members ever see: id, handle and role. The
    organization is kept for access rules and never leaves the server.
    """

    id: str
    handle: str
    role: Role
    org_id: int | None
    db_id: int = 0  # the storage key, for rows that reference the member; never sent

    def public(self) -> dict[str, str]:
        return {"id": self.id, "handle": self.handle, "role": self.role.value}


@dataclass(frozen=True, slots=True)
class Community:
    """A room. National rooms have ``org_id`` None; local rooms belong to one organization."""

    slug: str
    name: str
    kind: str
    description: str
    org_id: int | None = None
    org_name: str | None = None

    @property
    def scope(self) -> str:
        return NATIONAL if self.org_id is None else LOCAL


@dataclass(frozen=True, slots=True)
class PostedMessage:
    """A message once the broker has given it its place in the room."""

    room: str
    id: str
    seq: int
    author: Member
    body: str
    reply_to: str | None
    ts_ms: int
