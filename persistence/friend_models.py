"""Tables of friendships (and friend requests), follows, and each member's choices about
them (issue 17, parts 2 and 3)."""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, Index
from sqlmodel import Field, SQLModel


class Friendship(SQLModel, table=True):
    """One pair of members: a pending request from ``requester_id`` (``since_ms`` None), or
    friends since ``since_ms``. The pair is stored once, smaller id first, so a request and
    its answer, or two members asking each other at once, meet on the same row."""

    __tablename__ = "friendships"
    __table_args__ = (
        CheckConstraint("low_id < high_id", name="ck_friendships_ordered"),
        Index("ix_friendships_high", "high_id"),
    )
    low_id: int = Field(primary_key=True, foreign_key="users.id")
    high_id: int = Field(primary_key=True, foreign_key="users.id")
    requester_id: int = Field(foreign_key="users.id")
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    since_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class Follow(SQLModel, table=True):
    """``follower_id`` follows ``followed_id``: no consent needed, one way."""

    __tablename__ = "follows"
    __table_args__ = (Index("ix_follows_followed", "followed_id"),)
    follower_id: int = Field(primary_key=True, foreign_key="users.id")
    followed_id: int = Field(primary_key=True, foreign_key="users.id")
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class PeopleSettings(SQLModel, table=True):
    """A member's choices about others: whether they take friend requests and whether they
    can be followed (no row: both on, the defaults)."""

    __tablename__ = "people_settings"
    user_id: int = Field(primary_key=True, foreign_key="users.id")
    friend_requests: bool = Field(default=True)
    followable: bool = Field(default=True)
