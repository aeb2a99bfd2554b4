"""lang16 (issue 16): who chose a file's language (the uploader, or detection that OCR may correct)

Revision ID: 0005_lang16
Revises: 0004_docs

Files stored before this revision do not say whether their language was chosen. Those whose language is what
detection said are 'detected'; every other one is taken as the uploader's choice, so an explicit choice is never
replaced (a scan still waiting for OCR then keeps its title's language: edit it by hand).
"""
from alembic import op
import sqlalchemy as sa


revision = "0005_lang16"
down_revision = "0004_docs"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("document_files", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("language_source", sa.String(length=10), server_default="detected", nullable=False)
        )
    files = sa.table("document_files", sa.column("language", sa.String), sa.column("language_detected", sa.String),
                     sa.column("language_source", sa.String))
    op.execute(
        files.update()
        .where(sa.or_(files.c.language_detected.is_(None), files.c.language_detected != files.c.language))
        .values(language_source="uploader")
    )


def downgrade():
    with op.batch_alter_table("document_files", schema=None) as batch_op:
        batch_op.drop_column("language_source")
