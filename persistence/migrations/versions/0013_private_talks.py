"""The private-talk queue in the database when no Redis is configured (embedded mode): a
request waiting for a navigator, and what became of it, survive a restart of the server.

Revision ID: 0013_private_talks
Revises: 0012_writer_speed
"""
import sqlalchemy as sa
from alembic import op

revision = "0013_private_talks"
down_revision = "0012_writer_speed"
branch_labels = None
depends_on = None

_WAITING = sa.text("outcome IS NULL")


def upgrade() -> None:
    op.create_table(
        "private_talks",
        sa.Column("id", sa.String(24), primary_key=True),
        sa.Column("member_id", sa.String(24), nullable=False),
        sa.Column("handle", sa.String(32), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("room", sa.String(64), nullable=False),
        sa.Column("room_org", sa.Integer(), nullable=True),
        sa.Column("asked_at", sa.Float(), nullable=False),
        sa.Column("resources_at", sa.Float(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("navigator", sa.Text(), nullable=True),
        sa.Column("settled_at", sa.Float(), nullable=True),
        sa.Column("conversation", sa.String(32), nullable=True),
        sa.Column("conversation_room", sa.String(64), nullable=True),
        sa.Column("waiting_for", sa.String(24), nullable=True),
        sa.UniqueConstraint("waiting_for", name="uq_private_talks_waiting_for"),
    )
    op.create_index("ix_private_talks_waiting", "private_talks", ["asked_at", "id"],
                    sqlite_where=_WAITING, postgresql_where=_WAITING)


def downgrade() -> None:
    op.drop_index("ix_private_talks_waiting", table_name="private_talks")
    op.drop_table("private_talks")
