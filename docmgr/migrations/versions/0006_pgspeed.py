"""pgspeed (issue 15): the PostgreSQL search backend's RUM index (ranking from the index), where rum is installed

Only on PostgreSQL, and only where the administrator created the ``rum`` extension (Debian's
``postgresql-15-rum``; ``CREATE EXTENSION rum``, as ``unaccent``): ``create_schema`` adds the index then. Without
it the backend ranks as before (``ts_rank`` over every match). On SQLite this migration does nothing.

Revision ID: 0006_pgspeed
Revises: 0005_review
"""
from alembic import op

from docmgr.search.pgschema import RUM_INDEX, create_schema

revision = "0006_pgspeed"
down_revision = "0005_review"
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
    op.execute(f"DROP INDEX IF EXISTS {RUM_INDEX}")
