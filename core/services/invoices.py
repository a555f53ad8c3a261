"""Invoices entered by people. Payments against them go through `engagement.record_payment`, which writes the
`payment.received` event the Customer Health Monitor reacts to; balances are derived from payments, never stored."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from core.errors import Conflict, InvalidInput
from core.models import Invoice
from core.models.enums import InvoiceStatus
from core.repositories import events
from core.repositories import success as repo
from core.services.snapshot import snapshot
from core.services.updates import update_fields

# draft -> open (issued) -> paid (by payments only); draft or open -> void while nothing is paid.
NEXT_STATUS: dict[InvoiceStatus, tuple[InvoiceStatus, ...]] = {
    InvoiceStatus.draft: (InvoiceStatus.open, InvoiceStatus.void),
    InvoiceStatus.open: (InvoiceStatus.void,),
    InvoiceStatus.paid: (),
    InvoiceStatus.void: (),
}


def create_invoice(session: Session, *, account_id: int, number: str, amount: Decimal, currency: str,
                   issued_on: date, due_on: date, actor: str, actor_id: int | None = None,
                   status: InvoiceStatus = InvoiceStatus.open) -> Invoice:
    number = number.strip()
    if not number:
        raise InvalidInput("number", "an invoice needs a number")
    if status not in (InvoiceStatus.draft, InvoiceStatus.open):
        raise InvalidInput("status", "a new invoice is draft or open; it becomes paid through payments")
    if due_on < issued_on:
        raise InvalidInput("due_on", f"the invoice is due ({due_on}) before it is issued ({issued_on})")
    if repo.invoice_number_taken(session, number):
        raise Conflict(f"invoice number {number} is already used", field="number")
    invoice = Invoice(account_id=account_id, number=number, amount=amount, currency=currency.upper(),
                      issued_on=issued_on, due_on=due_on, status=status)
    session.add(invoice)
    session.flush()
    events.add_audit(session, actor=actor, actor_id=actor_id, action="create", entity_type="invoice",
                     entity_id=invoice.id, after=snapshot(invoice))
    return invoice


def change_status(session: Session, invoice: Invoice, status: InvoiceStatus, *, actor: str,
                  actor_id: int | None = None) -> Invoice:
    """Issue a draft or void a mistaken invoice; an invoice with payments cannot be voided (refund first)."""
    current = InvoiceStatus(invoice.status)
    if status is current:
        return invoice
    if status not in NEXT_STATUS[current]:
        raise Conflict(f"invoice {invoice.number} is {current.value}; it cannot become {status.value}", field="status")
    if status is InvoiceStatus.void and repo.paid_totals(session, [invoice.id])[invoice.id] > 0:
        raise Conflict(f"invoice {invoice.number} has payments; it cannot be voided", field="status")
    update_fields(session, invoice, {"status": status}, entity_type="invoice", actor=actor, actor_id=actor_id)
    return invoice
