"""Questions to experts: questions, votes, Ask the Expert topics, per-session settings.

Revision ID: 0007_questions
Revises: 0006_events
"""
import sqlalchemy as sa
from alembic import op

revision = "0007_questions"
down_revision = "0006_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "questions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("public_id", sa.String(32), nullable=False),
        sa.Column("venue", sa.String(40), nullable=False),
        sa.Column("room", sa.String(64), nullable=False),
        sa.Column("author_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answer_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("answer_role", sa.String(16), nullable=True),
        sa.Column("answer_ms", sa.BigInteger(), nullable=True),
        sa.Column("merged_into", sa.String(32), nullable=True),
        sa.Column("dismiss_reason", sa.String(500), nullable=True),
        sa.Column("cid", sa.String(64), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("author_id", "cid", name="uq_questions_cid"),
    )
    op.create_index("ix_questions_public_id", "questions", ["public_id"], unique=True)
    op.create_index("ix_questions_author_id", "questions", ["author_id"])
    op.create_index("ix_questions_venue", "questions", ["venue", "status"])
    op.create_table(
        "question_votes",
        sa.Column("question_id", sa.Integer(), sa.ForeignKey("questions.id"), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "expert_topics",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("public_id", sa.String(16), nullable=False),
        sa.Column("room", sa.String(64), nullable=False),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("opens_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_expert_topics_public_id", "expert_topics", ["public_id"], unique=True)
    op.create_index("ix_expert_topics_room", "expert_topics", ["room"])
    op.create_table(
        "expert_topic_experts",
        sa.Column("topic_id", sa.Integer(), sa.ForeignKey("expert_topics.id"), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), primary_key=True),
    )
    op.create_table(
        "event_question_settings",
        sa.Column("event_id", sa.Integer(), sa.ForeignKey("events.id"), primary_key=True),
        sa.Column("moderated", sa.Boolean(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("event_question_settings")
    op.drop_table("expert_topic_experts")
    op.drop_index("ix_expert_topics_room", "expert_topics")
    op.drop_index("ix_expert_topics_public_id", "expert_topics")
    op.drop_table("expert_topics")
    op.drop_table("question_votes")
    op.drop_index("ix_questions_venue", "questions")
    op.drop_index("ix_questions_author_id", "questions")
    op.drop_index("ix_questions_public_id", "questions")
    op.drop_table("questions")
