"""document number sequences for quotes, orders and invoices

Revision ID: 0002
Revises: 0001
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

SEQUENCES = ("quote_number_seq", "order_number_seq", "invoice_number_seq")


def upgrade() -> None:
    for name in SEQUENCES:
        op.execute(f"CREATE SEQUENCE IF NOT EXISTS {name}")


def downgrade() -> None:
    for name in SEQUENCES:
        op.execute(f"DROP SEQUENCE IF EXISTS {name}")
