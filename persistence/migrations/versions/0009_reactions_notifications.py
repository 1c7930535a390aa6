"""Reactions, notification settings, rooms' read marks; notifications name a room and a message.

Revision ID: 0009_reactions_notifications
Revises: 0007_questions
"""
import sqlalchemy as sa
from alembic import op

revision = "0009_reactions_notifications"
down_revision = "0008_question_safety"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("room", sa.String(64), nullable=True))
        batch.add_column(sa.Column("ref", sa.String(32), nullable=True))
    op.create_table(
        "reactions",
        sa.Column("message_id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("reaction", sa.String(16), primary_key=True),
        sa.Column("room", sa.String(64), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_reactions_room_message", "reactions", ["room", "message_id"])
    op.create_table(
        "reaction_versions",
        sa.Column("message_id", sa.String(32), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "notification_settings",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("muted", sa.String(400), nullable=False),
        sa.Column("digest", sa.String(8), nullable=False),
        sa.Column("digest_sent_ms", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        "room_reads",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("room", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("room_reads")
    op.drop_table("notification_settings")
    op.drop_table("reaction_versions")
    op.drop_index("ix_reactions_room_message", table_name="reactions")
    op.drop_table("reactions")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("ref")
        batch.drop_column("room")
