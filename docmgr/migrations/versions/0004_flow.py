"""flow (issue 13): signing order, sign-by date, reminders, CC, mail attachments, notification
preferences, shared counterparts

Revision ID: 0004_flow
Revises: 0003_signing
"""
from alembic import op
import sqlalchemy as sa

import docmgr.database


revision = "0004_flow"
down_revision = "0003_signing"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signing_order", sa.String(length=12), nullable=False,
                                      server_default="parallel"))
        batch_op.add_column(sa.Column("sign_by", docmgr.database.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("reminder_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("cc_json", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("signatories", schema=None) as batch_op:
        batch_op.add_column(sa.Column("step", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("invited_at", docmgr.database.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("reminded_at", docmgr.database.UTCDateTime(), nullable=True))
    with op.batch_alter_table("outgoing_mail", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attachments_json", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("signature_submissions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shared_counterpart", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("signature_recorded", sa.Boolean(), nullable=False),
        sa.Column("declined", sa.Boolean(), nullable=False),
        sa.Column("executed", sa.Boolean(), nullable=False),
        sa.Column("expired", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_notification_preferences_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_notification_preferences")),
    )


def downgrade():
    op.drop_table("notification_preferences")
    with op.batch_alter_table("signature_submissions", schema=None) as batch_op:
        batch_op.drop_column("shared_counterpart")
    with op.batch_alter_table("outgoing_mail", schema=None) as batch_op:
        batch_op.drop_column("attachments_json")
    with op.batch_alter_table("signatories", schema=None) as batch_op:
        batch_op.drop_column("reminded_at")
        batch_op.drop_column("invited_at")
        batch_op.drop_column("step")
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.drop_column("cc_json")
        batch_op.drop_column("reminder_days")
        batch_op.drop_column("sign_by")
        batch_op.drop_column("signing_order")
