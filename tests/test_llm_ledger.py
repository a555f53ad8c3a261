"""Ledger rows, costs, per-run and per-day budgets and usage totals, on the real database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import typer
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.cli import llm_usage
from core.db.engine import session_scope
from core.errors import InvalidInput
from core.llm import ledger
from tests.llm_mock import llm_settings

NOW = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)


def _row(session: Session, agent: str = "nps_followup", *, tokens: tuple[int, int] = (100, 50),
         outcome: str = "ok", run_id: int | None = None, at: datetime = NOW, model: str = "test-model",
         **kw: Any) -> Any:
    return ledger.record_call(session, agent=agent, purpose="drafting", prompt_ref="nps_followup.draft@1",
                              model=model, input_tokens=tokens[0], output_tokens=tokens[1], latency_ms=250,
                              attempts=1, outcome=outcome, run_id=run_id, at=at, **kw)


def test_record_call_prices_tokens_from_the_price_table(session: Session) -> None:
    settings = llm_settings(llm_prices={"gpt-4o-mini": [0.15, 0.6], "smollm2": [0.01, 0.02]})
    row = _row(session, model="gpt-4o-mini", tokens=(10_000, 2_000), settings=settings)
    assert row.cost_usd == Decimal("0.002700")
    assert row.created_at == NOW and row.outcome == "ok" and row.prompt_ref == "nps_followup.draft@1"
    local = _row(session, model="smollm2@local", tokens=(1_000_000, 1_000_000), settings=settings)
    assert local.cost_usd == Decimal("0.030000")
    unpriced = _row(session, model="other-model", tokens=(5000, 5000), settings=settings)
    assert unpriced.cost_usd == Decimal("0.000000")


def test_record_call_rejects_bad_input(session: Session) -> None:
    with pytest.raises(InvalidInput, match="outcome: expected one of ok, repaired"):
        _row(session, outcome="great")
    with pytest.raises(InvalidInput, match="cannot be negative"):
        _row(session, tokens=(-1, 0))
    with pytest.raises(InvalidInput, match="llm_prices: m: expected \\[input, output\\]"):
        _row(session, model="m", settings=llm_settings(llm_prices={"m": [0.1]}))


def test_budget_counts_only_this_agents_run_and_utc_day(session: Session) -> None:
    settings = llm_settings(llm_budgets={"nps_followup": {"per_run": 1000, "per_day": 3000}})
    _row(session, run_id=1, tokens=(300, 100))
    _row(session, run_id=1, tokens=(200, 100), at=NOW.replace(hour=0, minute=0))
    _row(session, run_id=2, tokens=(500, 0))
    _row(session, run_id=1, tokens=(900, 0), agent="deal_coach")
    _row(session, run_id=3, tokens=(5000, 0), at=datetime(2026, 3, 9, 23, 59, 59, tzinfo=UTC))
    _row(session, run_id=4, tokens=(5000, 0), at=datetime(2026, 3, 11, 0, 0, tzinfo=UTC))

    budget = ledger.budget_left(session, "nps_followup", 1, NOW, settings)
    assert (budget.per_run, budget.per_day) == (1000, 3000)
    assert budget.per_run_left == 1000 - 700
    assert budget.per_day_left == 3000 - 1200
    assert budget.allows(300) and not budget.allows(301)
    assert budget.describe(301) == ("over budget: the call needs about 301 tokens; "
                                    "run budget 300 of 1,000 tokens left")

    no_run = ledger.budget_left(session, "nps_followup", None, NOW, settings)
    assert no_run.per_run_left == 1000 and no_run.per_day_left == 1800

    other = ledger.budget_left(session, "deal_coach", 1, NOW, settings)
    assert (other.per_run, other.per_day) == (8000, 500_000)  # the defaults
    assert (other.per_run_left, other.per_day_left) == (8000 - 900, 500_000 - 900)

    evening_in_new_york = datetime(2026, 3, 9, 21, 0, tzinfo=ZoneInfo("America/New_York"))  # 01:00 UTC, Mar 10
    assert ledger.budget_left(session, "nps_followup", 1, evening_in_new_york, settings) == budget


def test_budget_configuration_errors_name_the_setting(session: Session) -> None:
    with pytest.raises(InvalidInput, match="llm_budgets: a: unknown key\\(s\\) per_week"):
        ledger.budget_left(session, "a", None, NOW, llm_settings(llm_budgets={"a": {"per_week": 5}}))
    with pytest.raises(InvalidInput, match="now: must be timezone-aware"):
        ledger.budget_left(session, "a", None, NOW.replace(tzinfo=None), llm_settings())


def test_usage_totals_group_by_day_and_agent(session: Session) -> None:
    settings = llm_settings(llm_prices={"test-model": [1.0, 2.0]})
    yesterday = NOW - timedelta(days=1)
    _row(session, tokens=(1000, 500), settings=settings)
    _row(session, tokens=(0, 0), outcome="over_budget", settings=settings)
    _row(session, tokens=(400, 100), outcome="fallback", settings=settings)
    _row(session, agent="deal_coach", tokens=(10, 10), outcome="repaired", settings=settings)
    _row(session, tokens=(7, 7), outcome="error", at=yesterday, settings=settings)
    _row(session, tokens=(9, 9), at=NOW - timedelta(days=5))

    rows = ledger.usage_totals(session, since=datetime(2026, 3, 9, tzinfo=UTC))
    mine = [r for r in rows if r.agent in ("nps_followup", "deal_coach")]
    assert [(r.day, r.agent) for r in mine] == [(date(2026, 3, 10), "deal_coach"), (date(2026, 3, 10), "nps_followup"),
                                                 (date(2026, 3, 9), "nps_followup")]
    today = mine[1]
    assert (today.calls, today.input_tokens, today.output_tokens) == (3, 1400, 600)
    assert (today.ok, today.repaired, today.fallback, today.error, today.over_budget) == (1, 0, 1, 0, 1)
    assert today.cost_usd == Decimal("0.002600")
    assert today.latency_ms == 750
    assert mine[2].error == 1 and mine[0].repaired == 1


def test_cli_prints_usage_per_agent_and_day(scratch_db: URL, monkeypatch: pytest.MonkeyPatch) -> None:
    from api.cli import main

    now = datetime.now(UTC)
    with session_scope() as session:
        for outcome in ("ok", "ok", "fallback"):
            _row(session, agent="lead_scorer", tokens=(1200, 300), outcome=outcome, at=now)
        _row(session, agent="deal_coach", tokens=(50, 5), outcome="over_budget", at=now - timedelta(days=1))
        _row(session, agent="old_agent", tokens=(1, 1), at=now - timedelta(days=30))
    app = typer.Typer()
    app.command("usage")(llm_usage.usage)
    app.command("noop")(lambda: None)
    monkeypatch.setattr(main.console, "_width", 200)

    result = CliRunner().invoke(app, ["usage", "--days", "2"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    scorer = next(ln for ln in lines if "lead_scorer" in ln)
    assert [c.strip() for c in scorer.split("│")[1:-1]] == [
        now.date().isoformat(), "lead_scorer", "3", "3,600", "900", "0.0000", "2", "0", "1", "0", "0", "250"]
    assert any("deal_coach" in ln for ln in lines)
    assert not any("old_agent" in ln for ln in lines)
    total = next(ln for ln in lines if "total" in ln)
    assert [c.strip() for c in total.split("│")[3:6]] == ["4", "3,650", "905"]

    result = CliRunner().invoke(app, ["usage", "--days", "0"])
    assert isinstance(result.exception, InvalidInput) and "--days" in str(result.exception)


def test_cli_says_when_there_is_nothing_to_show(scratch_db: URL) -> None:
    app = typer.Typer()
    app.command("usage")(llm_usage.usage)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, ["usage"])
    assert result.exit_code == 0, result.output
    assert "no model calls since" in result.output
