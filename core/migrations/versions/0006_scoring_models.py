"""scoring models

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 06:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('scoring_models',
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('status', sa.String(length=20), server_default='candidate', nullable=False),
    sa.Column('metrics', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('artifact', sa.Text(), nullable=False),
    sa.Column('training_rows', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('trained_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("status IN ('candidate', 'promoted', 'retired', 'rejected')",
                       name=op.f('ck_scoring_models_status_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scoring_models'))
    )
    op.create_index('uq_scoring_models_version', 'scoring_models', ['name', 'version'], unique=True)
    op.create_index('uq_scoring_models_promoted', 'scoring_models', ['name'], unique=True,
                    postgresql_where=sa.text("status = 'promoted'"))


def downgrade() -> None:
    op.drop_index('uq_scoring_models_promoted', table_name='scoring_models')
    op.drop_index('uq_scoring_models_version', table_name='scoring_models')
    op.drop_table('scoring_models')
