"""The synthetic CRM: reproducible, internally consistent, and with outcomes that depend on attributes."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import pytest
import typer
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.cli import seed as seed_cli
from core.errors import Conflict, InvalidInput
from core.models import Account, Contact, Deal, DealStageHistory, Lead, NpsResponse, OutboxEvent, Stage
from core.models.enums import DealStatus, Lifecycle
from core.repositories import seeding as seeding_repo
from core.seeding import generator
from core.seeding.leads import CONVERTED, DISQUALIFIED, plan_leads
from core.seeding.reference import plan_campaigns, plan_people

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _names(session: Session) -> tuple[list[str], list[str], list[str]]:
    accounts = session.scalars(select(Account.name).order_by(Account.id)).all()
    contacts = session.scalars(select(Contact.last_name).order_by(Contact.id)).all()
    deals = session.scalars(select(Deal.name).order_by(Deal.id)).all()
    return list(accounts), list(contacts), list(deals)


def test_same_seed_gives_the_same_crm_and_another_seed_does_not(session: Session) -> None:
    first = generator.seed(session, 30, 7, NOW)
    names = _names(session)
    counts = seeding_repo.table_counts(session)

    again = generator.seed(session, 30, 7, NOW, reset=True)
    assert again == first
    assert seeding_repo.table_counts(session) == counts
    assert _names(session) == names

    generator.seed(session, 30, 8, NOW, reset=True)
    assert _names(session)[0] != names[0]


def test_a_seeded_database_is_refused_without_reset(session: Session) -> None:
    generator.seed(session, 5, 1, NOW)
    with pytest.raises(Conflict, match="accounts: 5,"):
        generator.seed(session, 5, 1, NOW)


def test_bad_arguments_name_the_field(session: Session) -> None:
    with pytest.raises(InvalidInput, match="accounts"):
        generator.seed(session, 0, 1, NOW)
    with pytest.raises(InvalidInput, match="now"):
        generator.seed(session, 5, 1, datetime(2026, 3, 1))
    assert seeding_repo.account_count(session) == 0


def test_history_is_backfill_without_outbox_events(session: Session) -> None:
    generator.seed(session, 30, 3, NOW)
    assert session.scalar(select(func.count()).select_from(OutboxEvent)) == 0


def test_hierarchy_reaches_depth_three(session: Session) -> None:
    generator.seed(session, 30, 11, NOW)
    parents = {i: p for i, p in session.execute(select(Account.id, Account.parent_id))}

    def depth(account_id: int) -> int:
        parent = parents[account_id]
        return 0 if parent is None else 1 + depth(parent)

    assert max(depth(a) for a in parents) >= 3


def test_stage_history_matches_each_deal(session: Session) -> None:
    generator.seed(session, 30, 5, NOW)
    rows: dict[int, list[DealStageHistory]] = defaultdict(list)
    for row in session.scalars(select(DealStageHistory).order_by(DealStageHistory.entered_at)):
        rows[row.deal_id].append(row)
    deals = session.scalars(select(Deal)).all()
    assert deals
    stages = {s.id: s for s in session.scalars(select(Stage))}
    for deal in deals:
        history = rows[deal.id]
        open_rows = [r for r in history if r.left_at is None]
        assert len(open_rows) == 1 and open_rows[0] is history[-1]
        assert open_rows[0].stage_id == deal.stage_id and open_rows[0].entered_at == deal.stage_entered_at
        for before, after in zip(history, history[1:], strict=False):
            assert before.entered_at < after.entered_at and before.left_at == after.entered_at
        assert history[-1].entered_at <= NOW
        stage = stages[deal.stage_id]
        assert (deal.status is DealStatus.won) == stage.is_won
        assert (deal.status is DealStatus.lost) == stage.is_lost


def test_converted_leads_link_to_their_account_contact_and_deal(session: Session) -> None:
    generator.seed(session, 30, 9, NOW)
    converted = session.scalars(select(Lead).where(Lead.converted_at.is_not(None))).all()
    assert converted
    for lead in converted:
        account = session.get(Account, lead.converted_account_id)
        contact = session.get(Contact, lead.converted_contact_id)
        deal = session.get(Deal, lead.converted_deal_id)
        assert account is not None and contact is not None and deal is not None
        assert contact.account_id == account.id and deal.account_id == account.id and deal.lead_id == lead.id
        assert account.name == lead.company_name and contact.last_name == lead.last_name
    disqualified = session.scalars(select(Lead).where(Lead.status == "disqualified")).all()
    assert disqualified and all(lead.disqualified_reason for lead in disqualified)


def test_the_showcase_situations_exist(session: Session) -> None:
    generator.seed(session, 30, 42, NOW)
    figures = seeding_repo.summary(session, now=NOW).figures
    assert figures["overdue unpaid invoices"] > 0
    assert figures["stalled open deals (beyond rot days)"] > 0
    assert figures["accounts at >= 90% of seat limit"] > 0
    assert figures["customer accounts"] > 0 and figures["prospect accounts"] > 0
    detractor_comments = session.scalars(select(NpsResponse.comment).where(
        NpsResponse.category == "detractor", NpsResponse.comment.is_not(None))).all()
    assert detractor_comments


def test_lead_conversion_depends_on_budget_and_authority() -> None:
    world = generator.new_world(21, NOW)
    staff = plan_people(world, 300)
    campaigns = plan_campaigns(world, 300, list(staff.managers.values()))
    decided = (CONVERTED, DISQUALIFIED)
    leads = [lead for lead in plan_leads(world, staff, campaigns, 500) if lead.outcome in decided]
    high, low = [], []
    for lead in leads:
        budget, authority = lead.row["bant_budget"], lead.row["bant_authority"]
        if budget is not None and budget >= 25000 and authority is True:
            high.append(lead.outcome == CONVERTED)
        elif (budget is None or budget < 10000) and authority is not True:
            low.append(lead.outcome == CONVERTED)
    assert len(high) > 50 and len(low) > 200
    assert sum(high) / len(high) > sum(low) / len(low) + 0.25


def test_deal_and_renewal_outcomes_depend_on_attributes() -> None:
    plan = generator.build_plan(300, 4, NOW)
    closed = [d for a in plan.accounts for d in a.deals if d.outcome != "open"]
    new = [d for d in closed if d.kind != "renewal"]
    with_rival = [d.outcome == "won" for d in new if d.row["competitor"]]
    without = [d.outcome == "won" for d in new if not d.row["competitor"]]
    assert sum(without) / len(without) > sum(with_rival) / len(with_rival) + 0.1
    churned = [a for a in plan.accounts if a.row["lifecycle"] is Lifecycle.churned]
    customers = [a for a in plan.accounts if a.row["lifecycle"] is Lifecycle.customer]
    assert churned and customers

    def mean_health(accounts: list) -> float:  # type: ignore[type-arg]
        return sum(a.health(NOW) for a in accounts) / len(accounts)

    assert mean_health(customers) > mean_health(churned) + 0.5


def test_cli_seeds_then_summarises(scratch_db: object) -> None:
    app = typer.Typer()
    app.command("seed")(seed_cli.seed)
    app.command("summary")(seed_cli.summary)
    runner = CliRunner()

    result = runner.invoke(app, ["seed", "--accounts", "20", "--seed", "3", "--now", "2026-03-01"])
    assert result.exit_code == 0, result.output
    assert "seeded 20 accounts" in result.output

    result = runner.invoke(app, ["summary"])
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.output.splitlines() if ln.strip("│ ").startswith("accounts "))
    assert line.split("│")[2].strip() == "20"

    result = runner.invoke(app, ["seed", "--accounts", "20"])
    assert isinstance(result.exception, Conflict)

    result = runner.invoke(app, ["seed", "--accounts", "20", "--now", "yesterday"])
    assert isinstance(result.exception, InvalidInput) and "--now" in str(result.exception)
