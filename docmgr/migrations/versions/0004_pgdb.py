"""PostgreSQL (issue 15): the foreign key agreements.frozen_draft_id -> agreement_drafts.id

0001 declares it with use_alter (it closes the cycle agreements <-> agreement_drafts). SQLite writes it inline
in CREATE TABLE; on PostgreSQL create_table leaves a use_alter key for a later ALTER TABLE that 0001 never
issued. Nothing changes on SQLite.

Revision ID: 0004_pgdb
Revises: 0004_pgsearch
"""
from alembic import op
import sqlalchemy as sa

revision = "0004_pgdb"
down_revision = "0004_pgsearch"
branch_labels = None
depends_on = None

NAME = "fk_agreements_frozen_draft_id_agreement_drafts"


def _missing() -> bool:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        return False
    return NAME not in {fk["name"] for fk in sa.inspect(bind).get_foreign_keys("agreements")}


def upgrade():
    if _missing():
        op.create_foreign_key(NAME, "agreements", "agreement_drafts", ["frozen_draft_id"], ["id"])


def downgrade():
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(NAME, "agreements", type_="foreignkey")
