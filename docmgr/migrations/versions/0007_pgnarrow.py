"""pgnarrow (issue 15): the PostgreSQL search table's rows kept narrow (``toast_tuple_target``)

A search reads the narrow columns of every match (the total and the facet counts): with the payload moved out
of line too, a page holds about 30 rows instead of 8. Rows written after this migration get the layout;
``docmgr reindex`` rewrites every row. On SQLite this migration does nothing.

Revision ID: 0007_pgnarrow
Revises: 0006_pgspeed
"""
from alembic import op

from docmgr.search.pgschema import ENTRIES, NARROW_DDL

revision = "0007_pgnarrow"
down_revision = "0006_pgspeed"
branch_labels = None
depends_on = None


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    if bind.exec_driver_sql(f"SELECT to_regclass('{ENTRIES}') IS NOT NULL").scalar():
        op.execute(NARROW_DDL)


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    if bind.exec_driver_sql(f"SELECT to_regclass('{ENTRIES}') IS NOT NULL").scalar():
        op.execute(f"ALTER TABLE {ENTRIES} RESET (toast_tuple_target)")
