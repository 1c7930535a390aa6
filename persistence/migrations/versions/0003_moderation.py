"""Moderation and safety: staff assignments, restrictions, room state, audit log, safety
queue, blocks, per-organization crisis resources.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_assignments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("community", sa.String(64), nullable=False),  # a slug, or '*': every national room
        sa.UniqueConstraint("user_id", "community", name="uq_staff_assignments"),
    )
    op.create_table(
        "restrictions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("room", sa.String(64), nullable=False),  # a slug, or '*': the platform
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("until_ms", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(500), nullable=False, server_default=""),
        sa.Column("actor_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("lifted_ms", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_restrictions_room_user", "restrictions", ["room", "user_id"])
    op.create_index("ix_restrictions_user", "restrictions", ["user_id"])
    op.create_table(
        "room_states",
        sa.Column("room", sa.String(64), primary_key=True),
        sa.Column("slow_mode_s", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("pinned_id", sa.String(32), nullable=True),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("actor_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("action", sa.String(24), nullable=False),
        sa.Column("room", sa.String(64), nullable=False),
        sa.Column("target_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("message_id", sa.String(32), nullable=True),
        sa.Column("reason", sa.String(500), nullable=False, server_default=""),
        sa.Column("duration_s", sa.Integer(), nullable=True),
        sa.Column("detail", sa.String(200), nullable=False, server_default=""),
    )
    op.create_index("ix_audit_log_room", "audit_log", ["room", "id"])
    op.create_table(
        "safety_queue",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),  # crisis | report
        sa.Column("room", sa.String(64), nullable=False),
        sa.Column("message_id", sa.String(32), nullable=False),
        sa.Column("reporter_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False, server_default="open"),
        sa.Column("resolved_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("resolved_ms", sa.BigInteger(), nullable=True),
        sa.Column("note", sa.String(500), nullable=True),
        # kind:message:reporter, so a crisis match or a member's report is queued once.
        sa.Column("dedupe", sa.String(80), nullable=False),
        sa.UniqueConstraint("dedupe", name="uq_safety_queue_dedupe"),
    )
    op.create_index("ix_safety_queue_room_status", "safety_queue", ["room", "status"])
    op.create_table(
        "blocks",
        sa.Column("blocker_id", sa.Integer(), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("blocked_id", sa.Integer(), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(sa.Column("crisis_resources", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("crisis_resources")
    for table in ("blocks", "safety_queue", "audit_log", "room_states", "restrictions",
                  "staff_assignments"):
        op.drop_table(table)
