"""pgsearch (issue 15): the PostgreSQL search backend's tables (search_entries, search_terms, search_meta)

Only on PostgreSQL: on SQLite (Whoosh is the only search backend there) this migration does nothing.

Revision ID: 0004_pgsearch
Revises: 0004_previews
"""
from alembic import op

from docmgr.search.pgschema import DROP, create_schema

revision = "0004_pgsearch"
down_revision = "0004_previews"
branch_labels = None
depends_on = None


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    create_schema(bind)


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for statement in DROP:
        op.execute(statement)
