"""delivery state of schedules (sent, delivered) and the MQTT link state of devices

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 22:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gridpilot.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sent_at", gridpilot.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("delivered_at", gridpilot.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_offline_since", gridpilot.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("link_offline_since")
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.drop_column("delivered_at")
        batch_op.drop_column("sent_at")
