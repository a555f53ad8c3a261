"""stages: archived_at; stage names and positions unique among live stages only

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 10:55:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('stages', sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True))
    op.drop_constraint('uq_stages_pipeline_name', 'stages', type_='unique')
    op.drop_constraint('uq_stages_pipeline_position', 'stages', type_='unique')
    op.create_index('uq_stages_pipeline_name', 'stages', ['pipeline_id', 'name'], unique=True,
                    postgresql_where=sa.text('archived_at IS NULL'))
    op.create_index('uq_stages_pipeline_position', 'stages', ['pipeline_id', 'position'], unique=True,
                    postgresql_where=sa.text('archived_at IS NULL'))


def downgrade() -> None:
    # archived stages stay (the stage history points at them) under names and positions the old UNIQUEs accept
    op.execute("UPDATE stages SET position = -id, name = left(name, 60) || ' (removed #' || id || ')' "
               "WHERE archived_at IS NOT NULL")
    op.drop_index('uq_stages_pipeline_position', table_name='stages')
    op.drop_index('uq_stages_pipeline_name', table_name='stages')
    op.create_unique_constraint('uq_stages_pipeline_position', 'stages', ['pipeline_id', 'position'])
    op.create_unique_constraint('uq_stages_pipeline_name', 'stages', ['pipeline_id', 'name'])
    op.drop_column('stages', 'archived_at')
