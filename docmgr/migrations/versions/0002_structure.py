"""drafting's JSON columns use sqlalchemy.JSON (their bytes are never hashed)

The stored text is already JSON, so the values stay as they are; only the declared type changes.
The audit log's ``data`` stays Text: its exact bytes are hashed into the chain.

Revision ID: 0002_structure
Revises: 0002_selfcontained
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_structure'
down_revision = '0002_selfcontained'
branch_labels = None
depends_on = None

COLUMNS = (('templates', 'fields_json'), ('agreements', 'fields_json'), ('agreement_drafts', 'fields_json'),
           ('agreement_drafts', 'clauses_json'))


def upgrade():
    for table, column in COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.Text(), type_=sa.JSON(), existing_nullable=False,
                                  postgresql_using=f"{column}::json")  # PostgreSQL converts the text


def downgrade():
    for table, column in COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.JSON(), type_=sa.Text(), existing_nullable=False,
                                  postgresql_using=f"{column}::text")
