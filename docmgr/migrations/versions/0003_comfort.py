"""bilingual parts of a generated agreement: the agreement's title, a signatory's job title and a
session's name and place in the other language; a document's own date (for the search year facet)

Revision ID: 0003_comfort
Revises: 0002_availability
"""
from alembic import op
import sqlalchemy as sa


revision = "0003_comfort"
down_revision = "0002_availability"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("title_alt", sa.String(length=500), nullable=False, server_default=""))
    with op.batch_alter_table("signatories", schema=None) as batch_op:
        batch_op.add_column(sa.Column("title_alt", sa.String(length=200), nullable=False, server_default=""))
    with op.batch_alter_table("task_force_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_alt", sa.String(length=200), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("place_alt", sa.String(length=200), nullable=False, server_default=""))
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("document_date", sa.Date(), nullable=True))


def downgrade():
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_column("document_date")
    with op.batch_alter_table("task_force_sessions", schema=None) as batch_op:
        batch_op.drop_column("place_alt")
        batch_op.drop_column("name_alt")
    with op.batch_alter_table("signatories", schema=None) as batch_op:
        batch_op.drop_column("title_alt")
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.drop_column("title_alt")
