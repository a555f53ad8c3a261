"""Queries of renewals: contracts coming up for renewal, and the renewal deal of a contract's term."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Account, Contract, Deal, Pipeline, Quote
from core.models.enums import ContractStatus, DealStatus

PREFIX = "renewal:"


def contract_facts(session: Session, contract_id: int) -> dict[str, Any] | None:
    stmt = (select(Contract.id, Contract.account_id, Contract.plan, Contract.start_date, Contract.end_date,
                   Contract.arr, Contract.currency, Contract.seat_limit, Contract.status, Contract.auto_renew,
                   Account.name.label("account_name"), Account.csm_id, Account.account_manager_id)
            .join(Account, Account.id == Contract.account_id).where(Contract.id == contract_id))
    row = session.execute(stmt).first()
    return dict(row._mapping) if row is not None else None


def ending_between(session: Session, start: date, end: date) -> Sequence[tuple[int, date]]:
    """(id, end date) of active contracts ending in [start, end]."""
    stmt = (select(Contract.id, Contract.end_date)
            .where(Contract.status == ContractStatus.active, Contract.end_date >= start, Contract.end_date <= end)
            .order_by(Contract.end_date, Contract.id))
    return [(int(i), d) for i, d in session.execute(stmt)]


def deals_by_key(session: Session, keys: Sequence[str]) -> dict[str, Deal]:
    if not keys:
        return {}
    return {str(d.external_id): d for d in session.scalars(select(Deal).where(Deal.external_id.in_(list(keys))))}


def won_renewal_deals(session: Session) -> Sequence[Deal]:
    """Won renewal deals made by the renewals agent (their external id names the contract and term)."""
    stmt = (select(Deal).where(Deal.is_renewal.is_(True), Deal.status == DealStatus.won,
                               Deal.external_id.like(f"{PREFIX}%")).order_by(Deal.id))
    return session.scalars(stmt).all()


def won_renewal_keys(session: Session, contract_id: int) -> list[str]:
    """External ids of the contract's won renewal deals (one per renewed term)."""
    stmt = select(Deal.external_id).where(Deal.is_renewal.is_(True), Deal.status == DealStatus.won,
                                          Deal.external_id.like(f"{PREFIX}{contract_id}:%"))
    return [str(k) for k in session.scalars(stmt)]


def contract_end_dates(session: Session, contract_ids: Sequence[int]) -> dict[int, date]:
    if not contract_ids:
        return {}
    stmt = select(Contract.id, Contract.end_date).where(Contract.id.in_(list(contract_ids)))
    return {int(i): d for i, d in session.execute(stmt)}


def pipeline_by_name(session: Session, name: str) -> int | None:
    return session.scalar(select(Pipeline.id).where(Pipeline.name == name))


def quote_of_deal(session: Session, deal_id: int) -> Quote | None:
    return session.scalars(select(Quote).where(Quote.deal_id == deal_id).order_by(Quote.id).limit(1)).first()
