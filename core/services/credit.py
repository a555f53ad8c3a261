"""An account's suggested credit limit from its payment behaviour and its spending, as the product documents ask
("the system calculates the credit limit for each account based on its payment behavior and spending amounts").

The rule, kept simple so a finance person can check it by hand:
- spending: the average month of the last 12 months' invoices in the account's currency;
- months of credit by payment behaviour (share of the year's due invoices paid in full by their due date):
  >= 90 % on time: 3 months; >= 70 %: 2; >= 50 %: 1; below: half a month; no invoice due yet: 1 month;
- on hold (limit 0) while an invoice is more than `HOLD_AFTER_DAYS` days overdue;
- rounded down to a whole 100; available = limit - open balance (never below 0).
Other currencies' invoices are not converted (the CRM has no exchange rates): they are left out, and say so.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_DOWN, Decimal
from typing import Any

from pydantic import BaseModel

HOLD_AFTER_DAYS = 60
STEPS = ((Decimal("0.9"), Decimal(3)), (Decimal("0.7"), Decimal(2)), (Decimal("0.5"), Decimal(1)))


class CreditView(BaseModel):
    currency: str
    limit: Decimal
    available: Decimal
    open_balance: Decimal
    monthly_spend: Decimal
    months: Decimal
    on_time_share: Decimal | None  # None: no invoice was due in the year
    on_hold: bool
    reason: str


def _months(on_time: Decimal | None) -> Decimal:
    if on_time is None:
        return Decimal(1)
    return next((months for floor, months in STEPS if on_time >= floor), Decimal("0.5"))


def credit_limit(history: Any, today: date, currency: str) -> CreditView:
    """`history`: a row of core.repositories.customer360.credit_history."""
    monthly = (Decimal(history.invoiced_12m) / 12).quantize(Decimal("0.01"))
    due, on_time = int(history.due_12m), int(history.on_time_12m)
    share = (Decimal(on_time) / due).quantize(Decimal("0.001")) if due else None
    months = _months(share)
    balance = Decimal(history.open_balance)
    overdue_days = (today - history.oldest_overdue).days if history.oldest_overdue else 0
    habits = (f"{on_time} of {due} invoices paid on time in the last 12 months" if due
              else "no invoice due in the last 12 months yet")
    if overdue_days > HOLD_AFTER_DAYS:
        return CreditView(currency=currency, limit=Decimal(0), available=Decimal(0), open_balance=balance,
                          monthly_spend=monthly, months=months, on_time_share=share, on_hold=True,
                          reason=f"on hold: an invoice is {overdue_days} days overdue (more than {HOLD_AFTER_DAYS})")
    limit = (monthly * months / 100).to_integral_value(rounding=ROUND_DOWN) * 100
    return CreditView(currency=currency, limit=limit, available=max(limit - balance, Decimal(0)),
                      open_balance=balance, monthly_spend=monthly, months=months, on_time_share=share,
                      on_hold=False, reason=f"{months.normalize():f} month(s) of average spending "
                                            f"({monthly:,.2f} {currency}): {habits}")
