"""review (issue 13): a wet-ink scan counts only after legal staff accepted it

Revision ID: 0005_review
Revises: 0005_lang16
"""
from alembic import op
import sqlalchemy as sa

import docmgr.database


revision = "0005_review"
down_revision = "0005_lang16"  # main's head after the rebase; the lead re-chains at merge time
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("signature_submissions", schema=None) as batch_op:
        # Existing submissions were counted (or refused) without a review: not_required.
        batch_op.add_column(sa.Column("review_status", sa.String(length=20), nullable=False,
                                      server_default="not_required"))
        batch_op.add_column(sa.Column("reviewed_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("reviewed_at", docmgr.database.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("review_reason", sa.Text(), nullable=False, server_default=""))
        batch_op.create_foreign_key(batch_op.f("fk_signature_submissions_reviewed_by_id_users"), "users",
                                    ["reviewed_by_id"], ["id"])


def downgrade():
    with op.batch_alter_table("signature_submissions", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_signature_submissions_reviewed_by_id_users"), type_="foreignkey")
        batch_op.drop_column("review_reason")
        batch_op.drop_column("reviewed_at")
        batch_op.drop_column("reviewed_by_id")
        batch_op.drop_column("review_status")
