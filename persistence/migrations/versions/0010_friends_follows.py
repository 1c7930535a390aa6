"""Friendships (and friend requests), follows, and members' choices about them.

Revision ID: 0010_friends_follows
Revises: 0009_reactions_notifications
"""
import sqlalchemy as sa
from alembic import op

revision = "0010_friends_follows"
down_revision = "0009_reactions_notifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "friendships",
        sa.Column("low_id", sa.Integer(), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("high_id", sa.Integer(), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("requester_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("since_ms", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("low_id < high_id", name="ck_friendships_ordered"),
    )
    op.create_index("ix_friendships_high", "friendships", ["high_id"])
    op.create_table(
        "follows",
        sa.Column("follower_id", sa.Integer(), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("followed_id", sa.Integer(), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_follows_followed", "follows", ["followed_id"])
    op.create_table(
        "people_settings",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("friend_requests", sa.Boolean(), nullable=False),
        sa.Column("followable", sa.Boolean(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("people_settings")
    op.drop_index("ix_follows_followed", table_name="follows")
    op.drop_table("follows")
    op.drop_index("ix_friendships_high", table_name="friendships")
    op.drop_table("friendships")
