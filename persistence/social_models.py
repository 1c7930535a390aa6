"""Tables of reactions, notification settings and what each member last read in each room
(issue 17, part A). The notifications themselves are ``event_models.Notification``."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index
from sqlmodel import Field, SQLModel


class Reaction(SQLModel, table=True):
    """One member's reaction to one message: present or not (toggling twice leaves none)."""

    __tablename__ = "reactions"
    __table_args__ = (Index("ix_reactions_room_message", "room", "message_id"),)
    message_id: str = Field(primary_key=True, max_length=32)
    user_id: int = Field(primary_key=True, foreign_key="users.id")
    reaction: str = Field(primary_key=True, max_length=16)
    room: str = Field(max_length=64)
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class ReactionVersion(SQLModel, table=True):
    """Bumped in the transaction of every change to a message's reactions: a gateway reads
    the reactions after its bump, so the summary with the higher version is the newer one
    and every client keeps the highest (convergence across gateways)."""

    __tablename__ = "reaction_versions"
    message_id: str = Field(primary_key=True, max_length=32)
    version: int = Field(sa_column=Column(BigInteger, nullable=False))


class NotificationSettings(SQLModel, table=True):
    """A member's choices: the kinds they do not want (comma-separated), the email digest
    ("off" or "daily") and when the last digest went out."""

    __tablename__ = "notification_settings"
    user_id: int = Field(primary_key=True, foreign_key="users.id")
    muted: str = Field(default="", max_length=400)
    digest: str = Field(default="off", max_length=8)
    digest_sent_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class RoomRead(SQLModel, table=True):
    """The newest seq a member has seen in a room: what is after it is new to them."""

    __tablename__ = "room_reads"
    user_id: int = Field(primary_key=True, foreign_key="users.id")
    room: str = Field(primary_key=True, max_length=64)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
