"""job leases (one server process runs the daily fleet optimization); executions indexed by arrival

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 02:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gridpilot.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=160), nullable=False),
        sa.Column("expires_at", gridpilot.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_leases")),
    )
    op.create_index(op.f("ix_executions_received_at"), "executions", ["received_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_executions_received_at"), table_name="executions")
    op.drop_table("job_leases")
