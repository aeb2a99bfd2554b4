"""qualified signatures: detached signature files on submissions, trust anchors

Revision ID: 0002_gost
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

import docmgr.database


revision = "0002_gost"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("signature_submissions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signature_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("signature_filename", sa.String(length=255), nullable=False, server_default=""))
    op.create_table(
        "trust_anchors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("certificate_der", sa.LargeBinary(), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("service_name", sa.String(length=500), nullable=False),
        sa.Column("service_status", sa.String(length=200), nullable=False),
        sa.Column("is_granted", sa.Boolean(), nullable=False),
        sa.Column("created_at", docmgr.database.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trust_anchors")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_trust_anchors_fingerprint")),
    )


def downgrade():
    op.drop_table("trust_anchors")
    with op.batch_alter_table("signature_submissions", schema=None) as batch_op:
        batch_op.drop_column("signature_filename")
        batch_op.drop_column("signature_sha256")
