"""signing (issue 13): outgoing mail, signing links

Revision ID: 0003_signing
Revises: 0003_comfort
"""
from alembic import op
import sqlalchemy as sa

import docmgr.database


revision = "0003_signing"
down_revision = "0003_comfort"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "outgoing_mail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("to_name", sa.String(length=200), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(length=250), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", docmgr.database.UTCDateTime(), nullable=False),
        sa.Column("sent_at", docmgr.database.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outgoing_mail")),
    )
    with op.batch_alter_table("outgoing_mail", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outgoing_mail_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_outgoing_mail_to_address"), ["to_address"], unique=False)
        batch_op.create_index(batch_op.f("ix_outgoing_mail_status"), ["status"], unique=False)
    op.create_table(
        "signing_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("signatory_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", docmgr.database.UTCDateTime(), nullable=False),
        sa.Column("expires_at", docmgr.database.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", docmgr.database.UTCDateTime(), nullable=True),
        sa.Column("code_sha256", sa.String(length=64), nullable=False),
        sa.Column("code_expires_at", docmgr.database.UTCDateTime(), nullable=True),
        sa.Column("failed_codes", sa.Integer(), nullable=False),
        sa.Column("locked_at", docmgr.database.UTCDateTime(), nullable=True),
        sa.Column("verified_at", docmgr.database.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["agreement_id"], ["agreements.id"], name=op.f("fk_signing_links_agreement_id_agreements"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_signing_links_created_by_id_users")),
        sa.ForeignKeyConstraint(["signatory_id"], ["signatories.id"],
                                name=op.f("fk_signing_links_signatory_id_signatories"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signing_links")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_signing_links_token_sha256")),
    )
    with op.batch_alter_table("signing_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signing_links_agreement_id"), ["agreement_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_signing_links_signatory_id"), ["signatory_id"], unique=False)


def downgrade():
    with op.batch_alter_table("signing_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signing_links_signatory_id"))
        batch_op.drop_index(batch_op.f("ix_signing_links_agreement_id"))
    op.drop_table("signing_links")
    with op.batch_alter_table("outgoing_mail", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outgoing_mail_status"))
        batch_op.drop_index(batch_op.f("ix_outgoing_mail_to_address"))
        batch_op.drop_index(batch_op.f("ix_outgoing_mail_kind"))
    op.drop_table("outgoing_mail")
