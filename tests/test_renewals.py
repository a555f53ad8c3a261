"""Renewals: the term arithmetic, a contract ending within the window gets one renewal deal (CSM as owner, first
stage of the Renewals pipeline) with a draft quote and a CSM task; the accepted quote (its events through the
dispatcher) extends the contract by one term, once; a missed event is caught by the daily sweep."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from agents import registry
from agents.dispatcher import dispatch_events
from agents.renewals import agent_specs
from agents.renewals.nodes import due_contracts, signed_subject
from agents.runtime import runs
from agents.runtime.executor import RunOutcome, execute_run
from agents.schedules import schedule_runs
from core.config import Settings
from core.db.engine import session_scope
from core.errors import Conflict, InvalidInput
from core.models import (
    Account,
    AgentRun,
    Contract,
    Deal,
    OutboxEvent,
    Pipeline,
    Quote,
    QuoteLine,
    Stage,
    Task,
    User,
)
from core.models.enums import ContractStatus, DealStatus, Lifecycle, QuoteStatus, Role
from core.services import deals as deal_service
from core.services import quotes, renewals
from tests.conftest import committing_engine, registered

NOW = datetime(2026, 10, 20, 6, 0, tzinfo=UTC)
TODAY = NOW.date()


@pytest.mark.parametrize(("start", "end", "expected"), [
    (date(2026, 1, 1), date(2026, 12, 31), date(2027, 12, 31)),  # a calendar year
    (date(2025, 3, 15), date(2026, 3, 14), date(2027, 3, 14)),  # a year from mid-month
    (date(2026, 1, 1), date(2026, 3, 31), date(2026, 6, 30)),  # a quarter
    (date(2024, 3, 1), date(2025, 2, 28), date(2026, 2, 28)),  # across a leap day
    (date(2026, 1, 10), date(2026, 2, 18), date(2026, 3, 30)),  # 40 days: 40 more
])
def test_the_next_term_has_the_same_length(start: date, end: date, expected: date) -> None:
    assert renewals.next_term_end(start, end) == expected


def test_only_renewal_keys_parse() -> None:
    assert renewals.parse_key(renewals.renewal_key(7, date(2026, 12, 31))) == (7, date(2026, 12, 31))
    assert renewals.parse_key("suggestion:4") is None and renewals.parse_key(None) is None
    assert renewals.parse_key("renewal:x:2026-01-01") is None


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    yield from committing_engine("renewals")


@pytest.fixture(scope="module", autouse=True)
def agents() -> Iterator[None]:
    known = {x.name for x in registry.all_specs()}
    yield from registered([s for s in agent_specs() if s.name not in known])


def _world(session: Session, n: int, *, ends_in: int, arr: str = "12000") -> tuple[int, int]:
    """A customer with a CSM and a one-year contract ending `ends_in` days from today: (contract id, CSM id)."""
    if session.scalar(select(func.count()).select_from(Pipeline)) == 0:
        deal_service.create_pipeline(session, "Sales", is_default=True)
        deal_service.create_pipeline(session, "Renewals")
    csm = User(email=f"csm{n}@seller.test", full_name=f"CSM {n}", role=Role.csm)
    manager = User(email=f"am{n}@seller.test", full_name=f"AM {n}", role=Role.rep)
    session.add_all([csm, manager])
    session.flush()
    account = Account(name=f"Renewing {n} GmbH", lifecycle=Lifecycle.customer, csm_id=csm.id,
                      account_manager_id=manager.id, currency="EUR")
    session.add(account)
    session.flush()
    end = TODAY + timedelta(days=ends_in)
    contract = Contract(account_id=account.id, plan="Enterprise",
                        start_date=end.replace(year=end.year - 1) + timedelta(days=1), end_date=end,
                        arr=Decimal(arr), currency="EUR", seat_limit=80)
    session.add(contract)
    session.flush()
    return contract.id, csm.id


def _run(engine: Engine, agent: str, subject_type: str, subject_id: int, now: datetime = NOW) -> RunOutcome:
    with session_scope(engine) as session:
        run = runs.create_run(session, agent, "manual", subject_type, subject_id)
        assert run is not None
        run_id = run.id
    return execute_run(run_id, now=now, engine=engine, settings=Settings())


def _count(session: Session, model: Any, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_a_contract_ending_soon_gets_a_renewal_deal_and_quote_and_signing_extends_it(engine: Engine) -> None:
    with session_scope(engine) as session:
        contract_id, csm_id = _world(session, 1, ends_in=60)
        far_id, _ = _world(session, 2, ends_in=200)
        assert contract_id in due_contracts(session, NOW) and far_id not in due_contracts(session, NOW)
        scheduled = schedule_runs(session, "renewals", NOW, Settings())
        mine = [r for r in scheduled.run_ids if session.get_one(AgentRun, r).subject_id == contract_id]
    assert len(mine) == 1
    outcome = execute_run(mine[0], now=NOW, engine=engine, settings=Settings())
    assert outcome.status == "succeeded", outcome.error
    end = TODAY + timedelta(days=60)
    with session_scope(engine) as session:
        deal = session.scalars(select(Deal).where(Deal.external_id == renewals.renewal_key(contract_id, end))).one()
        stage = session.get_one(Stage, deal.stage_id)
        pipeline = session.get_one(Pipeline, deal.pipeline_id)
        assert (deal.is_renewal, deal.owner_id, deal.amount, deal.currency) == (True, csm_id, Decimal("12000.00"),
                                                                                "EUR")
        assert (pipeline.name, stage.position, deal.expected_close_date) == ("Renewals", 1, end)
        quote = session.scalars(select(Quote).where(Quote.deal_id == deal.id)).one()
        [line] = session.scalars(select(QuoteLine).where(QuoteLine.quote_id == quote.id)).all()
        assert (quote.status, quote.total, quote.currency, quote.valid_until) == (
            QuoteStatus.draft, Decimal("12000.00"), "EUR", end)
        assert "80 seats" in line.description and str(end + timedelta(days=1)) in line.description
        task = session.scalars(select(Task).where(Task.deal_id == deal.id)).one()
        assert task.assignee_id == csm_id
        assert contract_id not in due_contracts(session, NOW)
        deal_id, quote_id = deal.id, quote.id

    again = _run(engine, "renewals", "contract", contract_id, NOW + timedelta(days=1))  # one deal per term
    assert again.status == "succeeded", again.error
    with session_scope(engine) as session:
        assert _count(session, Deal, Deal.external_id.like(f"renewal:{contract_id}:%")) == 1
        assert _count(session, Quote, Quote.deal_id == deal_id) == 1
        assert _count(session, Task, Task.deal_id == deal_id) == 1

    with session_scope(engine) as session:  # the CSM sends the quote, the customer signs
        quotes.send_quote(session, quote_id, now=NOW + timedelta(days=2))
        quotes.accept_quote(session, quote_id, now=NOW + timedelta(days=5))
    with session_scope(engine) as session:
        dispatched = dispatch_events(session, NOW + timedelta(days=5), Settings())
        signed = [r for r in dispatched.run_ids if session.get_one(AgentRun, r).agent == "renewals_signed"]
    assert len(signed) >= 1
    statuses = [execute_run(r, now=NOW + timedelta(days=5), engine=engine, settings=Settings()).status
                for r in signed]
    assert set(statuses) <= {"succeeded", "skipped"}
    with session_scope(engine) as session:
        contract = session.get_one(Contract, contract_id)
        assert (contract.end_date, contract.status) == (date(end.year + 1, end.month, end.day), ContractStatus.active)
        assert session.get_one(Deal, deal_id).status is DealStatus.won
    replay = _run(engine, "renewals_signed", "deal", deal_id, NOW + timedelta(days=6))
    assert replay.status == "succeeded"
    with session_scope(engine) as session:
        assert session.get_one(Contract, contract_id).end_date == date(end.year + 1, end.month, end.day)
        with pytest.raises(InvalidInput):
            renewals.extend_contract(session, _plain_deal(session))


def _plain_deal(session: Session) -> int:
    return deal_service.create_deal(session, name="Not a renewal", amount=Decimal(1)).id


def test_a_missed_signing_event_is_caught_by_the_daily_sweep(engine: Engine) -> None:
    with session_scope(engine) as session:
        contract_id, _ = _world(session, 3, ends_in=10)
        made = renewals.open_renewal(session, contract_id, now=NOW)
        assert made.created and renewals.open_renewal(session, contract_id, now=NOW).created is False
        with pytest.raises(Conflict):
            renewals.extend_contract(session, made.deal_id, now=NOW)  # not won yet
        deal_service.close_won(session, made.deal_id, now=NOW)
        assert contract_id in due_contracts(session, NOW)
    outcome = _run(engine, "renewals", "contract", contract_id)
    assert outcome.status == "succeeded", outcome.error
    with session_scope(engine) as session:
        end = TODAY + timedelta(days=10)
        assert session.get_one(Contract, contract_id).end_date == date(end.year + 1, end.month, end.day)
        assert contract_id not in due_contracts(session, NOW)
        # the next term renews from the new end, one year again (not from the original start)
        later = datetime.combine(date(end.year + 1, end.month, end.day) - timedelta(days=30), NOW.timetz())
        assert contract_id in due_contracts(session, later)
        second = renewals.open_renewal(session, contract_id, now=later)
        deal_service.close_won(session, second.deal_id, now=later)
        renewals.extend_contract(session, second.deal_id, now=later)
        assert session.get_one(Contract, contract_id).end_date == date(end.year + 2, end.month, end.day)


def test_a_contract_without_value_gets_a_deal_but_no_quote(engine: Engine) -> None:
    with session_scope(engine) as session:
        contract_id, _ = _world(session, 4, ends_in=30, arr="0")
        made = renewals.open_renewal(session, contract_id, now=NOW)
        assert made.quote_id is None and session.get_one(Deal, made.deal_id).amount == Decimal(0)
        session.get_one(Contract, contract_id).status = ContractStatus.cancelled
        session.flush()
        with pytest.raises(Conflict):
            renewals.open_renewal(session, contract_id, now=NOW)


def test_the_csm_task_is_due_before_the_contract_ends(engine: Engine) -> None:
    with session_scope(engine) as session:
        contract_id, csm_id = _world(session, 6, ends_in=3)
    outcome = _run(engine, "renewals", "contract", contract_id)
    assert outcome.status == "succeeded", outcome.error
    with session_scope(engine) as session:
        end = TODAY + timedelta(days=3)
        deal = session.scalars(select(Deal).where(Deal.external_id == renewals.renewal_key(contract_id, end))).one()
        task = session.scalars(select(Task).where(Task.deal_id == deal.id)).one()
        assert (task.assignee_id, task.due_at) == (csm_id, datetime.combine(end, datetime.min.time(), tzinfo=UTC))


def test_only_won_deals_and_accepted_quotes_trigger_the_signed_agent() -> None:
    def event(topic: str, payload: dict[str, Any]) -> OutboxEvent:
        return OutboxEvent(topic=topic, aggregate_type="deal", aggregate_id=5, payload=payload)
    assert signed_subject(event("deal.stage_changed", {"status": "won"})) == 5
    assert signed_subject(event("deal.stage_changed", {"status": "open"})) is None
    assert signed_subject(event("quote.accepted", {"deal_id": 9})) == 9
    assert signed_subject(event("quote.accepted", {"deal_id": None})) is None
