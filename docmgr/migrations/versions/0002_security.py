"""security: a per-user session version (logout and account changes end browser sessions); sealed documents

Revision ID: 0002_security
Revises: 0002_queue
"""
from alembic import op
import sqlalchemy as sa

import docmgr.database


revision = '0002_security'
down_revision = '0002_queue'  # chained after main's head (was "0001")
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sealed_at', docmgr.database.UTCDateTime(), nullable=True))
    # Executed copies that exist already are sealed too.
    op.execute("UPDATE documents SET sealed_at = CURRENT_TIMESTAMP WHERE id IN "
               "(SELECT executed_document_id FROM agreements WHERE executed_document_id IS NOT NULL)")


def downgrade():
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_column('sealed_at')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_version')
