"""Database tables. These never leave the server: the API builds its own response shapes
from them, so a password hash or an email address cannot leak through a response."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel


def _ts(nullable: bool = False) -> Any:
    return Column(DateTime(timezone=False), nullable=nullable)  # naive UTC everywhere


class Organization(SQLModel, table=True):
    __tablename__ = "organizations"
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=48, unique=True, index=True)
    name: str = Field(max_length=120, unique=True)
    # HMAC-SHA256 of the normalized key phrase under the server secret: lookups are exact,
    # and the phrase itself is never stored.
    key_digest: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    # JSON list of {name, contact, url?, hours?}: shown to a member whose message matched the
    # crisis list. None: the defaults shipped in rooms/data/crisis_resources.json.
    crisis_resources: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class User(SQLModel, table=True):
    __tablename__ = "users"
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(max_length=24, unique=True, index=True)
    org_id: int = Field(foreign_key="organizations.id", index=True)
    handle: str = Field(max_length=32)
    handle_key: str = Field(max_length=32, unique=True, index=True)
    email: str = Field(max_length=254, unique=True, index=True)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=16, default="member")
    created_at: datetime = Field(sa_column=_ts(nullable=False))


class Session(SQLModel, table=True):
    __tablename__ = "sessions"
    id: int | None = Field(default=None, primary_key=True)
    # SHA-256 of the bearer token: a leaked table does not give working tokens.
    token_digest: str = Field(max_length=64, unique=True, index=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    expires_at: datetime = Field(sa_column=_ts(nullable=False))


class Community(SQLModel, table=True):
    __tablename__ = "communities"
    __table_args__ = (UniqueConstraint("slug"),)
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, index=True)
    name: str = Field(max_length=120)
    kind: str = Field(max_length=24)
    description: str = Field(default="", max_length=400)
    org_id: int | None = Field(default=None, foreign_key="organizations.id", index=True)
    # Messages older than this many days are deleted by `kindred purge`; None keeps them.
    retention_days: int | None = Field(default=None)


class ServerSecret(SQLModel, table=True):
    """The server's secret key, generated on first start when none is configured, so that
    every gateway process sharing the database agrees on it."""

    __tablename__ = "server_secrets"
    name: str = Field(primary_key=True, max_length=32)
    value: str = Field(max_length=128)


class Message(SQLModel, table=True):
    """One posted message. ``body`` None is a tombstone: the message was removed."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("room", "seq", name="uq_messages_room_seq"),
        # Also the index of every lookup by author (author_id leads it); a separate one on
        # author_id alone only cost the writers (0012_writer_speed).
        UniqueConstraint("author_id", "cid", name="uq_messages_author_cid"),
        # Only replies have a thread root: rows without one stay out of the index.
        Index("ix_messages_thread_root", "thread_root",
              sqlite_where=text("thread_root IS NOT NULL"),
              postgresql_where=text("thread_root IS NOT NULL")),
    )
    id: str = Field(primary_key=True, max_length=32)
    room: str = Field(max_length=64)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    author_id: int = Field(foreign_key="users.id")
    cid: str = Field(max_length=64)
    body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    reply_to: str | None = Field(default=None, max_length=32)
    thread_root: str | None = Field(default=None, max_length=32)
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    edited_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    deleted_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class StaffAssignment(SQLModel, table=True):
    """A navigator or org admin assigned to moderate a national room (``community`` a slug,
    or ``"*"`` for every national room). Local rooms need no assignment."""

    __tablename__ = "staff_assignments"
    __table_args__ = (UniqueConstraint("user_id", "community", name="uq_staff_assignments"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    community: str = Field(max_length=64)


class RestrictionRow(SQLModel, table=True):
    """A mute, kick or ban of one member in one room (``room`` ``"*"``: the platform).
    Lifting sets ``lifted_ms``; rows are never deleted, so the history stays."""

    __tablename__ = "restrictions"
    __table_args__ = (
        Index("ix_restrictions_room_user", "room", "user_id"),
        Index("ix_restrictions_user", "user_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    room: str = Field(max_length=64)
    user_id: int = Field(foreign_key="users.id")
    kind: str = Field(max_length=8)
    until_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    reason: str = Field(default="", max_length=500)
    actor_id: int = Field(foreign_key="users.id")
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    lifted_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class RoomStateRow(SQLModel, table=True):
    __tablename__ = "room_states"
    room: str = Field(primary_key=True, max_length=64)
    slow_mode_s: int = Field(default=0)
    locked: bool = Field(default=False)
    pinned_id: str | None = Field(default=None, max_length=32)
    updated_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class AuditEntry(SQLModel, table=True):
    """One moderator action. Append-only: nothing in the code updates or deletes a row."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_room", "room", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    at_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    actor_id: int = Field(foreign_key="users.id")
    action: str = Field(max_length=24)
    room: str = Field(max_length=64)
    target_id: int | None = Field(default=None, foreign_key="users.id")
    message_id: str | None = Field(default=None, max_length=32)
    reason: str = Field(default="", max_length=500)
    duration_s: int | None = Field(default=None)
    detail: str = Field(default="", max_length=200)


class SafetyItem(SQLModel, table=True):
    """A crisis match or a member's report, waiting for a navigator: about a message
    (``message_id``) or a question to an expert (``question_id``, its public id), never both."""

    __tablename__ = "safety_queue"
    __table_args__ = (
        UniqueConstraint("dedupe", name="uq_safety_queue_dedupe"),
        Index("ix_safety_queue_room_status", "room", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=8)
    room: str = Field(max_length=64)
    message_id: str | None = Field(default=None, max_length=32)
    question_id: str | None = Field(default=None, max_length=32)
    reporter_id: int | None = Field(default=None, foreign_key="users.id")
    reason: str | None = Field(default=None, max_length=500)
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str = Field(default="open", max_length=10)
    resolved_by: int | None = Field(default=None, foreign_key="users.id")
    resolved_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    note: str | None = Field(default=None, max_length=500)
    dedupe: str = Field(max_length=80)
    # About a private message (a conversation's room): what the navigators are shown is this
    # copy of that one message, taken when it was queued, never the conversation; and the
    # item is for the staff of this organization (the reporter's, or the author's in crisis).
    snapshot: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    org_id: int | None = Field(default=None, foreign_key="organizations.id")


class Block(SQLModel, table=True):
    __tablename__ = "blocks"
    blocker_id: int = Field(foreign_key="users.id", primary_key=True)
    blocked_id: int = Field(foreign_key="users.id", primary_key=True)
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class PasswordReset(SQLModel, table=True):
    """A one-time code to set a new password. Only its SHA-256 is stored; it works once,
    before ``expires_at``, and issuing a new one for the member voids the older ones."""

    __tablename__ = "password_resets"
    __table_args__ = (
        UniqueConstraint("code_digest", name="uq_password_resets_code"),
        Index("ix_password_resets_user", "user_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    code_digest: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    expires_at: datetime = Field(sa_column=_ts(nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


# The scheduled sessions' tables live in their own module; imported here so that every
# user of the models (migrations, tests) sees one complete metadata.
from persistence import conversation_models as _conversation_models  # noqa: E402, F401
from persistence import event_models as _event_models  # noqa: E402, F401
from persistence import friend_models as _friend_models  # noqa: E402, F401
from persistence import question_models as _question_models  # noqa: E402, F401
from persistence import social_models as _social_models  # noqa: E402, F401
from persistence import talk_models as _talk_models  # noqa: E402, F401
