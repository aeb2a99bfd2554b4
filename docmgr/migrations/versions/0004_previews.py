"""previews (issue 16): office files converted to PDF for previews; saved searches

Revision ID: 0004_previews
Revises: 0004_flow
"""
from alembic import op
import sqlalchemy as sa

import docmgr.database


revision = "0004_previews"
down_revision = "0004_seal"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("document_files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("preview_status", sa.String(length=10), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("preview_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("preview_pages", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_document_files_preview_sha256"), ["preview_sha256"], unique=False)
    op.create_table(
        "saved_searches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("query", sa.String(length=500), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("digest", sa.Boolean(), nullable=False),
        sa.Column("digest_since", docmgr.database.UTCDateTime(), nullable=False),
        sa.Column("created_at", docmgr.database.UTCDateTime(), nullable=False),
        sa.Column("updated_at", docmgr.database.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_saved_searches_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_searches")),
    )
    with op.batch_alter_table("saved_searches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_saved_searches_user_id"), ["user_id"], unique=False)


def downgrade():
    with op.batch_alter_table("saved_searches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_saved_searches_user_id"))
    op.drop_table("saved_searches")
    with op.batch_alter_table("document_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_document_files_preview_sha256"))
        batch_op.drop_column("preview_pages")
        batch_op.drop_column("preview_sha256")
        batch_op.drop_column("preview_status")
