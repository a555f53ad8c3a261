"""Queries for price lookups, quotes and orders."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.models import PriceBook, PriceBookEntry, Quote, QuoteLine, SalesOrder, SalesOrderLine
from core.models.enums import QuoteStatus


def unit_price(session: Session, price_book_id: int | None, product_id: int, currency: str) -> Decimal | None:
    """Price from the given book, else from the default book; None when neither lists the product in that currency."""
    book_ids = [b for b in (price_book_id, default_price_book_id(session)) if b is not None]
    for book_id in book_ids:
        price = session.scalar(select(PriceBookEntry.unit_price).where(
            PriceBookEntry.price_book_id == book_id, PriceBookEntry.product_id == product_id,
            PriceBookEntry.currency == currency))
        if price is not None:
            return price
    return None


def default_price_book_id(session: Session) -> int | None:
    return session.scalar(select(PriceBook.id).where(PriceBook.is_default.is_(True)).order_by(PriceBook.id).limit(1))


def quote_lines(session: Session, quote_id: int) -> Sequence[QuoteLine]:
    return session.scalars(select(QuoteLine).where(QuoteLine.quote_id == quote_id).order_by(QuoteLine.position)).all()


def order_for_quote(session: Session, quote_id: int) -> SalesOrder | None:
    return session.scalars(select(SalesOrder).where(SalesOrder.quote_id == quote_id)).first()


def orders_for_quotes(session: Session, quote_ids: Sequence[int]) -> dict[int, SalesOrder]:
    """The order of each quote that has one (the deal page lists a deal's quotes with their orders)."""
    if not quote_ids:
        return {}
    rows = session.scalars(select(SalesOrder).where(SalesOrder.quote_id.in_(list(quote_ids)))).all()
    return {row.quote_id: row for row in rows if row.quote_id is not None}


def order_lines(session: Session, order_id: int) -> Sequence[SalesOrderLine]:
    return session.scalars(select(SalesOrderLine).where(SalesOrderLine.order_id == order_id)
                           .order_by(SalesOrderLine.position)).all()


def order_for_deal(session: Session, deal_id: int) -> SalesOrder | None:
    return session.scalars(select(SalesOrder).where(SalesOrder.deal_id == deal_id)).first()


def next_number(session: Session, sequence: str, prefix: str) -> str:
    """Human-readable document numbers from a database sequence: unique across concurrent writers."""
    value = session.scalar(select(func.nextval(sequence)))
    return f"{prefix}{value:06d}"


def expire_sent_quotes(session: Session, today: date) -> Sequence[int]:
    stmt = (update(Quote).where(Quote.status == QuoteStatus.sent, Quote.valid_until < today)
            .values(status=QuoteStatus.expired).returning(Quote.id))
    return session.scalars(stmt).all()
