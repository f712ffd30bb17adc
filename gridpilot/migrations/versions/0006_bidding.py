"""bidding: submissions, bids, their outcomes, demand-response events, hourly decisions

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 00:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gridpilot.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('bid_submissions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('market', sa.String(length=32), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=100), nullable=False),
    sa.Column('exchange', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('error', sa.String(length=1000), nullable=True),
    sa.Column('created_at', gridpilot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', gridpilot.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['market'], ['markets.code'], name=op.f('fk_bid_submissions_market_markets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bid_submissions')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_bid_submissions_idempotency_key')),
    sa.UniqueConstraint('market', 'day', name=op.f('uq_bid_submissions_market_day'))
    )
    op.create_table('demand_response_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('market', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('start', gridpilot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('end', gridpilot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('requested_mw', sa.Double(), nullable=True),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', gridpilot.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['market'], ['markets.code'], name=op.f('fk_demand_response_events_market_markets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_demand_response_events'))
    )
    with op.batch_alter_table('demand_response_events', schema=None) as batch_op:
        batch_op.create_index('ix_demand_response_events_market_start', ['market', 'start'], unique=False)

    op.create_table('bids',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('submission_id', sa.Integer(), nullable=False),
    sa.Column('delivery_start', gridpilot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('side', sa.String(length=8), nullable=False),
    sa.Column('quantity_mw', sa.Double(), nullable=False),
    sa.Column('limit_price', sa.Double(), nullable=False),
    sa.Column('forecast_price', sa.Double(), nullable=False),
    sa.ForeignKeyConstraint(['submission_id'], ['bid_submissions.id'], name=op.f('fk_bids_submission_id_bid_submissions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bids')),
    sa.UniqueConstraint('submission_id', 'delivery_start', name=op.f('uq_bids_submission_id_delivery_start'))
    )
    op.create_table('market_decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('submission_id', sa.Integer(), nullable=False),
    sa.Column('delivery_start', gridpilot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('action', sa.String(length=8), nullable=False),
    sa.Column('position_mw', sa.Double(), nullable=False),
    sa.Column('forecast_price', sa.Double(), nullable=False),
    sa.Column('reason', sa.String(length=1000), nullable=False),
    sa.Column('demand_response_event_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['demand_response_event_id'], ['demand_response_events.id'], name=op.f('fk_market_decisions_demand_response_event_id_demand_response_events'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['submission_id'], ['bid_submissions.id'], name=op.f('fk_market_decisions_submission_id_bid_submissions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_decisions')),
    sa.UniqueConstraint('submission_id', 'delivery_start', name=op.f('uq_market_decisions_submission_id_delivery_start'))
    )
    op.create_table('bid_outcomes',
    sa.Column('bid_id', sa.Integer(), nullable=False),
    sa.Column('accepted_mw', sa.Double(), nullable=False),
    sa.Column('clearing_price', sa.Double(), nullable=False),
    sa.Column('recorded_at', gridpilot.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bid_id'], ['bids.id'], name=op.f('fk_bid_outcomes_bid_id_bids'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('bid_id', name=op.f('pk_bid_outcomes'))
    )


def downgrade() -> None:
    op.drop_table('bid_outcomes')
    op.drop_table('market_decisions')
    op.drop_table('bids')
    with op.batch_alter_table('demand_response_events', schema=None) as batch_op:
        batch_op.drop_index('ix_demand_response_events_market_start')

    op.drop_table('demand_response_events')
    op.drop_table('bid_submissions')
