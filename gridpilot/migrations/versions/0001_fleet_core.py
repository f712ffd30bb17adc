"""fleet core: devices, schedules, executions, operators, audit

Revision ID: 0001
Revises:
Create Date: 2026-11-24 23:40:36.518859
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gridpilot.db

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', gridpilot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=160), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target_type', sa.String(length=32), nullable=False),
    sa.Column('target_id', sa.String(length=160), nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)

    op.create_table('devices',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('site', sa.String(length=200), nullable=True),
    sa.Column('capacity_kwh', sa.Double(), nullable=False),
    sa.Column('max_charge_kw', sa.Double(), nullable=False),
    sa.Column('max_discharge_kw', sa.Double(), nullable=False),
    sa.Column('min_soc_pct', sa.Double(), nullable=False),
    sa.Column('max_soc_pct', sa.Double(), nullable=False),
    sa.Column('charge_efficiency', sa.Double(), nullable=False),
    sa.Column('discharge_efficiency', sa.Double(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('created_at', gridpilot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', gridpilot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decommissioned_at', gridpilot.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_contact_at', gridpilot.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_soc_pct', sa.Double(), nullable=True),
    sa.Column('last_soc_at', gridpilot.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('schedule_version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_devices'))
    )
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_devices_last_contact_at'), ['last_contact_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_devices_site'), ['site'], unique=False)

    op.create_table('operators',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('created_at', gridpilot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('disabled_at', gridpilot.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operators')),
    sa.UniqueConstraint('name', name=op.f('uq_operators_name'))
    )
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('operator_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', gridpilot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', gridpilot.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['operator_id'], ['operators.id'], name=op.f('fk_api_keys_operator_id_operators'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_keys_token_hash'))
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_keys_operator_id'), ['operator_id'], unique=False)

    op.create_table('device_credentials',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', gridpilot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', gridpilot.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_device_credentials_device_id_devices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_credentials')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_device_credentials_token_hash'))
    )
    with op.batch_alter_table('device_credentials', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_credentials_device_id'), ['device_id'], unique=False)

    op.create_table('device_tags',
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('tag', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_device_tags_device_id_devices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('device_id', 'tag', name=op.f('pk_device_tags'))
    )
    with op.batch_alter_table('device_tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_tags_tag'), ['tag'], unique=False)

    op.create_table('schedules',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('effective_from', gridpilot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('superseded_from', gridpilot.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', gridpilot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=160), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_schedules_device_id_devices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schedules')),
    sa.UniqueConstraint('device_id', 'version', name=op.f('uq_schedules_device_id_version'))
    )
    op.create_table('schedule_intervals',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('schedule_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('start', gridpilot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('end', gridpilot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('mode', sa.SmallInteger(), nullable=False),
    sa.Column('rate_kw', sa.Double(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_at', gridpilot.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['schedule_id'], ['schedules.id'], name=op.f('fk_schedule_intervals_schedule_id_schedules'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schedule_intervals'))
    )
    with op.batch_alter_table('schedule_intervals', schema=None) as batch_op:
        batch_op.create_index('ix_schedule_intervals_schedule_id_start', ['schedule_id', 'start'], unique=False)

    op.create_table('executions',
    sa.Column('ack_id', sa.String(length=36), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('interval_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('started_at', gridpilot.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', gridpilot.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('energy_kwh', sa.Double(), nullable=True),
    sa.Column('soc_pct', sa.Double(), nullable=True),
    sa.Column('message', sa.String(length=1000), nullable=True),
    sa.Column('received_at', gridpilot.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_executions_device_id_devices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['interval_id'], ['schedule_intervals.id'], name=op.f('fk_executions_interval_id_schedule_intervals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('ack_id', name=op.f('pk_executions'))
    )
    with op.batch_alter_table('executions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_executions_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_executions_interval_id'), ['interval_id'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('executions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_executions_interval_id'))
        batch_op.drop_index(batch_op.f('ix_executions_device_id'))

    op.drop_table('executions')
    with op.batch_alter_table('schedule_intervals', schema=None) as batch_op:
        batch_op.drop_index('ix_schedule_intervals_schedule_id_start')

    op.drop_table('schedule_intervals')
    op.drop_table('schedules')
    with op.batch_alter_table('device_tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_tags_tag'))

    op.drop_table('device_tags')
    with op.batch_alter_table('device_credentials', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_credentials_device_id'))

    op.drop_table('device_credentials')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_keys_operator_id'))

    op.drop_table('api_keys')
    op.drop_table('operators')
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_devices_site'))
        batch_op.drop_index(batch_op.f('ix_devices_last_contact_at'))

    op.drop_table('devices')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))

    op.drop_table('audit_log')
    
