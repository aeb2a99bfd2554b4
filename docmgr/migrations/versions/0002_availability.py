"""availability: failed logins can be lifted by an admin (throttles per address and e-mail pair)

Revision ID: 0002_availability
Revises: 0002_security
"""
from alembic import op
import sqlalchemy as sa

import docmgr.database


revision = '0002_availability'
down_revision = '0002_security'  # chained after main's head (was '0001')
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lifted_at', docmgr.database.UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.drop_column('lifted_at')
