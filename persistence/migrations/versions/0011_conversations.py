"""Private conversations, their participants, who may write to a member first; safety items
about a private message carry a snapshot of it and the organization whose staff see them.

Revision ID: 0011_conversations
Revises: 0010_friends_follows
"""
import sqlalchemy as sa
from alembic import op

revision = "0011_conversations"
down_revision = "0010_friends_follows"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("public_id", sa.String(16), nullable=False),
        sa.Column("room", sa.String(64), nullable=False, unique=True),
        sa.Column("pair_key", sa.String(40), nullable=True, unique=True),
        sa.Column("is_group", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("started_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("request_message", sa.String(32), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("changed_ms", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_conversations_public_id", "conversations", ["public_id"], unique=True)
    op.create_table(
        "conversation_members",
        sa.Column("conversation_id", sa.Integer(), sa.ForeignKey("conversations.id"), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), primary_key=True),
    )
    op.create_index("ix_conversation_members_user", "conversation_members", ["user_id"])
    op.create_table(
        "dm_settings",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("allow", sa.String(12), nullable=False),
    )
    with op.batch_alter_table("safety_queue") as batch:
        batch.add_column(sa.Column("snapshot", sa.Text(), nullable=True))
        batch.add_column(sa.Column("org_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_safety_queue_org", "organizations", ["org_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("safety_queue") as batch:
        batch.drop_constraint("fk_safety_queue_org", type_="foreignkey")
        batch.drop_column("org_id")
        batch.drop_column("snapshot")
    op.drop_table("dm_settings")
    op.drop_index("ix_conversation_members_user", table_name="conversation_members")
    op.drop_table("conversation_members")
    op.drop_index("ix_conversations_public_id", table_name="conversations")
    op.drop_table("conversations")
