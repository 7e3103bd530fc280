"""Version usage: requests per client, version, endpoint and day

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "version_usage",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("client_type", sa.String(length=16), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=16), nullable=False),
        sa.Column("endpoint", sa.String(length=200), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "client_type", "client_id", "version", "endpoint", name="pk_version_usage"
        ),
    )
    op.create_index("ix_version_usage_version_day", "version_usage", ["version", "day"])


def downgrade():
    op.drop_index("ix_version_usage_version_day", table_name="version_usage")
    op.drop_table("version_usage")
