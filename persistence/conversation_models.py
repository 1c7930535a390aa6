"""Tables of private conversations (issue 17, part 4): the conversation, its participants,
and each member's answer to "who may write to me first?".

A conversation's messages are ordinary ``messages`` rows of its room (a ``communities`` row of
kind ``dm``, slug ``dm-<public_id>``), so storing, replaying and searching them is what it is
for every room.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index
from sqlmodel import Field, SQLModel


class Conversation(SQLModel, table=True):
    """One conversation. ``state`` (rooms.conversations.State) changes only through a
    conditional UPDATE, so an accept and a decline racing on two gateways end one way.
    ``pair_key`` (``"<low id>:<high id>"``) is set while a one-to-one conversation is live, so
    two members have at most one (two gateways creating it at once meet on the unique key);
    a declined one gives it up (NULL, which the unique index allows any number of)."""

    __tablename__ = "conversations"
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(max_length=16, unique=True, index=True)
    room: str = Field(max_length=64, unique=True)
    pair_key: str | None = Field(default=None, max_length=40, unique=True)
    is_group: bool = Field(default=False)
    state: str = Field(max_length=10)
    started_by: int = Field(foreign_key="users.id")  # for a request: the requester
    # The request's first message: what the recipient is shown before accepting. None until
    # the requester has written (until then the recipient learns nothing of it).
    request_message: str | None = Field(default=None, max_length=32)
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    changed_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class ConversationMember(SQLModel, table=True):
    __tablename__ = "conversation_members"
    __table_args__ = (Index("ix_conversation_members_user", "user_id"),)
    conversation_id: int = Field(foreign_key="conversations.id", primary_key=True)
    user_id: int = Field(foreign_key="users.id", primary_key=True)


class DmSetting(SQLModel, table=True):
    """A member's ``Allow`` (no row: the default, friends and staff)."""

    __tablename__ = "dm_settings"
    user_id: int = Field(primary_key=True, foreign_key="users.id")
    allow: str = Field(max_length=12)
