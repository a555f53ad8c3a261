"""The suggested credit limit: spending x months earned by paying on time, on hold while an invoice is long overdue,
only the account's currency counted; computed from real invoices and payments in Customer 360."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy.orm import Session

from core.services import engagement
from core.services.credit import credit_limit
from core.services.customer360 import customer_360
from tests import factories

TODAY = date(2026, 6, 30)


def history(invoiced: str, due: int, on_time: int, open_balance: str = "0", oldest: date | None = None
            ) -> SimpleNamespace:
    return SimpleNamespace(invoiced_12m=Decimal(invoiced), due_12m=due, on_time_12m=on_time,
                           open_balance=Decimal(open_balance), oldest_overdue=oldest)


@pytest.mark.parametrize(("row", "limit", "months"), [
    (history("120000", 12, 12), Decimal(30000), Decimal(3)),  # 10,000 a month, always on time
    (history("120000", 10, 8), Decimal(20000), Decimal(2)),  # 80 % on time
    (history("120000", 10, 5), Decimal(10000), Decimal(1)),  # 50 %
    (history("120000", 10, 4), Decimal(5000), Decimal("0.5")),  # 40 %
    (history("12345", 0, 0), Decimal(1000), Decimal(1)),  # new account: one month, rounded down to 100
])
def test_months_of_spending_by_payment_behaviour(row: SimpleNamespace, limit: Decimal, months: Decimal) -> None:
    view = credit_limit(row, TODAY, "EUR")
    assert (view.limit, view.months, view.on_hold) == (limit, months, False)
    assert view.available == limit and view.currency == "EUR"


def test_open_balance_uses_up_the_limit_and_a_long_overdue_invoice_puts_it_on_hold() -> None:
    used = credit_limit(history("120000", 12, 12, open_balance="25000", oldest=TODAY - timedelta(days=10)),
                        TODAY, "EUR")
    assert (used.limit, used.available, used.on_hold) == (Decimal(30000), Decimal(5000), False)
    assert credit_limit(history("120000", 12, 12, open_balance="35000"), TODAY, "EUR").available == 0
    hold = credit_limit(history("120000", 12, 12, open_balance="900", oldest=TODAY - timedelta(days=61)),
                        TODAY, "EUR")
    assert (hold.limit, hold.available, hold.on_hold) == (Decimal(0), Decimal(0), True)
    assert hold.reason == "on hold: an invoice is 61 days overdue (more than 60)"


def test_customer_360_computes_it_from_the_accounts_invoices_and_payments(session: Session) -> None:
    now = datetime(2026, 6, 30, 12, tzinfo=UTC)
    account = factories.account(session, currency="EUR")
    for month in range(1, 7):  # six monthly invoices of 2,000 EUR; all paid on time but March (paid late)
        issued = date(2026, month, 1)
        row = factories.invoice(session, account.id, currency="EUR", amount=Decimal("2000"), issued_on=issued,
                                due_on=issued + timedelta(days=14))
        if month < 6:
            engagement.record_payment(session, row.id, Decimal("2000"),
                                      issued + timedelta(days=20 if month == 3 else 10))
    factories.invoice(session, account.id, currency="USD", amount=Decimal("99999"), issued_on=date(2026, 5, 1),
                      due_on=date(2026, 5, 15))  # another currency: not added to euros
    credit = customer_360(session, account.id, now).credit
    assert credit.currency == "EUR" and credit.monthly_spend == Decimal("1000.00")  # 12,000 over 12 months
    # due in the year: 6 EUR invoices (June's is due June 15, still open: not on time); on time: 4 of 6 -> 1 month
    assert (credit.on_time_share, credit.months) == (Decimal("0.667"), Decimal(1))
    assert (credit.limit, credit.open_balance, credit.available) == (Decimal(1000), Decimal(2000), Decimal(0))
    assert credit.reason == "1 month(s) of average spending (1,000.00 EUR): 4 of 6 invoices paid on time in the " \
                            "last 12 months"
