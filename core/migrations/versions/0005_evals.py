"""evals

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 05:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('eval_runs',
    sa.Column('suite', sa.String(length=80), nullable=False),
    sa.Column('mode', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), server_default='running', nullable=False),
    sa.Column('prompt_refs', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
    sa.Column('model', sa.String(length=160), nullable=False),
    sa.Column('judge_model', sa.String(length=160), nullable=True),
    sa.Column('case_limit', sa.Integer(), nullable=True),
    sa.Column('case_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('passed_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('metrics', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('input_tokens', sa.Integer(), server_default='0', nullable=False),
    sa.Column('output_tokens', sa.Integer(), server_default='0', nullable=False),
    sa.Column('cost_usd', sa.Numeric(precision=14, scale=6), server_default='0', nullable=False),
    sa.Column('duration_ms', sa.Integer(), server_default='0', nullable=False),
    sa.Column('is_baseline', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('report_path', sa.Text(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_by', sa.String(length=120), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("mode IN ('model', 'scripted')", name=op.f('ck_eval_runs_mode_known')),
    sa.CheckConstraint("status IN ('running', 'done')", name=op.f('ck_eval_runs_status_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_eval_runs'))
    )
    op.create_index('ix_eval_runs_suite', 'eval_runs', ['suite', 'mode', 'id'], unique=False)
    op.create_index('uq_eval_runs_baseline', 'eval_runs', ['suite', 'mode'], unique=True,
                    postgresql_where=sa.text('is_baseline'))
    op.create_table('eval_case_results',
    sa.Column('run_id', sa.BigInteger(), nullable=False),
    sa.Column('case_id', sa.String(length=200), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('passed', sa.Boolean(), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('fallback', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('scores', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('comments', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('inputs', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('reference', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('output', sa.Text(), server_default='', nullable=False),
    sa.Column('label', sa.Integer(), nullable=True),
    sa.Column('prediction', sa.Integer(), nullable=True),
    sa.Column('probability', sa.Float(), nullable=True),
    sa.Column('input_tokens', sa.Integer(), server_default='0', nullable=False),
    sa.Column('output_tokens', sa.Integer(), server_default='0', nullable=False),
    sa.Column('latency_ms', sa.Integer(), server_default='0', nullable=False),
    sa.Column('llm_call_id', sa.BigInteger(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("outcome IN ('ok', 'repaired', 'fallback', 'error', 'over_budget', 'exception')",
                       name=op.f('ck_eval_case_results_outcome_known')),
    sa.ForeignKeyConstraint(['run_id'], ['eval_runs.id'], name=op.f('fk_eval_case_results_run_id_eval_runs'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_eval_case_results')),
    sa.UniqueConstraint('run_id', 'case_id', name='uq_eval_case_results_run_case')
    )
    op.create_index(op.f('ix_eval_case_results_run_id'), 'eval_case_results', ['run_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_eval_case_results_run_id'), table_name='eval_case_results')
    op.drop_table('eval_case_results')
    op.drop_index('uq_eval_runs_baseline', table_name='eval_runs', postgresql_where=sa.text('is_baseline'))
    op.drop_index('ix_eval_runs_suite', table_name='eval_runs')
    op.drop_table('eval_runs')
