"""Which overdue invoices get a reminder today: pure rules over an invoice's dates and balance.

An open invoice with money still owed gets reminder 1 once it is `days[0]` days past due, reminder 2 at
`days[1]`, and the final reminder at the last step, which also gives the account manager a high-priority task
to call. Each level is a window of the output's idempotency key, so an invoice never gets the same reminder twice
however often the agent runs; a level skipped (the agent was off) is not sent late: only the current one is.
Accounts tagged `no-payment-reminders` (e.g. a payment plan was agreed) get nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from core.models.enums import BuyingRole, InvoiceStatus
from core.services.outputs import Origin

AGENT = "payment_reminders"
SUBJECT = "invoice"
REMINDER = "reminder"
TASK = "call-task"
OPT_OUT_TAG = "no-payment-reminders"
BILLING_TAG = "billing"
FINANCE_TITLE = re.compile(r"financ|account(s|ing)?\s*payable|billing|controller|treasur|\bcfo\b|bookkeep", re.I)


@dataclass(frozen=True)
class Decision:
    action: str  # "remind" or "none"
    reason: str
    level: int = 0  # 1, 2, ... the last one is final
    final: bool = False
    days_overdue: int = 0
    balance: Decimal = Decimal(0)

    @property
    def window(self) -> str:
        return f"r{self.level}"


def decide(invoice: dict[str, Any], today: date, days: Sequence[int]) -> Decision:
    status = InvoiceStatus(invoice["status"])
    if status is not InvoiceStatus.open:
        return Decision("none", f"invoice is {status.value}")
    if OPT_OUT_TAG in (invoice.get("account_tags") or []):
        return Decision("none", f"the account is tagged {OPT_OUT_TAG}")
    balance = Decimal(invoice["amount"]) - Decimal(invoice.get("paid") or 0)
    if balance <= 0:
        return Decision("none", "nothing left to pay")
    overdue = (today - invoice["due_on"]).days
    reached = [n for n, after in enumerate(sorted(days), start=1) if overdue >= after]
    if not reached:
        return Decision("none", f"{max(overdue, 0)} day(s) past due; first reminder after {min(days)}",
                        days_overdue=max(overdue, 0), balance=balance)
    level = reached[-1]
    return Decision("remind", f"{overdue} day(s) past due, {balance} {invoice['currency']} open", level,
                    level == len(days), overdue, balance)


def billing_contact(contacts: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Who receives the reminder: a contact tagged `billing`, else one with a finance title, else the decision
    maker, else the first contact with an email."""
    def rank(c: dict[str, Any]) -> int:
        if BILLING_TAG in (c.get("tags") or []):
            return 0
        if c.get("title") and FINANCE_TITLE.search(c["title"]):
            return 1
        return 2 if c.get("buying_role") == BuyingRole.decision_maker else 3
    return min(contacts, key=rank) if contacts else None


def output_key(invoice_id: int, purpose: str, level: int) -> str:
    """The idempotency key the reminder (or the call task) of this level gets: the same as the agent writes."""
    return Origin(0, AGENT, SUBJECT, invoice_id, f"r{level}").key(purpose)
