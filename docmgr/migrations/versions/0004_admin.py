"""admin (issue 16): password-reset links, temporary passwords

Revision ID: 0004_admin
Revises: 0004_pgdb
"""
from alembic import op
import sqlalchemy as sa

import docmgr.database


revision = "0004_admin"
down_revision = "0004_pgdb"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("password_must_change", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "password_resets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("remote_addr", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", docmgr.database.UTCDateTime(), nullable=False),
        sa.Column("expires_at", docmgr.database.UTCDateTime(), nullable=True),
        sa.Column("used_at", docmgr.database.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_password_resets_created_by_id_users")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_password_resets_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_resets")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_password_resets_token_hash")),
    )
    with op.batch_alter_table("password_resets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_password_resets_email"), ["email"], unique=False)
        batch_op.create_index(batch_op.f("ix_password_resets_remote_addr"), ["remote_addr"], unique=False)
        batch_op.create_index(batch_op.f("ix_password_resets_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_password_resets_created_at"), ["created_at"], unique=False)


def downgrade():
    with op.batch_alter_table("password_resets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_password_resets_created_at"))
        batch_op.drop_index(batch_op.f("ix_password_resets_user_id"))
        batch_op.drop_index(batch_op.f("ix_password_resets_remote_addr"))
        batch_op.drop_index(batch_op.f("ix_password_resets_email"))
    op.drop_table("password_resets")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("password_must_change")
