"""eval feedback cases: reviewed drafts added to their agent's suite

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 07:40:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('eval_feedback_cases',
    sa.Column('suite', sa.String(length=80), nullable=False),
    sa.Column('case_id', sa.String(length=200), nullable=False),
    sa.Column('draft_id', sa.BigInteger(), nullable=False),
    sa.Column('agent', sa.String(length=60), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('inputs', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('reference', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('scripted_reply', sa.Text(), nullable=False),
    sa.Column('added_by_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("kind IN ('approved', 'edited', 'rejected')", name=op.f('ck_eval_feedback_cases_kind_known')),
    sa.ForeignKeyConstraint(['added_by_id'], ['users.id'], name=op.f('fk_eval_feedback_cases_added_by_id_users')),
    sa.ForeignKeyConstraint(['draft_id'], ['drafts.id'], name=op.f('fk_eval_feedback_cases_draft_id_drafts'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_eval_feedback_cases')),
    sa.UniqueConstraint('draft_id', name=op.f('uq_eval_feedback_cases_draft_id')),
    sa.UniqueConstraint('suite', 'case_id', name='uq_eval_feedback_cases_suite_case'),
    )
    op.create_index(op.f('ix_eval_feedback_cases_suite'), 'eval_feedback_cases', ['suite'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_eval_feedback_cases_suite'), table_name='eval_feedback_cases')
    op.drop_table('eval_feedback_cases')
