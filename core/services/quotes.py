"""Quotes and sales orders: priced lines, totals, the draft → sent → accepted/rejected/expired lifecycle.

Money is Decimal end to end. Each line total is rounded half-up to cents after its discount; the quote's
subtotal is the sum of undiscounted lines, `discount_total` the sum of line discounts, tax applies to the
discounted amount. Lines are priced in the quote's currency from the account's price book (falling back
to the default book); a product with no price in that currency must be given an explicit unit price.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.orm import Session

from core.errors import Conflict, InvalidInput, NotFound
from core.models import Account, Contact, Deal, Product, Quote, QuoteLine, SalesOrder, SalesOrderLine
from core.models.enums import DealStatus, QuoteStatus, Role
from core.repositories import events
from core.repositories import sales as repo
from core.repositories.scoping import Principal
from core.services import deals as deal_service
from core.services.auth import Forbidden
from core.services.references import ensure_of_account
from core.services.snapshot import snapshot

CENT = Decimal("0.01")


@dataclass(frozen=True)
class LineInput:
    quantity: Decimal
    product_id: int | None = None
    description: str | None = None
    unit_price: Decimal | None = None
    discount_pct: Decimal = Decimal(0)


@dataclass(frozen=True)
class Totals:
    subtotal: Decimal
    discount_total: Decimal
    tax_total: Decimal
    total: Decimal


def line_amounts(quantity: Decimal, unit_price: Decimal, discount_pct: Decimal) -> tuple[Decimal, Decimal]:
    """(gross, net) of one line, both rounded to cents."""
    gross = (quantity * unit_price).quantize(CENT, ROUND_HALF_UP)
    net = (gross * (Decimal(100) - discount_pct) / Decimal(100)).quantize(CENT, ROUND_HALF_UP)
    return gross, net


def compute_totals(lines: Sequence[tuple[Decimal, Decimal, Decimal]], tax_rate: Decimal) -> Totals:
    gross_sum = net_sum = Decimal(0)
    for quantity, unit_price, discount_pct in lines:
        gross, net = line_amounts(quantity, unit_price, discount_pct)
        gross_sum += gross
        net_sum += net
    tax = (net_sum * tax_rate).quantize(CENT, ROUND_HALF_UP)
    return Totals(subtotal=gross_sum, discount_total=gross_sum - net_sum, tax_total=tax, total=net_sum + tax)


def create_quote(session: Session, *, account_id: int, lines: Sequence[LineInput], currency: str | None = None,
                 deal_id: int | None = None, contact_id: int | None = None, valid_until: date | None = None,
                 tax_rate: Decimal = Decimal(0), terms: str | None = None, created_by_id: int | None = None,
                 actor: str = "system") -> Quote:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound("account", account_id)
    if not lines:
        raise InvalidInput("lines", "a quote needs at least one line")
    if not Decimal(0) <= tax_rate < Decimal(1):
        raise InvalidInput("tax_rate", "must be a fraction between 0 and 1")
    ccy = (currency or account.currency).upper()

    priced: list[tuple[LineInput, str, Decimal]] = []
    for i, line in enumerate(lines):
        where = f"lines[{i}]"
        if line.quantity <= 0:
            raise InvalidInput(f"{where}.quantity", "must be positive")
        if not Decimal(0) <= line.discount_pct <= Decimal(100):
            raise InvalidInput(f"{where}.discount_pct", "must be between 0 and 100")
        product = session.get(Product, line.product_id) if line.product_id else None
        if line.product_id and product is None:
            raise InvalidInput(f"{where}.product_id", f"product {line.product_id} does not exist")
        price = line.unit_price
        if price is None and product is not None:
            price = repo.unit_price(session, account.price_book_id, product.id, ccy)
        if price is None:
            raise InvalidInput(f"{where}.unit_price", f"no price in {ccy} for this line; give one explicitly")
        if price < 0:
            raise InvalidInput(f"{where}.unit_price", "must not be negative")
        description = line.description or (product.name if product else None)
        if not description:
            raise InvalidInput(f"{where}.description", "a line without a product needs a description")
        priced.append((line, description, price))

    totals = compute_totals([(ln.quantity, price, ln.discount_pct) for ln, _, price in priced], tax_rate)
    quote = Quote(number=repo.next_number(session, "quote_number_seq", "Q-"), account_id=account.id,
                  deal_id=deal_id, contact_id=contact_id, currency=ccy, valid_until=valid_until, tax_rate=tax_rate,
                  terms=terms, created_by_id=created_by_id, subtotal=totals.subtotal,
                  discount_total=totals.discount_total, tax_total=totals.tax_total, total=totals.total)
    session.add(quote)
    session.flush()
    for position, (line, description, price) in enumerate(priced, start=1):
        _gross, net = line_amounts(line.quantity, price, line.discount_pct)
        session.add(QuoteLine(quote_id=quote.id, position=position, product_id=line.product_id,
                              description=description, quantity=line.quantity, unit_price=price,
                              discount_pct=line.discount_pct, line_total=net))
    session.flush()
    events.add_audit(session, actor=actor, action="create", entity_type="quote", entity_id=quote.id,
                     after=snapshot(quote))
    return quote


def ensure_may_change(session: Session, user: Principal, deal_id: int | None) -> None:
    """Sellers change the quotes and orders in their scope; a CSM only those of deals they own: the renewals agent
    makes the CSM the renewal deal's owner and asks them to send its quote, and the signed quote extends the
    contract."""
    if user.role is not Role.csm:
        return
    deal = session.get(Deal, deal_id) if deal_id is not None else None
    if deal is None or deal.owner_id != user.user_id:
        raise Forbidden("role csm may change only the quotes and orders of deals they own (renewals)")


def _quote(session: Session, quote_id: int) -> Quote:
    quote = session.get(Quote, quote_id)
    if quote is None:
        raise NotFound("quote", quote_id)
    return quote


def _transition(session: Session, quote: Quote, to: QuoteStatus, allowed_from: set[QuoteStatus], actor: str,
                changes: dict[str, Any], note: dict[str, Any] | None = None, actor_id: int | None = None) -> None:
    """Checks the status before touching the row, so a refused transition leaves nothing to roll back."""
    if quote.status not in allowed_from:
        allowed = " or ".join(sorted(s.value for s in allowed_from))
        raise Conflict(f"quote {quote.number} is {quote.status.value}; only a {allowed} quote can be {to.value}")
    fields = ["status", "sent_at", "responded_at"]
    before = snapshot(quote, fields)
    for key, value in changes.items():
        setattr(quote, key, value)
    quote.status = to
    session.flush()
    events.add_audit(session, actor=actor, action=to.value, entity_type="quote", entity_id=quote.id,
                     before=before, after=snapshot(quote, fields) | (note or {}), actor_id=actor_id)


def update_draft(session: Session, quote_id: int, changes: dict[str, Any], *, today: date, actor: str = "system",
                 actor_id: int | None = None) -> Quote:
    """Edit a quote before it is sent: its validity, contact and terms (lines and prices are fixed once created;
    make a new quote for other lines). A sent or answered quote is a document the customer has: 409."""
    quote = _quote(session, quote_id)
    if quote.status is not QuoteStatus.draft:
        raise Conflict(f"quote {quote.number} is {quote.status.value}; only a draft quote can be edited",
                       field="status")
    if changes.get("valid_until") is not None and changes["valid_until"] < today:
        raise InvalidInput("valid_until", f"{changes['valid_until']} is in the past")
    ensure_of_account(session, Contact, changes.get("contact_id"), quote.account_id)
    fields = [k for k, v in changes.items() if getattr(quote, k) != v]
    if fields:
        before = snapshot(quote, fields)
        for key in fields:
            setattr(quote, key, changes[key])
        session.flush()
        events.add_audit(session, actor=actor, actor_id=actor_id, action="update", entity_type="quote",
                         entity_id=quote.id, before=before, after=snapshot(quote, fields))
    return quote


def _check_valid(quote: Quote, today: date) -> None:
    if quote.valid_until is not None and quote.valid_until < today:
        raise Conflict(f"quote {quote.number} expired on {quote.valid_until}")


def send_quote(session: Session, quote_id: int, *, actor: str = "system", actor_id: int | None = None,
               now: datetime | None = None) -> Quote:
    """Sending starts the clock the Quote Follow-up agent watches (`quote.sent` event); a quote past its
    validity date would only expire that night, so it is refused."""
    now = now or datetime.now(UTC)
    quote = _quote(session, quote_id)
    if quote.status is QuoteStatus.draft:
        _check_valid(quote, now.date())
    _transition(session, quote, QuoteStatus.sent, {QuoteStatus.draft}, actor, {"sent_at": now}, actor_id=actor_id)
    events.add_event(session, "quote.sent", "quote", quote.id, {"deal_id": quote.deal_id})
    return quote


def reject_quote(session: Session, quote_id: int, *, actor: str = "system", actor_id: int | None = None,
                 now: datetime | None = None, reason: str | None = None) -> Quote:
    """The customer's reason is kept in the audit row and the event (the quote table has no column for it)."""
    quote = _quote(session, quote_id)
    note = {"reason": reason} if reason else None
    _transition(session, quote, QuoteStatus.rejected, {QuoteStatus.sent}, actor,
                {"responded_at": now or datetime.now(UTC)}, note, actor_id)
    events.add_event(session, "quote.rejected", "quote", quote.id, {"deal_id": quote.deal_id} | (note or {}))
    return quote


def accept_quote(session: Session, quote_id: int, *, actor: str = "system", actor_id: int | None = None,
                 now: datetime | None = None) -> SalesOrder:
    """Acceptance converts the quote into a sales order (no re-entry) and wins its deal."""
    now = now or datetime.now(UTC)
    quote = _quote(session, quote_id)
    if quote.status is QuoteStatus.sent:
        _check_valid(quote, now.date())
        _check_deal_has_no_order(session, quote)
    _transition(session, quote, QuoteStatus.accepted, {QuoteStatus.sent}, actor, {"responded_at": now},
                actor_id=actor_id)
    events.add_event(session, "quote.accepted", "quote", quote.id, {"deal_id": quote.deal_id})
    order = _order_of_quote(session, quote, actor, actor_id, now)
    if quote.deal_id is not None:
        deal = session.get(Deal, quote.deal_id)
        if deal is not None and deal.status is DealStatus.open:
            deal_service.close_won(session, deal.id, actor=actor, now=now)
    session.flush()
    return order


def _check_deal_has_no_order(session: Session, quote: Quote) -> None:
    """A deal has at most one order (a UNIQUE column): a second accepted quote on it is refused up front."""
    if quote.deal_id is None:
        return
    existing = repo.order_for_deal(session, quote.deal_id)
    if existing is not None and existing.quote_id != quote.id:
        raise Conflict(f"deal {quote.deal_id} already has sales order {existing.number}")


def _order_of_quote(session: Session, quote: Quote, actor: str, actor_id: int | None, now: datetime) -> SalesOrder:
    order = SalesOrder(number=repo.next_number(session, "order_number_seq", "SO-"), account_id=quote.account_id,
                       deal_id=quote.deal_id, quote_id=quote.id, currency=quote.currency, total=quote.total,
                       ordered_at=now)
    session.add(order)
    session.flush()
    for line in repo.quote_lines(session, quote.id):
        session.add(SalesOrderLine(order_id=order.id, position=line.position, product_id=line.product_id,
                                   description=line.description, quantity=line.quantity,
                                   unit_price=line.unit_price, discount_pct=line.discount_pct,
                                   line_total=line.line_total))
    session.flush()
    events.add_event(session, "order.created", "sales_order", order.id, {"quote_id": quote.id,
                                                                          "deal_id": quote.deal_id})
    events.add_audit(session, actor=actor, action="create", entity_type="sales_order", entity_id=order.id,
                     after=snapshot(order), actor_id=actor_id)
    return order


def order_from_quote(session: Session, quote_id: int, *, actor: str = "system", actor_id: int | None = None,
                     now: datetime | None = None) -> tuple[SalesOrder, bool]:
    """(the order, whether it was made now): an accepted quote's order, made once however often asked, so a
    double click or a retried request never bills twice."""
    quote = _quote(session, quote_id)
    existing = repo.order_for_quote(session, quote.id)
    if existing is not None:
        return existing, False
    if quote.status is not QuoteStatus.accepted:
        raise Conflict(f"quote {quote.number} is {quote.status.value}; only an accepted quote becomes an order")
    _check_deal_has_no_order(session, quote)
    return _order_of_quote(session, quote, actor, actor_id, now or datetime.now(UTC)), True


def order_from_deal(session: Session, deal_id: int, *, actor: str = "system", actor_id: int | None = None,
                    now: datetime | None = None) -> SalesOrder:
    """A won deal without a quote still becomes an order, one line for its amount."""
    now = now or datetime.now(UTC)
    deal = session.get(Deal, deal_id)
    if deal is None:
        raise NotFound("deal", deal_id)
    if deal.account_id is None:
        raise InvalidInput("account_id", f"deal {deal_id} has no account to bill")
    existing = repo.order_for_deal(session, deal_id)
    if existing is not None:
        raise Conflict(f"deal {deal_id} already has sales order {existing.number}")
    if deal.status is DealStatus.lost:
        raise Conflict(f"deal {deal_id} is lost")
    if deal.status is DealStatus.open:
        deal_service.close_won(session, deal.id, actor=actor, now=now)
    order = SalesOrder(number=repo.next_number(session, "order_number_seq", "SO-"), account_id=deal.account_id,
                       deal_id=deal.id, currency=deal.currency, total=deal.amount, ordered_at=now)
    session.add(order)
    session.flush()
    session.add(SalesOrderLine(order_id=order.id, position=1, description=deal.name, quantity=Decimal(1),
                               unit_price=deal.amount, line_total=deal.amount))
    events.add_event(session, "order.created", "sales_order", order.id, {"deal_id": deal.id})
    session.flush()
    events.add_audit(session, actor=actor, action="create", entity_type="sales_order", entity_id=order.id,
                     after=snapshot(order), actor_id=actor_id)
    return order


def expire_quotes(session: Session, today: date, *, actor: str = "system") -> Sequence[int]:
    """Sent quotes whose validity date has passed; each gets an audit row so the quote's history shows why."""
    expired = repo.expire_sent_quotes(session, today)
    for quote_id in expired:
        events.add_audit(session, actor=actor, action=QuoteStatus.expired.value, entity_type="quote",
                         entity_id=quote_id, before={"status": QuoteStatus.sent.value},
                         after={"status": QuoteStatus.expired.value, "expired_on": today.isoformat()})
    return expired
