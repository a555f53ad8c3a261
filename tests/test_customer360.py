"""Customer 360: every block computed right as of `now`, in a fixed number of queries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound
from core.models import ContactEmail
from core.models.enums import BuyingRole, ContractStatus, InvoiceStatus, TicketStatus
from core.repositories import pipeline as pipeline_repo
from core.services import deals as deal_service
from core.services.customer360 import customer_360
from tests import factories as f
from tests import factories_extra as fx

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
H, DAY = timedelta(hours=1), timedelta(days=1)


@contextmanager
def count_queries(session: Session) -> Iterator[list[str]]:
    statements: list[str] = []
    conn = session.connection()

    def record(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(conn, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(conn, "before_cursor_execute", record)


def _account_with_history(session: Session) -> dict[str, int]:
    g = f.account(session, name="Group")
    p = f.account(session, name="Region", parent_id=g.id)
    x = f.account(session, name="Acme VN", parent_id=p.id, country="VN", tags=["key"])
    child = f.account(session, name="Acme Hanoi", parent_id=x.id)
    f.account(session, name="Acme HCMC", parent_id=x.id)
    other = f.account(session, name="Other")

    uma = f.contact(session, account_id=x.id, first_name="Uma", last_name="A", buying_role=BuyingRole.user)
    dan = f.contact(session, account_id=x.id, first_name="Dan", last_name="Z", email="dan@acme.vn",
                    buying_role=BuyingRole.decision_maker, title="CEO")
    session.add(ContactEmail(contact_id=dan.id, email="dan.private@mail.test", is_primary=False))
    ivy = f.contact(session, account_id=x.id, first_name="Ivy", last_name="B",
                    buying_role=BuyingRole.influencer)
    session.add(ContactEmail(contact_id=ivy.id, email="ivy@acme.vn", is_primary=False))
    f.contact(session, account_id=x.id, first_name="Nora", last_name="C")
    f.contact(session, account_id=other.id, buying_role=BuyingRole.decision_maker)

    deal = f.deal(session, account_id=x.id, amount=Decimal("10000"), now=NOW - 40 * DAY)
    demo = pipeline_repo.stages(session, deal.pipeline_id)[1]
    deal_service.move_stage(session, deal.id, demo.id, now=NOW - timedelta(days=10, hours=12))
    won = f.deal(session, account_id=x.id, amount=Decimal("500"), now=NOW - 90 * DAY)
    deal_service.close_won(session, won.id, now=NOW - 80 * DAY)
    f.deal(session, account_id=child.id, now=NOW - DAY)

    fx.activities(session, 60, NOW - H, DAY, account_id=x.id)
    latest_contact = f.activity(session, contact_id=uma.id, occurred_at=NOW - 10 * timedelta(minutes=1))
    latest_deal = f.activity(session, deal_id=won.id, occurred_at=NOW - 20 * timedelta(minutes=1))
    both = f.activity(session, account_id=x.id, contact_id=dan.id, occurred_at=NOW - 2 * H)
    fx.activities(session, 2, NOW + 3 * DAY, DAY, account_id=x.id)  # scheduled, not yet happened
    fx.activities(session, 3, NOW - H, DAY, account_id=other.id)

    f.ticket(session, x.id, subject="late and open", sla_due_at=NOW - H)
    f.ticket(session, x.id, subject="on track", status=TicketStatus.pending, sla_due_at=NOW + 2 * H)
    f.ticket(session, x.id, subject="no sla")
    f.ticket(session, x.id, status=TicketStatus.solved, sla_due_at=NOW - 5 * DAY, resolved_at=NOW - 4 * DAY,
             satisfaction=2)
    f.ticket(session, x.id, status=TicketStatus.closed, sla_due_at=NOW - 3 * DAY,
             resolved_at=NOW - 3 * DAY - 2 * H, satisfaction=5)
    f.ticket(session, x.id, status=TicketStatus.solved, satisfaction=4)
    f.ticket(session, other.id, sla_due_at=NOW - DAY, satisfaction=1)

    partial = f.invoice(session, x.id, number="INV-1", amount=Decimal("1000"), issued_on=date(2026, 4, 16),
                        due_on=date(2026, 5, 16))
    fx.payment(session, partial.id, Decimal("200"))
    fx.payment(session, partial.id, Decimal("300"))
    f.invoice(session, x.id, number="INV-2", amount=Decimal("400"), issued_on=date(2026, 6, 1),
              due_on=date(2026, 6, 30))
    settled = f.invoice(session, x.id, number="INV-3", amount=Decimal("700"), issued_on=date(2026, 3, 1),
                        due_on=date(2026, 4, 16))
    fx.payment(session, settled.id, Decimal("350"))
    fx.payment(session, settled.id, Decimal("350"))
    f.invoice(session, x.id, number="INV-4", amount=Decimal("250"), paid=Decimal("250"),
              status=InvoiceStatus.paid)
    f.invoice(session, x.id, number="INV-5", amount=Decimal("999"), status=InvoiceStatus.void)
    f.invoice(session, x.id, number="INV-6", currency="EUR", amount=Decimal("300"), paid=Decimal("100"),
              issued_on=date(2026, 5, 6), due_on=date(2026, 6, 5))
    f.invoice(session, other.id, number="INV-7", amount=Decimal("5000"))

    for days, score, comment in ((40, 10, None), (30, 9, None), (20, 8, None), (2, 3, "Slow support")):
        f.nps(session, x.id, score, comment=comment, responded_at=NOW - days * DAY)
    f.nps(session, x.id, 10, responded_at=NOW + DAY)

    f.contract(session, x.id, plan="Pro", arr=Decimal("12000"), seat_limit=50)
    f.contract(session, x.id, plan="Add-on", arr=Decimal("3000"), seat_limit=10, start_date=date(2026, 3, 1),
               end_date=date(2026, 9, 30), auto_renew=True)
    f.contract(session, x.id, plan="Old", status=ContractStatus.cancelled)
    f.contract(session, x.id, plan="Lapsed", arr=Decimal("999"), start_date=date(2025, 6, 1),
               end_date=date(2026, 5, 31))

    f.usage(session, x.id, captured_on=date(2025, 12, 1), logins=999)
    for month, logins in zip(range(1, 7), (100, 120, 90, 150, 160, 200), strict=True):
        f.usage(session, x.id, captured_on=date(2026, month, 1), logins=logins, seats_used=40 + month - 1,
                features_adopted=["reports"] if month < 6 else ["reports", "api"])
    f.usage(session, x.id, captured_on=date(2026, 7, 1), logins=1)
    return {"x": x.id, "g": g.id, "p": p.id, "dan": dan.id, "ivy": ivy.id, "uma": uma.id, "deal": deal.id,
            "latest_contact": latest_contact.id, "latest_deal": latest_deal.id, "both": both.id}


def test_customer_360_blocks(session: Session) -> None:
    ids = _account_with_history(session)
    view = customer_360(session, ids["x"], now=NOW, timeline_limit=10, contacts_limit=3)

    acc = view.account
    assert (acc.name, acc.country, acc.tags, acc.children_count) == ("Acme VN", "VN", ["key"], 2)
    assert [(a.id, a.name) for a in acc.parent_path] == [(ids["g"], "Group"), (ids["p"], "Region")]

    assert view.contacts_total == 4
    assert [(c.id, c.buying_role, c.primary_email) for c in view.contacts] == [
        (ids["dan"], "decision_maker", "dan@acme.vn"), (ids["ivy"], "influencer", "ivy@acme.vn"),
        (ids["uma"], "user", None)]

    [deal] = view.open_deals
    assert (deal.id, deal.stage, deal.win_probability, deal.days_in_stage) == (ids["deal"], "Demo",
                                                                                Decimal("0.25"), 10)
    assert deal.weighted_amount == Decimal("2500.00")

    assert view.timeline.total == 63 and len(view.timeline.items) == 10
    assert [a.id for a in view.timeline.items[:2]] == [ids["latest_contact"], ids["latest_deal"]]
    assert view.timeline.items[3].id == ids["both"]
    times = [a.occurred_at for a in view.timeline.items]
    assert times == sorted(times, reverse=True) and max(times) <= NOW

    t = view.ticket_summary
    assert (t.open, t.open_breached, t.resolved_breached, t.resolved_met) == (3, 1, 1, 1)
    assert (t.satisfaction_avg, t.satisfaction_count) == (Decimal("3.67"), 3)
    assert [(k.subject, k.sla_state, k.breached) for k in view.open_tickets] == [
        ("late and open", "breached", True), ("on track", "on_track", False), ("no sla", "none", False)]

    assert [(i.number, i.paid, i.balance, i.days_overdue) for i in view.unpaid_invoices] == [
        ("INV-1", Decimal("500"), Decimal("500"), 30), ("INV-6", Decimal("100"), Decimal("200"), 10),
        ("INV-2", Decimal("0"), Decimal("400"), 0)]
    ar = view.ar
    assert ar.invoiced == {"USD": Decimal("2350"), "EUR": Decimal("300")}
    assert ar.paid == {"USD": Decimal("1450"), "EUR": Decimal("100")}
    assert ar.balance == {"USD": Decimal("900"), "EUR": Decimal("200")}
    assert ar.overdue == {"USD": Decimal("500"), "EUR": Decimal("200")}
    assert (ar.overdue_count, ar.max_days_overdue) == (2, 30)

    n = view.nps
    assert (n.responses, n.average, n.promoters, n.passives, n.detractors, n.nps) == (
        4, Decimal("7.50"), 2, 1, 1, 25)
    assert n.latest is not None and (n.latest.score, n.latest.category, n.latest.comment) == (
        3, "detractor", "Slow support")

    assert view.arr == {"USD": Decimal("15000")}
    assert [(c.plan, c.days_to_renewal, c.in_force) for c in view.contracts] == [
        ("Lapsed", -15, False), ("Add-on", 107, True), ("Pro", 199, True)]

    u = view.usage
    assert u.latest is not None and (u.latest.captured_on, u.latest.seats_used) == (date(2026, 6, 1), 45)
    assert (u.seat_limit, u.seat_utilization, u.logins_change_pct) == (60, Decimal("0.75"), Decimal("25.0"))
    assert [p.logins for p in u.logins_series] == [100, 120, 90, 150, 160, 200]
    assert u.features_adopted == ["reports", "api"]


def test_fixed_number_of_queries_whatever_the_history(session: Session) -> None:
    ids = _account_with_history(session)
    empty = f.account(session)
    with count_queries(session) as small:
        view = customer_360(session, empty.id, now=NOW)
    fx.activities(session, 2000, NOW - H, timedelta(minutes=30), account_id=ids["x"])
    with count_queries(session) as big:
        full = customer_360(session, ids["x"], now=NOW)
    assert len(small) == len(big) == 13
    assert full.timeline.total == 2063 and len(full.timeline.items) == 50
    assert (view.timeline.total, view.contacts_total, view.open_deals, view.nps.latest, view.nps.nps) == (
        0, 0, [], None, None)
    assert (view.ar.balance, view.arr, view.usage.latest, view.ticket_summary.satisfaction_avg) == (
        {}, {}, None, None)
    assert view.account.parent_path == [] and view.account.children_count == 0


def test_bad_input(session: Session) -> None:
    with pytest.raises(NotFound):
        customer_360(session, 10**12, now=NOW)
    acc = f.account(session)
    with pytest.raises(InvalidInput, match="timeline_limit"):
        customer_360(session, acc.id, now=NOW, timeline_limit=0)
