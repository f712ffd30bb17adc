"""market: markets, prices, forecast model registry, prediction log

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 22:58:35.201598
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gridpilot.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('markets',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('created_at', gridpilot.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_markets'))
    )
    op.create_table('forecast_models',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('market', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('features', sa.JSON(), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('resolution_minutes', sa.SmallInteger(), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('train_start', gridpilot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('train_end', gridpilot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('gridpilot_version', sa.String(length=32), nullable=False),
    sa.Column('artifact_path', sa.String(length=1000), nullable=False),
    sa.Column('created_at', gridpilot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('promoted_at', gridpilot.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['market'], ['markets.code'], name=op.f('fk_forecast_models_market_markets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_forecast_models')),
    sa.UniqueConstraint('market', 'name', 'version', name=op.f('uq_forecast_models_market_name_version'))
    )
    with op.batch_alter_table('forecast_models', schema=None) as batch_op:
        batch_op.create_index('ix_forecast_models_market_promoted_at', ['market', 'promoted_at'], unique=False)

    op.create_table('prices',
    sa.Column('market', sa.String(length=32), nullable=False),
    sa.Column('delivery_start', gridpilot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolution_minutes', sa.SmallInteger(), nullable=False),
    sa.Column('price', sa.Double(), nullable=False),
    sa.Column('currency', sa.String(length=8), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('known_at', gridpilot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('imported_at', gridpilot.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['market'], ['markets.code'], name=op.f('fk_prices_market_markets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('market', 'delivery_start', 'resolution_minutes', name=op.f('pk_prices'))
    )
    op.create_table('forecast_predictions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('market', sa.String(length=32), nullable=False),
    sa.Column('delivery_start', gridpilot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolution_minutes', sa.SmallInteger(), nullable=False),
    sa.Column('price', sa.Double(), nullable=False),
    sa.Column('issued_at', gridpilot.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['forecast_models.id'], name=op.f('fk_forecast_predictions_model_id_forecast_models'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_forecast_predictions'))
    )
    with op.batch_alter_table('forecast_predictions', schema=None) as batch_op:
        batch_op.create_index('ix_forecast_predictions_market_delivery_start', ['market', 'delivery_start'], unique=False)
        batch_op.create_index(batch_op.f('ix_forecast_predictions_model_id'), ['model_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('forecast_predictions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_forecast_predictions_model_id'))
        batch_op.drop_index('ix_forecast_predictions_market_delivery_start')

    op.drop_table('forecast_predictions')
    op.drop_table('prices')
    with op.batch_alter_table('forecast_models', schema=None) as batch_op:
        batch_op.drop_index('ix_forecast_models_market_promoted_at')

    op.drop_table('forecast_models')
    op.drop_table('markets')
