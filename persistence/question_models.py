"""Tables of questions to experts: questions, votes, Ask the Expert topics and their experts,
and the per-session question settings.

A vote is a row with a unique (question, member) key, and the question's ``votes`` column is
changed in the same transaction as the row (``persistence.questions``): the count is exact
however many gateways vote at once. ``version`` grows with every change of a question, so a
gateway never shows an older count after a newer one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def _ts() -> Any:
    return Column(DateTime(timezone=False), nullable=False)


class QuestionRow(SQLModel, table=True):
    __tablename__ = "questions"
    __table_args__ = (
        UniqueConstraint("author_id", "cid", name="uq_questions_cid"),
        Index("ix_questions_venue", "venue", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(max_length=32, unique=True, index=True)
    venue: str = Field(max_length=40)  # "event:<id>" or "topic:<id>"
    room: str = Field(max_length=64)  # whose members see it live: the live room, or the community
    author_id: int = Field(foreign_key="users.id", index=True)
    anonymous: bool = Field(default=False)
    body: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(max_length=10)
    votes: int = Field(default=0)
    version: int = Field(default=0)
    pinned: bool = Field(default=False)
    answer: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    answer_by: int | None = Field(default=None, foreign_key="users.id")
    answer_role: str | None = Field(default=None, max_length=16)
    answer_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    merged_into: str | None = Field(default=None, max_length=32)
    dismiss_reason: str | None = Field(default=None, max_length=500)
    cid: str = Field(max_length=64)
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class QuestionVote(SQLModel, table=True):
    __tablename__ = "question_votes"
    question_id: int = Field(foreign_key="questions.id", primary_key=True)
    user_id: int = Field(foreign_key="users.id", primary_key=True)
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class ExpertTopic(SQLModel, table=True):
    """An Ask the Expert window in a community: questions while open, answers after."""

    __tablename__ = "expert_topics"
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(max_length=16, unique=True, index=True)
    room: str = Field(max_length=64, index=True)
    title: str = Field(max_length=120)
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    opens_at: datetime = Field(sa_column=_ts())
    closes_at: datetime = Field(sa_column=_ts())
    created_by: int = Field(foreign_key="users.id")
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class ExpertTopicExpert(SQLModel, table=True):
    __tablename__ = "expert_topic_experts"
    topic_id: int = Field(foreign_key="expert_topics.id", primary_key=True)
    user_id: int = Field(foreign_key="users.id", primary_key=True)


class EventQuestionSettings(SQLModel, table=True):
    """A session's question settings when a host changed them from the kind's default."""

    __tablename__ = "event_question_settings"
    event_id: int = Field(foreign_key="events.id", primary_key=True)
    moderated: bool
