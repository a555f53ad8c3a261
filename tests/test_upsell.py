"""Upsell and Expansion detectors: each signal on factory-built accounts with its evidence, the suggestion and its
proposed deal, accept (the deal once) and dismiss, idempotent re-runs, the schedule's subjects, the CLI and the
scenario suites."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from agents import registry
from agents.expansion_detector import agent_specs as expansion_specs
from agents.runtime import runs
from agents.runtime.executor import RunOutcome, execute_run
from agents.schedules import schedule_runs
from agents.upsell_detector import agent_specs as upsell_specs
from agents.upsell_detector.nodes import evaluate, make_subjects
from core.config import Settings
from core.db.engine import session_scope
from core.errors import Conflict, InvalidInput, NotFound
from core.models import (
    Account,
    Activity,
    AgentRun,
    AuditLog,
    Contract,
    Deal,
    Invoice,
    NpsResponse,
    OutboxEvent,
    Payment,
    Pipeline,
    PriceBook,
    PriceBookEntry,
    SalesOrder,
    SalesOrderLine,
    Suggestion,
    TextEmbedding,
    UsageSnapshot,
)
from core.models.enums import ActivityKind, InvoiceStatus, Lifecycle
from core.services import deals as deal_service
from core.services import suggestions
from tests import factories
from tests.conftest import committing_engine, registered
from tests.llm_mock import ScriptedServer, llm_settings
from tests.llm_mock import text as reply
from tools.upsell.signals import Thresholds, recommend, seat_pressure, thresholds, usage_growth

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
T = Thresholds()


def _customer(session: Session, **kw: Any) -> Account:
    manager = factories.user(session)
    account = factories.account(session, lifecycle=Lifecycle.customer, account_manager_id=manager.id, **kw)
    session.add(Contract(account_id=account.id, plan="Pro", start_date=TODAY - timedelta(days=100),
                         end_date=TODAY + timedelta(days=265), arr=Decimal("12000"), seat_limit=50))
    session.flush()
    return account


def _snapshot(session: Session, account_id: int, days_ago: int, active: int, seats: int, logins: int = 100) -> None:
    session.add(UsageSnapshot(account_id=account_id, captured_on=TODAY - timedelta(days=days_ago), logins=logins,
                              active_users=active, seats_used=seats))
    session.flush()


def _paid_invoice(session: Session, account_id: int, days_ago: int = 40, paid: bool = True) -> Invoice:
    issued = TODAY - timedelta(days=days_ago)
    invoice = Invoice(number=f"INV-U{account_id}-{days_ago}-{paid}", account_id=account_id, currency="USD",
                      amount=Decimal("1000"), issued_on=issued, due_on=issued + timedelta(days=30),
                      status=InvoiceStatus.paid if paid else InvoiceStatus.open)
    session.add(invoice)
    session.flush()
    if paid:
        session.add(Payment(invoice_id=invoice.id, amount=Decimal("1000"), paid_on=issued + timedelta(days=20)))
        session.flush()
    return invoice


def _signals(session: Session, kind: str, account_id: int) -> dict[str, Any]:
    return evaluate(session, kind, account_id, NOW, T)


# --- pure rules ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("used", "limit", "fires"), [(44, 50, False), (45, 50, True), (50, 50, True),
                                                      (60, 50, True), (10, None, False)])
def test_seat_pressure_threshold(used: int, limit: int | None, fires: bool) -> None:
    signal = seat_pressure({"seats_used": used, "captured_on": TODAY}, limit, T)
    assert (signal is not None) is fires


def test_usage_growth_needs_four_weeks_and_the_threshold() -> None:
    def snap(days: int, active: int) -> dict[str, Any]:
        return {"captured_on": TODAY - timedelta(days=days), "active_users": active, "logins": 10}
    assert usage_growth([snap(60, 40), snap(1, 48)], T) is not None  # +20 %
    assert usage_growth([snap(60, 40), snap(1, 47)], T) is None
    assert usage_growth([snap(20, 40), snap(1, 80)], T) is None  # too short a span
    assert usage_growth([snap(60, 0), snap(1, 80)], T) is None  # no base to grow from


def test_cross_sell_recommends_what_most_similar_accounts_own() -> None:
    owned = {1: {10}, 2: {10, 11, 12}, 3: {10, 11, 12}, 4: {10, 11}, 5: {20, 21}, 6: {10, 30}}
    recs = recommend(1, owned, T)
    assert [(r.product_id, r.owners, r.similar) for r in recs] == [(11, 3, 4)]
    assert recommend(5, owned, T) == [] and recommend(99, owned, T) == []
    strict = recommend(1, owned, Thresholds(cross_sell_min_accounts=4))
    assert strict == []


def test_thresholds_come_from_settings() -> None:
    t = thresholds(Settings(upsell_seat_ratio=0.8, expansion_new_contacts_min=5))
    assert (t.seat_ratio, t.new_contacts_min) == (0.8, 5)
    with pytest.raises(ValueError):
        Settings(upsell_cross_sell_min_share=1.5)


# --- each signal on factory-built data ------------------------------------------------------------------------

def test_seat_pressure_on_an_account_with_evidence(session: Session) -> None:
    account = _customer(session)
    _snapshot(session, account.id, 40, 30, 30)
    _snapshot(session, account.id, 3, 44, 46)
    found = _signals(session, "upsell", account.id)
    assert found["signals"] == ["seat_pressure"]
    evidence = found["evidence"]["signals"]["seat_pressure"]
    assert (evidence["seats_used"], evidence["seat_limit"], evidence["ratio"]) == (46, 50, 0.92)
    assert evidence["captured_on"] == str(TODAY - timedelta(days=3))
    assert "46 of 50 seats" in found["body"] and not found["strong"]


def test_usage_growth_on_an_account(session: Session) -> None:
    account = _customer(session)
    _snapshot(session, account.id, 120, 10, 10)  # outside the 90-day window: ignored
    _snapshot(session, account.id, 70, 30, 32)
    _snapshot(session, account.id, 5, 39, 40)
    found = _signals(session, "expansion", account.id)
    assert found["signals"] == ["usage_growth"]
    evidence = found["evidence"]["signals"]["usage_growth"]
    assert (evidence["active_users_from"], evidence["active_users_to"], evidence["growth"]) == (30, 39, 0.3)


def test_new_contacts_on_an_account(session: Session) -> None:
    account = _customer(session)
    factories.contact(session, account_id=account.id, created_at=NOW - timedelta(days=200))
    new = [factories.contact(session, account_id=account.id, title="Team lead", created_at=NOW - timedelta(days=d))
           for d in (2, 20)]
    found = _signals(session, "expansion", account.id)
    assert found["signals"] == ["new_contacts"]
    evidence = found["evidence"]["signals"]["new_contacts"]
    assert evidence["count"] == 2 and [c["id"] for c in evidence["contacts"]] == [new[1].id, new[0].id]


def test_positive_nps_with_high_engagement(session: Session) -> None:
    account = _customer(session)
    response = NpsResponse(account_id=account.id, score=10, responded_at=NOW - timedelta(days=10))
    session.add(response)
    for days in (1, 8):
        session.add(Activity(kind=ActivityKind.meeting, subject="QBR", account_id=account.id,
                             occurred_at=NOW - timedelta(days=days)))
    contact = factories.contact(session, account_id=account.id, created_at=NOW - timedelta(days=300))
    session.add(Activity(kind=ActivityKind.call, subject="Call", contact_id=contact.id,
                         occurred_at=NOW - timedelta(days=30)))
    session.flush()
    found = _signals(session, "expansion", account.id)
    assert found["signals"] == ["nps_engagement"]
    evidence = found["evidence"]["signals"]["nps_engagement"]
    assert (evidence["score"], evidence["activities"], evidence["nps_response_id"]) == (10, 3, response.id)
    session.add(NpsResponse(account_id=account.id, score=6, responded_at=NOW - timedelta(days=1)))
    session.flush()
    assert _signals(session, "expansion", account.id)["signals"] == []  # the latest answer counts


def test_payment_health_and_overdue_invoices(session: Session) -> None:
    account = _customer(session)
    _paid_invoice(session, account.id, 40)
    assert _signals(session, "expansion", account.id)["signals"] == ["payment_health"]
    _paid_invoice(session, account.id, 70, paid=False)  # due 40 days ago, unpaid
    found = _signals(session, "expansion", account.id)
    assert found["signals"] == [] and found["evidence"]["signals"] == {}


def _catalog(session: Session) -> dict[str, int]:
    book = PriceBook(name=f"Book {id(session)}", is_default=True)
    session.add(book)
    session.flush()
    ids = {}
    for sku, price in (("CORE", "9000"), ("ANL", "3000"), ("SEC", "2500")):
        product = factories.product(session, sku=f"{sku}-{book.id}", name=sku.title())
        session.add(PriceBookEntry(price_book_id=book.id, product_id=product.id, currency="USD",
                                   unit_price=Decimal(price)))
        ids[sku] = product.id
    session.flush()
    return ids


def _owns(session: Session, account_id: int, product_ids: list[int]) -> None:
    order = SalesOrder(number=f"SO-U{account_id}", account_id=account_id, currency="USD", total=Decimal(0))
    session.add(order)
    session.flush()
    for pos, pid in enumerate(product_ids, start=1):
        session.add(SalesOrderLine(order_id=order.id, position=pos, product_id=pid, description="x",
                                   quantity=Decimal(1), unit_price=Decimal(1), line_total=Decimal(1)))
    session.flush()


def test_cross_sell_on_accounts_with_evidence(session: Session) -> None:
    ids = _catalog(session)
    peers = [_customer(session) for _ in range(3)]
    for peer in peers:
        _owns(session, peer.id, [ids["CORE"], ids["ANL"]])
    account = _customer(session)
    _owns(session, account.id, [ids["CORE"]])
    found = _signals(session, "upsell", account.id)
    assert "cross_sell" in found["signals"]
    [product] = found["evidence"]["signals"]["cross_sell"]["products"]
    assert (product["product_id"], product["owners"], product["unit_price"]) == (ids["ANL"], 3, "3000.00")
    assert sorted(product["similar_owners"]) == sorted(p.id for p in peers)


def _embed(session: Session, account_id: int, axis: int, tilt: float = 0.0) -> None:
    vector = [0.0] * 384
    vector[axis], vector[axis + 1] = 1.0, tilt
    session.add(TextEmbedding(source="account_description", entity_id=account_id, account_id=account_id,
                              content_hash=f"h{account_id}", model="test", embedding=vector))
    session.flush()


def test_cross_sell_for_a_customer_without_purchases_uses_similar_descriptions(session: Session) -> None:
    ids = _catalog(session)
    alike = [_customer(session) for _ in range(3)]
    for n, peer in enumerate(alike):
        _owns(session, peer.id, [ids["CORE"], ids["ANL"]])
        _embed(session, peer.id, 0, tilt=0.1 * n)
    other = _customer(session)  # owns security, but describes itself quite differently
    _owns(session, other.id, [ids["SEC"]])
    _embed(session, other.id, 10)
    newcomer = _customer(session)
    _embed(session, newcomer.id, 0, tilt=0.05)
    found = _signals(session, "upsell", newcomer.id)
    products = found["evidence"]["signals"]["cross_sell"]["products"]
    assert [(p["product_id"], p["owners"], p["similar"], p["basis"]) for p in products] == [
        (ids["CORE"], 3, 3, "description"), (ids["ANL"], 3, 3, "description")]
    assert "similar description" in found["body"]
    unembedded = _customer(session)
    assert _signals(session, "upsell", unembedded.id)["signals"] == []


def test_scheduled_subjects_are_active_customers(session: Session) -> None:
    customer = _customer(session)
    prospect = factories.account(session)
    blocked = factories.account(session, lifecycle=Lifecycle.customer, blacklisted=True)
    subjects = make_subjects("upsell")(session, NOW)
    assert customer.id in subjects and prospect.id not in subjects and blocked.id not in subjects


def test_the_weekly_and_monthly_schedules_sweep_customer_accounts(session: Session) -> None:
    customer = _customer(session)
    factories.account(session)  # a prospect: not swept
    for agent in ("upsell_detector", "expansion_detector"):
        result = schedule_runs(session, agent, NOW, Settings())
        subjects = {session.get_one(AgentRun, r).subject_id for r in result.run_ids}
        assert customer.id in subjects and len(subjects) == result.subjects
        assert schedule_runs(session, agent, NOW, Settings()).run_ids == []  # one run per slot and account


# --- the agents, suggestions and decisions (they commit: a database of this module's own) ---------------------

@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    yield from committing_engine("upsell")


@pytest.fixture(scope="module", autouse=True)
def agents() -> Iterator[None]:
    known = {x.name for x in registry.all_specs()}
    yield from registered([s for s in (*upsell_specs(), *expansion_specs()) if s.name not in known])


def _run(engine: Engine, agent: str, account_id: int, now: datetime = NOW) -> RunOutcome:
    with session_scope(engine) as session:
        run = runs.create_run(session, agent, "manual", "account", account_id)
        assert run is not None
        run_id = run.id
    return execute_run(run_id, now=now, engine=engine, settings=Settings())


def _strong_upsell(session: Session) -> tuple[int, int]:
    """An account at 50 of 50 seats that pays on time: a proposal on its own."""
    account = _customer(session)
    _snapshot(session, account.id, 3, 48, 50)
    _paid_invoice(session, account.id, 40)
    assert account.account_manager_id is not None
    return account.id, account.account_manager_id


def _pipeline(session: Session) -> None:
    if session.scalar(select(func.count()).select_from(Pipeline)) == 0:
        deal_service.create_pipeline(session, "Sales", is_default=True)


def _count(session: Session, model: Any, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_a_strong_upsell_suggests_a_deal_that_accepting_creates_once(engine: Engine) -> None:
    with session_scope(engine) as session:
        _pipeline(session)
        account_id, manager_id = _strong_upsell(session)
    first = _run(engine, "upsell_detector", account_id)
    assert first.status == "succeeded" and first.llm_calls == 0, first.error
    with session_scope(engine) as session:
        suggestion = session.scalars(select(Suggestion).where(Suggestion.subject_id == account_id,
                                                              Suggestion.agent == "upsell_detector")).one()
        proposal = suggestion.evidence["proposal"]
        assert suggestion.status == "open" and suggestion.subject_type == "account"
        assert (proposal["kind"], proposal["owner_id"], proposal["amount"]) == ("expansion_deal", manager_id,
                                                                                 "2400.00")
        assert proposal["products"] == [{"product_id": None, "description": "10 additional seats", "quantity": 10,
                                         "unit_price": "240.00"}]
        assert proposal["stage_id"] is not None and "seat_pressure" in suggestion.evidence["signals"]
        assert _count(session, Deal, Deal.account_id == account_id) == 0  # proposed, not created
        suggestion_id = suggestion.id

    for later in (NOW + timedelta(hours=1), NOW + timedelta(days=7)):  # unchanged signals: nothing new
        again = _run(engine, "upsell_detector", account_id, later)
        assert again.status in ("succeeded", "skipped") and again.llm_calls == 0, again.error
    with session_scope(engine) as session:
        assert _count(session, Suggestion, Suggestion.subject_id == account_id) == 1

    with session_scope(engine) as session:
        decision = suggestions.accept(session, suggestion_id, manager_id, now=NOW)
    assert decision.status == "accepted" and decision.deal_id is not None
    with pytest.raises(Conflict), session_scope(engine) as session:
        suggestions.accept(session, suggestion_id, manager_id, now=NOW)
    with session_scope(engine) as session:
        deal = session.get_one(Deal, decision.deal_id)
        assert (deal.account_id, deal.owner_id, deal.amount, deal.external_id) == (
            account_id, manager_id, Decimal("2400.00"), f"suggestion:{suggestion_id}")
        assert _count(session, Deal, Deal.account_id == account_id) == 1
        assert _count(session, OutboxEvent, OutboxEvent.topic == "deal.created",
                      OutboxEvent.aggregate_id == deal.id) == 1
        row = session.get_one(Suggestion, suggestion_id)
        assert (row.status, row.decided_by_id, row.evidence["accepted_deal_id"]) == ("accepted", manager_id, deal.id)
        assert _count(session, AuditLog, AuditLog.entity_type == "suggestion", AuditLog.entity_id == suggestion_id,
                      AuditLog.action == "accept") == 1


def test_changed_signals_make_a_new_suggestion_and_dismiss_decides_without_a_deal(engine: Engine) -> None:
    with session_scope(engine) as session:
        account = _customer(session)
        _snapshot(session, account.id, 3, 40, 46)  # 92 %: not strong alone, and no invoices
        account_id, manager_id = account.id, account.account_manager_id
    assert _run(engine, "upsell_detector", account_id).status == "succeeded"
    with session_scope(engine) as session:
        first = session.scalars(select(Suggestion).where(Suggestion.subject_id == account_id)).one()
        assert "proposal" not in first.evidence and first.evidence["strong"] is False
        assert manager_id is not None
        suggestions.dismiss(session, first.id, manager_id, reason="budget frozen", now=NOW)
    with session_scope(engine) as session:
        assert session.get_one(Suggestion, first.id).status == "dismissed"
        with pytest.raises(Conflict):
            suggestions.accept(session, first.id, manager_id)
        _snapshot(session, account_id, 1, 40, 47)  # more seats used, same signal: still dismissed, no new one
    assert _run(engine, "upsell_detector", account_id, NOW + timedelta(days=1)).llm_calls == 0
    with session_scope(engine) as session:
        assert _count(session, Suggestion, Suggestion.subject_id == account_id) == 1
        session.add(Contract(account_id=account_id, plan="Add-on", start_date=TODAY, end_date=TODAY + timedelta(
            days=300), arr=Decimal("1000"), seat_limit=2))  # a new seat limit (52): a new signal
    assert _run(engine, "upsell_detector", account_id, NOW + timedelta(days=2)).status == "succeeded"
    with session_scope(engine) as session:
        assert _count(session, Suggestion, Suggestion.subject_id == account_id) == 2
        assert _count(session, Deal, Deal.account_id == account_id) == 0


def test_expansion_detector_proposes_on_two_signals(engine: Engine) -> None:
    with session_scope(engine) as session:
        account = _customer(session)
        _snapshot(session, account.id, 70, 30, 32)
        _snapshot(session, account.id, 2, 40, 42)
        for days in (3, 10):
            factories.contact(session, account_id=account.id, created_at=NOW - timedelta(days=days))
        _paid_invoice(session, account.id, 40)
        account_id = account.id
    outcome = _run(engine, "expansion_detector", account_id)
    assert outcome.status == "succeeded", outcome.error
    with session_scope(engine) as session:
        suggestion = session.scalars(select(Suggestion).where(Suggestion.subject_id == account_id)).one()
        assert sorted(suggestion.evidence["signals"]) == ["new_contacts", "payment_health", "usage_growth"]
        assert suggestion.evidence["proposal"]["amount"] == "2400.00"  # 20 % of 12000 ARR
        assert suggestion.idempotency_key.startswith(f"expansion_detector:account:{account_id}:expansion:")


PITCH = ("Their team uses every seat they pay for and they pay on time, so a larger plan fits them. "
         "Call their admin this week and walk through the proposed expansion.")


def test_with_upsell_llm_the_model_adds_why_now_once_and_a_discount_falls_back(engine: Engine) -> None:
    settings = llm_settings(upsell_llm=True)
    with session_scope(engine) as session:
        _pipeline(session)
        good, _ = _strong_upsell(session)
        bad, _ = _strong_upsell(session)
    server = ScriptedServer(reply(PITCH))
    outcome = _execute(engine, good, settings, server)
    assert outcome.status == "succeeded" and outcome.llm_calls == 1, outcome.error
    assert "50 of 50 seats" in server.user_text() and "2400.00 USD" in server.user_text()
    offer = "Offer them a 20% discount if they sign this week. Call them today."
    assert _execute(engine, bad, settings, ScriptedServer(reply(offer), reply(offer))).status == "succeeded"
    with session_scope(engine) as session:
        row = session.scalars(select(Suggestion).where(Suggestion.subject_id == good)).one()
        assert row.body.endswith(PITCH) and "50 of 50 seats" in row.body
        assert (row.prompt_ref, row.fallback) == ("upsell_detector.pitch@1", False)
        fell_back = session.scalars(select(Suggestion).where(Suggestion.subject_id == bad)).one()
        assert fell_back.fallback and "discount" not in fell_back.body.lower()
        assert "accept or dismiss the proposed expansion deal" in fell_back.body
    again = _execute(engine, good, settings, ScriptedServer(), NOW + timedelta(days=7))  # a call would fail
    assert again.status in ("succeeded", "skipped") and again.llm_calls == 0, again.error


def _execute(engine: Engine, account_id: int, settings: Settings, server: ScriptedServer,
             now: datetime = NOW) -> RunOutcome:
    with session_scope(engine) as session:
        run = runs.create_run(session, "upsell_detector", "manual", "account", account_id)
        assert run is not None
        run_id = run.id
    return execute_run(run_id, now=now, engine=engine, settings=settings, http_client=server.client())


def test_decisions_name_their_errors(session: Session) -> None:
    with pytest.raises(NotFound):
        suggestions.accept(session, 10**9, 1)
    account = _customer(session)
    run = runs.create_run(session, "upsell_detector", "manual", "account", account.id)
    assert run is not None
    row = Suggestion(run_id=run.id, agent="upsell_detector", subject_type="account", subject_id=account.id,
                     idempotency_key=f"t:{account.id}", title="t", body="b",
                     evidence={"proposal": {"kind": "expansion_deal", "amount": "lots"}})
    session.add(row)
    session.flush()
    with pytest.raises(InvalidInput, match="user_id"):
        suggestions.accept(session, row.id, 10**9)
    user = factories.user(session)
    with pytest.raises(InvalidInput, match="evidence.proposal.amount"):
        suggestions.accept(session, row.id, user.id)


def test_cli_lists_and_accepts(scratch_db: Any) -> None:
    from api.cli.main import _register, app

    with session_scope() as session:
        deal_service.create_pipeline(session, "Sales", is_default=True)
        account_id, manager_id = _strong_upsell(session)
    with session_scope() as session:
        run = runs.create_run(session, "upsell_detector", "manual", "account", account_id)
        assert run is not None
        run_id = run.id
    assert execute_run(run_id, now=NOW, settings=Settings()).status == "succeeded"
    _register()
    runner = CliRunner()
    listed = runner.invoke(app, ["suggestions", "list", "--subject-type", "account"])
    assert listed.exit_code == 0, listed.output
    assert "upsell_detector" in listed.output and "2400.00 USD" in listed.output
    with session_scope() as session:
        suggestion_id = session.scalars(select(Suggestion.id)).one()
    accepted = runner.invoke(app, ["suggestions", "accept", str(suggestion_id), "--as", str(manager_id)])
    assert accepted.exit_code == 0, accepted.output
    assert "created deal" in accepted.output
    again = runner.invoke(app, ["suggestions", "dismiss", str(suggestion_id), "--as", str(manager_id)])
    assert again.exit_code != 0
    with session_scope() as session:
        assert _count(session, Deal, Deal.account_id == account_id) == 1


@pytest.mark.parametrize("suite", ["upsell", "expansion"])
def test_scenario_suite_measures_every_signal(suite: str, capsys: pytest.CaptureFixture[str]) -> None:
    from evals.custom_suites import run_custom

    code = run_custom(suite, ["--json"])
    figures = json.loads(capsys.readouterr().out)
    assert figures["mismatches"] == [] and code == 0
    assert all(pr["precision"] == 1.0 and pr["recall"] == 1.0 for pr in figures["signals"].values())
    assert figures["repeated_run_suggestions"] == 0 and figures["llm_calls"] == 0
    assert figures["accepted_deals"] == figures["proposals"]["predicted"] == figures["second_accept_refused"] > 0
