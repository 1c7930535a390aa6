"""The safety queue holds questions too: an item is about a message or a question.

A crisis phrase in a question to an expert reaches the navigators' queue as one in a message
does; the item names the question by its public id, and ``message_id`` becomes optional.

Revision ID: 0008_question_safety
Revises: 0007_questions
"""
import sqlalchemy as sa
from alembic import op

revision = "0008_question_safety"
down_revision = "0007_questions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("safety_queue") as batch:
        batch.alter_column("message_id", existing_type=sa.String(32), nullable=True)
        batch.add_column(sa.Column("question_id", sa.String(32), nullable=True))


def downgrade() -> None:
    # Items about questions have no message to point at: they go with the column.
    op.execute("DELETE FROM safety_queue WHERE message_id IS NULL")
    with op.batch_alter_table("safety_queue") as batch:
        batch.drop_column("question_id")
        batch.alter_column("message_id", existing_type=sa.String(32), nullable=False)
