"""Customer-success history of contracted accounts: invoices and payments, usage, NPS and support tickets.

All of it follows the account's hidden health (see `outcomes`): unhealthy accounts log in less, answer NPS as
detractors, open more tickets that breach their SLA more often, and pay late.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from core.models.enums import InvoiceStatus, Lifecycle, TicketStatus
from core.seeding import vocab
from core.seeding.accounts import AccountPlan
from core.seeding.deals import ContractPlan
from core.seeding.world import CENT, Rec, World, add_months, at_day

PAYMENT_METHODS = ("bank_transfer", "card", "direct_debit")
STOPPED_PAYING_DAYS = 100


def _active_contract(account: AccountPlan, d: date) -> ContractPlan | None:
    return next((c for c in account.contracts if c.start <= d <= c.end), None)


def _active_span(world: World, account: AccountPlan) -> tuple[date, date] | None:
    """From the first contract day inside the window to the last contract day up to today."""
    if not account.contracts:
        return None
    first = max(account.contracts[0].start, world.start.date())
    last = min(max(c.end for c in account.contracts), world.today)
    return (first, last) if first <= last else None


def month_starts(first: date, last: date) -> list[date]:
    d = date(first.year, first.month, 1)
    if d < first:
        d = add_months(d, 1)
    out = []
    while d <= last:
        out.append(d)
        d = add_months(d, 1)
    return out


def ensure_late_payer(world: World, accounts: list[AccountPlan]) -> None:
    """At least one customer with invoices already due is delinquent (the least healthy), so AR has a case."""
    billed_since = world.today - timedelta(days=60)
    paying = [
        a
        for a in accounts
        if a.contracts
        and (a.churned_on is None or a.churned_on >= world.today)
        and a.contracts[-1].start <= billed_since
    ]
    if not paying or any(a.payer == "delinquent" for a in paying):
        return
    monthly = [a for a in paying if a.contracts[-1].billing_months == 1]
    min(monthly or paying, key=lambda a: a.health(world.now)).payer = "delinquent"


def ensure_seat_pressure(world: World, accounts: list[AccountPlan]) -> None:
    """At least one current customer uses nearly all its seats (the healthiest), so expansion has a case."""
    snapshot_day = at_day(date(world.today.year, world.today.month, 1), 2)
    current = [
        a
        for a in accounts
        if a.row["lifecycle"] is Lifecycle.customer and _active_contract(a, snapshot_day.date()) is not None
    ]
    if not current or any(a.utilization(snapshot_day) >= 0.95 for a in current):
        return
    pick = max(current, key=lambda a: a.health(snapshot_day))
    years = (snapshot_day - pick.window_start).days / 365
    pick.base_util = 0.97 - 0.1 * pick.health(snapshot_day) - pick.growth * years


def plan_billing(world: World, account: AccountPlan) -> None:
    """Invoices per billing period of each contract (plus one-off services), paid as the payer habit says."""
    tax = vocab.TAX_RATE.get(account.country.code, Decimal(0))
    terms = account.row["payment_terms_days"]
    for contract in account.contracts:
        period = contract.start
        first = True
        while period <= min(contract.end, world.today):
            if period >= world.start.date():
                arr, _seats = contract.terms_at(period)
                net = (arr * contract.billing_months / 12).quantize(CENT, ROUND_HALF_UP)
                if first and contract.one_off:
                    net += contract.one_off
                _invoice(
                    world,
                    account,
                    contract,
                    period,
                    (net * (1 + tax)).quantize(CENT, ROUND_HALF_UP),
                    terms,
                    first,
                )
            first = False
            period = add_months(period, contract.billing_months)


def _invoice(
    world: World,
    account: AccountPlan,
    contract: ContractPlan,
    issued: date,
    amount: Decimal,
    terms: int,
    with_order: bool,
) -> None:
    due = issued + timedelta(days=terms)
    habit = account.payer
    if habit == "delinquent":  # stopped paying a few months ago; older invoices were paid very late
        stopped = due > world.today - timedelta(days=STOPPED_PAYING_DAYS)
        delay = (world.today - due).days + 1 if stopped else world.rng.uniform(30, 120)
    elif habit == "slow":
        delay = world.rng.uniform(5, 45)
    else:
        delay = world.rng.uniform(-terms * 0.8, 3) if world.chance(0.95) else world.rng.uniform(1, 15)
    paid_on = due + timedelta(days=round(delay))
    row = world.add(
        "invoices",
        Rec(
            number=None,
            account_id=account.row,
            order_id=contract.order if with_order else None,
            currency=account.currency,
            amount=amount,
            issued_on=issued,
            due_on=due,
            status=InvoiceStatus.open,
            created_at=at_day(issued),
            updated_at=at_day(issued),
        ),
    )
    if paid_on < issued:
        paid_on = issued
    split = habit != "on_time" and world.chance(0.15)
    if split:
        half = (amount / 2).quantize(CENT, ROUND_HALF_UP)
        first_on = max(issued, paid_on - timedelta(days=world.rng.randint(10, 30)))
        if first_on <= world.today:
            _pay(world, row, half, first_on)
            if paid_on <= world.today:
                _pay(world, row, amount - half, paid_on)
                row["status"] = InvoiceStatus.paid
    elif paid_on <= world.today:
        _pay(world, row, amount, paid_on)
        row["status"] = InvoiceStatus.paid
    written_off = account.churned_on is not None and due < world.today - timedelta(days=90)
    if row["status"] is InvoiceStatus.open and written_off and world.chance(0.5):
        row["status"] = InvoiceStatus.void
    row["updated_at"] = at_day(min(paid_on, world.today))


def _pay(world: World, invoice: Rec, amount: Decimal, on: date) -> None:
    world.add(
        "payments",
        Rec(
            invoice_id=invoice,
            amount=amount,
            paid_on=on,
            method=world.weighted(PAYMENT_METHODS, [70, 20, 10]),
        ),
    )


def plan_usage(world: World, account: AccountPlan) -> None:
    """Monthly snapshots while under contract: seat use follows utilisation, logins follow health."""
    span = _active_span(world, account)
    if span is None:
        return
    order = list(vocab.FEATURES)
    world.rng.shuffle(order)
    order.sort(key=lambda f: f not in ("pipeline", "email_sync"))
    first_start = account.contracts[0].start
    for day in month_starts(*span):
        contract = _active_contract(account, day)
        if contract is None:
            continue
        _arr, limit = contract.terms_at(day)
        t = at_day(day, 2)
        health = account.health(t)
        seats_used = round(account.utilization(t) * limit * world.rng.uniform(0.95, 1.05))
        active = round(seats_used * min(1.0, max(0.3, 0.75 + 0.1 * health)))
        logins = round(active * max(0.5, 14 + 5 * health) * world.rng.uniform(0.85, 1.15))
        tenure_months = (day - first_start).days / 30
        adopted = min(len(order), max(1, round(2 + tenure_months / 3 + 1.5 * health)))
        world.add(
            "usage_snapshots",
            Rec(
                account_id=account.row,
                captured_on=day,
                logins=logins,
                active_users=active,
                seats_used=seats_used,
                features_adopted=sorted(order[:adopted]),
            ),
        )


def _nps_comment(world: World, account: AccountPlan, score: int) -> str | None:
    vietnamese = account.country.code == "VN" and world.chance(0.5)
    if score <= 6:
        if not world.chance(0.85):
            return None
        return world.pick(vocab.NPS_DETRACTOR_VI if vietnamese else vocab.NPS_DETRACTOR)
    if score <= 8:
        return world.pick(vocab.NPS_PASSIVE) if world.chance(0.5) else None
    if not world.chance(0.6):
        return None
    return world.pick(vocab.NPS_PROMOTER_VI if vietnamese else vocab.NPS_PROMOTER)


def _nps_response(world: World, account: AccountPlan, survey: Rec, at: datetime, bonus: float = 0.0) -> None:
    score = min(10, max(0, round(world.rng.gauss(7.6 + 1.7 * account.health(at) + bonus, 1.3))))
    contact = world.pick(account.contacts)
    world.add(
        "nps_responses",
        Rec(
            survey_id=survey,
            account_id=account.row,
            contact_id=contact.row,
            score=score,
            comment=_nps_comment(world, account, score),
            responded_at=at,
        ),
    )


def ensure_detractor(world: World, accounts: list[AccountPlan]) -> None:
    """At least one detractor explains itself: the least healthy respondent's answer, when none did."""
    responses = world.table("nps_responses")
    if not responses or any(r["score"] <= 6 and r["comment"] for r in responses):
        return
    plans = {id(a.row): a for a in accounts}
    worst = min(responses, key=lambda r: plans[id(r["account_id"])].health(r["responded_at"]))
    worst.update(score=min(worst["score"], 4), comment=world.pick(vocab.NPS_DETRACTOR))


def plan_nps(
    world: World, account: AccountPlan, quarterly: list[tuple[Rec, datetime]], onboarding: Rec
) -> None:
    for survey, sent in quarterly:
        if _active_contract(account, sent.date()) is None:
            continue
        respondents = 2 if account.size == "enterprise" and world.chance(0.5) else 1
        for _ in range(respondents):
            if world.chance(0.45):
                _nps_response(
                    world, account, survey, world.between(sent, min(world.now, sent + timedelta(days=14)))
                )
    first = account.contracts[0] if account.contracts else None
    if first is not None and first.row["deal_id"] is not None:
        at = at_day(first.start + timedelta(days=60), 10)
        if world.start <= at <= world.now and world.chance(0.5):
            _nps_response(world, account, onboarding, at, bonus=0.5)


def plan_tickets(world: World, account: AccountPlan) -> None:
    """Tickets arrive faster at unhealthy accounts and are resolved more slowly there, so they breach more."""
    span = _active_span(world, account)
    if span is None or account.csm is None:
        return
    per_month = {"smb": 0.2, "mid_market": 0.35, "enterprise": 0.7}[account.size]
    for month in month_starts(date(span[0].year, span[0].month, 1), span[1]):
        start = at_day(month, 0)
        health = account.health(start)
        for _ in range(world.poisson(per_month * math.exp(-0.6 * health))):
            opened = world.between(start, min(world.now, start + timedelta(days=30)))
            priority = world.weighted(list(vocab.TICKET_PRIORITY_SLA_HOURS), [5, 20, 55, 20])
            sla = vocab.TICKET_PRIORITY_SLA_HOURS[priority]
            hours = math.exp(world.rng.gauss(math.log(sla * 0.5) - 0.3 * health, 0.9))
            resolved: datetime | None = opened + timedelta(hours=hours)
            sla_due = opened + timedelta(hours=sla)
            assert resolved is not None
            if resolved > world.now:
                resolved = None
                status = world.weighted([TicketStatus.open, TicketStatus.pending], [60, 40])
            else:
                status = (
                    TicketStatus.solved if resolved > world.now - timedelta(days=7) else TicketStatus.closed
                )
            breached = (resolved or world.now) > sla_due
            satisfaction = None
            if resolved is not None and world.chance(0.6):
                satisfaction = min(
                    5, max(1, round(world.rng.gauss(4.2 + 0.4 * health - 1.3 * breached, 0.7)))
                )
            contact = world.pick(account.contacts)
            subject = world.pick(vocab.TICKET_SUBJECTS)
            world.add(
                "tickets",
                Rec(
                    account_id=account.row,
                    contact_id=contact.row,
                    subject=subject,
                    description=f"{contact.row['first_name']} reports: {subject.lower()}.",
                    priority=priority,
                    status=status,
                    opened_at=opened,
                    sla_due_at=sla_due,
                    resolved_at=resolved,
                    satisfaction=satisfaction,
                    assignee_id=account.csm,
                    created_at=opened,
                    updated_at=resolved or opened,
                ),
            )
