"""Scheduled sessions: series, occurrences, hosts, sign-ups, notifications, calendar feeds.

Revision ID: 0006_events
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0006_events"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_series",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("public_id", sa.String(16), nullable=False),
        sa.Column("community", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tz", sa.String(64), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("recurrence", sa.String(500), nullable=True),
        sa.Column("lobby_minutes", sa.Integer(), nullable=False),
        sa.Column("audience_mode", sa.String(10), nullable=False),
        sa.Column("video_url", sa.String(500), nullable=True),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_event_series_public_id", "event_series", ["public_id"], unique=True)
    op.create_index("ix_event_series_community", "event_series", ["community"])
    op.create_table(
        "event_hosts",
        sa.Column("series_id", sa.Integer(), sa.ForeignKey("event_series.id"), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), primary_key=True),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("public_id", sa.String(16), nullable=False),
        sa.Column("series_id", sa.Integer(), sa.ForeignKey("event_series.id"), nullable=False),
        sa.Column("room", sa.String(64), nullable=False),
        sa.Column("original_start", sa.DateTime(), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("cancel_reason", sa.String(500), nullable=True),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("room", name="uq_events_room"),
    )
    op.create_index("ix_events_public_id", "events", ["public_id"], unique=True)
    op.create_index("ix_events_series_id", "events", ["series_id"])
    op.create_index("ix_events_starts", "events", ["starts_at"])
    op.create_index("ix_events_due", "events", ["due_at"])
    op.create_table(
        "event_signups",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("event_id", sa.Integer(), sa.ForeignKey("events.id"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("event_id", "user_id", name="uq_event_signups"),
    )
    op.create_index("ix_event_signups_event_id", "event_signups", ["event_id"])
    op.create_index("ix_event_signups_user_id", "event_signups", ["user_id"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("event", sa.String(16), nullable=True),
        sa.Column("text", sa.String(300), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("read_ms", sa.BigInteger(), nullable=True),
        sa.Column("dedupe", sa.String(80), nullable=False),
        sa.UniqueConstraint("dedupe", name="uq_notifications_dedupe"),
    )
    op.create_index("ix_notifications_user", "notifications", ["user_id", "id"])
    op.create_table(
        "calendar_feeds",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("secret_digest", sa.String(64), nullable=False),
        sa.Column("tz", sa.String(64), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_calendar_feeds_secret_digest", "calendar_feeds", ["secret_digest"], unique=True)


def downgrade() -> None:
    for table in ("calendar_feeds", "notifications", "event_signups", "events", "event_hosts", "event_series"):
        op.drop_table(table)
