"""The private-talk queue's table, used when no Redis is configured (embedded mode, on SQLite
or PostgreSQL): a member who asked for a navigator keeps their place across a restart.

A row holds what the Redis store's hash holds (``chat_server/private_talk/store.py``) and no
more: who asked (public id, handle, role, organization, storage key) and from where, when, and
what became of it. A request carries no text. Times are seconds since the epoch as the
domain's ``TalkRequest`` has them (a double holds them exactly), not milliseconds.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

_WAITING = text("outcome IS NULL")


class TalkRow(SQLModel, table=True):
    """One request, waiting (``outcome`` None) or settled. ``waiting_for`` is the member's
    public id while this is the request the member is waiting on, None otherwise: unique, so
    the database itself refuses a member a second one (``persistence/talks.add``)."""

    __tablename__ = "private_talks"
    __table_args__ = (
        UniqueConstraint("waiting_for", name="uq_private_talks_waiting_for"),
        # The queue in order (oldest first, the id breaking a tie); settled rows stay out.
        Index("ix_private_talks_waiting", "asked_at", "id",
              sqlite_where=_WAITING, postgresql_where=_WAITING),
    )
    id: str = Field(primary_key=True, max_length=24)
    member_id: str = Field(max_length=24)
    handle: str = Field(max_length=32)
    role: str = Field(max_length=16)
    org_id: int | None = Field(default=None)
    user_id: int
    room: str = Field(max_length=64)
    room_org: int | None = Field(default=None)
    asked_at: float = Field(sa_column=Column(Float, nullable=False))
    resources_at: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    outcome: str | None = Field(default=None, max_length=16)
    navigator: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # public view, JSON
    settled_at: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    conversation: str | None = Field(default=None, max_length=32)
    conversation_room: str | None = Field(default=None, max_length=64)
    waiting_for: str | None = Field(default=None, max_length=24)
