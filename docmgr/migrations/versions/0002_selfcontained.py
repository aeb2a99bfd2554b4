"""Audit entries sealed (HMAC) with a key outside the database: the new column audit_events.mac.

Revision ID: 0002_selfcontained
Revises: 0002_gost
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_selfcontained"
down_revision = "0002_gost"  # chained after main's 0002_gost (was "0001")
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("mac", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("mac")
