"""Quote pricing, totals with discounts, tax and currencies; acceptance into a sales order."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from core.errors import Conflict, InvalidInput
from core.models.enums import DealStatus, QuoteStatus
from core.repositories import events
from core.repositories import sales as sales_repo
from core.services import quotes as quote_service
from core.services.quotes import LineInput
from tests import factories as f

D = Decimal


def _priced_account(session: Session, currency: str = "EUR"):  # type: ignore[no-untyped-def]
    seat = f.product(session, name="Seat licence")
    onboarding = f.product(session, name="Onboarding")
    book = f.price_book(session, prices={(seat.id, "USD"): D("120.00"), (seat.id, "EUR"): D("110.00"),
                                         (onboarding.id, "EUR"): D("999.99")})
    acct = f.account(session, currency=currency, price_book_id=book.id)
    return acct, seat, onboarding


def test_totals_with_discounts_tax_and_price_book_currency(session: Session) -> None:
    acct, seat, onboarding = _priced_account(session)
    quote = quote_service.create_quote(session, account_id=acct.id, tax_rate=D("0.20"), lines=[
        LineInput(product_id=seat.id, quantity=D("25"), discount_pct=D("10")),
        LineInput(product_id=onboarding.id, quantity=D("1"), discount_pct=D("12.5")),
        LineInput(description="Travel", quantity=D("3"), unit_price=D("33.33")),
    ])
    # 25 × 110 = 2750.00 → 2475.00; 999.99 → 874.99 (874.99125 rounded); 3 × 33.33 = 99.99
    assert quote.currency == "EUR"
    assert quote.subtotal == D("3849.98")
    assert quote.discount_total == D("3849.98") - D("3449.98")
    assert quote.tax_total == D("690.00")  # 20 % of 3449.98 = 689.996
    assert quote.total == D("4139.98")
    lines = sales_repo.quote_lines(session, quote.id)
    assert [ln.line_total for ln in lines] == [D("2475.00"), D("874.99"), D("99.99")]
    assert [ln.unit_price for ln in lines] == [D("110.00"), D("999.99"), D("33.33")]

    usd = quote_service.create_quote(session, account_id=acct.id, currency="usd",
                                     lines=[LineInput(product_id=seat.id, quantity=D("2"))])
    assert usd.currency == "USD" and usd.total == D("240.00")


def test_missing_price_names_the_line(session: Session) -> None:
    acct, _seat, onboarding = _priced_account(session)
    with pytest.raises(InvalidInput, match=r"lines\[1\]\.unit_price"):
        quote_service.create_quote(session, account_id=acct.id, currency="USD", lines=[
            LineInput(description="Support", quantity=D("1"), unit_price=D("10")),
            LineInput(product_id=onboarding.id, quantity=D("1")),
        ])
    with pytest.raises(InvalidInput, match=r"lines\[0\]\.discount_pct"):
        quote_service.create_quote(session, account_id=acct.id, lines=[
            LineInput(description="x", quantity=D("1"), unit_price=D("1"), discount_pct=D("101"))])


def test_accepting_a_sent_quote_creates_the_order_and_wins_the_deal(session: Session) -> None:
    acct, seat, _ = _priced_account(session)
    deal = f.deal(session, account_id=acct.id, amount=D("5000"), currency="EUR",
                  now=datetime(2026, 11, 1, tzinfo=UTC))
    quote = quote_service.create_quote(session, account_id=acct.id, deal_id=deal.id, valid_until=date(2026, 12, 31),
                                       lines=[LineInput(product_id=seat.id, quantity=D("10"), discount_pct=D("5"))])
    with pytest.raises(Conflict):
        quote_service.accept_quote(session, quote.id)  # still a draft
    sent_at = datetime(2026, 11, 2, tzinfo=UTC)
    quote_service.send_quote(session, quote.id, now=sent_at)
    assert quote.status is QuoteStatus.sent and quote.sent_at == sent_at
    order = quote_service.accept_quote(session, quote.id, now=datetime(2026, 11, 9, tzinfo=UTC))

    assert order.total == quote.total == D("1045.00") and order.currency == "EUR"
    assert order.quote_id == quote.id and order.deal_id == deal.id
    assert deal.status is DealStatus.won
    topics = [e.topic for e in events.events_for(session, "quote", quote.id)]
    assert topics == ["quote.sent", "quote.accepted"]
    with pytest.raises(Conflict):
        quote_service.accept_quote(session, quote.id)


def test_expired_quotes_cannot_be_accepted(session: Session) -> None:
    acct, seat, _ = _priced_account(session)
    quote = quote_service.create_quote(session, account_id=acct.id, valid_until=date(2026, 10, 31),
                                       lines=[LineInput(product_id=seat.id, quantity=D("1"))])
    quote_service.send_quote(session, quote.id, now=datetime(2026, 10, 1, tzinfo=UTC))
    with pytest.raises(Conflict, match="expired"):
        quote_service.accept_quote(session, quote.id, now=datetime(2026, 11, 5, tzinfo=UTC))
    assert quote.id in quote_service.expire_quotes(session, date(2026, 11, 5))
    session.refresh(quote)
    assert quote.status is QuoteStatus.expired


def test_won_deal_without_quote_becomes_an_order(session: Session) -> None:
    acct = f.account(session)
    deal = f.deal(session, account_id=acct.id, amount=D("7300.50"))
    order = quote_service.order_from_deal(session, deal.id)
    assert order.total == D("7300.50") and deal.status is DealStatus.won
    with pytest.raises(Conflict):
        quote_service.order_from_deal(session, deal.id)
