"""Renewals: a contract ending within the window gets one renewal deal per term (CSM as owner) with a draft
renewal quote at the contract's value; when that deal is won (the quote accepted), the contract's end date
extends by one term.

One deal per term is enforced by the deal's unique `external_id` (`renewal:<contract id>:<current end date>`),
and the extension applies only while the contract still ends on that date, so replaying either step is a no-op.
The deal goes to the pipeline named by settings.renewal_pipeline when it exists, else the default pipeline,
in its first stage.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from core.config import Settings, get_settings
from core.errors import Conflict, InvalidInput, NotFound
from core.models import Contract, Deal
from core.models.enums import ContractStatus, DealStatus
from core.repositories import events
from core.repositories import renewals as repo
from core.services import deals as deal_service
from core.services import quotes as quote_service
from core.services.snapshot import snapshot


@dataclass(frozen=True)
class Renewal:
    contract_id: int
    deal_id: int
    quote_id: int | None
    created: bool


def renewal_key(contract_id: int, end_date: date) -> str:
    """The renewal deal's external id for the contract's term ending on `end_date`."""
    return f"{repo.PREFIX}{contract_id}:{end_date.isoformat()}"


def parse_key(key: str | None) -> tuple[int, date] | None:
    """(contract id, term end) of a renewal deal's external id; None for any other deal."""
    if not key or not key.startswith(repo.PREFIX):
        return None
    try:
        contract_id, end = key.removeprefix(repo.PREFIX).split(":")
        return int(contract_id), date.fromisoformat(end)
    except ValueError:
        return None


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def next_term_end(start: date, end: date) -> date:
    """The end of the next term of equal length: whole months when the term is whole months (1 Jan to 31 Dec
    renews to 31 Dec next year), else the same number of days."""
    after = end + timedelta(days=1)
    months = (after.year - start.year) * 12 + after.month - start.month
    if months > 0 and _add_months(start, months) == after:
        return _add_months(after, months) - timedelta(days=1)
    return end + (end - start) + timedelta(days=1)


def term_start(session: Session, contract_id: int, start_date: date, end_date: date) -> date:
    """Start of the term ending on `end_date`: the day after the last renewed term, else the contract's start."""
    renewed = [t[1] for k in repo.won_renewal_keys(session, contract_id)
               if (t := parse_key(k)) is not None and t[1] < end_date]
    return max(renewed) + timedelta(days=1) if renewed else start_date


def due_contracts(session: Session, today: date, window_days: int) -> list[int]:
    """Active contracts ending within the window that have no renewal deal for their current term yet."""
    ending = repo.ending_between(session, today, today + timedelta(days=window_days))
    existing = repo.deals_by_key(session, [renewal_key(cid, end) for cid, end in ending])
    return [cid for cid, end in ending if renewal_key(cid, end) not in existing]


def unextended_contracts(session: Session) -> list[int]:
    """Contracts whose renewal deal is won but whose end date has not moved yet (a missed event)."""
    terms = {d.id: t for d in repo.won_renewal_deals(session) if (t := parse_key(d.external_id)) is not None}
    ends = repo.contract_end_dates(session, [cid for cid, _ in terms.values()])
    return sorted({cid for cid, end in terms.values() if ends.get(cid) == end})


def open_renewal(session: Session, contract_id: int, *, actor: str = "agent:renewals",
                 settings: Settings | None = None, now: datetime | None = None) -> Renewal:
    """The contract's renewal deal and draft quote for its current term (the existing ones if already made)."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    c = repo.contract_facts(session, contract_id)
    if c is None:
        raise NotFound("contract", contract_id)
    if c["status"] is not ContractStatus.active:
        raise Conflict(f"contract {contract_id} is {c['status'].value}; only active contracts renew")
    key = renewal_key(contract_id, c["end_date"])
    existing = repo.deals_by_key(session, [key]).get(key)
    if existing is not None:
        quote = repo.quote_of_deal(session, existing.id)
        return Renewal(contract_id, existing.id, quote.id if quote else None, False)
    new_end = next_term_end(term_start(session, contract_id, c["start_date"], c["end_date"]), c["end_date"])
    new_start = c["end_date"] + timedelta(days=1)
    owner = c["csm_id"] or c["account_manager_id"]
    pipeline_id = repo.pipeline_by_name(session, settings.renewal_pipeline)
    arr = Decimal(c["arr"])
    deal = deal_service.create_deal(
        session, name=f"Renewal: {c['account_name']} {c['plan']} {new_start:%Y-%m-%d} to {new_end:%Y-%m-%d}"[:255],
        amount=arr, currency=c["currency"], account_id=c["account_id"], owner_id=owner,
        expected_close_date=c["end_date"], pipeline_id=pipeline_id, actor=actor, now=now)
    deal.is_renewal = True
    deal.external_id = key
    deal.custom_fields = {**(deal.custom_fields or {}),
                          "renewal": {"contract_id": contract_id, "term_end": c["end_date"].isoformat(),
                                      "next_end": new_end.isoformat()}}
    session.flush()
    seats = f", {c['seat_limit']} seats" if c["seat_limit"] else ""
    quote = None
    if arr > 0:
        line = quote_service.LineInput(quantity=Decimal(1), unit_price=arr,
                                       description=f"{c['plan']} renewal{seats}, {new_start} to {new_end}"[:255])
        quote = quote_service.create_quote(
            session, account_id=c["account_id"], lines=[line], currency=c["currency"], deal_id=deal.id,
            valid_until=c["end_date"], created_by_id=owner, actor=actor,
            terms=f"Renews contract {contract_id} ({c['plan']}) from {new_start} to {new_end}.")
    return Renewal(contract_id, deal.id, quote.id if quote else None, True)


def extend_contract(session: Session, deal_id: int, *, actor: str = "agent:renewals",
                    now: datetime | None = None) -> date | None:
    """A won renewal deal extends its contract by one term; None when already extended (or not applicable)."""
    now = now or datetime.now(UTC)
    deal = session.get(Deal, deal_id)
    if deal is None:
        raise NotFound("deal", deal_id)
    term = parse_key(deal.external_id)
    if term is None or not deal.is_renewal:
        raise InvalidInput("deal_id", f"deal {deal_id} is not a renewal deal made by the renewals agent")
    if deal.status is not DealStatus.won:
        raise Conflict(f"renewal deal {deal_id} is {deal.status.value}, not won")
    contract_id, term_end = term
    contract = session.get(Contract, contract_id)
    if contract is None:
        raise NotFound("contract", contract_id)
    if contract.end_date != term_end:
        return None
    before = snapshot(contract, ["end_date", "status"])
    contract.end_date = next_term_end(term_start(session, contract_id, contract.start_date, term_end), term_end)
    contract.status = ContractStatus.active
    session.flush()
    events.add_event(session, "contract.renewed", "contract", contract.id,
                     {"deal_id": deal.id, "from_end": term_end.isoformat(), "to_end": contract.end_date.isoformat()})
    events.add_audit(session, actor=actor, action="renew", entity_type="contract", entity_id=contract.id,
                     before=before, after=snapshot(contract, ["end_date", "status"]) | {"deal_id": deal.id})
    return contract.end_date
