"""docs (issue 16): the trash, retention periods per kind, internal notes

Revision ID: 0004_docs
Revises: 0004_admin
"""
from alembic import op
import sqlalchemy as sa

import docmgr.database


revision = "0004_docs"
down_revision = "0004_admin"  # main's head when rebased; the lead re-chains at merge time
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deleted_at", docmgr.database.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("deleted_by_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_documents_deleted_at"), ["deleted_at"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_documents_deleted_by_id_users"), "users", ["deleted_by_id"], ["id"])
    op.create_table(
        "retention_periods",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", docmgr.database.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["updated_by_id"], ["users.id"], name=op.f("fk_retention_periods_updated_by_id_users")),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_retention_periods")),
    )
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=True),
        sa.Column("agreement_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", docmgr.database.UTCDateTime(), nullable=False),
        sa.CheckConstraint("(document_id IS NULL) <> (agreement_id IS NULL)", name=op.f("ck_notes_one_object")),
        sa.ForeignKeyConstraint(["agreement_id"], ["agreements.id"], name=op.f("fk_notes_agreement_id_agreements"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_notes_created_by_id_users")),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], name=op.f("fk_notes_document_id_documents"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notes")),
    )
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notes_document_id"), ["document_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notes_agreement_id"), ["agreement_id"], unique=False)


def downgrade():
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notes_agreement_id"))
        batch_op.drop_index(batch_op.f("ix_notes_document_id"))
    op.drop_table("notes")
    op.drop_table("retention_periods")
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_documents_deleted_by_id_users"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_documents_deleted_at"))
        batch_op.drop_column("deleted_by_id")
        batch_op.drop_column("deleted_at")
