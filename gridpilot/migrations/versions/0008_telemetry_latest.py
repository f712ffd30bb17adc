"""each device's newest telemetry point, for the dashboard's fleet power and energy

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gridpilot.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "telemetry_latest",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("at", gridpilot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("soc_pct", sa.Double(), nullable=False),
        sa.Column("power_kw", sa.Double(), nullable=False),
        sa.Column("temperature_c", sa.Double(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_telemetry_latest_device_id_devices"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_telemetry_latest")),
    )
    # Devices that already reported: their newest stored point.
    op.execute(
        "INSERT INTO telemetry_latest (device_id, at, soc_pct, power_kw, temperature_c, state) "
        "SELECT p.device_id, p.at, p.soc_pct, p.power_kw, p.temperature_c, p.state FROM telemetry_points p "
        "WHERE p.at = (SELECT max(q.at) FROM telemetry_points q WHERE q.device_id = p.device_id)"
    )


def downgrade() -> None:
    op.drop_table("telemetry_latest")
