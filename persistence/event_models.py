"""Tables of scheduled sessions: series, occurrences, hosts, sign-ups, notifications, feeds.

A series is what staff scheduled (title, kind, rule); an occurrence is one date of it, with its
own state, live room, sign-ups and archive, so one date can be moved or cancelled alone. A
one-off session is a series with one occurrence. Times are naive UTC, as everywhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def _ts(nullable: bool = False) -> Any:
    return Column(DateTime(timezone=False), nullable=nullable)


class EventSeries(SQLModel, table=True):
    __tablename__ = "event_series"
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(max_length=16, unique=True, index=True)
    community: str = Field(max_length=64, index=True)  # the room it belongs to
    kind: str = Field(max_length=8)
    title: str = Field(max_length=120)
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    tz: str = Field(max_length=64)
    capacity: int | None = Field(default=None)
    recurrence: str | None = Field(default=None, max_length=500)
    lobby_minutes: int = Field(default=10)
    audience_mode: str = Field(default="chat", max_length=10)
    video_url: str | None = Field(default=None, max_length=500)
    created_by: int = Field(foreign_key="users.id")
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class EventHost(SQLModel, table=True):
    __tablename__ = "event_hosts"
    series_id: int = Field(foreign_key="event_series.id", primary_key=True)
    user_id: int = Field(foreign_key="users.id", primary_key=True)


class EventOccurrence(SQLModel, table=True):
    """One date of a series. ``state`` changes only through a conditional UPDATE (``WHERE
    state = <the state read>``), so of several gateways racing, exactly one carries it out."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("room", name="uq_events_room"),
        Index("ix_events_starts", "starts_at"),
        Index("ix_events_due", "due_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(max_length=16, unique=True, index=True)
    series_id: int = Field(foreign_key="event_series.id", index=True)
    room: str = Field(max_length=64)  # the live room's slug (a communities row of kind "event")
    original_start: datetime = Field(sa_column=_ts())  # the rule's date: RECURRENCE-ID
    starts_at: datetime = Field(sa_column=_ts())
    ends_at: datetime = Field(sa_column=_ts())
    state: str = Field(default="scheduled", max_length=10)
    due_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    ended_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    cancel_reason: str | None = Field(default=None, max_length=500)
    updated_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class EventSignup(SQLModel, table=True):
    __tablename__ = "event_signups"
    __table_args__ = (UniqueConstraint("event_id", "user_id", name="uq_event_signups"),)
    id: int | None = Field(default=None, primary_key=True)  # order of arrival: the waiting list
    event_id: int = Field(foreign_key="events.id", index=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    status: str = Field(max_length=8)  # "in" or "waiting"
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class Notification(SQLModel, table=True):
    """Something a member is told about (the lobby opened, a session was cancelled).
    ``dedupe`` makes each one exactly once however many gateways try."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("dedupe", name="uq_notifications_dedupe"),
        Index("ix_notifications_user", "user_id", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    kind: str = Field(max_length=24)
    event: str | None = Field(default=None, max_length=16)  # an occurrence's public id
    room: str | None = Field(default=None, max_length=64)  # where it happened (mentions, replies)
    ref: str | None = Field(default=None, max_length=32)  # the message it is about
    text: str = Field(max_length=300)
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    read_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    dedupe: str = Field(max_length=80)


class CalendarFeed(SQLModel, table=True):
    """A member's calendar subscription: only the SHA-256 of the secret in its URL is kept."""

    __tablename__ = "calendar_feeds"
    user_id: int = Field(foreign_key="users.id", primary_key=True)
    secret_digest: str = Field(max_length=64, unique=True, index=True)
    tz: str = Field(max_length=64)
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
