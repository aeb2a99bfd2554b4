"""one task queue: the outbox replaces the index queue

Revision ID: 0002_queue
Revises: 0002_structure
"""
from alembic import op
import sqlalchemy as sa

import docmgr.database


revision = "0002_queue"
down_revision = "0002_structure"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task", sa.String(length=60), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", docmgr.database.UTCDateTime(), nullable=False),
        sa.Column("done_at", docmgr.database.UTCDateTime(), nullable=True),
        sa.Column("next_attempt_at", docmgr.database.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_task"), ["task"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_next_attempt_at"), ["next_attempt_at"], unique=False)
    # Index work still queued in the old table moves to the outbox, so an upgrade loses none of it.
    # (SQLite's json_object is PostgreSQL's json_build_object.)
    json_object = "json_build_object" if op.get_bind().dialect.name == "postgresql" else "json_object"
    op.execute(
        "INSERT INTO outbox (task, args, status, attempts, last_error, created_at, next_attempt_at) "
        f"SELECT 'search.index', {json_object}('object_type', object_type, 'object_id', object_id), 'pending', 0, '', "
        "created_at, created_at FROM index_tasks"
    )
    op.drop_table("index_tasks")


def downgrade():
    op.create_table(
        "index_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("object_type", sa.String(length=40), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("created_at", docmgr.database.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_index_tasks")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_next_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_outbox_status"))
        batch_op.drop_index(batch_op.f("ix_outbox_task"))
    op.drop_table("outbox")
