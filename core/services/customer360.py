"""Customer 360: everything a rep or CSM needs about one account, in one call with a fixed number of queries.

All figures are as of `now`: activities and NPS answers after it are ignored, days overdue and days to
renewal count from its date. Money is kept per currency (no exchange rates in the CRM).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound
from core.repositories import accounts as accounts_repo
from core.repositories import customer360 as repo
from core.services.credit import CreditView, credit_limit

Money = dict[str, Decimal]


class View(BaseModel):
    model_config = ConfigDict(frozen=True)


class AccountRef(View):
    id: int
    name: str


class AccountSummary(View):
    id: int
    name: str
    domain: str | None
    industry: str | None
    size_band: str | None
    country: str | None
    region: str | None
    segment: str | None
    lifecycle: str
    currency: str
    blacklisted: bool
    account_manager_id: int | None
    csm_id: int | None
    tags: list[str]
    custom_fields: dict[str, Any]
    parent_path: list[AccountRef]  # root first, ending with the direct parent; empty for a root account
    children_count: int


class ContactView(View):
    id: int
    name: str
    title: str | None
    buying_role: str | None
    primary_email: str | None
    primary_phone: str | None
    email_consent: bool
    do_not_call: bool
    unsubscribed: bool


class DealView(View):
    id: int
    name: str
    stage: str
    win_probability: Decimal
    amount: Decimal
    currency: str
    weighted_amount: Decimal
    expected_close_date: date | None
    days_in_stage: int
    owner_id: int | None


class ActivityView(View):
    id: int
    kind: str
    subject: str
    direction: str | None
    occurred_at: datetime
    duration_minutes: int | None
    contact_id: int | None
    deal_id: int | None
    user_id: int | None


class Timeline(View):
    total: int
    items: list[ActivityView]


class TicketView(View):
    id: int
    subject: str
    priority: str
    status: str
    opened_at: datetime
    sla_due_at: datetime | None
    sla_state: str  # on_track | breached | none
    breached: bool
    contact_id: int | None
    assignee_id: int | None


class TicketSummary(View):
    open: int
    open_breached: int
    resolved_breached: int
    resolved_met: int
    satisfaction_avg: Decimal | None
    satisfaction_count: int


class InvoiceView(View):
    id: int
    number: str
    currency: str
    amount: Decimal
    paid: Decimal
    balance: Decimal
    issued_on: date
    due_on: date
    days_overdue: int


class ArTotals(View):
    invoiced: Money
    paid: Money
    balance: Money
    overdue: Money
    overdue_count: int
    max_days_overdue: int


class NpsAnswer(View):
    score: int
    category: str
    comment: str | None
    responded_at: datetime
    contact_id: int | None


class NpsView(View):
    responses: int
    average: Decimal | None
    promoters: int
    passives: int
    detractors: int
    nps: int | None  # % promoters - % detractors
    latest: NpsAnswer | None


class ContractView(View):
    id: int
    plan: str
    arr: Decimal
    currency: str
    seat_limit: int | None
    start_date: date
    end_date: date
    days_to_renewal: int  # negative: the end date has passed while the contract is still marked active
    auto_renew: bool
    in_force: bool  # its dates cover today


class UsagePoint(View):
    captured_on: date
    logins: int
    active_users: int
    seats_used: int


class UsageView(View):
    latest: UsagePoint | None
    features_adopted: list[str]
    seat_limit: int | None  # sum over contracts in force
    seat_utilization: Decimal | None  # seats used / seat limit
    logins_series: list[UsagePoint]  # oldest first
    logins_change_pct: Decimal | None  # latest vs the snapshot before it


class Customer360(View):
    as_of: datetime
    account: AccountSummary
    contacts_total: int
    contacts: list[ContactView]
    open_deals: list[DealView]
    timeline: Timeline
    ticket_summary: TicketSummary
    open_tickets: list[TicketView]
    ar: ArTotals
    unpaid_invoices: list[InvoiceView]
    nps: NpsView
    arr: Money  # contracts in force today
    contracts: list[ContractView]
    usage: UsageView
    credit: CreditView  # suggested credit limit in the account's currency (core.services.credit)


def _pct(part: Decimal, whole: Decimal) -> Decimal:
    return (part * 100 / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _add(money: Money, currency: str, amount: Decimal) -> None:
    money[currency] = money.get(currency, Decimal(0)) + amount


def _account(session: Session, account_id: int) -> AccountSummary:
    found = repo.account_with_children(session, account_id)
    if found is None:
        raise NotFound("account", account_id)
    acc, children = found
    ancestors = accounts_repo.ancestors(session, account_id)
    path = [AccountRef(id=i, name=n) for i, _, n, depth in reversed(ancestors) if depth > 0]
    return AccountSummary(
        id=acc.id, name=acc.name, domain=acc.domain, industry=acc.industry,
        size_band=acc.size_band.value if acc.size_band else None, country=acc.country, region=acc.region,
        segment=acc.segment, lifecycle=acc.lifecycle.value, currency=acc.currency,
        blacklisted=acc.blacklisted, account_manager_id=acc.account_manager_id, csm_id=acc.csm_id,
        tags=list(acc.tags), custom_fields=dict(acc.custom_fields), parent_path=path, children_count=children)


def _contacts(session: Session, account_id: int, limit: int) -> tuple[int, list[ContactView]]:
    rows = repo.key_contacts(session, account_id, limit)
    views = [ContactView(id=r.id, name=" ".join(p for p in (r.first_name, r.last_name) if p), title=r.title,
                         buying_role=r.buying_role.value if r.buying_role else None, primary_email=r.email,
                         primary_phone=r.phone, email_consent=r.email_consent, do_not_call=r.do_not_call,
                         unsubscribed=r.unsubscribed_at is not None) for r in rows]
    return (int(rows[0].total) if rows else 0), views


def _deals(session: Session, account_id: int, now: datetime) -> list[DealView]:
    return [DealView(id=r.id, name=r.name, stage=r.stage, win_probability=r.win_probability, amount=r.amount,
                     currency=r.currency,
                     weighted_amount=(r.amount * r.win_probability).quantize(Decimal("0.01")),
                     expected_close_date=r.expected_close_date, days_in_stage=max(int(r.days_in_stage), 0),
                     owner_id=r.owner_id) for r in repo.open_deals(session, account_id, now)]


def _timeline(session: Session, account_id: int, now: datetime, limit: int) -> Timeline:
    rows = repo.timeline(session, account_id, now, limit)
    items = [ActivityView(id=r.id, kind=r.kind.value, subject=r.subject, direction=r.direction,
                          occurred_at=r.occurred_at, duration_minutes=r.duration_minutes,
                          contact_id=r.contact_id, deal_id=r.deal_id, user_id=r.user_id) for r in rows]
    return Timeline(total=int(rows[0].total) if rows else 0, items=items)


def _tickets(session: Session, account_id: int, now: datetime, limit: int
             ) -> tuple[TicketSummary, list[TicketView]]:
    s = repo.ticket_summary(session, account_id, now)
    avg = Decimal(s.satisfaction_avg).quantize(Decimal("0.01")) if s.satisfaction_avg is not None else None
    summary = TicketSummary(open=s.open, open_breached=s.open_breached, resolved_breached=s.resolved_breached,
                            resolved_met=s.resolved_met, satisfaction_avg=avg,
                            satisfaction_count=s.satisfaction_count)
    views = [TicketView(id=r.id, subject=r.subject, priority=r.priority, status=r.status.value,
                        opened_at=r.opened_at, sla_due_at=r.sla_due_at, sla_state=r.sla_state,
                        breached=r.sla_state == "breached", contact_id=r.contact_id,
                        assignee_id=r.assignee_id)
             for r in repo.open_tickets(session, account_id, now, limit)]
    return summary, views


def _invoices(session: Session, account_id: int, today: date, limit: int
              ) -> tuple[ArTotals, list[InvoiceView]]:
    views = [InvoiceView(id=r.id, number=r.number, currency=r.currency, amount=r.amount, paid=r.paid,
                         balance=r.amount - r.paid, issued_on=r.issued_on, due_on=r.due_on,
                         days_overdue=max((today - r.due_on).days, 0))
             for r in repo.unpaid_invoices(session, account_id, limit)]
    invoiced: Money = {}
    paid: Money = {}
    balance: Money = {}
    overdue: Money = {}
    overdue_count, max_days = 0, 0
    for t in repo.invoice_totals(session, account_id, today):
        _add(invoiced, t.currency, t.invoiced)
        _add(paid, t.currency, t.paid)
        _add(balance, t.currency, t.balance)
        if t.overdue_count:
            _add(overdue, t.currency, t.overdue)
            overdue_count += t.overdue_count
            max_days = max(max_days, (today - t.oldest_overdue_due_on).days)
    totals = ArTotals(invoiced=invoiced, paid=paid, balance=balance, overdue=overdue,
                      overdue_count=overdue_count, max_days_overdue=max_days)
    return totals, views


def _nps(session: Session, account_id: int, now: datetime) -> NpsView:
    r = repo.nps(session, account_id, now)
    latest = (NpsAnswer(score=r.score, category=r.category, comment=r.comment, responded_at=r.responded_at,
                        contact_id=r.contact_id) if r.score is not None else None)
    n = int(r.responses)
    return NpsView(responses=n, average=Decimal(r.average).quantize(Decimal("0.01")) if n else None,
                   promoters=r.promoters, passives=r.passives, detractors=r.detractors,
                   nps=round(100 * (r.promoters - r.detractors) / n) if n else None, latest=latest)


def _contracts(session: Session, account_id: int, today: date) -> tuple[Money, list[ContractView]]:
    arr: Money = {}
    views = []
    for r in repo.contracts(session, account_id):
        in_force = r.start_date <= today <= r.end_date
        if in_force:
            _add(arr, r.currency, r.arr)
        views.append(ContractView(id=r.id, plan=r.plan, arr=r.arr, currency=r.currency,
                                  seat_limit=r.seat_limit, start_date=r.start_date, end_date=r.end_date,
                                  days_to_renewal=(r.end_date - today).days, auto_renew=r.auto_renew,
                                  in_force=in_force))
    return arr, views


def _usage(session: Session, account_id: int, today: date, contracts: list[ContractView],
           points: int) -> UsageView:
    rows = repo.usage(session, account_id, today, points)
    series = [UsagePoint(captured_on=r.captured_on, logins=r.logins, active_users=r.active_users,
                         seats_used=r.seats_used) for r in reversed(rows)]
    limits = [c.seat_limit for c in contracts if c.in_force and c.seat_limit]
    seat_limit = sum(limits) if limits else None
    latest = series[-1] if series else None
    utilization = (_pct(Decimal(latest.seats_used), Decimal(seat_limit)) / 100
                   if latest is not None and seat_limit else None)
    change = None
    if len(series) >= 2 and series[-2].logins:
        change = _pct(Decimal(series[-1].logins - series[-2].logins), Decimal(series[-2].logins))
    return UsageView(latest=latest, features_adopted=list(rows[0].features_adopted) if rows else [],
                     seat_limit=seat_limit, seat_utilization=utilization, logins_series=series,
                     logins_change_pct=change)


def customer_360(session: Session, account_id: int, now: datetime | None = None, timeline_limit: int = 50,
                 contacts_limit: int = 25, tickets_limit: int = 50, invoices_limit: int = 50,
                 usage_points: int = 6) -> Customer360:
    """The whole account picture in 13 queries; none grows with the number of activities."""
    for name, value in (("timeline_limit", timeline_limit), ("contacts_limit", contacts_limit),
                        ("tickets_limit", tickets_limit), ("invoices_limit", invoices_limit),
                        ("usage_points", usage_points)):
        if not 1 <= value <= 1000:
            raise InvalidInput(name, "must be between 1 and 1000")
    now = now or datetime.now(UTC)
    today = now.astimezone(UTC).date()
    account = _account(session, account_id)
    contacts_total, contacts = _contacts(session, account_id, contacts_limit)
    summary, tickets = _tickets(session, account_id, now, tickets_limit)
    ar, invoices = _invoices(session, account_id, today, invoices_limit)
    arr, contracts = _contracts(session, account_id, today)
    return Customer360(
        as_of=now, account=account, contacts_total=contacts_total, contacts=contacts,
        open_deals=_deals(session, account_id, now),
        timeline=_timeline(session, account_id, now, timeline_limit),
        ticket_summary=summary, open_tickets=tickets, ar=ar, unpaid_invoices=invoices,
        nps=_nps(session, account_id, now), arr=arr, contracts=contracts,
        usage=_usage(session, account_id, today, contracts, usage_points),
        credit=credit_limit(repo.credit_history(session, account_id, today, account.currency), today,
                            account.currency))
