"""agent reports: telemetry points, device heartbeats, schedule rejections

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 21:45:32.002793
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gridpilot.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_heartbeats",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("at", gridpilot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("agent_version", sa.String(length=64), nullable=False),
        sa.Column("schedule_version", sa.Integer(), nullable=True),
        sa.Column("driver_state", sa.String(length=16), nullable=False),
        sa.Column("fault", sa.String(length=1000), nullable=True),
        sa.Column("outbox_depth", sa.Integer(), nullable=False),
        sa.Column("outbox_oldest_at", gridpilot.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outbox_acks", sa.Integer(), nullable=False),
        sa.Column("outbox_telemetry", sa.Integer(), nullable=False),
        sa.Column("received_at", gridpilot.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_device_heartbeats_device_id_devices"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_device_heartbeats")),
    )
    op.create_table(
        "telemetry_points",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("at", gridpilot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("soc_pct", sa.Double(), nullable=False),
        sa.Column("power_kw", sa.Double(), nullable=False),
        sa.Column("voltage_v", sa.Double(), nullable=True),
        sa.Column("temperature_c", sa.Double(), nullable=True),
        sa.Column("soh_pct", sa.Double(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("received_at", gridpilot.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_telemetry_points_device_id_devices"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("device_id", "at", name=op.f("pk_telemetry_points")),
    )
    op.create_table(
        "schedule_rejections",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("reported_at", gridpilot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", gridpilot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("violations", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_schedule_rejections_device_id_devices"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_schedule_rejections_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_rejections")),
        sa.UniqueConstraint(
            "device_id", "version", "reported_at", name=op.f("uq_schedule_rejections_device_id_version_reported_at")
        ),
    )
    with op.batch_alter_table("schedule_rejections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schedule_rejections_schedule_id"), ["schedule_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("schedule_rejections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_schedule_rejections_schedule_id"))

    op.drop_table("schedule_rejections")
    op.drop_table("telemetry_points")
    op.drop_table("device_heartbeats")
