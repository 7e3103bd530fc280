"""Per-client version pins on users and API keys

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = ("users", "api_keys")


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("pinned_version", sa.String(length=16), nullable=True))
            batch.add_column(sa.Column("previous_version", sa.String(length=16), nullable=True))
            batch.add_column(
                sa.Column("version_changed_at", sa.DateTime(timezone=True), nullable=True)
            )


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("version_changed_at")
            batch.drop_column("previous_version")
            batch.drop_column("pinned_version")
